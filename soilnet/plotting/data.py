"""Figures of the input data: SOC histogram, one patch's bands, climate series, land cover.

:data:`LUCAS_2015_LAND_COVER` is the study's one copy of the LUCAS 2015 land-cover counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from soilnet.bands import (
    CLIMATE_UNITS,
    INDEX_BANDS,
    PAPER_CLIP_G_PER_KG,
    SPECTRAL_BANDS,
    TOPO_BANDS,
)
from soilnet.errors import PatchBandsError
from soilnet.plotting._base import (
    PAPER_COLORS,
    SOC_LABEL,
    as_vector,
    axes_grid,
    new_figure,
    palette_color,
)

__all__ = [
    "CLIMATE_LONG_NAMES",
    "LUCAS_2015_LAND_COVER",
    "plot_climate_series",
    "plot_land_cover_shares",
    "plot_patch_gallery",
    "plot_soc_histogram",
]

#: LUCAS 2015 topsoil points per land-cover class (``LC0_Desc``) of ``LUCAS_2015_all.csv``
#: (21,859 points in all), for reference shares: pass it as ``reference`` to
#: :func:`plot_land_cover_shares`, which normalises it.
LUCAS_2015_LAND_COVER: dict[str, int] = {
    "Cropland": 8972, "Woodland": 6581, "Grassland": 4751, "Shrubland": 846,
    "Bareland": 604, "Artificial": 50, "Wetlands": 49, "Water": 6,
}  # fmt: skip

#: TerraClimate variable names for axis labels.
CLIMATE_LONG_NAMES: dict[str, str] = {
    "aet": "Actual evapotranspiration", "def": "Climatic water deficit",
    "pdsi": "Palmer Drought Severity Index", "pet": "Reference evapotranspiration",
    "pr": "Precipitation", "ro": "Runoff", "soil": "Soil moisture",
    "srad": "Downward shortwave radiation", "swe": "Snow water equivalent",
    "tmmn": "Minimum temperature", "tmmx": "Maximum temperature", "vap": "Vapour pressure",
    "vpd": "Vapour pressure deficit", "vs": "Wind speed at 10 m",
}  # fmt: skip


def plot_soc_histogram(
    oc_g_per_kg, clip: float | None = PAPER_CLIP_G_PER_KG, *, log: bool = True, bins: int = 60
) -> Figure:
    """Histogram of SOC with the clip value marked and the share of points above it.

    Args:
        oc_g_per_kg: float (N,) measured SOC, g/kg; finite.
        clip: the paper's clip value (87 g/kg), drawn as a dashed line; None for no line.
        log: logarithmic x axis with log-spaced bins (SOC is right-skewed, up to ~560 g/kg
            in LUCAS); values <= 0 cannot be shown there and are counted in the note.
        bins: number of bins.

    Returns:
        a figure with one axes.
    """
    oc = as_vector(oc_g_per_kg, "oc_g_per_kg")
    if oc.size == 0:
        raise ValueError("oc_g_per_kg is empty; pass at least one SOC value.")
    fig = new_figure((6.4, 4.0))
    ax = fig.add_subplot()
    notes = []
    if log:
        shown = oc[oc > 0]
        if shown.size < oc.size:
            notes.append(f"{oc.size - shown.size:,} value(s) <= 0 not shown on the log axis")
        lo, hi = (shown.min(), shown.max()) if shown.size else (0.1, 1.0)
        edges = np.geomspace(lo, hi * 1.0001 if hi > lo else lo * 10, bins + 1)
        ax.hist(shown, bins=edges, color=PAPER_COLORS["Observed"], alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("SOC (g/kg, log scale)")
    else:
        ax.hist(oc, bins=bins, color=PAPER_COLORS["Observed"], alpha=0.8)
        ax.set_xlabel(SOC_LABEL)
        notes.append("linear axis: the long right tail is compressed")
    ax.set_ylabel("Points")
    if clip is not None:
        above = int((oc > clip).sum())
        ax.axvline(clip, color=PAPER_COLORS["RF"], linestyle="--", linewidth=1.2)
        ax.text(
            clip, 0.97, f" clip {clip:g} g/kg:\n {above / oc.size:.1%} of points above ({above:,})",
            transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=8, color=PAPER_COLORS["RF"],
        )  # fmt: skip
    q1, med, q3 = np.percentile(oc, [25, 50, 75])
    ax.set_title(
        f"SOC distribution (n = {oc.size:,}; quartiles {q1:.1f} / {med:.1f} / {q3:.1f} g/kg)",
        fontsize=10,
    )
    if notes:
        ax.text(
            0.99, 0.70, "; ".join(notes),
            transform=ax.transAxes, ha="right", va="top", fontsize=7, color="0.35",
        )  # fmt: skip
    return fig


def _percentile_range(band: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0):
    """(lo, hi) percentiles of the finite pixels, hi > lo; (0, 1) when none is finite."""
    finite = band[np.isfinite(band)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [lo_pct, hi_pct])
    # A flat band would divide by zero in the stretch and give imshow an empty range.
    return float(lo), float(hi if hi > lo else lo + 1e-6)


def _composite(image: np.ndarray, pos: Mapping[str, int], rgb: Sequence[str]) -> np.ndarray:
    """float (H, W, 4) RGBA of three bands, each stretched 2-98 %; NaN pixels transparent."""
    layers = []
    for band in rgb:
        data = image[pos[band]]
        lo, hi = _percentile_range(data)
        layers.append(np.clip((data - lo) / (hi - lo), 0.0, 1.0))
    stack = np.stack(layers, axis=-1)
    alpha = np.isfinite(stack).all(axis=-1).astype(float)
    return np.concatenate([np.nan_to_num(stack), alpha[..., None]], axis=-1)


def plot_patch_gallery(image, band_names: Sequence[str], *, title: str | None = None) -> Figure:
    """One patch as ten panels: three composites, the five indices, elevation and slope
    (eight panels for a 12-band optical export without topography).

    Composites are percentile-stretched (2-98 % per band): true colour (SR_B4/SR_B3/SR_B2),
    colour infrared (SR_B5/SR_B4/SR_B3) and short-wave infrared (SR_B7/SR_B6/SR_B4). NaN
    pixels (clouds) are transparent.

    Args:
        image: float (C, H, W) in physical units: reflectance 0-1, indices -1..1, elevation m,
            slope %.
        band_names: (C,) band names of ``image``; must include the seven SR bands and the
            five indices; ``elevation`` and ``slopePCT`` are drawn when present
            (:data:`soilnet.bands.BAND_NAMES`).
        title: figure title (default states the patch size).

    Returns:
        a figure with 10 (or 8) image panels, plus colour bars for the single-band panels.

    Raises:
        PatchBandsError: a needed band is missing from ``band_names``.
        ValueError: ``image`` is not (C, H, W) with C == len(band_names).
    """
    image = np.asarray(image, dtype=np.float64)
    names = list(band_names)
    if image.ndim != 3 or image.shape[0] != len(names):
        raise ValueError(
            f"image must be (C, H, W) with C == len(band_names) == {len(names)}; got shape {image.shape}."
        )
    needed = SPECTRAL_BANDS[1:] + INDEX_BANDS
    missing = [b for b in needed if b not in names]
    if missing:
        raise PatchBandsError(
            f"plot_patch_gallery needs bands {missing}, which are not in band_names {names}."
        )
    topography = [b for b in TOPO_BANDS if b in names]  # absent from 12-band exports
    pos = {b: names.index(b) for b in (*needed, *topography)}

    # (title, data, colour map or None for an RGBA composite, colour-bar unit or None)
    panels = [
        (f"{name}\n{' / '.join(rgb)}", _composite(image, pos, rgb), None, None)
        for name, rgb in (
            ("True colour", ("SR_B4", "SR_B3", "SR_B2")),
            ("Colour infrared", ("SR_B5", "SR_B4", "SR_B3")),
            ("Short-wave infrared", ("SR_B7", "SR_B6", "SR_B4")),
        )
    ]
    for idx in INDEX_BANDS:
        cmap = "YlGn" if idx == "NDVI" else "viridis"
        panels.append((f"{idx} (unitless)", image[pos[idx]], cmap, None))
    topo_panels = {
        "elevation": ("Elevation (m)", "terrain", "m"),
        "slopePCT": ("Slope (%)", "magma", "%"),
    }
    for band in topography:
        label, cmap, unit = topo_panels[band]
        panels.append((label, image[pos[band]], cmap, unit))

    ncols = -(-len(panels) // 2)
    fig = new_figure((2.6 * ncols, 5.8))
    axes = fig.subplots(2, ncols)
    for ax in axes.ravel()[len(panels) :]:
        ax.remove()
    for ax, (label, data, cmap, unit) in zip(axes.ravel(), panels, strict=False):
        if cmap is None:
            ax.imshow(data, interpolation="nearest")
        else:
            vmin, vmax = _percentile_range(data)
            im = ax.imshow(
                np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
            )
            fig.colorbar(im, ax=ax, shrink=0.75, label=unit)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    c, h, w = image.shape
    fig.suptitle(title or f"Patch bands ({c} bands, {h} x {w} px, 30 m pixels)", fontsize=11)
    return fig


#: The climate panels chapter 1 shows when the data have them: temperature, precipitation,
#: drought index and snow.
PREFERRED_CLIMATE_PANELS = ("tmmx", "pr", "pdsi", "swe")


def plot_climate_series(
    climate,
    months: Sequence[str],
    variables: Sequence[str],
    labels: Sequence[str],
    variables_to_show: Sequence[str] | None = None,
) -> Figure:
    """Monthly climate series of a few points, one panel per variable.

    Args:
        climate: float (n, T, F) monthly values, oldest first, physical units
            (:data:`soilnet.bands.CLIMATE_UNITS`).
        months: (T,) month stamps ``YYYYMMDD``.
        variables: (F,) variable names of the last axis.
        labels: (n,) one legend label per point (e.g. Point_ID and land cover).
        variables_to_show: variables to draw, one panel each (default: those of
            :data:`PREFERRED_CLIMATE_PANELS` present, else the first four).

    Returns:
        a figure with ``len(variables_to_show)`` axes, ``n`` lines each.
    """
    climate = np.asarray(climate, dtype=np.float64)
    if climate.ndim != 3:
        raise ValueError(f"climate must be (n, T, F); got shape {climate.shape}.")
    n, t, f = climate.shape
    if len(months) != t or len(variables) != f or len(labels) != n:
        raise ValueError(
            f"climate has shape (n={n}, T={t}, F={f}) but got {len(labels)} labels, {len(months)} months "
            f"and {len(variables)} variables."
        )
    variables = list(variables)
    if variables_to_show is None:
        variables_to_show = [v for v in PREFERRED_CLIMATE_PANELS if v in variables] or variables[:4]
    missing = [v for v in variables_to_show if v not in variables]
    if missing:
        raise ValueError(
            f"variables_to_show {missing} are not among the climate variables {variables}."
        )
    if not variables_to_show:
        raise ValueError("variables_to_show is empty; name at least one variable.")
    dates = pd.to_datetime(pd.Series([str(m) for m in months]), format="%Y%m%d")
    k = len(variables_to_show)
    ncols = 1 if k == 1 else 2
    fig = new_figure((11.0, 2.6 * math.ceil(k / ncols) + 0.6))
    axes = axes_grid(fig, k, ncols, sharex=True)
    for ax, var in zip(axes, variables_to_show, strict=True):
        j = variables.index(var)
        for i in range(n):
            ax.plot(
                dates, climate[i, :, j], color=palette_color(i), linewidth=1.1, label=str(labels[i])
            )
        unit = CLIMATE_UNITS.get(var, "")
        ax.set_title(f"{CLIMATE_LONG_NAMES.get(var, var)} ({var})", fontsize=9)
        ax.set_ylabel(
            f"{var} ({unit})" if unit and unit != "-" else f"{var} (unitless)", fontsize=8
        )
        ax.tick_params(labelsize=7)
    for ax in axes[-ncols:]:
        ax.set_xlabel("Month", fontsize=8)
    handles, texts = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, texts, loc="outside lower center", ncols=min(n, 5), fontsize=8, frameon=False
    )
    fig.suptitle(f"Monthly climate, {dates.iloc[0]:%b %Y} to {dates.iloc[-1]:%b %Y}", fontsize=11)
    return fig


def plot_land_cover_shares(
    labels,
    reference: Mapping[str, float] | pd.Series | None = None,
    *,
    label: str = "This dataset",
    reference_label: str = "LUCAS 2015",
) -> Figure:
    """Shares of land-cover classes, optionally beside reference shares.

    Args:
        labels: (N,) land-cover class of each point (LUCAS ``LC0_Desc``); missing values count
            as ``"(missing)"``.
        reference: class -> count or share (normalised to sum 1 here), e.g.
            :data:`LUCAS_2015_LAND_COVER`; None for the dataset alone.
        label, reference_label: legend names.

    Returns:
        a figure with one axes: one horizontal bar per class (two with a reference), in %.
    """
    series = pd.Series(np.asarray(labels, dtype=object)).fillna("(missing)").astype(str)
    if series.empty:
        raise ValueError("labels is empty; pass one land-cover class per point.")
    # {legend label: share per class}; the dataset's own classes first, largest first.
    groups = {f"{label} (n = {len(series):,})": series.value_counts(normalize=True)}
    if reference is not None:
        ref = pd.Series(reference, dtype=float)
        if (ref < 0).any() or not np.isfinite(ref).all() or ref.sum() <= 0:
            raise ValueError(f"reference must hold non-negative counts or shares; got {dict(ref)}.")
        groups[reference_label] = (ref / ref.sum()).sort_values(ascending=False)
    classes = list(dict.fromkeys(c for shares in groups.values() for c in shares.index))
    y = np.arange(len(classes))
    fig = new_figure((6.4, 0.45 * len(classes) + 1.6))
    ax = fig.add_subplot()
    height = 0.8 / len(groups) if len(groups) > 1 else 0.7
    colors = (PAPER_COLORS["Observed"], "0.65")
    for k, (name, shares) in enumerate(groups.items()):
        offset = (k - (len(groups) - 1) / 2) * height
        pct = shares.reindex(classes, fill_value=0.0).to_numpy() * 100
        bars = ax.barh(y + offset, pct, height=height, color=colors[k], label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_yticks(y, classes)
    ax.invert_yaxis()
    ax.set_xlabel("Share of points (%)")
    ax.set_title("Land cover (LC0_Desc)", fontsize=10)
    ax.margins(x=0.12)
    ax.legend(fontsize=8, loc="lower right")
    return fig
