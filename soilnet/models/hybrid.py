"""The full SoilNet model, its variant registry and the :func:`build_model` factory.

A variant combines a CNN branch (:class:`~soilnet.models.resnet.ResNetBranch`, optionally
with GLAM), a climate branch (:class:`~soilnet.models.lstm.ClimateBranch`), or both, with a
shared :class:`RegressorHead`. The model predicts the scaled target, SOC (g/kg) divided by
the clip value (87 in the paper); multiply by it to report g/kg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from soilnet.errors import CheckpointError, ConfigurationError
from soilnet.models.lstm import ClimateBranch
from soilnet.models.resnet import BACKBONES, ResNetBranch

__all__ = [
    "HEAD_ACTIVATIONS",
    "PAPER_VARIANTS",
    "VARIANTS",
    "RegressorHead",
    "SoilNetModel",
    "VariantSpec",
    "build_model",
    "count_parameters",
    "paper_label",
]

#: Activations accepted by :class:`RegressorHead`.
HEAD_ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid")

_CNN_FEATURES = 1024  # ResNetBranch output, as in SoilNet
_CLIMATE_FEATURES = 128  # ClimateBranch output
_HEAD_HIDDEN = 128


@dataclass(frozen=True)
class VariantSpec:
    """Which branches a model variant has.

    Attributes:
        name: registry key, e.g. ``"resnet101_glam_lstm"``.
        backbone: a key of :data:`~soilnet.models.resnet.BACKBONES`, or None for no CNN.
        glam: GLAM after the CNN's layer2.
        lstm: climate LSTM branch.
        description: one line for tables and ``--help``.
    """

    name: str
    backbone: str | None
    glam: bool
    lstm: bool
    description: str

    @property
    def uses_image(self) -> bool:
        """True if the variant reads the ``image`` patch."""
        return self.backbone is not None

    @property
    def uses_climate(self) -> bool:
        """True if the variant reads the ``climate`` series."""
        return self.lstm


def _make_variants() -> dict[str, VariantSpec]:
    variants: dict[str, VariantSpec] = {}
    for backbone in BACKBONES:
        label = f"ResNet-{backbone.removeprefix('resnet')}"
        variants[backbone] = VariantSpec(backbone, backbone, False, False, f"{label} on the patch")
        variants[f"{backbone}_glam"] = VariantSpec(
            f"{backbone}_glam", backbone, True, False, f"{label} with GLAM after layer2"
        )
        variants[f"{backbone}_glam_lstm"] = VariantSpec(
            f"{backbone}_glam_lstm",
            backbone,
            True,
            True,
            f"{label} with GLAM, plus an LSTM over the monthly climate series",
        )
    variants["lstm"] = VariantSpec("lstm", None, False, True, "LSTM over the climate series only")
    return variants


#: Every buildable variant, by name.
VARIANTS: dict[str, VariantSpec] = _make_variants()

#: The three variants of the paper's Table 1.
PAPER_VARIANTS: tuple[str, ...] = ("resnet101", "resnet101_glam", "resnet101_glam_lstm")


def _check_variant(name: str) -> VariantSpec:
    if name not in VARIANTS:
        raise ConfigurationError(f"Unknown variant {name!r}. Accepted: {', '.join(VARIANTS)}.")
    return VARIANTS[name]


def paper_label(name: str) -> str:
    """Return the label the paper uses for a variant, e.g. ``"ResNet-101-GLAM+LSTM"``.

    Args:
        name: a key of :data:`VARIANTS`.

    Returns:
        ``"ResNet-101"``, ``"ResNet-18-GLAM"``, ``"ResNet-101-GLAM+LSTM"``, ``"LSTM only"``…

    Raises:
        ConfigurationError: unknown variant.
    """
    spec = _check_variant(name)
    if spec.backbone is None:
        return "LSTM only"
    label = f"ResNet-{spec.backbone.removeprefix('resnet')}"
    if spec.glam:
        label += "-GLAM"
    if spec.lstm:
        label += "+LSTM"
    return label


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.Sigmoid()


class RegressorHead(nn.Module):
    """Per-branch projection, concatenation and a small MLP to one output.

    Each branch's features go through ``Linear(features, 128)`` and the activation; the
    results are concatenated, then ``Linear(128 * n_branches, 128)``, activation,
    ``Dropout(dropout)``, ``Linear(128, 1)``. There is no output activation.

    The paper's regressor (version 1 in all published runs) used sigmoid activations and
    no dropout; ``activation="sigmoid", dropout=0.0`` matches it. The default ReLU trains
    reliably at lr 1e-3, where the sigmoid head tends to stall.

    Args:
        branch_features: feature size of each branch, in the order they are passed.
        dropout: dropout probability before the last Linear, in [0, 1).
        activation: ``"relu"`` or ``"sigmoid"``.

    Shape:
        - Input: a sequence of float32 (B, branch_features[i]).
        - Output: float32 (B,), the scaled target.
    """

    def __init__(
        self,
        branch_features: Sequence[int],
        dropout: float = 0.2,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in HEAD_ACTIVATIONS:
            raise ConfigurationError(
                f"Unknown head_activation {activation!r}. Accepted: {', '.join(HEAD_ACTIVATIONS)}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1); got {dropout!r}.")
        if not branch_features:
            raise ConfigurationError("RegressorHead needs at least one branch.")
        self.projections = nn.ModuleList(
            nn.Sequential(nn.Linear(f, _HEAD_HIDDEN), _activation(activation))
            for f in branch_features
        )
        self.mlp = nn.Sequential(
            nn.Linear(_HEAD_HIDDEN * len(branch_features), _HEAD_HIDDEN),
            _activation(activation),
            nn.Dropout(dropout),
            nn.Linear(_HEAD_HIDDEN, 1),
        )

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Regress the scaled target.

        Args:
            features: one float32 (B, F_i) tensor per branch, in construction order.

        Returns:
            float32 (B,).
        """
        projected = [proj(f) for proj, f in zip(self.projections, features, strict=True)]
        return self.mlp(torch.cat(projected, dim=1)).squeeze(-1)


class SoilNetModel(nn.Module):
    """SoilNet: CNN (+GLAM) on the patch and/or LSTM on the climate series -> SOC / clip.

    Build it through :func:`build_model`; the arguments are the same.

    Attributes:
        variant: the variant name.
        spec: its :class:`VariantSpec`.
        in_channels: patch bands the CNN expects.
        n_climate_features: climate variables the LSTM expects (None without LSTM).
        config: plain dict of everything needed to rebuild the model
            (``build_model(**model.config)``) and to check a checkpoint against it.
        cnn: :class:`~soilnet.models.resnet.ResNetBranch` or None.
        climate_branch: :class:`~soilnet.models.lstm.ClimateBranch` or None.
        head: :class:`RegressorHead`.
    """

    def __init__(
        self,
        variant: str,
        in_channels: int = 14,
        n_climate_features: int | None = None,
        *,
        stem_maxpool: bool = True,
        dropout: float = 0.2,
        lstm_hidden: int = 128,
        lstm_layers: int = 2,
        head_activation: str = "relu",
        weights_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        spec = _check_variant(variant)
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ConfigurationError(f"in_channels must be an integer >= 1; got {in_channels!r}.")
        if spec.uses_climate and not n_climate_features:
            raise ConfigurationError(
                f"Variant {variant!r} has an LSTM branch and needs n_climate_features >= 1 "
                f"(e.g. 14 TerraClimate variables); got {n_climate_features!r}. Pass the number "
                "of climate variables, or choose a variant without _lstm."
            )
        if weights_path is not None and not spec.uses_image:
            raise ConfigurationError(
                f"weights_path is for the CNN branch, but variant {variant!r} has none."
            )
        self.variant = variant
        self.spec = spec
        self.in_channels = in_channels
        self.n_climate_features = n_climate_features if spec.uses_climate else None
        self.config: dict[str, Any] = {
            "variant": variant,
            "in_channels": in_channels,
            "n_climate_features": self.n_climate_features,
            "stem_maxpool": stem_maxpool,
            "dropout": dropout,
            "lstm_hidden": lstm_hidden,
            "lstm_layers": lstm_layers,
            "head_activation": head_activation,
        }

        branch_features: list[int] = []
        self.cnn: ResNetBranch | None = None
        if spec.backbone is not None:
            self.cnn = ResNetBranch(
                spec.backbone,
                in_channels,
                glam=spec.glam,
                stem_maxpool=stem_maxpool,
                out_features=_CNN_FEATURES,
                weights_path=weights_path,
            )
            branch_features.append(_CNN_FEATURES)
        self.climate_branch: ClimateBranch | None = None
        if spec.uses_climate:
            self.climate_branch = ClimateBranch(
                int(n_climate_features),  # type: ignore[arg-type]  # checked above
                hidden_size=lstm_hidden,
                num_layers=lstm_layers,
                out_features=_CLIMATE_FEATURES,
            )
            branch_features.append(_CLIMATE_FEATURES)
        self.head = RegressorHead(branch_features, dropout=dropout, activation=head_activation)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SoilNetModel:
        """Rebuild a model (random weights) from :attr:`config`, e.g. one stored in a checkpoint."""
        return cls(**dict(config))

    def check_config(self, config: Mapping[str, Any], source: str = "checkpoint") -> None:
        """Raise if ``config`` (e.g. from a checkpoint) describes a different model.

        Args:
            config: a :attr:`config` dict saved earlier.
            source: what ``config`` came from, for the message (e.g. the checkpoint path).

        Raises:
            CheckpointError: listing every differing key as ``key: saved -> this model``.
        """
        keys = sorted(set(config) | set(self.config))
        diffs = [
            f"{k}: {config.get(k)!r} -> {self.config.get(k)!r}"
            for k in keys
            if config.get(k) != self.config.get(k)
        ]
        if diffs:
            raise CheckpointError(
                f"{source} was saved for a different model ({'; '.join(diffs)}); rebuild with "
                f"build_model(**config) from the {source} or choose a matching checkpoint."
            )

    def _check_inputs(self, image: Tensor | None, climate: Tensor | None) -> None:
        """Validate batch shapes against the model; messages say how to fix a mismatch."""
        name = self.variant
        if self.spec.uses_image:
            if image is None:
                raise ConfigurationError(
                    f"variant {name!r} needs image patches; got image=None: pass the batch's "
                    "'image' tensor or choose the 'lstm' variant."
                )
            if image.ndim != 4:
                raise ConfigurationError(
                    f"variant {name!r} expects image of shape (B, C, H, W); "
                    f"got {tuple(image.shape)}."
                )
            if image.shape[1] != self.in_channels:
                raise ConfigurationError(
                    f"model built for {self.in_channels} channels, batch has {image.shape[1]}: "
                    f"rebuild with in_channels={image.shape[1]} or read the patches with the "
                    "same bands."
                )
        if self.spec.uses_climate:
            if climate is None:
                fix = (
                    "choose a variant without _lstm"
                    if self.spec.uses_image
                    else "choose an image variant such as 'resnet101_glam'"
                )
                raise ConfigurationError(
                    f"variant {name!r} needs climate variables; the dataset has none: {fix} or "
                    "add climate/ (TerraClimate CSVs) to the data folder."
                )
            if climate.ndim != 3:
                raise ConfigurationError(
                    f"variant {name!r} expects climate of shape (B, months, variables); "
                    f"got {tuple(climate.shape)}."
                )
            if climate.shape[2] != self.n_climate_features:
                raise ConfigurationError(
                    f"model built for {self.n_climate_features} climate variables, batch has "
                    f"{climate.shape[2]}: rebuild with n_climate_features={climate.shape[2]} or "
                    "read the same climate variables."
                )
        if (
            self.spec.uses_image
            and self.spec.uses_climate
            and image is not None
            and climate is not None
            and image.shape[0] != climate.shape[0]
        ):
            raise ConfigurationError(
                f"image batch has {image.shape[0]} samples but climate batch has "
                f"{climate.shape[0]}; they must come from the same samples."
            )

    def forward(self, image: Tensor | None, climate: Tensor | None = None) -> Tensor:
        """Predict the scaled SOC target.

        Args:
            image: float32 (B, C, H, W) scaled patch bands in
                :data:`soilnet.bands.BAND_NAMES` order, H, W >= 16 px; ignored (may be None)
                for the ``lstm`` variant.
            climate: float32 (B, T, F) scaled monthly climate variables, oldest month first;
                ignored for variants without LSTM.

        Returns:
            float32 (B,), SOC divided by the clip value (e.g. g/kg / 87).

        Raises:
            ConfigurationError: a needed input is missing or its shape does not match the
                model (channels, climate variables, batch size).
        """
        self._check_inputs(image, climate)
        return self.head(self._branch_features(image, climate))

    def _branch_features(self, image: Tensor | None, climate: Tensor | None) -> list[Tensor]:
        features: list[Tensor] = []
        if self.cnn is not None:
            features.append(self.cnn(image))
        if self.climate_branch is not None:
            features.append(self.climate_branch(climate))
        return features

    def embed(self, image: Tensor | None, climate: Tensor | None = None) -> Tensor:
        """The vector the regressor head receives: each branch's features, concatenated.

        The CNN's 1024 features first, then the climate branch's 128 (the hybrid: 1152), in
        the order :class:`RegressorHead` takes them; e.g. as the predictor space of the
        dissimilarity index (:mod:`soilnet.applicability`).

        Args:
            image, climate: as for :meth:`forward`.

        Returns:
            float32 (B, sum of the branches' features).
        """
        self._check_inputs(image, climate)
        return torch.cat(self._branch_features(image, climate), dim=1)

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, in_channels={self.in_channels}"


def build_model(
    variant: str,
    in_channels: int = 14,
    n_climate_features: int | None = None,
    *,
    stem_maxpool: bool = True,
    dropout: float = 0.2,
    lstm_hidden: int = 128,
    lstm_layers: int = 2,
    head_activation: str = "relu",
    weights_path: str | Path | None = None,
) -> SoilNetModel:
    """Build a SoilNet variant with random weights (or local CNN weights).

    Args:
        variant: a key of :data:`VARIANTS`, e.g. ``"resnet101_glam_lstm"``.
        in_channels: patch bands C (14 for :data:`soilnet.bands.BAND_NAMES`).
        n_climate_features: climate variables F; required for ``_lstm`` variants.
        stem_maxpool: keep the ResNet maxpool (paper); drop it for 32x32 patches.
        dropout: dropout before the last Linear of the head, in [0, 1).
        lstm_hidden: LSTM hidden size.
        lstm_layers: stacked LSTM layers.
        head_activation: ``"relu"`` (default) or ``"sigmoid"`` (the paper's regressor).
        weights_path: local torchvision ResNet state dict for the CNN backbone.

    Returns:
        A :class:`SoilNetModel` in training mode.

    Raises:
        ConfigurationError: unknown variant or head activation, ``in_channels < 1``,
            missing ``n_climate_features`` for an LSTM variant, ``dropout`` out of range.
        WeightsNotFoundError: ``weights_path`` does not exist.
        CheckpointError: ``weights_path`` holds no matching tensors.
    """
    return SoilNetModel(
        variant,
        in_channels,
        n_climate_features,
        stem_maxpool=stem_maxpool,
        dropout=dropout,
        lstm_hidden=lstm_hidden,
        lstm_layers=lstm_layers,
        head_activation=head_activation,
        weights_path=weights_path,
    )


def _numel(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def count_parameters(model: SoilNetModel) -> dict[str, int]:
    """Count parameters per part.

    Args:
        model: a :class:`SoilNetModel`.

    Returns:
        ``{"cnn", "glam", "lstm", "head", "total"}``; ``cnn`` excludes GLAM, ``lstm``
        includes its Linear. Parts a variant lacks count 0. For ``resnet101_glam_lstm`` with
        14 bands and 14 climate variables: about 44.6 M, 0.11 M, 0.22 M, 0.18 M, 45.1 M.
    """
    glam = _numel(model.cnn.glam) if model.cnn is not None else 0
    return {
        "cnn": _numel(model.cnn) - glam,
        "glam": glam,
        "lstm": _numel(model.climate_branch),
        "head": _numel(model.head),
        "total": _numel(model),
    }
