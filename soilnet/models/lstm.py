"""Climate branch: an LSTM over monthly TerraClimate series."""

from __future__ import annotations

from torch import Tensor, nn

from soilnet.errors import ConfigurationError

__all__ = ["ClimateBranch"]


class ClimateBranch(nn.Module):
    """Unidirectional LSTM over months; the last step's hidden state -> Linear -> ReLU.

    The paper uses ``nn.LSTM(14, 128, num_layers=2, batch_first=True)`` with zero initial
    state and no dropout, then ``Linear(128, 128)`` without activation (the sigmoid of the
    regressor head follows it). Here a ReLU follows the Linear so that every branch feeds
    the head non-negative features.

    Args:
        n_features: F, climate variables per month (14 for
            :data:`soilnet.bands.CLIMATE_VARIABLES`).
        hidden_size: LSTM hidden size.
        num_layers: stacked LSTM layers.
        out_features: size of the output vector.

    Shape:
        - Input: float32 (B, T, F), months oldest first, scaled variables; any T >= 1.
        - Output: float32 (B, out_features), non-negative.
    """

    def __init__(
        self,
        n_features: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        out_features: int = 128,
    ) -> None:
        super().__init__()
        for name, value in (
            ("n_features", n_features),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("out_features", out_features),
        ):
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1; got {value!r}.")
        self.n_features = n_features
        self.out_features = out_features
        self.lstm = nn.LSTM(n_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, out_features)
        self.activation = nn.ReLU()

    def forward(self, climate: Tensor) -> Tensor:
        """Encode a batch of climate series.

        Args:
            climate: float32 (B, T, F), T months oldest first.

        Returns:
            float32 (B, out_features).
        """
        output, _ = self.lstm(climate)  # (B, T, hidden)
        return self.activation(self.fc(output[:, -1]))
