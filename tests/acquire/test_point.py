"""Tests for soilnet.acquire.point: what one point's patch and manifest row hold, through runs
against the loopback server (offline)."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.acquire import acquire
from soilnet.bands import BAND_NAMES
from soilnet.config import StoreConfig
from soilnet.io import open_folder, read_patch
from soilnet.store import consolidate

from .world import FAST, SLOPE_PCT, VARS, manifest, run, sources


def test_scene_choice_reports_every_point(world, server, tmp_path):
    """No usable scene and no coverage are manifest rows with reasons, never silent drops."""
    out = tmp_path / "all"
    summary = run(world, server, out, ("winter", "fallback", "noscene", "nocover"), workers=3)
    assert summary.counts == {"ok": 2, "no_scene": 1, "no_coverage": 1, "error": 0}
    m = manifest(out)
    assert len(m) == 4
    assert m.loc[90000003, "status"] == "no_scene"
    assert m.loc[90000003, "reason"].startswith("no usable scene")
    assert m.loc[90000003, "scenes_checked"] == 2
    assert m.loc[90000004, "status"] == "no_coverage"
    assert "outside Landsat coverage" in m.loc[90000004, "reason"]
    assert sorted(p.name for p in (out / "patches").iterdir()) == [
        "90000001_150213.tif",
        "90000002_150920.tif",
    ]
    with pytest.warns(UserWarning, match="excluding 2"):
        folder = open_folder(out, variables=VARS, on_missing="drop")
    assert set(folder.points["Point_ID"]) == {90000001, 90000002}
    config = StoreConfig(16, climate_variables=VARS, on_missing="drop")
    with pytest.warns(UserWarning):
        store = consolidate(out, config, stores_dir=tmp_path / "ws")
    assert store.images.shape[0] == 2


def test_utm_option_keeps_scene_grid(world, server, tmp_path):
    out = tmp_path / "utm"
    run(world, server, out, ("winter",), crs="utm", variables=())
    patch = read_patch(out / "patches" / "90000001_150213.tif")
    assert patch.crs == "EPSG:32632" and patch.data.shape == (14, 64, 64)
    assert patch.transform.a == 30.0
    assert np.allclose(patch.data[BAND_NAMES.index("slopePCT")], SLOPE_PCT, atol=0.02)


def test_polar_point_is_outside_coverage(world, server, tmp_path):
    points = tmp_path / "polar.csv"
    points.write_text("Point_ID,long,lat\n1,10.0,85.0\n")
    acquire(
        points,
        tmp_path / "polar",
        variables=(),
        sources=sources(server, world),
        retry=FAST,
        progress=False,
    )
    row = manifest(tmp_path / "polar").loc[1]
    assert row["status"] == "no_coverage" and "beyond" in row["reason"]
    assert not [r for r in server.log if r["path"].startswith("/stac/search")]


def test_persistent_stac_errors_name_the_status(world, server, tmp_path):
    server.fail("/stac/search", 500)
    run(world, server, tmp_path / "down", ("winter",), variables=())
    reason = manifest(tmp_path / "down").loc[90000001, "reason"]
    assert "HTTP 500" in reason and server.stac_url in reason
    assert [r["status"] for r in server.log].count(500) == FAST.retries + 1
