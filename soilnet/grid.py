"""The map grid over the EU-28 land area (EPSG:3035), shared by the twin and the map writers.

The grid covers the bounding box of the EU-28 land area (:func:`soilnet.geo.lucas_land_laea`)
snapped outward to the resolution, north up; a cell is a land cell when its centre lies inside
the EU-28 polygons (:func:`soilnet.geo.on_land`). :func:`grid_cells` is the one list of land
cells: :meth:`soilnet.twin.SyntheticWorld.grid` returns it, and :mod:`soilnet.mapping` places
predictions on it. :func:`sample_land_points` draws random locations from the same land area.

Example:
    >>> from soilnet.grid import grid_geometry
    >>> g = grid_geometry(200_000)
    >>> g.shape, g.crs
    ((20, 19), 'EPSG:3035')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from soilnet.errors import ConfigurationError
from soilnet.geo import LAEA_EUROPE, lucas_land_laea, on_land

__all__ = [
    "GridGeometry",
    "grid_cells",
    "grid_geometry",
    "grid_point_table",
    "grid_transform",
    "sample_land_points",
]


@dataclass(frozen=True)
class GridGeometry:
    """A regular north-up EPSG:3035 grid.

    Attributes:
        resolution_m: cell size, metres.
        west, north: coordinates of the raster's upper-left corner, EPSG:3035 metres.
        width, height: columns and rows.
        crs: always ``"EPSG:3035"``.
    """

    resolution_m: float
    west: float
    north: float
    width: int
    height: int
    crs: str = LAEA_EUROPE

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the raster."""
        return self.height, self.width

    @property
    def transform(self):
        """The rasterio ``Affine`` mapping (col, row) to EPSG:3035 (x, y) of the corner."""
        from rasterio.transform import from_origin

        return from_origin(self.west, self.north, self.resolution_m, self.resolution_m)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in EPSG:3035 metres."""
        r = self.resolution_m
        return self.west, self.north - self.height * r, self.west + self.width * r, self.north

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells containing EPSG:3035 points.

        Args:
            x, y: float (N,) easting and northing, metres.

        Returns:
            (rows, cols), int64 (N,); outside the raster they are out of range (check with
            :meth:`contains`).
        """
        x, y = np.asarray(x, float), np.asarray(y, float)
        cols = np.floor((x - self.west) / self.resolution_m).astype(np.int64)
        rows = np.floor((self.north - y) / self.resolution_m).astype(np.int64)
        return rows, cols

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean (N,): the points fall inside the raster."""
        rows, cols = self.rowcol(x, y)
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """EPSG:3035 (x, y) of cell centres, float64 (N,) each."""
        r = self.resolution_m
        return (
            self.west + (np.asarray(cols) + 0.5) * r,
            self.north - (np.asarray(rows) + 0.5) * r,
        )


def _check_resolution(resolution_m: float) -> float:
    try:
        res = float(resolution_m)
    except (TypeError, ValueError):
        res = math.nan
    if not math.isfinite(res) or res <= 0:
        raise ConfigurationError(
            f"resolution_m must be a positive number of metres (e.g. 1000 for 1 km); got {resolution_m!r}."
        )
    return res


def grid_geometry(resolution_m: float) -> GridGeometry:
    """The map grid at a resolution.

    The raster spans :func:`soilnet.geo.lucas_land_laea` ``.bounds`` snapped outward to
    multiples of ``resolution_m``; :func:`grid_cells` lists its land cells.

    Args:
        resolution_m: cell size in metres (EPSG:3035), e.g. ``1000`` for the paper's 1 km map.

    Returns:
        a :class:`GridGeometry`.

    Raises:
        ConfigurationError: ``resolution_m`` is not a positive finite number.
    """
    res = _check_resolution(resolution_m)
    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    west = math.floor(xmin / res) * res
    north = math.ceil(ymax / res) * res
    # Columns whose centre lies west of xmax, rows whose centre lies north of ymin.
    width = len(np.arange(west + res / 2, xmax, res))
    height = len(np.arange(north - res / 2, ymin, -res))
    return GridGeometry(resolution_m=res, west=west, north=north, width=width, height=height)


def grid_transform(resolution_m: float):
    """The rasterio ``Affine`` of the map grid at ``resolution_m`` metres (see :func:`grid_geometry`)."""
    return grid_geometry(resolution_m).transform


def grid_cells(resolution_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the land cells of the map grid, row-major, north first.

    Args:
        resolution_m: cell size in metres.

    Returns:
        (x, y), float64 (N,) each, EPSG:3035 metres.

    Raises:
        ConfigurationError: ``resolution_m`` is not a positive finite number.
    """
    g = grid_geometry(resolution_m)
    rows, cols = np.divmod(np.arange(g.width * g.height), g.width)
    x, y = g.centres(rows, cols)
    keep = on_land(x, y)
    return x[keep], y[keep]


def grid_point_table(resolution_m: float, countries=None):
    """The map grid's land cells as a point table, for ``python -m soilnet acquire --points``.

    Args:
        resolution_m: cell size in metres (EPSG:3035); use the map's ``map.resolution_km``.
        countries: NUTS_0 codes (e.g. ``["LU", "BE"]``) to keep, or None for all of the EU-28.

    Returns:
        a DataFrame with ``Point_ID`` (the cell's row-major index in the grid, so a cell keeps
        its ID at a given resolution), ``long``/``lat`` (EPSG:4326 degrees of the cell centre),
        ``x_3035``/``y_3035`` (metres) and ``NUTS_0``; no ``OC``.

    Raises:
        ConfigurationError: an unknown country code, or no cell centre inside the countries.
    """
    import pandas as pd
    import shapely

    from soilnet.geo import europe_countries, laea_to_lonlat

    g = grid_geometry(resolution_m)
    rows, cols = np.divmod(np.arange(g.width * g.height), g.width)
    x, y = g.centres(rows, cols)
    table = europe_countries()
    table = table[table["lucas"]].to_crs(LAEA_EUROPE)
    codes = sorted(table["nuts0"])
    wanted = codes if countries is None else [str(c).strip().upper() for c in countries]
    unknown = sorted(set(wanted) - set(codes))
    if unknown:
        raise ConfigurationError(
            f"Unknown country code(s) {unknown}; use NUTS_0 codes of the EU-28: {', '.join(codes)} "
            "(CLI: --countries LU,BE)."
        )
    nuts0 = np.full(len(x), "", dtype=object)
    for code, geom in zip(table["nuts0"], table.geometry, strict=True):
        if code in wanted:
            shapely.prepare(geom)
            nuts0[(nuts0 == "") & shapely.contains_xy(geom, x, y)] = code
    keep = nuts0 != ""
    if not keep.any():
        raise ConfigurationError(
            f"No cell centre of the {g.resolution_m / 1000:g} km grid lies inside {wanted}; "
            "choose a finer resolution (CLI: --resolution-km)."
        )
    lon, lat = laea_to_lonlat(x[keep], y[keep])
    return pd.DataFrame(
        {
            "Point_ID": (rows * g.width + cols)[keep].astype(np.int64),
            "long": np.round(lon, 7), "lat": np.round(lat, 7),
            "x_3035": x[keep], "y_3035": y[keep], "NUTS_0": nuts0[keep].astype(str),
        }
    )  # fmt: skip


def sample_land_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random locations over the EU-28 land area (rejection sampling).

    Args:
        n: number of points.
        rng: the generator drawn from; the same generator state gives the same points.

    Returns:
        (x, y), float64 (n,) each, EPSG:3035 metres.
    """
    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    xs, ys = [], []
    have = 0
    while have < n:
        x = rng.uniform(xmin, xmax, 4 * n)
        y = rng.uniform(ymin, ymax, 4 * n)
        keep = on_land(x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]
