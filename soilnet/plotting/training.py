"""Training figures: loss curves over epochs, mean over seeds with a min-max band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.figure import Figure

from soilnet.plotting._base import PAPER_COLORS, new_figure, require_columns

__all__ = ["plot_loss_curves"]

_COLUMNS = ("epoch", "train_loss", "val_loss")


def plot_loss_curves(
    histories: Mapping[str, Sequence[pd.DataFrame]], *, loss_label: str | None = None
) -> Figure:
    """Train and validation loss per model: mean over seeds with a min-max band.

    As the authors' PNG: one panel per model, epochs on x. Seeds that stopped early
    contribute to the epochs they ran; the band spans the seeds present at each epoch.

    Args:
        histories: model name -> one table per seed with columns ``epoch``, ``train_loss``,
            ``val_loss`` (``history.csv`` of :func:`soilnet.trainer.train`).
        loss_label: y-axis label (default: RMSE on the scaled target, SOC / 87).

    Returns:
        a figure with one axes per model, two mean curves (train, validation) and two bands each.
    """
    if not histories:
        raise ValueError("histories is empty; pass {model name: [history DataFrame per seed]}.")
    for name, tables in histories.items():
        if not tables:
            raise ValueError(f"histories[{name!r}] has no seed tables.")
        for k, t in enumerate(tables):
            require_columns(t, _COLUMNS, f"histories[{name!r}][{k}]")
    n = len(histories)
    fig = new_figure((4.2 * n + 0.6, 3.6))
    axes = fig.subplots(1, n, sharey=True, squeeze=False).ravel()
    styles = {
        "train_loss": ("Train", PAPER_COLORS["Observed"]),
        "val_loss": ("Validation", PAPER_COLORS["RF"]),
    }
    for ax, (name, tables) in zip(axes, histories.items(), strict=True):
        long = pd.concat([t[list(_COLUMNS)].assign(seed=k) for k, t in enumerate(tables)])
        for col, (label, color) in styles.items():
            g = long.groupby("epoch")[col].agg(["mean", "min", "max"])
            ax.fill_between(g.index, g["min"], g["max"], color=color, alpha=0.2, linewidth=0)
            ax.plot(g.index, g["mean"], color=color, linewidth=1.5, label=f"{label} (mean)")
        ax.set_title(f"{name} ({len(tables)} seed{'s' if len(tables) != 1 else ''})", fontsize=10)
        ax.set_xlabel("Epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(loss_label or "Loss: RMSE of SOC / 87 (unitless)")
    axes[0].legend(fontsize=8, title="band: min-max over seeds", title_fontsize=7)
    return fig
