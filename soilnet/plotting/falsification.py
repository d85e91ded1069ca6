"""The twin as an instrument: planted share against measured gain, one panel per component."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from soilnet.plotting._base import axes_grid, new_figure, palette_color, require_columns

__all__ = ["plot_planted_gains"]

_COLUMNS = (
    "part", "component", "share", "gain_g_per_kg", "gain_lower", "gain_upper",
    "worth_g_per_kg", "worth_lower", "worth_upper",
)  # fmt: skip


def plot_planted_gains(gains: pd.DataFrame, *, labels: dict[str, str] | None = None) -> Figure:
    """Each part's gain over its ablation against the planted share, with its interval.

    One panel per varied component. Each part whose planted share it is is drawn as points with
    their 95 % interval, joined across shares; the grey band is what knowing the component
    exactly is worth on the same points (the noise floor without it minus the noise floor), the
    most any model could gain. The dashed line is no gain.

    Args:
        gains: the table of :func:`soilnet.falsification.gain_table` (g/kg).
        labels: part -> legend label (default: the part's name).

    Returns:
        a figure with one axes per component.
    """
    require_columns(gains, _COLUMNS, "gains")
    if gains.empty:
        raise ValueError("gains is empty; pass the table of soilnet.falsification.gain_table.")
    components = list(dict.fromkeys(gains["component"]))
    fig = new_figure((4.0 * len(components) + 0.6, 3.8))
    axes = axes_grid(fig, len(components), len(components))
    parts = list(dict.fromkeys(gains["part"]))
    for ax, component in zip(axes, components, strict=True):
        table = gains[gains["component"] == component].sort_values("share")
        worth = table.drop_duplicates("share")
        ax.fill_between(
            worth["share"], worth["worth_lower"], worth["worth_upper"], color="0.85",
            linewidth=0, label="worth of knowing it (95 %)",
        )  # fmt: skip
        ax.plot(worth["share"], worth["worth_g_per_kg"], color="0.55", linewidth=1)
        ax.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8)
        rows = list(dict.fromkeys(table["part"]))
        offsets = np.linspace(-0.008, 0.008, len(rows)) if len(rows) > 1 else [0.0]
        for offset, part in zip(offsets, rows, strict=True):
            t = table[table["part"] == part]
            color = palette_color(parts.index(part))
            x = t["share"].to_numpy(float) + offset
            y = t["gain_g_per_kg"].to_numpy(float)
            err = np.vstack([y - t["gain_lower"].to_numpy(float), t["gain_upper"] - y])
            ax.errorbar(
                x, y, yerr=err, color=color, marker="o", capsize=3, linewidth=1.3,
                label=(labels or {}).get(part, part),
            )  # fmt: skip
        ax.set_title(f"planted {component} share", fontsize=10)
        ax.set_xlabel("planted share of the variance of log SOC")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("gain: RMSE(ablation) − RMSE(full), g/kg")
    return fig
