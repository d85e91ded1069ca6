"""Tests for soilnet.twin.writer: the twin written in the real on-disk layout."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import rasterio
from conftest import TINY

from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES
from soilnet.twin import (
    LAND_COVER,
    TRUTH_COLUMNS,
    TwinConfig,
    lucas_point_ids,
    patch_transform,
    write_twin,
)


def read_bands(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def test_same_seed_same_files(twin_dir, tmp_path):
    again = tmp_path / "again"
    write_twin(again, TINY)
    for name in ("points.csv", "truth.csv", "climate/pr.csv", "climate/vs.csv"):
        assert (again / name).read_bytes() == (twin_dir / name).read_bytes(), name
    first = sorted(p.name for p in (twin_dir / "patches").glob("*.tif"))
    assert first == sorted(p.name for p in (again / "patches").glob("*.tif"))
    for name in first:
        np.testing.assert_array_equal(
            read_bands(again / "patches" / name), read_bands(twin_dir / "patches" / name)
        )
    a, b = (json.loads((d / "twin.json").read_text()) for d in (twin_dir, again))
    a.pop("generation_seconds"), b.pop("generation_seconds")
    assert a == b


def test_different_seeds_draw_different_points(tmp_path):
    write_twin(tmp_path / "s4", TwinConfig(n_points=12, patch_size_px=8, seed=4))
    write_twin(tmp_path / "s5", TwinConfig(n_points=12, patch_size_px=8, seed=5))
    p4, p5 = (pd.read_csv(tmp_path / s / "points.csv", encoding="utf-8-sig") for s in ("s4", "s5"))
    assert not set(p4["Point_ID"]) & set(p5["Point_ID"])


def test_written_layout(twin_dir):
    points = pd.read_csv(twin_dir / "points.csv", encoding="utf-8-sig")
    assert (twin_dir / "points.csv").read_bytes()[:3] == b"\xef\xbb\xbf"  # BOM, as LUCAS
    assert list(points.columns) == ["Point_ID", "long", "lat", "OC", "LC0_Desc", "NUTS_0"]
    assert len(points) == TINY.n_points and points["Point_ID"].is_unique
    assert points["Point_ID"].between(10**6, 10**8 - 1).all()
    assert (
        set(points["LC0_Desc"]) <= set(LAND_COVER)
        and points["NUTS_0"].str.fullmatch(r"[A-Z]{2}").all()
    )
    assert (points["OC"] >= 0.1).all()
    names = sorted(p.name for p in (twin_dir / "patches").glob("*.tif"))
    assert len(names) == TINY.n_points
    dates = [re.fullmatch(r"(\d+)_(\d{6})\.tif", n).group(2) for n in names]
    assert all(
        d.startswith("15") and d[2:4] in ("01", "02", "11", "12") for d in dates
    )  # winter 2015
    with rasterio.open(twin_dir / "patches" / names[0]) as src:
        assert src.descriptions == BAND_NAMES
        assert (
            src.crs.to_string() == "EPSG:3857"
            and src.dtypes[0] == "float32"
            and np.isnan(src.nodata)
        )
        assert (src.height, src.width) == (16, 16)
    assert sorted(p.stem for p in (twin_dir / "climate").glob("*.csv")) == sorted(CLIMATE_VARIABLES)
    header = (twin_dir / "climate" / "pr.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "Point_ID" and len(header) == 62 and header[1:] != sorted(header[1:])
    truth = pd.read_csv(twin_dir / "truth.csv")
    for col in (
        "Point_ID",
        "c1",
        "c2",
        "c3",
        "c4",
        "eps",
        "OC",
        "oracle_clipped",
        "oracle_unclipped",
    ):
        assert col in truth.columns
    np.testing.assert_array_equal(truth["Point_ID"], points["Point_ID"])
    summary = json.loads((twin_dir / "twin.json").read_text())
    assert summary["n_points"] == TINY.n_points and summary["config"]["seed"] == TINY.seed


def test_truth_columns_and_points_agree(twin_dir):
    truth = pd.read_csv(twin_dir / "truth.csv")
    points = pd.read_csv(twin_dir / "points.csv", encoding="utf-8-sig")
    assert tuple(truth.columns) == TRUTH_COLUMNS
    np.testing.assert_array_equal(truth["OC"], points["OC"])
    np.testing.assert_array_equal(truth["land_cover"], points["LC0_Desc"])
    # Each Point_ID is the 1 km square of the point's own EPSG:3035 coordinates.
    np.testing.assert_array_equal(
        lucas_point_ids(truth["x_3035"].to_numpy(), truth["y_3035"].to_numpy()), truth["Point_ID"]
    )


def test_lucas_point_ids_are_easting_then_northing_km():
    ids = lucas_point_ids(np.array([4_321_987.0, 4_321_001.0, 2_500_000.0]),
                          np.array([3_210_555.0, 3_210_999.9, 1_400_000.0]))  # fmt: skip
    np.testing.assert_array_equal(ids, [43213210, 43213210, 25001400])


def test_patch_transform_has_30_m_ground_pixels_centred_on_the_point():
    from pyproj import Transformer

    lon, lat, size = 10.0, 60.0, 16
    t = patch_transform(lon, lat, size)
    assert t.a == -t.e and t.b == t.d == 0
    assert math.isclose(t.a * math.cos(math.radians(lat)), 30.0, rel_tol=1e-12)
    cx, cy = t * (size / 2, size / 2)
    mx, my = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    assert math.isclose(cx, mx, abs_tol=1e-6) and math.isclose(cy, my, abs_tol=1e-6)
