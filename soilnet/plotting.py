"""Figures of the SoilNet study. Every function returns a :class:`matplotlib.figure.Figure`.

Figures are built without pyplot's global state (no ``plt.show``, no ``matplotlib.use``, no
figure left open in ``pyplot``), so a notebook shows each one exactly once: as the last
expression of a cell, or with ``display(fig)``; save with ``fig.savefig(path)``.

Maps are drawn in EPSG:3035 (ETRS89-LAEA, km on the axes) over the Natural Earth country
outline of :func:`soilnet.geo.europe_countries`: non-EU-28 countries light grey, EU-28 countries
outlined. SOC is coloured with the ``YlGnBu`` ramp (light = low, dark = high) from 0 to 87 g/kg
by default, the paper's clip value; higher values take the darkest colour and the colour bar
shows an arrow.

Paper figures reproduced:

- :func:`plot_ridgelines`: Figure 6, densities of observed and predicted SOC (Gaussian KDE,
  Scott bandwidth, 1,000 points on [0, 87] g/kg), test points with observed SOC >= 87 excluded.
- :func:`plot_point_maps`: Figure 7, observed and predicted SOC at the test locations, side by
  side, one colour bar, 0-1,000 km scale bar.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from soilnet.bands import (
    CLIMATE_UNITS,
    INDEX_BANDS,
    PAPER_CLIP_G_PER_KG,
    SPECTRAL_BANDS,
    TOPO_BANDS,
)
from soilnet.errors import PatchBandsError

__all__ = [
    "CLIMATE_LONG_NAMES",
    "LUCAS_2015_LAND_COVER",
    "PAPER_COLORS",
    "SOC_CMAP",
    "SoilNetFigure",
    "model_color",
    "plot_climate_series",
    "plot_errors_by_land_cover",
    "plot_land_cover_shares",
    "plot_loss_curves",
    "plot_observed_vs_predicted",
    "plot_patch_gallery",
    "plot_point_maps",
    "plot_points_map",
    "plot_ridgelines",
    "plot_soc_histogram",
    "plot_soc_map",
]

#: Colour ramp for SOC (light = low, dark = high), as the paper's Figure 7.
SOC_CMAP = "YlGnBu"
SOC_LABEL = "SOC (g/kg)"

#: Colours of the paper's Figure 6 (``plot_utils/scatterplot.ipynb``).
PAPER_COLORS: dict[str, str] = {"Observed": "#0079FF", "RF": "#FF0060", "SoilNet": "#00DFA2"}
#: Names drawn in the paper's RF / SoilNet colour (compared lower-case).
_RF_ALIASES = {"rf", "random forest", "rf (paper)", "paper rf", "rf_paper"}
_SOILNET_ALIASES = {"soilnet", "resnet101_glam_lstm", "resnet-101-glam+lstm"}
#: Colours for the other models, in order (colour-blind-safe, distinct from the paper's).
_PALETTE = ("#FFB000", "#785EF0", "#FE6100", "#648FFF", "#DC267F", "#4D4D4D", "#117733", "#AA4499")

#: LUCAS 2015 topsoil points per land-cover class (``LC0_Desc``), for reference shares.
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

_NON_EU_FACE = "#dcdcdc"
_EU_FACE = "#f7f7f7"
_EU_EDGE = "#555555"
_MAP_MARGIN_M = 100_000.0


class SoilNetFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that renders itself as PNG in notebooks.

    Figures made outside pyplot have no display hook of their own; ``_repr_png_`` gives
    Jupyter one, so the figure shows once, whatever the backend.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _figure(figsize: tuple[float, float], layout: str | None = "constrained") -> SoilNetFigure:
    return SoilNetFigure(figsize=figsize, layout=layout)


def model_color(name: str, i: int = 0) -> str:
    """Colour of a row or panel: the paper's for Observed, RF and SoilNet, else a palette.

    Args:
        name: a model or row name. ``"Observed"``; ``"RF"``/``"Random Forest"``; ``"SoilNet"``
            or ``"resnet101_glam_lstm"`` get the paper's colours (case-insensitive).
        i: position among the other models, to pick a palette colour.

    Returns:
        a hex colour.
    """
    key = str(name).strip().lower()
    if key == "observed":
        return PAPER_COLORS["Observed"]
    if key in _RF_ALIASES:
        return PAPER_COLORS["RF"]
    if key in _SOILNET_ALIASES:
        return PAPER_COLORS["SoilNet"]
    return _PALETTE[i % len(_PALETTE)]


def _colors(names: Sequence[str]) -> dict[str, str]:
    out, k = {}, 0
    for name in names:
        c = model_color(name, k)
        if c not in PAPER_COLORS.values():
            k += 1
        out[name] = c
    return out


# ---------------------------------------------------------------------------------- validation
def _vector(values, name: str, *, finite: bool = True) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert it to float ({exc}).") from exc
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n,); got shape {arr.shape}.")
    if finite:
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ValueError(
                f"{name} has {bad:,} non-finite value(s) (NaN or inf) of {arr.size:,}; drop or fill "
                "them before plotting."
            )
    return arr


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v:,}" for k, v in lengths.items())
        raise ValueError(f"Inputs must have one value per point; got lengths {shown}.")


def _check_predictions(
    observed: np.ndarray, predictions: Mapping[str, object]
) -> dict[str, np.ndarray]:
    if not predictions:
        raise ValueError("predictions is empty; pass {model name: predicted SOC array}.")
    out = {}
    for name, pred in predictions.items():
        arr = _vector(pred, f"predictions[{name!r}]")
        if len(arr) != len(observed):
            raise ValueError(
                f"predictions[{name!r}] has {len(arr):,} values but observed has {len(observed):,}; "
                "pass one prediction per observed point, in the same order."
            )
        out[str(name)] = arr
    return out


# ---------------------------------------------------------------------------------- map helpers
def _soc_cmap():
    return colormaps[SOC_CMAP].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def _extend(values: np.ndarray, vmax: float) -> str:
    finite = values[np.isfinite(values)]
    return "max" if finite.size and finite.max() > vmax else "neither"


@lru_cache(maxsize=1)
def _europe_patches_source():
    """(non-EU paths, EU-28 paths) of the country outline in EPSG:3035."""
    import shapely
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    from soilnet.geo import LAEA_EUROPE, europe_countries

    countries = europe_countries().to_crs(LAEA_EUROPE)
    groups: dict[bool, list] = {True: [], False: []}
    for lucas, geom in zip(countries["lucas"].astype(bool), countries.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        for poly in shapely.get_parts(geom):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            poly = orient(poly, 1.0)
            rings = [poly.exterior, *poly.interiors]
            groups[bool(lucas)].append(
                MplPath.make_compound_path(
                    *(MplPath(np.asarray(r.coords)[:, :2], closed=True) for r in rings)
                )
            )
    return groups[False], groups[True]


def _europe_extent() -> tuple[float, float, float, float]:
    from soilnet.geo import lucas_land_laea

    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    m = _MAP_MARGIN_M
    return xmin - m, xmax + m, ymin - m, ymax + m


def _draw_europe(ax, *, ylabel: bool = True) -> None:
    """Countries under the data, extent, km axes with labels."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    non_eu, eu = _europe_patches_source()
    ax.add_collection(
        PatchCollection(
            [PathPatch(p) for p in non_eu],
            facecolor=_NON_EU_FACE,
            edgecolor="white",
            linewidth=0.4,
            zorder=0,
        )
    )
    ax.add_collection(
        PatchCollection(
            [PathPatch(p) for p in eu],
            facecolor=_EU_FACE,
            edgecolor=_EU_EDGE,
            linewidth=0.4,
            zorder=1,
        )
    )
    x0, x1, y0, y1 = _europe_extent()
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    km = FuncFormatter(lambda v, _pos: f"{v / 1000:,.0f}")
    ax.xaxis.set_major_formatter(km)
    ax.yaxis.set_major_formatter(km)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("Easting, EPSG:3035 (km)", fontsize=8)
    if ylabel:
        ax.set_ylabel("Northing, EPSG:3035 (km)", fontsize=8)


def _draw_borders_on_top(ax) -> None:
    """EU-28 outlines again, unfilled, above a raster."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    _, eu = _europe_patches_source()
    ax.add_collection(
        PatchCollection(
            [PathPatch(p) for p in eu],
            facecolor="none",
            edgecolor=_EU_EDGE,
            linewidth=0.4,
            zorder=3,
        )
    )


def _add_scale_bar(ax, length_km: float = 1000.0, segments: int = 2) -> None:
    """A black-and-white scale bar in the lower left, in EPSG:3035 metres."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    left, bottom = x0 + 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    height = 0.012 * (y1 - y0)
    step = length_km * 1000 / segments
    for k in range(segments):
        ax.add_patch(
            Rectangle(
                (left + k * step, bottom), step, height,
                facecolor="black" if k % 2 == 0 else "white", edgecolor="black", linewidth=0.6, zorder=5,
            )
        )  # fmt: skip
        ax.text(
            left + k * step,
            bottom + 1.8 * height,
            f"{k * length_km / segments:,.0f}",
            ha="center",
            va="bottom",
            fontsize=6,
            zorder=5,
        )
    ax.text(
        left + length_km * 1000,
        bottom + 1.8 * height,
        f"{length_km:,.0f} km",
        ha="center",
        va="bottom",
        fontsize=6,
        zorder=5,
    )


def _point_size(n: int) -> float:
    return float(np.clip(6000.0 / max(n, 1), 1.5, 18.0))


def _draw_points(
    ax, x: np.ndarray, y: np.ndarray, values: np.ndarray, norm: Normalize, size: float | None
):
    order = np.argsort(values, kind="stable")  # high values drawn last, on top
    return ax.scatter(
        x[order], y[order], c=values[order], cmap=_soc_cmap(), norm=norm,
        s=size if size is not None else _point_size(len(x)), linewidths=0, zorder=2,
    )  # fmt: skip


def _laea_points(lon, lat, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from soilnet.geo import lonlat_to_laea

    lon, lat = _vector(lon, "lon"), _vector(lat, "lat")
    values = _vector(values, "values")
    _same_length(lon=lon, lat=lat, values=values)
    x, y = lonlat_to_laea(lon, lat)
    return np.asarray(x), np.asarray(y), values


# ---------------------------------------------------------------------------------- data figures
def plot_points_map(
    lon,
    lat,
    values,
    *,
    title: str,
    vmax: float = PAPER_CLIP_G_PER_KG,
    ax=None,
    point_size: float | None = None,
    scale_bar: bool = True,
) -> Figure:
    """Points over Europe coloured by SOC.

    Args:
        lon, lat: float (N,) EPSG:4326 degrees.
        values: float (N,) SOC, g/kg; finite.
        title: panel title.
        vmax: top of the colour ramp, g/kg (87, the paper's clip); higher values take its colour.
        ax: draw into this axes (a colour bar is added beside it); default: a new figure.
        point_size: marker area in points² (default from N).
        scale_bar: draw a 0-1,000 km scale bar.

    Returns:
        the figure holding the map.
    """
    x, y, values = _laea_points(lon, lat, values)
    if ax is None:
        fig = _figure((6.4, 5.6))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _draw_europe(ax)
    sc = _draw_points(ax, x, y, values, Normalize(0.0, vmax), point_size)
    if scale_bar:
        _add_scale_bar(ax)
    ax.set_title(f"{title} (n = {len(values):,})", fontsize=10)
    fig.colorbar(sc, ax=ax, label=SOC_LABEL, extend=_extend(values, vmax), shrink=0.8)
    return fig


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
    oc = _vector(oc_g_per_kg, "oc_g_per_kg")
    if oc.size == 0:
        raise ValueError("oc_g_per_kg is empty; pass at least one SOC value.")
    fig = _figure((6.4, 4.0))
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
            0.99,
            0.70,
            "; ".join(notes),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="0.35",
        )
    return fig


def _stretch(band: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> np.ndarray:
    finite = band[np.isfinite(band)]
    if finite.size == 0:
        return np.zeros_like(band)
    lo, hi = np.percentile(finite, [lo_pct, hi_pct])
    return np.clip((band - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)


def plot_patch_gallery(image, band_names: Sequence[str], *, title: str | None = None) -> Figure:
    """One patch as ten panels: three composites, the five indices, elevation and slope.

    Composites are percentile-stretched (2-98 % per band): true colour (SR_B4/SR_B3/SR_B2),
    colour infrared (SR_B5/SR_B4/SR_B3) and short-wave infrared (SR_B7/SR_B6/SR_B4). NaN
    pixels (clouds) are transparent.

    Args:
        image: float (C, H, W) in physical units: reflectance 0-1, indices -1..1, elevation m,
            slope %.
        band_names: (C,) band names of ``image``; must include the seven SR bands, the five
            indices, ``elevation`` and ``slopePCT`` (:data:`soilnet.bands.BAND_NAMES`).
        title: figure title (default states the patch size).

    Returns:
        a figure with 10 image panels (plus colour bars for the single-band panels).

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
    needed = SPECTRAL_BANDS[1:] + INDEX_BANDS + TOPO_BANDS
    missing = [b for b in needed if b not in names]
    if missing:
        raise PatchBandsError(
            f"plot_patch_gallery needs bands {missing}, which are not in band_names {names}."
        )
    pos = {b: names.index(b) for b in needed}

    def composite(r, g, b):
        rgb = np.stack([_stretch(image[pos[k]]) for k in (r, g, b)], axis=-1)
        alpha = np.isfinite(rgb).all(axis=-1).astype(float)
        return np.concatenate([np.nan_to_num(rgb), alpha[..., None]], axis=-1)

    panels = [
        ("True colour\nSR_B4 / SR_B3 / SR_B2", composite("SR_B4", "SR_B3", "SR_B2"), None, None),
        (
            "Colour infrared\nSR_B5 / SR_B4 / SR_B3",
            composite("SR_B5", "SR_B4", "SR_B3"),
            None,
            None,
        ),
        (
            "Short-wave infrared\nSR_B7 / SR_B6 / SR_B4",
            composite("SR_B7", "SR_B6", "SR_B4"),
            None,
            None,
        ),
    ]
    for idx in INDEX_BANDS:
        panels.append(
            (f"{idx} (unitless)", image[pos[idx]], "YlGn" if idx == "NDVI" else "viridis", "-")
        )
    panels.append(("Elevation (m)", image[pos["elevation"]], "terrain", "m"))
    panels.append(("Slope (%)", image[pos["slopePCT"]], "magma", "%"))

    fig = _figure((13.0, 5.8))
    axes = fig.subplots(2, 5)
    for ax, (label, data, cmap, unit) in zip(axes.ravel(), panels, strict=True):
        if cmap is None:
            ax.imshow(data, interpolation="nearest")
        else:
            masked = np.ma.masked_invalid(data)
            finite = data[np.isfinite(data)]
            vmin, vmax = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
            im = ax.imshow(
                masked,
                cmap=cmap,
                vmin=vmin,
                vmax=vmax if vmax > vmin else vmin + 1e-6,
                interpolation="nearest",
            )
            fig.colorbar(im, ax=ax, shrink=0.75, label=unit if unit != "-" else None)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    c, h, w = image.shape
    fig.suptitle(title or f"Patch bands ({c} bands, {h} x {w} px, 30 m pixels)", fontsize=11)
    return fig


def plot_climate_series(
    climate,
    months: Sequence[str],
    variables: Sequence[str],
    labels: Sequence[str],
    variables_to_show: Sequence[str] = ("tmmx", "pr", "pdsi", "swe"),
) -> Figure:
    """Monthly climate series of a few points, one panel per variable.

    Args:
        climate: float (n, T, F) monthly values, oldest first, physical units
            (:data:`soilnet.bands.CLIMATE_UNITS`).
        months: (T,) month stamps ``YYYYMMDD``.
        variables: (F,) variable names of the last axis.
        labels: (n,) one legend label per point (e.g. Point_ID and land cover).
        variables_to_show: variables to draw, one panel each.

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
    nrows = math.ceil(k / ncols)
    fig = _figure((11.0, 2.6 * nrows + 0.6))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel())
    for ax in axes[k:]:
        ax.remove()
    colors = [_PALETTE[i % len(_PALETTE)] for i in range(n)]
    for ax, var in zip(axes[:k], variables_to_show, strict=True):
        j = variables.index(var)
        for i in range(n):
            ax.plot(dates, climate[i, :, j], color=colors[i], linewidth=1.1, label=str(labels[i]))
        unit = CLIMATE_UNITS.get(var, "")
        ax.set_title(f"{CLIMATE_LONG_NAMES.get(var, var)} ({var})", fontsize=9)
        ax.set_ylabel(
            f"{var} ({unit})" if unit and unit != "-" else f"{var} (unitless)", fontsize=8
        )
        ax.tick_params(labelsize=7)
    for ax in axes[:k][-ncols:]:
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
        a figure with one axes: one horizontal bar per class (two with a reference).
    """
    series = pd.Series(np.asarray(labels, dtype=object)).fillna("(missing)").astype(str)
    if series.empty:
        raise ValueError("labels is empty; pass one land-cover class per point.")
    shares = series.value_counts(normalize=True)
    ref = None
    if reference is not None:
        ref = pd.Series(reference, dtype=float)
        if (ref < 0).any() or not np.isfinite(ref).all() or ref.sum() <= 0:
            raise ValueError(f"reference must hold non-negative counts or shares; got {dict(ref)}.")
        ref = ref / ref.sum()
    classes = list(shares.index) + (
        [c for c in ref.sort_values(ascending=False).index if c not in shares.index]
        if ref is not None
        else []
    )
    y = np.arange(len(classes))
    fig = _figure((6.4, 0.45 * len(classes) + 1.6))
    ax = fig.add_subplot()
    height = 0.4 if ref is not None else 0.7
    own = shares.reindex(classes, fill_value=0.0).to_numpy() * 100
    bars = [
        ax.barh(
            y - (height / 2 if ref is not None else 0),
            own,
            height=height,
            color=PAPER_COLORS["Observed"],
            label=f"{label} (n = {len(series):,})",
        )
    ]
    if ref is not None:
        other = ref.reindex(classes, fill_value=0.0).to_numpy() * 100
        bars.append(
            ax.barh(y + height / 2, other, height=height, color="0.65", label=reference_label)
        )
    for group in bars:
        ax.bar_label(group, fmt="%.1f", fontsize=7, padding=2)
    ax.set_yticks(y, classes)
    ax.invert_yaxis()
    ax.set_xlabel("Share of points (%)")
    ax.set_title("Land cover (LC0_Desc)", fontsize=10)
    ax.margins(x=0.12)
    ax.legend(fontsize=8, loc="lower right")
    return fig


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
    need = {"epoch", "train_loss", "val_loss"}
    for name, tables in histories.items():
        if not tables:
            raise ValueError(f"histories[{name!r}] has no seed tables.")
        for k, t in enumerate(tables):
            missing = need - set(t.columns)
            if missing:
                raise ValueError(
                    f"histories[{name!r}][{k}] lacks column(s) {sorted(missing)}; it has {list(t.columns)}."
                )
    n = len(histories)
    fig = _figure((4.2 * n + 0.6, 3.6))
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True, squeeze=False).ravel())
    styles = {"train_loss": ("Train", "#0079FF"), "val_loss": ("Validation", "#FF0060")}
    for ax, (name, tables) in zip(axes, histories.items(), strict=True):
        long = pd.concat(
            [t[["epoch", "train_loss", "val_loss"]].assign(seed=k) for k, t in enumerate(tables)]
        )
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


# ---------------------------------------------------------------------------------- results
def plot_ridgelines(
    observed,
    predictions: Mapping[str, object],
    clip: float = PAPER_CLIP_G_PER_KG,
    exclude_clipped: bool = True,
    *,
    overlap: float = 0.7,
) -> Figure:
    """The paper's Figure 6: overlapping density ridgelines of observed and predicted SOC.

    Each row is a ``scipy.stats.gaussian_kde`` (Scott's bandwidth) evaluated on 1,000 points
    over [0, ``clip``] g/kg: Observed (#0079FF) on top, then each model (RF #FF0060, SoilNet
    #00DFA2, others from a palette). All rows share one density scale. A model whose
    predictions are constant (a null model) is drawn as a vertical line at its value.

    Args:
        observed: float (N,) measured SOC, g/kg (unclipped).
        predictions: model name -> float (N,) predicted SOC, g/kg, in the order of ``observed``.
        clip: the clip value, g/kg: the right end of the x axis.
        exclude_clipped: drop points whose observed SOC is >= ``clip`` from every row, as the
            paper did (its n = 3,971 of 4,371 test points).
        overlap: how far each row reaches into the one above (the paper's ``hspace=-0.7``).

    Returns:
        a figure with 1 + len(predictions) axes, one density curve each; the note at the
        bottom gives n and whether clipped points were excluded.
    """
    from scipy.stats import gaussian_kde

    obs = _vector(observed, "observed")
    preds = _check_predictions(obs, predictions)
    keep = obs < clip if exclude_clipped else np.ones(len(obs), bool)
    n_kept = int(keep.sum())
    if n_kept < 2:
        raise ValueError(
            f"Only {n_kept} point(s) remain below clip={clip:g} g/kg; a density needs at least 2."
        )
    rows = {"Observed": obs[keep], **{k: v[keep] for k, v in preds.items()}}
    colors = _colors(list(rows))
    grid = np.linspace(0.0, clip, 1000)
    densities: dict[str, np.ndarray | None] = {}
    for name, vals in rows.items():
        if np.ptp(vals) == 0:
            densities[name] = None
            continue
        densities[name] = gaussian_kde(vals, bw_method="scott")(grid)
    top = max([d.max() for d in densities.values() if d is not None] or [1.0 / clip]) * 1.05

    fig = _figure((7.0, 1.0 + 0.9 * len(rows)), layout=None)
    axes = fig.subplots(len(rows), 1, sharex=True, gridspec_kw={"hspace": -overlap})
    axes = np.atleast_1d(axes)
    fig.subplots_adjust(left=0.2, right=0.96, top=0.92, bottom=0.22)
    for ax, (name, vals) in zip(axes, rows.items(), strict=True):
        color = colors[name]
        dens = densities[name]
        if dens is None:
            ax.plot([vals[0], vals[0]], [0, top * 0.5], color=color, linewidth=2.0, gid="density")
            name_shown = f"{name} (constant)"
        else:
            ax.fill_between(grid, dens, color=color, alpha=0.55, linewidth=0)
            ax.plot(grid, dens, color=color, linewidth=1.5, gid="density")
            name_shown = name
        ax.set_ylim(0, top)
        ax.set_xlim(0, clip)
        ax.patch.set_alpha(0)
        ax.set_yticks([])
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.text(
            -0.02,
            0.06,
            name_shown,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=9,
            color=color,
            fontweight="bold",
        )
        if ax is not axes[-1]:
            ax.spines["bottom"].set_visible(False)
            ax.tick_params(axis="x", length=0)
    axes[-1].set_xlabel(SOC_LABEL)
    fig.suptitle("Distribution of observed and predicted SOC (g/kg)", fontsize=11)
    dropped = len(obs) - n_kept
    if exclude_clipped:
        note = f"n = {n_kept:,} points; {dropped:,} with observed SOC >= {clip:g} g/kg excluded (as the paper)"
    else:
        note = f"n = {n_kept:,} points; points with observed SOC >= {clip:g} g/kg kept (density shown on [0, {clip:g}] only)"
    fig.text(
        0.5,
        0.02,
        note + f"\nGaussian KDE, Scott bandwidth, 1,000 points on [0, {clip:g}] g/kg",
        ha="center",
        va="bottom",
        fontsize=7,
        color="0.3",
    )
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

    obs = _vector(observed, "observed")
    preds = _check_predictions(obs, predictions)
    n = len(preds)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = _figure((3.9 * ncols + 0.4, 3.9 * nrows + 0.3))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.remove()
    colors = _colors(list(preds))
    allv = np.concatenate([obs, *preds.values()])
    lim = max(float(np.percentile(allv, 99.5)), clip or 0.0) * 1.05
    lo = min(0.0, float(allv.min()))
    for ax, (name, pred) in zip(axes[:n], preds.items(), strict=True):
        m = regression_metrics(obs, pred)
        ax.scatter(
            obs, pred, s=_point_size(len(obs)) * 0.8, color=colors[name], alpha=0.45, linewidths=0
        )
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

    Args:
        table: long table with columns ``land_cover`` (class name), ``model`` (name) and
            ``error`` (g/kg, one row per point and model).
        error_label: y-axis label (say whether the error is signed or absolute).

    Returns:
        a figure with one axes; classes ordered by number of points, with n under each.
    """
    need = {"land_cover", "model", "error"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"table lacks column(s) {sorted(missing)}; it has {list(table.columns)}.")
    if table.empty:
        raise ValueError("table is empty; pass one row per point and model.")
    errors = _vector(table["error"], "table['error']")
    data = table.assign(
        error=errors, land_cover=table["land_cover"].fillna("(missing)").astype(str)
    )
    models = list(dict.fromkeys(data["model"].astype(str)))
    data["model"] = data["model"].astype(str)
    per_class = data[data["model"] == models[0]]["land_cover"].value_counts()
    classes = list(per_class.index) + [
        c for c in data["land_cover"].unique() if c not in per_class.index
    ]
    colors = _colors(models)
    width = 0.8 / len(models)
    fig = _figure((max(6.4, 1.1 * len(classes) * max(1, len(models) / 2) + 1.5), 4.4))
    ax = fig.add_subplot()
    for j, model in enumerate(models):
        sub = data[data["model"] == model]
        groups = [sub.loc[sub["land_cover"] == c, "error"].to_numpy() for c in classes]
        pos = np.arange(len(classes)) + (j - (len(models) - 1) / 2) * width
        present = [k for k, g in enumerate(groups) if g.size]
        if not present:
            continue
        bp = ax.boxplot(
            [groups[k] for k in present], positions=pos[present], widths=width * 0.9,
            patch_artist=True, showfliers=True, flierprops={"markersize": 2, "alpha": 0.4},
            medianprops={"color": "black"},
        )  # fmt: skip
        for box in bp["boxes"]:
            box.set_facecolor(colors[model])
            box.set_alpha(0.75)
        bp["boxes"][0].set_label(model)
    ax.axhline(0, color="0.4", linewidth=0.8, linestyle="--")
    counts = data.groupby("land_cover")["model"].size() / len(models)
    ax.set_xticks(
        np.arange(len(classes)),
        [f"{c}\nn = {int(round(counts.get(c, 0))):,}" for c in classes],
        fontsize=8,
    )
    ax.set_ylabel(error_label)
    ax.set_title("Prediction error by land cover", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_point_maps(
    lon,
    lat,
    panels: Mapping[str, object],
    *,
    vmax: float = PAPER_CLIP_G_PER_KG,
    scale_bar_km: float = 1000.0,
    title: str | None = "Spatial distribution of SOC (g/kg)",
    point_size: float | None = None,
) -> Figure:
    """The paper's Figure 7: SOC at the same points, one map per panel, one colour bar.

    Points are symbols at their locations (no interpolation), higher values drawn on top.

    Args:
        lon, lat: float (N,) EPSG:4326 degrees of the (test) points.
        panels: panel title -> float (N,) SOC, g/kg (e.g. Observed, SoilNet, RF).
        vmax: top of the shared colour ramp, g/kg.
        scale_bar_km: length of the scale bar (0-1,000 km by default); None for none.
        title: figure title.
        point_size: marker area in points² (default from N).

    Returns:
        a figure with one map axes per panel (each with N points) and a shared colour bar.
    """
    if not panels:
        raise ValueError("panels is empty; pass {title: SOC array}.")
    from soilnet.geo import lonlat_to_laea

    lon, lat = _vector(lon, "lon"), _vector(lat, "lat")
    _same_length(lon=lon, lat=lat)
    x, y = (np.asarray(a) for a in lonlat_to_laea(lon, lat))
    values = {}
    for name, v in panels.items():
        arr = _vector(v, f"panels[{name!r}]")
        if len(arr) != len(lon):
            raise ValueError(f"panels[{name!r}] has {len(arr):,} values for {len(lon):,} points.")
        values[str(name)] = arr
    n = len(values)
    fig = _figure((4.6 * n + 0.8, 4.9))
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False).ravel())
    norm = Normalize(0.0, vmax)
    sc = None
    for k, (ax, (name, vals)) in enumerate(zip(axes, values.items(), strict=True)):
        _draw_europe(ax, ylabel=k == 0)
        sc = _draw_points(ax, x, y, vals, norm, point_size)
        if scale_bar_km:
            _add_scale_bar(ax, scale_bar_km)
        ax.set_title(name, fontsize=10)
    allv = np.concatenate(list(values.values()))
    fig.colorbar(sc, ax=list(axes), label=SOC_LABEL, extend=_extend(allv, vmax), shrink=0.75)
    if title:
        fig.suptitle(f"{title}, n = {len(lon):,} points", fontsize=11)
    return fig


def plot_soc_map(
    cog_path: str | Path,
    title: str = "Predicted SOC",
    *,
    vmax: float = PAPER_CLIP_G_PER_KG,
    max_pixels: int = 4_000_000,
    scale_bar_km: float | None = 1000.0,
    ax=None,
) -> Figure:
    """A wall-to-wall SOC raster (e.g. from :func:`soilnet.mapping.predict_world_grid`) over Europe.

    Large rasters are read decimated (average of valid pixels, from the COG's overviews when
    present) to at most ``max_pixels`` pixels; NaN cells are transparent.

    Args:
        cog_path: a single-band GeoTIFF in EPSG:3035, SOC in g/kg, NaN nodata.
        title: axes title (resolution and cell count are appended).
        vmax: top of the colour ramp, g/kg.
        max_pixels: read budget for the figure.
        scale_bar_km: scale bar length; None for none.
        ax: draw into this axes (colour bar beside it); default a new figure.

    Returns:
        the figure holding the map.

    Raises:
        FileNotFoundError: ``cog_path`` does not exist.
        ValueError: the raster is not in EPSG:3035.
    """
    import rasterio
    from rasterio.enums import Resampling

    path = Path(cog_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; write it with soilnet.mapping.predict_world_grid first."
        )
    with rasterio.open(path) as src:
        if src.crs is None or src.crs.to_epsg() != 3035:
            raise ValueError(
                f"{path} is in {src.crs}, not EPSG:3035; reproject it or write it with soilnet.mapping."
            )
        factor = max(1.0, math.sqrt(src.width * src.height / max_pixels))
        out_shape = (max(1, round(src.height / factor)), max(1, round(src.width / factor)))
        data = src.read(1, out_shape=out_shape, resampling=Resampling.average, masked=True).astype(
            np.float64
        )
        data = data.filled(np.nan)
        left, bottom, right, top = src.bounds
        res = src.res[0]
        n_valid_full = None if factor > 1 else int(np.isfinite(data).sum())
    if ax is None:
        fig = _figure((6.8, 5.8))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _draw_europe(ax)
    im = ax.imshow(
        np.ma.masked_invalid(data), extent=(left, right, bottom, top), origin="upper",
        cmap=_soc_cmap(), norm=Normalize(0.0, vmax), interpolation="nearest", zorder=2,
    )  # fmt: skip
    _draw_borders_on_top(ax)
    if scale_bar_km:
        _add_scale_bar(ax, scale_bar_km)
    cells = f", {n_valid_full:,} cells" if n_valid_full is not None else ""
    ax.set_title(f"{title} ({res / 1000:g} km grid{cells})", fontsize=10)
    fig.colorbar(im, ax=ax, label=SOC_LABEL, extend=_extend(data, vmax), shrink=0.8)
    return fig
