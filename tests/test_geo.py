"""Tests for soilnet.geo: EPSG:3035 transforms and the committed Natural Earth outline."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from soilnet.geo import (
    EUROPE_OUTLINE,
    LUCAS_COUNTRIES,
    build_europe_outline,
    europe_countries,
    laea_to_lonlat,
    lonlat_to_laea,
    naturalearth_source,
    on_land,
)

CITIES = {  # lon, lat
    "Paris": (2.35, 48.86),
    "Berlin": (13.40, 52.52),
    "Madrid": (-3.70, 40.42),
}
NOT_EU_LAND = {
    "Atlantic": (-20.0, 45.0),
    "Bay of Biscay": (-5.0, 45.5),
    "Moscow": (37.62, 55.76),
}


def test_committed_outline_equals_a_fresh_build(tmp_path):
    assert naturalearth_source().is_file()
    fresh = build_europe_outline(tmp_path / "europe.geojson")
    committed = gpd.read_file(EUROPE_OUTLINE)
    rebuilt = gpd.read_file(tmp_path / "europe.geojson")
    assert len(fresh) == len(committed) == len(rebuilt)
    assert committed.crs.to_epsg() == 4326
    assert list(committed.columns) == ["name", "nuts0", "lucas", "geometry"]
    assert committed["name"].tolist() == rebuilt["name"].tolist()
    assert committed["nuts0"].tolist() == rebuilt["nuts0"].tolist()
    assert committed["lucas"].tolist() == rebuilt["lucas"].tolist()
    for a, b, name in zip(committed.geometry, rebuilt.geometry, committed["name"], strict=True):
        assert a.equals_exact(b, tolerance=1e-6) or a.symmetric_difference(b).area < 1e-9, name


def test_outline_content():
    countries = europe_countries()
    lucas = countries[countries["lucas"]]
    assert set(lucas["nuts0"]) == set(LUCAS_COUNTRIES.values())  # Malta is below 1:110m
    assert len(lucas) == 27 and (countries.loc[~countries["lucas"], "nuts0"] == "").all()
    minx, miny, maxx, maxy = countries.total_bounds
    assert minx >= -11.0 and maxx <= 35.0 and miny >= 34.0 and maxy <= 71.5


def test_on_land():
    names = list(CITIES) + list(NOT_EU_LAND)
    lon, lat = np.array([*CITIES.values(), *NOT_EU_LAND.values()]).T
    mask = on_land(*lonlat_to_laea(lon, lat))
    assert dict(zip(names, mask.tolist(), strict=True)) == {n: n in CITIES for n in names}


def test_laea_round_trip():
    lon, lat = np.array([2.35, 13.40, -3.70]), np.array([48.86, 52.52, 40.42])
    x, y = lonlat_to_laea(lon, lat)
    # ETRS89-LAEA's false origin is 10°E 52°N at (4321000, 3210000).
    ox, oy = lonlat_to_laea(10.0, 52.0)
    assert float(ox) == pytest.approx(4_321_000, abs=0.01) and float(oy) == pytest.approx(
        3_210_000, abs=0.01
    )
    back_lon, back_lat = laea_to_lonlat(x, y)
    np.testing.assert_allclose(back_lon, lon, atol=1e-9)
    np.testing.assert_allclose(back_lat, lat, atol=1e-9)
