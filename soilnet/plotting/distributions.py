"""Result figures comparing predicted with observed SOC: densities, scatter, errors by class.

- :func:`plot_ridgelines`: the paper's Figure 6, densities of observed and predicted SOC
  (seaborn ``kdeplot``: Gaussian KDE, Scott bandwidth, 1,000 points on [0, 87] g/kg), test
  points with observed SOC >= 87 excluded.
- :func:`plot_observed_vs_predicted`: one scatter per model with the 1:1 line.
- :func:`plot_errors_by_land_cover`: seaborn box plots of the error per class and model.

seaborn is imported inside the functions that use it (as scipy and rasterio elsewhere), so
``import soilnet.plotting`` stays light for the chapters that draw only maps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.plotting._base import (
    SOC_LABEL,
    as_vector,
    axes_grid,
    default_point_size,
    model_colors,
    new_figure,
    per_point_series,
    require_columns,
)

__all__ = ["plot_errors_by_land_cover", "plot_observed_vs_predicted", "plot_ridgelines"]

#: Points on the density grid over [0, clip], as the paper's ``np.linspace(0, 87, 1000)``.
_KDE_GRIDSIZE = 1000


def _check_predictions(observed: np.ndarray, predictions: Mapping[str, object]):
    return per_point_series(
        predictions,
        len(observed),
        arg="predictions",
        of="observed",
        example="{model name: predicted SOC array}",
    )


def plot_ridgelines(
    observed,
    predictions: Mapping[str, object],
    clip: float = PAPER_CLIP_G_PER_KG,
    exclude_clipped: bool = True,
    *,
    overlap: float = 0.7,
) -> Figure:
    """The paper's Figure 6: overlapping density ridgelines of observed and predicted SOC.

    Each row is a seaborn ``kdeplot``, i.e. a ``scipy.stats.gaussian_kde`` with Scott's
    bandwidth evaluated on 1,000 points over [0, ``clip``] g/kg: Observed (#0079FF) on top,
    then each model (RF #FF0060, SoilNet #00DFA2, others from a palette). All rows share one
    density scale. A model whose predictions are constant (a null model) has no density and is
    drawn as a vertical line at its value.

    Args:
        observed: float (N,) measured SOC, g/kg (unclipped).
        predictions: model name -> float (N,) predicted SOC, g/kg, in the order of ``observed``.
        clip: the clip value, g/kg: the right end of the x axis.
        exclude_clipped: drop points whose observed SOC is >= ``clip`` from every row, as the
            paper did (its n = 3,971 of 4,371 test points).
        overlap: how far each row reaches into the one above (the paper's ``hspace=-0.7``).

    Returns:
        a figure with 1 + len(predictions) axes, one density curve each (a ``Line2D`` with gid
        ``"density"``); the note at the bottom gives n and whether clipped points were excluded.
    """
    import seaborn as sns

    obs = as_vector(observed, "observed")
    preds = _check_predictions(obs, predictions)
    keep = obs < clip if exclude_clipped else np.ones(len(obs), bool)
    n_kept = int(keep.sum())
    if n_kept < 2:
        raise ValueError(
            f"Only {n_kept} point(s) remain below clip={clip:g} g/kg; a density needs at least 2."
        )
    rows = {"Observed": obs[keep], **{k: v[keep] for k, v in preds.items()}}
    colors = model_colors(rows)

    # Row axes built here, not with seaborn's FacetGrid: FacetGrid opens its figure through
    # pyplot, and these figures stay outside pyplot (see soilnet.plotting).
    fig = new_figure((7.0, 1.0 + 0.9 * len(rows)), layout=None)
    axes = np.atleast_1d(fig.subplots(len(rows), 1, sharex=True, gridspec_kw={"hspace": -overlap}))
    fig.subplots_adjust(left=0.2, right=0.96, top=0.92, bottom=0.22)
    curves = {}
    for ax, (name, vals) in zip(axes, rows.items(), strict=True):
        if np.ptp(vals) == 0:
            continue  # no density; drawn below once the shared scale is known
        # cut=inf with clip=(0, clip): the grid is always [0, clip], whatever the data range.
        sns.kdeplot(
            x=vals, ax=ax, bw_method="scott", gridsize=_KDE_GRIDSIZE, cut=np.inf,
            clip=(0.0, clip), color=colors[name], linewidth=1.5,
        )  # fmt: skip
        curves[name] = ax.lines[-1]
        curves[name].set_gid("density")
        # Filled from the drawn curve rather than a second kdeplot(fill=True), which would fit
        # the same KDE again.
        ax.fill_between(*curves[name].get_data(), color=colors[name], alpha=0.55, linewidth=0)
    top = max([c.get_ydata().max() for c in curves.values()] or [1.0 / clip]) * 1.05

    for ax, (name, vals) in zip(axes, rows.items(), strict=True):
        name_shown = name
        if name not in curves:
            ax.plot(
                [vals[0], vals[0]], [0, top * 0.5], color=colors[name], linewidth=2.0, gid="density"
            )
            name_shown = f"{name} (constant)"
        ax.set_ylim(0, top)
        ax.set_xlim(0, clip)
        ax.patch.set_alpha(0)
        ax.set_yticks([])
        ax.set_ylabel("")
        ax.spines[["left", "right", "top"]].set_visible(False)
        ax.text(
            -0.02, 0.06, name_shown, transform=ax.transAxes, ha="right", va="bottom",
            fontsize=9, color=colors[name], fontweight="bold",
        )  # fmt: skip
        if ax is not axes[-1]:
            ax.spines["bottom"].set_visible(False)
            ax.tick_params(axis="x", length=0)
    axes[-1].set_xlabel(SOC_LABEL)
    fig.suptitle("Distribution of observed and predicted SOC (g/kg)", fontsize=11)
    if exclude_clipped:
        note = (
            f"n = {n_kept:,} points; {len(obs) - n_kept:,} with observed SOC >= {clip:g} g/kg "
            "excluded (as the paper)"
        )
    else:
        note = (
            f"n = {n_kept:,} points; points with observed SOC >= {clip:g} g/kg kept (density "
            f"shown on [0, {clip:g}] only)"
        )
    note += f"\nGaussian KDE, Scott bandwidth, {_KDE_GRIDSIZE:,} points on [0, {clip:g}] g/kg"
    fig.text(0.5, 0.02, note, ha="center", va="bottom", fontsize=7, color="0.3")
    return fig


def plot_observed_vs_predicted(
    observed, predictions: Mapping[str, object], clip: float | None = PAPER_CLIP_G_PER_KG
) -> Figure:
    """Observed against predicted SOC, one panel per model, with the 1:1 line.

    Each title gives RMSE (g/kg) and R² from :func:`soilnet.metrics.regression_metrics`,
    computed against ``observed`` exactly as passed (pass ``np.minimum(obs, 87)`` to score
    against the clipped target as the paper did).

    Args:
        observed: float (N,) measured SOC, g/kg.
        predictions: model name -> float (N,) predicted SOC, g/kg.
        clip: drawn as dotted lines on both axes; None for none.

    Returns:
        a figure with one axes per model, each with N points and the 1:1 line.
    """
    from soilnet.metrics import regression_metrics

    obs = as_vector(observed, "observed")
    preds = _check_predictions(obs, predictions)
    n = len(preds)
    ncols = min(n, 3)
    fig = new_figure((3.9 * ncols + 0.4, 3.9 * math.ceil(n / ncols) + 0.3))
    axes = axes_grid(fig, n, ncols)
    colors = model_colors(preds)
    allv = np.concatenate([obs, *preds.values()])
    # Square axes to the 99.5th percentile (and the clip): a few very high values would
    # otherwise squeeze the bulk of the points into a corner; the title counts those left out.
    lim = max(float(np.percentile(allv, 99.5)), clip or 0.0) * 1.05
    lo = min(0.0, float(allv.min()))
    for ax, (name, pred) in zip(axes, preds.items(), strict=True):
        m = regression_metrics(obs, pred)
        ax.scatter(
            obs, pred, s=default_point_size(len(obs)) * 0.8, color=colors[name], alpha=0.45,
            linewidths=0,
        )  # fmt: skip
        ax.plot([lo, lim], [lo, lim], color="black", linewidth=1.0, label="1:1")
        if clip is not None:
            ax.axvline(clip, color="0.5", linestyle=":", linewidth=0.8)
            ax.axhline(clip, color="0.5", linestyle=":", linewidth=0.8)
        ax.set_xlim(lo, lim)
        ax.set_ylim(lo, lim)
        outside = int(((obs > lim) | (pred > lim)).sum())
        extra = f"; {outside:,} beyond {lim:.0f}" if outside else ""
        ax.set_title(
            f"{name}\nRMSE {m['rmse']:.2f} g/kg, R² {m['r2']:.2f} (n = {m['n']:,}{extra})",
            fontsize=9,
        )
        ax.set_xlabel("Observed SOC (g/kg)", fontsize=8)
        ax.set_ylabel("Predicted SOC (g/kg)", fontsize=8)
        ax.tick_params(labelsize=7)
    return fig


def plot_errors_by_land_cover(
    table: pd.DataFrame, *, error_label: str = "Error, predicted − observed (g/kg)"
) -> Figure:
    """Box plots of prediction error by land-cover class, one box per model in each class.

    Drawn with seaborn ``boxplot`` (boxes dodged by model; a model without points in a class
    leaves its slot empty).

    Args:
        table: long table with columns ``land_cover`` (class name), ``model`` (name) and
            ``error`` (g/kg, one row per point and model).
        error_label: y-axis label (say whether the error is signed or absolute).

    Returns:
        a figure with one axes; classes ordered by number of points, with n under each.
    """
    import seaborn as sns

    require_columns(table, ("land_cover", "model", "error"), "table")
    if table.empty:
        raise ValueError("table is empty; pass one row per point and model.")
    data = pd.DataFrame(
        {
            "land_cover": table["land_cover"].fillna("(missing)").astype(str).to_numpy(),
            "model": table["model"].astype(str).to_numpy(),
            "error": as_vector(table["error"], "table['error']"),
        }
    )
    models = list(dict.fromkeys(data["model"]))
    # Classes by the number of points of the first model, then any it lacks.
    per_class = data.loc[data["model"] == models[0], "land_cover"].value_counts()
    classes = list(dict.fromkeys([*per_class.index, *data["land_cover"]]))
    counts = data.groupby("land_cover").size() / len(models)

    fig = new_figure((max(6.4, 1.1 * len(classes) * max(1, len(models) / 2) + 1.5), 4.4))
    ax = fig.add_subplot()
    with warnings.catch_warnings():
        # seaborn 0.13.2 passes ax.bxp(vert=...), deprecated in matplotlib 3.11; not ours to fix.
        warnings.filterwarnings("ignore", message="vert: bool was deprecated", module="seaborn")
        sns.boxplot(
            data, x="land_cover", y="error", hue="model", order=classes, hue_order=models,
            palette=model_colors(models), saturation=1.0, gap=0.1, fliersize=2, ax=ax,
            boxprops={"alpha": 0.75}, flierprops={"alpha": 0.4}, medianprops={"color": "black"},
        )  # fmt: skip
    ax.axhline(0, color="0.4", linewidth=0.8, linestyle="--", zorder=0)
    ax.set_xticks(
        np.arange(len(classes)),
        [f"{c}\nn = {int(round(counts.get(c, 0))):,}" for c in classes],
        fontsize=8,
    )
    ax.set_xlabel("")
    ax.set_ylabel(error_label)
    ax.set_title("Prediction error by land cover", fontsize=10)
    ax.legend(title=None, fontsize=8)
    return fig
