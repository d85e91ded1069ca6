"""Maps of SOC over Europe: points (:func:`plot_points_map`, :func:`plot_point_maps`) and rasters.

Maps are drawn in EPSG:3035 (ETRS89-LAEA, km on the axes) over the Natural Earth country
outline of :func:`soilnet.geo.europe_countries`: non-EU-28 countries light grey, EU-28 countries
outlined. SOC is coloured with the ``YlGnBu`` ramp (light = low, dark = high) from 0 to 87 g/kg
by default, the paper's clip value; higher values take the darkest colour and the colour bar
shows an arrow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.plotting._base import (
    SOC_CMAP,
    SOC_LABEL,
    as_vector,
    check_same_length,
    default_point_size,
    figure_and_axes,
    new_figure,
    per_point_series,
)

__all__ = [
    "plot_map_layer",
    "plot_point_errors",
    "plot_point_maps",
    "plot_points_map",
    "plot_soc_map",
]

_NON_EU_FACE = "#dcdcdc"
_EU_FACE = "#f7f7f7"
_EU_EDGE = "#555555"
#: Room around the LUCAS land outline (EPSG:3035 metres).
_MAP_MARGIN_M = 100_000.0


def _soc_cmap():
    # NaN raster cells transparent, so the country outline shows through.
    return colormaps[SOC_CMAP].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def _extend(values: np.ndarray, vmax: float) -> str:
    """Colour-bar arrow when some finite value lies above the ramp."""
    finite = values[np.isfinite(values)]
    return "max" if finite.size and finite.max() > vmax else "neither"


@lru_cache(maxsize=1)
def _europe_paths():
    """(non-EU paths, EU-28 paths) of the country outline in EPSG:3035, read once per session."""
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
            # Counter-clockwise exteriors make the holes (interiors) render as holes.
            poly = orient(poly, 1.0)
            rings = [poly.exterior, *poly.interiors]
            groups[bool(lucas)].append(
                MplPath.make_compound_path(
                    *(MplPath(np.asarray(r.coords)[:, :2], closed=True) for r in rings)
                )
            )
    return groups[False], groups[True]


def _europe_extent() -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) in EPSG:3035 metres: the LUCAS land outline plus a margin."""
    from soilnet.geo import lucas_land_laea

    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    m = _MAP_MARGIN_M
    return xmin - m, xmax + m, ymin - m, ymax + m


def _add_outline(ax, paths, *, facecolor: str, edgecolor: str, zorder: int) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    ax.add_collection(
        PatchCollection(
            [PathPatch(p) for p in paths],
            facecolor=facecolor,
            edgecolor=edgecolor,
            linewidth=0.4,
            zorder=zorder,
        )
    )


def _draw_europe(ax, *, ylabel: bool = True) -> None:
    """Countries under the data, the map extent, km axes with labels."""
    non_eu, eu = _europe_paths()
    _add_outline(ax, non_eu, facecolor=_NON_EU_FACE, edgecolor="white", zorder=0)
    _add_outline(ax, eu, facecolor=_EU_FACE, edgecolor=_EU_EDGE, zorder=1)
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


def _add_scale_bar(ax, length_km: float = 1000.0, segments: int = 2) -> None:
    """A black-and-white scale bar in the lower left, in EPSG:3035 metres."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    left, bottom = x0 + 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    height = 0.012 * (y1 - y0)
    step = length_km * 1000 / segments
    text_kw = {"ha": "center", "va": "bottom", "fontsize": 6, "zorder": 5}
    for k in range(segments):
        ax.add_patch(
            Rectangle(
                (left + k * step, bottom), step, height,
                facecolor="black" if k % 2 == 0 else "white", edgecolor="black", linewidth=0.6, zorder=5,
            )
        )  # fmt: skip
        ax.text(
            left + k * step, bottom + 1.8 * height, f"{k * length_km / segments:,.0f}", **text_kw
        )
    ax.text(left + length_km * 1000, bottom + 1.8 * height, f"{length_km:,.0f} km", **text_kw)


def _laea_xy(lon, lat, **values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4326 degrees -> EPSG:3035 metres, float (N,) each, after checking the inputs."""
    from soilnet.geo import lonlat_to_laea

    lon, lat = as_vector(lon, "lon"), as_vector(lat, "lat")
    check_same_length(lon=lon, lat=lat, **values)
    x, y = lonlat_to_laea(lon, lat)
    return np.asarray(x), np.asarray(y)


def _point_panel(
    ax,
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    vmax: float,
    size: float | None,
    scale_bar_km: float | None,
    *,
    ylabel: bool = True,
):
    """One map: Europe, the points coloured by SOC (high values on top), a scale bar."""
    _draw_europe(ax, ylabel=ylabel)
    order = np.argsort(values, kind="stable")  # high values drawn last, on top
    sc = ax.scatter(
        x[order], y[order], c=values[order], cmap=_soc_cmap(), norm=Normalize(0.0, vmax),
        s=size if size is not None else default_point_size(len(x)), linewidths=0, zorder=2,
    )  # fmt: skip
    if scale_bar_km:
        _add_scale_bar(ax, scale_bar_km)
    return sc


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
        title: panel title (n is appended).
        vmax: top of the colour ramp, g/kg (87, the paper's clip); higher values take its colour.
        ax: draw into this axes (a colour bar is added beside it); default: a new figure.
        point_size: marker area in points² (default from N).
        scale_bar: draw a 0-1,000 km scale bar.

    Returns:
        the figure holding the map.
    """
    values = as_vector(values, "values")
    x, y = _laea_xy(lon, lat, values=values)
    fig, ax = figure_and_axes(ax, (6.4, 5.6))
    sc = _point_panel(ax, x, y, values, vmax, point_size, 1000.0 if scale_bar else None)
    ax.set_title(f"{title} (n = {len(values):,})", fontsize=10)
    fig.colorbar(sc, ax=ax, label=SOC_LABEL, extend=_extend(values, vmax), shrink=0.8)
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
        title: figure title (n is appended); None for none.
        point_size: marker area in points² (default from N).

    Returns:
        a figure with one map axes per panel (each with N points) and a shared colour bar.
    """
    if not panels:
        raise ValueError("panels is empty; pass {title: SOC array}.")
    x, y = _laea_xy(lon, lat)
    values = per_point_series(
        panels, len(x), arg="panels", of="lon/lat", example="{title: SOC array}"
    )
    n = len(values)
    fig = new_figure((4.6 * n + 0.8, 4.9))
    axes = fig.subplots(1, n, squeeze=False).ravel()
    for k, (ax, (name, vals)) in enumerate(zip(axes, values.items(), strict=True)):
        sc = _point_panel(ax, x, y, vals, vmax, point_size, scale_bar_km, ylabel=k == 0)
        ax.set_title(name, fontsize=10)
    allv = np.concatenate(list(values.values()))
    fig.colorbar(sc, ax=list(axes), label=SOC_LABEL, extend=_extend(allv, vmax), shrink=0.75)
    if title:
        fig.suptitle(f"{title}, n = {len(x):,} points", fontsize=11)
    return fig


def plot_point_errors(
    lon,
    lat,
    error_g_per_kg,
    *,
    title: str = "Prediction error",
    limit_g_per_kg: float | None = None,
    point_size: float | None = None,
) -> Figure:
    """The error by point (predicted − observed, g/kg) on a diverging scale centred at 0.

    Red is over-prediction, blue under-prediction; the largest errors are drawn on top.

    Args:
        lon, lat: float (N,) EPSG:4326 degrees.
        error_g_per_kg: float (N,) predicted − observed SOC, g/kg; finite.
        title: axes title (n and the RMSE are appended).
        limit_g_per_kg: the colour scale spans ±limit (default: the 98th percentile of |error|);
            larger errors take the end colours and the colour bar shows arrows.
        point_size: marker area in points² (default from N).

    Returns:
        the figure holding the map.
    """
    error = as_vector(error_g_per_kg, "error_g_per_kg")
    x, y = _laea_xy(lon, lat, error_g_per_kg=error)
    limit = limit_g_per_kg or max(float(np.quantile(np.abs(error), 0.98)), 1e-9)
    fig, ax = figure_and_axes(None, (6.4, 5.6))
    _draw_europe(ax)
    order = np.argsort(np.abs(error), kind="stable")
    sc = ax.scatter(
        x[order], y[order], c=error[order], cmap="RdBu_r",
        norm=TwoSlopeNorm(0.0, -limit, limit), linewidths=0, zorder=2,
        s=point_size if point_size is not None else default_point_size(len(x)),
    )  # fmt: skip
    _add_scale_bar(ax, 1000.0)
    rmse = float(np.sqrt(np.mean(error**2)))
    ax.set_title(f"{title} (n = {len(error):,}, RMSE {rmse:.2f} g/kg)", fontsize=10)
    extend = "both" if np.abs(error).max() > limit else "neither"
    fig.colorbar(sc, ax=ax, label="predicted − observed SOC (g/kg)", extend=extend, shrink=0.8)
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
    return plot_map_layer(
        cog_path, title, cmap=_soc_cmap(), vmin=0.0, vmax=vmax, label=SOC_LABEL,
        max_pixels=max_pixels, scale_bar_km=scale_bar_km, ax=ax,
    )  # fmt: skip


def plot_map_layer(
    cog_path: str | Path,
    title: str,
    *,
    cmap,
    vmin: float,
    vmax: float,
    label: str,
    max_pixels: int = 4_000_000,
    scale_bar_km: float | None = 1000.0,
    ax=None,
) -> Figure:
    """Any one-band map layer of the grid (SOC, interval width, applicability) over Europe.

    Args:
        cog_path: a single-band GeoTIFF in EPSG:3035, NaN nodata.
        title: axes title (resolution and cell count are appended).
        cmap: a matplotlib colour map or its name.
        vmin, vmax: the colour scale; values beyond take the end colours (arrows on the bar).
        label: colour-bar label with the unit.
        max_pixels, scale_bar_km, ax: as for :func:`plot_soc_map`.

    Returns:
        the figure holding the map.
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
        data = src.read(1, out_shape=out_shape, resampling=Resampling.average, masked=True)
        data = data.astype(np.float64).filled(np.nan)
        left, bottom, right, top = src.bounds
        res = src.res[0]
        # A decimated read no longer counts the raster's own cells.
        n_valid_full = None if factor > 1 else int(np.isfinite(data).sum())
    fig, ax = figure_and_axes(ax, (6.8, 5.8))
    _draw_europe(ax)
    im = ax.imshow(
        np.ma.masked_invalid(data), extent=(left, right, bottom, top), origin="upper",
        cmap=cmap, norm=Normalize(vmin, vmax), interpolation="nearest", zorder=2,
    )  # fmt: skip
    # EU-28 borders again, unfilled, above the raster.
    _add_outline(ax, _europe_paths()[1], facecolor="none", edgecolor=_EU_EDGE, zorder=3)
    if scale_bar_km:
        _add_scale_bar(ax, scale_bar_km)
    cells = f", {n_valid_full:,} cells" if n_valid_full is not None else ""
    ax.set_title(f"{title} ({res / 1000:g} km grid{cells})", fontsize=10)
    fig.colorbar(im, ax=ax, label=label, extend=_extend(data, vmax), shrink=0.8)
    return fig
