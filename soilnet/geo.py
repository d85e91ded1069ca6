"""Coordinates and the European land outline.

Distances, splits and the map grid work in EPSG:3035 (ETRS89 / LAEA Europe, metres). The land
outline is a Europe-clipped derivative of the Natural Earth 1:110m country polygons (public
domain) that ship with ``pyogrio``; :func:`build_europe_outline` regenerates the committed file
``data/europe_naturalearth_110m.geojson`` from that source.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

LAEA_EUROPE = "EPSG:3035"
WGS84 = "EPSG:4326"
REPO_DATA = Path(__file__).resolve().parents[1] / "data"
EUROPE_OUTLINE = REPO_DATA / "europe_naturalearth_110m.geojson"

#: Bounding box (lon_min, lat_min, lon_max, lat_max) that clips overseas territories away.
EUROPE_BBOX = (-11.0, 34.0, 35.0, 71.5)

#: The 28 LUCAS 2015 countries (EU-28), Natural Earth name -> NUTS_0 code. Malta is too small
#: for the 1:110m polygons; Cyprus is filed under Asia there.
LUCAS_COUNTRIES = {
    "Austria": "AT", "Belgium": "BE", "Bulgaria": "BG", "Croatia": "HR", "Cyprus": "CY",
    "Czechia": "CZ", "Denmark": "DK", "Estonia": "EE", "Finland": "FI", "France": "FR",
    "Germany": "DE", "Greece": "EL", "Hungary": "HU", "Ireland": "IE", "Italy": "IT",
    "Latvia": "LV", "Lithuania": "LT", "Luxembourg": "LU", "Netherlands": "NL", "Poland": "PL",
    "Portugal": "PT", "Romania": "RO", "Slovakia": "SK", "Slovenia": "SI", "Spain": "ES",
    "Sweden": "SE", "United Kingdom": "UK",
}  # fmt: skip


@lru_cache(maxsize=4)
def _transformer(src: str, dst: str):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def lonlat_to_laea(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4326 degrees -> EPSG:3035 metres (x = easting, y = northing)."""
    return _transformer(WGS84, LAEA_EUROPE).transform(
        np.asarray(lon, float), np.asarray(lat, float)
    )


def laea_to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:3035 metres -> EPSG:4326 degrees (lon, lat)."""
    return _transformer(LAEA_EUROPE, WGS84).transform(np.asarray(x, float), np.asarray(y, float))


def to_lonlat(x, y, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``crs`` (any CRS pyproj reads, e.g. ``"EPSG:3857"``) -> EPSG:4326
    degrees (lon, lat)."""
    return _transformer(crs, WGS84).transform(np.asarray(x, float), np.asarray(y, float))


def ground_distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres on the WGS84 ellipsoid between EPSG:4326 points (degrees)."""
    from pyproj import Geod

    _, _, dist = Geod(ellps="WGS84").inv(
        np.asarray(lon1, float), np.asarray(lat1, float),
        np.asarray(lon2, float), np.asarray(lat2, float),
    )  # fmt: skip
    return np.asarray(dist, dtype=np.float64)


def naturalearth_source() -> Path:
    """Path of the Natural Earth 1:110m countries shapefile inside the installed pyogrio."""
    import pyogrio

    path = (
        Path(pyogrio.__file__).parent / "tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp"
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; it ships with pyogrio >= 0.7 (pip install pyogrio)."
        )
    return path


def build_europe_outline(out: str | Path = EUROPE_OUTLINE):
    """Derive the Europe outline from Natural Earth and write it as GeoJSON (EPSG:4326).

    Keeps the countries of continent Europe plus Cyprus, clipped to :data:`EUROPE_BBOX`
    (drops French Guiana, Svalbard's east and Asian Russia), with columns ``name``,
    ``nuts0`` (the LUCAS country code, empty outside the EU-28) and ``lucas`` (bool).

    Returns:
        the GeoDataFrame written.
    """
    import geopandas as gpd
    from shapely.geometry import box

    world = gpd.read_file(naturalearth_source())
    europe = world[(world["continent"] == "Europe") | (world["name"] == "Cyprus")].copy()
    europe["geometry"] = europe.geometry.intersection(box(*EUROPE_BBOX))
    europe = europe[~europe.geometry.is_empty]
    europe["nuts0"] = europe["name"].map(LUCAS_COUNTRIES).fillna("")
    europe["lucas"] = europe["nuts0"] != ""
    europe = (
        europe[["name", "nuts0", "lucas", "geometry"]].sort_values("name").reset_index(drop=True)
    )
    europe["geometry"] = europe.geometry.set_precision(1e-6)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    europe.to_file(out, driver="GeoJSON")
    return europe


@lru_cache(maxsize=1)
def europe_countries():
    """The committed outline as a GeoDataFrame in EPSG:4326 (name, nuts0, lucas, geometry)."""
    import geopandas as gpd

    if not EUROPE_OUTLINE.is_file():
        raise FileNotFoundError(
            f"{EUROPE_OUTLINE} is missing; regenerate it with "
            "`python -c 'import soilnet.geo as g; g.build_europe_outline()'`."
        )
    return gpd.read_file(EUROPE_OUTLINE)


@lru_cache(maxsize=1)
def lucas_land_laea():
    """Union of the EU-28 land polygons in EPSG:3035 (a shapely geometry), the twin's domain."""
    countries = europe_countries()
    return countries[countries["lucas"]].to_crs(LAEA_EUROPE).geometry.union_all()


def on_land(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of EPSG:3035 points inside the EU-28 land area."""
    import shapely

    geom = lucas_land_laea()
    shapely.prepare(geom)
    return shapely.contains_xy(geom, np.asarray(x, float), np.asarray(y, float))


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    written = build_europe_outline()
    print(f"wrote {EUROPE_OUTLINE} ({len(written)} countries)")
