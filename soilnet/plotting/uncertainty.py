"""Uncertainty figures: interval calibration, PIT histograms and error against the DI.

- :func:`plot_calibration`: nominal against empirical coverage (PICP) with its binomial
  interval, one line per model and method, and the 1:1 line of perfect calibration.
- :func:`plot_pit_histograms`: small multiples of the PIT, against the flat line of a
  calibrated forecast.
- :func:`plot_di_error`: mean absolute error in quantile bins of the dissimilarity index, with
  the area-of-applicability threshold.

The tables are those of :mod:`soilnet.uncertainty` (any table with the named columns works).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from soilnet.plotting._base import axes_grid, model_colors, new_figure, require_columns

__all__ = ["plot_calibration", "plot_di_error", "plot_pit_histograms"]


def _panels(table: pd.DataFrame, panel: str | None) -> list[tuple[str | None, pd.DataFrame]]:
    """``[(title, rows)]``: one panel per value of ``panel`` (one untitled panel without it)."""
    if panel is None or panel not in table.columns:
        return [(None, table)]
    return [(str(k), g) for k, g in table.groupby(panel, sort=False)]


def _check(table: pd.DataFrame, need: Sequence[str], name: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame; got {type(table).__name__}.")
    require_columns(table, need, name)
    if table.empty:
        raise ValueError(f"{name} is empty; pass at least one row.")


def plot_calibration(
    calibration: pd.DataFrame, *, series: str = "label", panel: str | None = "protocol"
) -> Figure:
    """Nominal against empirical coverage, one line per model and method.

    Args:
        calibration: one row per series and level with ``level`` (nominal coverage),
            ``picp`` (empirical), ``picp_low``, ``picp_high`` (its binomial interval), e.g.
            :attr:`soilnet.uncertainty.IntervalScores.calibration`.
        series: the column naming a line (model and method).
        panel: the column splitting panels (e.g. the protocol); None or absent: one panel.

    Returns:
        a figure with one axes per panel: the 1:1 line (gid ``"diagonal"``), then per series a
        line (gid ``"coverage"``, an error-bar container labelled by the series) with error
        bars spanning the PICP's interval (a series within its bar of the
        diagonal is consistent with calibration at that sample size).
    """
    _check(calibration, ["level", "picp", "picp_low", "picp_high", series], "calibration")
    panels = _panels(calibration, panel)
    colors = model_colors(dict.fromkeys(calibration[series]))
    fig = new_figure((4.6 * len(panels) + 2.8, 4.2))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False).ravel()
    for ax, (title, rows) in zip(axes, panels, strict=True):
        ax.plot([0, 1], [0, 1], color="0.4", linestyle="--", linewidth=1, gid="diagonal")
        for name, g in rows.groupby(series, sort=False):
            g = g.sort_values("level")
            err = np.vstack([g["picp"] - g["picp_low"], g["picp_high"] - g["picp"]])
            bars = ax.errorbar(
                g["level"].to_numpy(float), g["picp"].to_numpy(float), yerr=np.clip(err, 0, None),
                marker="o", markersize=4, capsize=2, linewidth=1.2, color=colors[name],
                label=str(name),
            )  # fmt: skip
            bars.lines[0].set_gid("coverage")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="Nominal coverage")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        if title is not None:
            ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("Empirical coverage (PICP)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False)
    return fig


def plot_pit_histograms(
    pit: pd.DataFrame,
    *,
    series: str = "label",
    panel: str | None = "protocol",
    n_bins: int = 10,
    ncols: int = 4,
) -> Figure:
    """PIT histograms, one small panel per series (and panel value), shares on a common scale.

    Args:
        pit: one row per point with ``pit`` in [0, 1] and the ``series`` column, e.g.
            :attr:`soilnet.uncertainty.IntervalScores.pit`.
        series: the column naming a model and method.
        panel: a further column to split by (e.g. the protocol); None or absent: ignored.
        n_bins: equal bins over [0, 1].
        ncols: panels per row.

    Returns:
        a figure with one axes per (panel, series), bars of the share of points per bin and
        the flat line ``1 / n_bins`` (gid ``"uniform"``) of a calibrated forecast: a U shape
        means too narrow, a hump too wide, a slope a bias.
    """
    _check(pit, ["pit", series], "pit")
    values = pit["pit"].to_numpy(dtype=float)
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError("pit holds values outside [0, 1] (or NaN); pass PIT values.")
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    keys = [series] if panel is None or panel not in pit.columns else [panel, series]
    groups = list(pit.groupby(keys, sort=False))
    colors = model_colors(dict.fromkeys(pit[series]))
    ncols = max(1, min(ncols, len(groups)))
    nrows = -(-len(groups) // ncols)
    fig = new_figure((2.8 * ncols + 0.4, 2.5 * nrows + 0.4))
    axes = axes_grid(fig, len(groups), ncols, sharex=True, sharey=True)
    edges = np.linspace(0, 1, int(n_bins) + 1)
    for ax, (key, g) in zip(axes, groups, strict=True):
        name = key[-1] if isinstance(key, tuple) else key
        counts, _ = np.histogram(g["pit"], bins=edges)
        ax.bar(edges[:-1], counts / len(g), width=np.diff(edges), align="edge",
               color=colors[name], edgecolor="white", linewidth=0.5)  # fmt: skip
        ax.axhline(1 / n_bins, color="0.3", linestyle="--", linewidth=1, gid="uniform")
        title = " | ".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
        ax.set_title(textwrap.fill(f"{title} (n={len(g):,})", 40), fontsize=7)
        ax.set_xlim(0, 1)
    for ax in axes[-ncols:]:
        ax.set_xlabel("PIT")
    for ax in axes[::ncols]:
        ax.set_ylabel("Share of points")
    return fig


def plot_di_error(
    error_table: pd.DataFrame,
    thresholds: pd.DataFrame | None = None,
    *,
    series: str = "label",
    panel: str | None = "protocol",
) -> Figure:
    """Mean absolute error in quantile bins of the dissimilarity index, one line per model.

    Args:
        error_table: one row per DI bin and series with ``mean_di`` and
            ``mean_abs_error_g_per_kg`` (:attr:`soilnet.uncertainty.Applicability.error_table`).
        thresholds: rows with the ``series`` column and ``threshold`` (one per fold under
            spatial CV), drawn as dashed vertical lines in the series' colour (gid
            ``"threshold"``); None: no lines.
        series: the column naming a model.
        panel: the column splitting panels (e.g. the protocol); None or absent: one panel.

    Returns:
        a figure with one axes per panel; points beyond a threshold are outside the area of
        applicability.
    """
    _check(error_table, ["mean_di", "mean_abs_error_g_per_kg", series], "error_table")
    if thresholds is not None:
        _check(thresholds, ["threshold", series], "thresholds")
    panels = _panels(error_table, panel)
    colors = model_colors(dict.fromkeys(error_table[series]))
    fig = new_figure((4.6 * len(panels) + 2.8, 3.8))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False).ravel()
    for ax, (title, rows) in zip(axes, panels, strict=True):
        for name, g in rows.groupby(series, sort=False):
            g = g.sort_values("mean_di")
            ax.plot(g["mean_di"], g["mean_abs_error_g_per_kg"], marker="o", markersize=4,
                    color=colors[name], label=str(name))  # fmt: skip
        if thresholds is not None:
            th = thresholds
            if title is not None and panel in th.columns:
                th = th[th[panel].astype(str) == title]
            for name, value in zip(th[series], th["threshold"], strict=True):
                if name in colors:
                    ax.axvline(value, color=colors[name], linestyle="--", linewidth=1,
                               alpha=0.8, gid="threshold")  # fmt: skip
        ax.set_xlabel("Dissimilarity index (DI)")
        ax.grid(alpha=0.3)
        if title is not None:
            ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("Mean absolute error (g/kg)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False,
               title="dashed: AOA threshold", title_fontsize=7)  # fmt: skip
    return fig
