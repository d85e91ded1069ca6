"""Tests for soilnet.acquire against a loopback STAC API and COG server (offline).

The world written once per module (``world`` fixture), all centred near 9°E 50°N (UTM 32N):

===========  ==========  ==============================================================
point        Point_ID    scenes (2015 unless stated) and the expected outcome
===========  ==========  ==============================================================
winter       90000001    Jan 12 50 % cloud; Feb 13 clear (medium cloud confidence on
                         every pixel, which must not count); Nov 20 clear; Jul clear;
                         a clear Landsat-7 and a clear Tier-2 scene on Jan 5/7; a clear
                         2014 scene -> Feb 13, rule winter-earliest
fallback     90000002    Jan 40 % snow; Dec 30 % cloud; Apr 20 % shadow (NDVI 0.05);
                         Jun NDVI 0.6; Aug 30 % cloud (NDVI 0.02); Sep NDVI 0.15
                         -> Sep 20, rule min-ndvi. Its TerraClimate cell is "sea".
noscene      90000003    Feb 60 % cloud; Jul 90 % cloud -> no_scene
nocover      90000004    no scene at all -> no_coverage
===========  ==========  ==============================================================

The DEM is an inclined plane rising 5 % northwards (two 1/1200° tiles split at 50°N, so the
winter point's window needs both). Nothing here contacts an address other than 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from soilnet.acquire import (
    MANIFEST_COLUMNS,
    RetryPolicy,
    SceneLimits,
    Sources,
    acquire,
    decode_qa,
    extract_points,
    month_labels,
    read_manifest,
    slope_percent,
)
from soilnet.acquire.cli import add_acquire_parser
from soilnet.acquire.scenes import (
    Candidate,
    WindowShares,
    choose_scene,
    landsat_candidates,
    window_shares,
)
from soilnet.acquire.stac import HttpClient, StacClient, mercator_grid
from soilnet.bands import BAND_NAMES
from soilnet.errors import AcquisitionError, MissingValuesWarning
from soilnet.io import open_folder, read_climate, read_patch
from soilnet.store import consolidate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import acquire_server as srv  # noqa: E402  (a helper module beside this file, not a package)

VARS = ("pr", "swe", "tmmx")
POINTS = {
    "winter": (90000001, 9.00, 50.00),
    "fallback": (90000002, 9.30, 50.10),
    "noscene": (90000003, 9.60, 50.20),
    "nocover": (90000004, 9.70, 49.90),
}
FAST = RetryPolicy(retries=2, backoff_s=0.01, max_backoff_s=0.05, timeout_s=10)
SLOPE_PCT = 5.0


def _scenes() -> list[srv.SceneSpec]:
    w, f, n = POINTS["winter"], POINTS["fallback"], POINTS["noscene"]
    S = srv.SceneSpec
    return [
        S("W_20150112_cloudy", "2015-01-12", w[1], w[2], ndvi=0.30, cloud=0.5),
        S("W_20150213_clear", "2015-02-13", w[1], w[2], ndvi=0.25),
        S("W_20151120_clear", "2015-11-20", w[1], w[2], ndvi=0.20),
        S("W_20150710_clear", "2015-07-10", w[1], w[2], ndvi=0.05),
        S("W_20150105_l7", "2015-01-05", w[1], w[2], platform="landsat-7"),
        S("W_20150107_t2", "2015-01-07", w[1], w[2], tier="T2"),
        S("W_20141220_old", "2014-12-20", w[1], w[2]),
        S("F_20150120_snow", "2015-01-20", f[1], f[2], snow=0.4),
        S("F_20151215_cloud", "2015-12-15", f[1], f[2], cloud=0.3),
        S("F_20150415_shadow", "2015-04-15", f[1], f[2], ndvi=0.05, shadow=0.2),
        S("F_20150620_green", "2015-06-20", f[1], f[2], ndvi=0.60),
        S("F_20150815_cloud", "2015-08-15", f[1], f[2], ndvi=0.02, cloud=0.3),
        S("F_20150920_bare", "2015-09-20", f[1], f[2], ndvi=0.15),
        S("N_20150210_cloud", "2015-02-10", n[1], n[2], cloud=0.6),
        S("N_20150710_cloud", "2015-07-10", n[1], n[2], cloud=0.9),
    ]


class World:
    """Files and items of the loopback world (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items = [srv.write_scene(root, spec, seed=i) for i, spec in enumerate(_scenes())]
        self.items.append(
            srv.write_dem(
                root, "DEM_S", (8.8, 49.8, 9.9, 50.0), res_deg=1 / 1200, slope_pct=SLOPE_PCT
            )
        )
        self.items.append(
            srv.write_dem(
                root, "DEM_N", (8.8, 50.0, 9.9, 50.4), res_deg=1 / 1200, slope_pct=SLOPE_PCT
            )
        )
        fb = POINTS["fallback"]
        self.tc = srv.write_terraclimate(
            root / "tc", VARS, (8.8, 49.8, 9.9, 50.4), sea_cells=((fb[1], fb[2]),)
        )

    def points_csv(self, path: Path, names: tuple[str, ...]) -> Path:
        """A LUCAS-like table (UTF-8 with BOM) holding the named points."""
        rows = [
            f"{k + 1},{POINTS[n][0]},{POINTS[n][1]},{POINTS[n][2]},{10.0 + k},Cropland,DE"
            for k, n in enumerate(names)
        ]
        path.write_text(
            "\ufeffOID_,Point_ID,long,lat,OC,LC0_Desc,NUTS_0\n" + "\n".join(rows) + "\n",
            encoding="utf-8",
        )
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("loopback_world"))


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Keep requests and libcurl off any configured proxy: only 127.0.0.1 is contacted."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
def server(world):
    with srv.LoopbackServer(world.root, world.items) as s:
        yield s


def _sources(server, world, **kw) -> Sources:
    return Sources(
        stac_url=server.stac_url, terraclimate_url=world.tc, signer=kw.pop("signer", "none"), **kw
    )


def _run(world, server, out, names, **kw):
    points = world.points_csv(out.parent / f"{out.name}_points.csv", names)
    kw.setdefault("variables", VARS)
    kw.setdefault("workers", 2)
    kw.setdefault("retry", FAST)
    kw.setdefault("progress", False)
    sources = kw.pop("sources", None) or _sources(server, world, signer=kw.pop("signer", "none"))
    return acquire(points, out, sources=sources, **kw)


def _nearest_cell_km(world, lon: float, lat: float) -> float:
    import xarray as xr

    with xr.open_dataset(world.tc.format(var="pr"), engine="scipy") as ds:
        cell = ds.sel(lon=lon, lat=lat, method="nearest")
        dy = (float(cell.lat) - lat) * 111.195
        dx = (float(cell.lon) - lon) * 111.195 * np.cos(np.radians(lat))
    return float(np.hypot(dx, dy))


def _manifest(out: Path) -> pd.DataFrame:
    return read_manifest(out / "manifest.csv").set_index("Point_ID")


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


def test_end_to_end_output_passes_readers_and_consolidate(world, tmp_path):
    """Signed URLs, EPSG:3857 patches; open_folder and consolidate read the folder unchanged."""
    out = tmp_path / "real"
    with srv.LoopbackServer(world.root, world.items, require_signature=True) as s:
        summary = _run(world, s, out, ("winter", "fallback"), signer=s.token_url)
        assert any(r["path"].startswith("/sas/token/landsat-c2-l2") for r in s.log)
        assert not [r for r in s.log if r["status"] == 403]
    assert summary.counts["ok"] == 2 and summary.missing == 0
    assert "ok" in str(summary)

    folder = open_folder(out, variables=VARS)
    assert folder.points["Point_ID"].tolist() == [90000001, 90000002]
    store = consolidate(out, size_px=16, variables=VARS)
    assert store.images.shape == (2, 14, 16, 16)
    assert store.climate.shape == (2, 61, 3)
    assert np.isfinite(store.images).all()

    m = _manifest(out)
    assert list(read_manifest(out / "manifest.csv").columns) == list(MANIFEST_COLUMNS)
    win, fb = m.loc[90000001], m.loc[90000002]
    assert (win["scene_id"], win["rule"], win["acquired"]) == (
        "W_20150213_clear",
        "winter-earliest",
        "2015-02-13",
    )
    assert win["scenes_checked"] == 2  # the cloudy Jan scene, then the clear Feb one
    assert (fb["scene_id"], fb["rule"]) == ("F_20150920_bare", "min-ndvi")
    assert win["patch"] == "90000001_150213.tif" and fb["patch"] == "90000002_150920.tif"
    assert win["cloud_share"] == 0 and win["nan_share"] == 0  # medium confidence is not cloud

    patch = read_patch(out / "patches" / "90000001_150213.tif")
    assert patch.band_names == BAND_NAMES and patch.crs == "EPSG:3857"
    n = int(np.ceil(2 * 960 / np.cos(np.radians(50.0)) / 30))
    assert patch.data.shape == (14, n, n)
    band = dict(zip(patch.band_names, patch.data, strict=True))
    assert np.allclose(band["SR_B4"], srv.RED_REFLECTANCE, atol=1e-4)
    assert np.allclose(band["NDVI"], 0.25, atol=1e-3)
    assert np.allclose(band["slopePCT"], SLOPE_PCT, atol=0.02)  # ground metres, not Mercator metres
    centre = band["elevation"][n // 2 - 1 : n // 2 + 1, n // 2 - 1 : n // 2 + 1].mean()
    assert centre == pytest.approx(200.0, abs=1.0)

    # the fallback point's nearest TerraClimate cell is sea: a neighbouring cell is used and
    # its (larger) distance is reported
    assert fb["climate_cell_km"] > _nearest_cell_km(world, *POINTS["fallback"][1:]) + 0.1
    assert win["climate_cell_km"] == pytest.approx(
        _nearest_cell_km(world, *POINTS["winter"][1:]), abs=0.01
    )
    assert fb["climate_missing"] == 0
    assert np.isfinite(folder.climate.values).all()


def test_scene_choice_reports_every_point(world, server, tmp_path):
    """No usable scene and no coverage are manifest rows with reasons, never silent drops."""
    out = tmp_path / "all"
    summary = _run(world, server, out, ("winter", "fallback", "noscene", "nocover"), workers=3)
    assert summary.counts == {"ok": 2, "no_scene": 1, "no_coverage": 1, "error": 0}
    m = _manifest(out)
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
    with pytest.warns(UserWarning):
        store = consolidate(out, size_px=16, variables=VARS, on_missing="drop")
    assert len(store) == 2


def test_utm_option_keeps_scene_grid(world, server, tmp_path):
    out = tmp_path / "utm"
    _run(world, server, out, ("winter",), crs="utm", variables=())
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
        sources=_sources(server, world),
        retry=FAST,
        progress=False,
    )
    row = _manifest(tmp_path / "polar").loc[1]
    assert row["status"] == "no_coverage" and "beyond" in row["reason"]
    assert not [r for r in server.log if r["path"].startswith("/stac/search")]


# --------------------------------------------------------------------------------------------
# Resume, retries, failures
# --------------------------------------------------------------------------------------------


def test_interrupted_run_resumes_without_redoing_points(world, server, tmp_path):
    out = tmp_path / "resume"
    done = []

    def interrupt(row):
        done.append(row["Point_ID"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(world, server, out, ("winter", "fallback", "noscene"), workers=1, on_point=interrupt)
    assert done == [90000001]
    first = out / "patches" / "90000001_150213.tif"
    stamp = first.stat().st_mtime_ns
    assert _manifest(out).loc[90000001, "status"] == "ok"
    assert not (out / "climate").exists()
    (out / "patches" / ".tmp-90000002_150920.tif.abc.tif").write_bytes(b"half a file")

    server.log.clear()
    summary = _run(world, server, out, ("winter", "fallback", "noscene"), workers=1)
    assert summary.n_skipped == 1 and summary.n_processed == 2
    assert first.stat().st_mtime_ns == stamp
    # nothing of the finished point is read again
    assert not [r for r in server.log if "/W_" in r["path"]]
    assert not list((out / "patches").glob(".tmp-*"))
    assert _manifest(out)["status"].tolist() == ["ok", "ok", "no_scene"]

    server.log.clear()
    again = _run(world, server, out, ("winter", "fallback", "noscene"), workers=1)
    assert again.n_processed == 0 and again.climate_variables == []
    assert not [r for r in server.log if r["path"].startswith(("/stac/search", "/files/"))]


def test_server_errors_are_retried_and_persistent_ones_recorded(world, server, tmp_path):
    out = tmp_path / "flaky"
    server.fail("/stac/search", 503, times=2)
    server.fail("W_20150213_clear_QA_PIXEL", 502, times=1)
    server.fail("F_20150120_snow_QA_PIXEL", 500)  # always
    summary = _run(world, server, out, ("winter", "fallback"), workers=2)
    m = _manifest(out)
    assert m.loc[90000001, "status"] == "ok"
    assert m.loc[90000002, "status"] == "error"
    reason = m.loc[90000002, "reason"]
    assert "F_20150120_snow" in reason and "500" in reason
    assert summary.counts["error"] == 1
    statuses = [r["status"] for r in server.log]
    assert statuses.count(503) == 2 and 502 in statuses
    assert (out / "climate" / "pr.csv").is_file()  # the rest of the run completed

    server._faults.clear()
    summary = _run(world, server, out, ("winter", "fallback"), workers=2)
    assert summary.n_processed == 1
    assert _manifest(out).loc[90000002, "status"] == "ok", _manifest(out).loc[90000002, "reason"]


def test_unreachable_endpoints_name_the_url(world, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/stac"
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    sources = Sources(stac_url=dead, terraclimate_url=world.tc, signer="none")
    with pytest.raises(AcquisitionError, match=f"127.0.0.1:{port}/stac"):
        acquire(
            points,
            tmp_path / "out",
            sources=sources,
            retry=RetryPolicy(retries=0, timeout_s=2),
            progress=False,
        )
    missing = str(tmp_path / "nowhere" / "{var}.nc")
    with pytest.raises(AcquisitionError, match="nowhere"):
        extract_points(
            missing, ["pr"], np.array([9.0]), np.array([50.0]), month_labels("2010-01", "2010-02")
        )


def test_unknown_collection_is_reported(world, server, tmp_path):
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    sources = Sources(
        stac_url=server.stac_url,
        terraclimate_url=world.tc,
        signer="none",
        dem_collection="no-such-dem",
    )
    with pytest.raises(AcquisitionError, match="no-such-dem"):
        acquire(points, tmp_path / "out", sources=sources, retry=FAST, progress=False)


@pytest.mark.skipif(
    importlib.util.find_spec("netCDF4") is not None
    or importlib.util.find_spec("pydap") is not None,
    reason="an OPeNDAP engine is installed",
)
def test_opendap_without_engine_says_what_to_install():
    with pytest.raises(AcquisitionError, match="netCDF4"):
        extract_points(
            "http://127.0.0.1:9/thredds/dodsC/x_{var}.nc",
            ["pr"],
            np.array([9.0]),
            np.array([50.0]),
            ["20100101"],
        )


def test_output_folder_holding_another_dataset_is_refused(world, server, tmp_path):
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    kw = dict(sources=_sources(server, world), retry=FAST, progress=False, variables=())

    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "twin.json").write_text("{}")
    with pytest.raises(AcquisitionError, match="twin.json"):
        acquire(points, twin, **kw)

    other = tmp_path / "other"
    other.mkdir()
    (other / "points.csv").write_text("Point_ID,long,lat\n12345678,1.0,45.0\n")
    with pytest.raises(AcquisitionError, match="12345678"):
        acquire(points, other, **kw)

    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "points.csv").write_text("Point_ID,long,lat\n90000001,1.0,45.0\n")
    with pytest.raises(AcquisitionError, match="other coordinates"):
        acquire(points, moved, **kw)

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.docx").write_text("x")
    with pytest.raises(AcquisitionError, match="not empty"):
        acquire(points, busy, **kw)
    assert not server.log  # refused before any request


def test_arguments_are_checked_before_io(tmp_path):
    with pytest.raises(ValueError, match="crs"):
        acquire(tmp_path / "none.csv", tmp_path / "o", crs="EPSG:4326")
    with pytest.raises(ValueError, match="nope"):
        acquire(tmp_path / "none.csv", tmp_path / "o", variables=("pr", "nope"))
    with pytest.raises(ValueError, match="YYYY-MM"):
        acquire(tmp_path / "none.csv", tmp_path / "o", start="2010")


# --------------------------------------------------------------------------------------------
# Climate
# --------------------------------------------------------------------------------------------


def test_zero_climate_values_round_trip_as_zero(world, server, tmp_path):
    months = month_labels("2014-11", "2015-05")
    lon, lat = np.array([9.0, 9.6]), np.array([50.0, 50.2])
    local = extract_points(world.tc, ["swe", "pr"], lon, lat, months)
    swe = local.values[:, :, 0]
    assert (swe[:, months.index("20150501")] == 0).all() and (
        swe[:, months.index("20150101")] > 0
    ).all()

    # the same file over HTTP range requests gives the same values
    remote_tpl = server.url + "/files/tc/{var}.nc"
    remote = extract_points(remote_tpl, ["swe", "pr"], lon, lat, months)
    np.testing.assert_array_equal(remote.values, local.values)

    out = tmp_path / "zeros"
    _run(
        world,
        server,
        out,
        ("winter", "noscene"),
        variables=("swe",),
        start="2014-11",
        end="2015-05",
    )
    text = (out / "climate" / "swe.csv").read_text()
    assert "-999" not in text and ",0," in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingValuesWarning)
        table = read_climate(out / "climate", ("swe",))
    assert table.values[:, table.months.index("20150501"), 0].tolist() == [0.0, 0.0]


def test_points_outside_the_climate_grid_are_missing_not_invented(world):
    months = month_labels("2010-01", "2010-03")
    got = extract_points(world.tc, ["pr"], np.array([9.0, 20.0]), np.array([50.0, 60.0]), months)
    assert np.isfinite(got.values[0]).all() and np.isnan(got.values[1]).all()
    with pytest.raises(AcquisitionError, match="not in the file"):
        extract_points(
            world.tc, ["pr"], np.array([9.0]), np.array([50.0]), month_labels("2016-01", "2016-02")
        )


# --------------------------------------------------------------------------------------------
# Units: QA rule, scene rule, STAC paging, slope, grid
# --------------------------------------------------------------------------------------------


def test_qa_rule_counts_high_confidence_only():
    qa = np.array(
        [
            [srv.QA_CLEAR, srv.QA_CLEAR_MEDIUM_CLOUD_CONF, srv.QA_CLOUD, 1 << 1],
            [srv.QA_SHADOW, srv.QA_SNOW, srv.QA_FILL, (1 << 3) | (1 << 8)],
        ],
        dtype=np.uint16,
    )
    m = decode_qa(qa)
    assert m.cloud.tolist() == [[False, False, True, True], [False, False, False, False]]
    assert m.shadow.tolist() == [[False] * 4, [True, False, False, False]]
    assert m.snow.tolist() == [[False] * 4, [False, True, False, False]]
    assert m.fill.tolist() == [[False] * 4, [False, False, True, False]]
    shares = window_shares(m)
    assert shares.valid == pytest.approx(7 / 8)
    assert shares.cloud == pytest.approx(2 / 7) and shares.shadow == pytest.approx(1 / 7)
    assert SceneLimits().failure(shares).startswith("cloud+shadow")


def _cand(day: str) -> Candidate:
    return Candidate(item={}, id=day, datetime=pd.Timestamp(day, tz="UTC"))


def test_choose_scene_rule():
    clear, cloudy = WindowShares(1, 0, 0, 0), WindowShares(1, 0.5, 0, 0)
    cands = [
        _cand(d) for d in ("2015-01-05", "2015-02-01", "2015-05-01", "2015-08-01", "2015-11-01")
    ]
    shares = {
        "2015-01-05": cloudy,
        "2015-02-01": clear,
        "2015-05-01": clear,
        "2015-08-01": clear,
        "2015-11-01": clear,
    }
    ndvi = {"2015-05-01": 0.5, "2015-08-01": 0.2}
    d = choose_scene(cands, lambda c: shares[c.id], lambda c: ndvi[c.id])
    assert (d.choice.id, d.rule, len(d.evaluations)) == ("2015-02-01", "winter-earliest", 2)
    shares.update({"2015-02-01": cloudy, "2015-11-01": cloudy})
    d = choose_scene(cands, lambda c: shares[c.id], lambda c: ndvi[c.id])
    assert (d.choice.id, d.rule) == ("2015-08-01", "min-ndvi")
    shares.update(dict.fromkeys(ndvi, WindowShares(0.5, 0, 0, 0)))
    d = choose_scene(cands, lambda c: shares[c.id], lambda c: ndvi[c.id])
    assert d.choice is None and d.failure_reason().startswith("no usable scene: 5")


def test_landsat_candidates_filter_platform_tier_year(world):
    items = [it for it in world.items if it["id"].startswith("W_")]
    assert [c.id for c in landsat_candidates(items, 2015)] == [
        "W_20150112_cloudy",
        "W_20150213_clear",
        "W_20150710_clear",
        "W_20151120_clear",
    ]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_stac_search_follows_next_links(server, method):
    stac = StacClient(server.stac_url, HttpClient(FAST), method=method, page_size=2)
    body = {
        "collections": ["landsat-c2-l2"],
        "intersects": {"type": "Point", "coordinates": [9.3, 50.1]},
        "datetime": "2015-01-01T00:00:00Z/2015-12-31T23:59:59Z",
    }
    items = stac.search(body)
    assert sorted(it["id"] for it in items) == sorted(
        s.scene_id for s in _scenes() if s.scene_id.startswith("F_")
    )
    assert all(it["assets"]["red"]["href"].startswith(server.url) for it in items)
    assert sum(r["path"].startswith("/stac/search") for r in server.log) == 3


def test_slope_percent_uses_ground_metres():
    from rasterio.transform import from_origin

    res = 1 / 3600
    lat = 60.0 - (np.arange(50) + 0.5) * res
    z = np.repeat(srv.dem_elevation(lat, z0=0, slope_pct=8.0, lat0=60.0)[:, None], 40, axis=1)
    geo = slope_percent(z, from_origin(10.0, 60.0, res, res), geographic=True)
    assert np.allclose(geo[1:-1, 1:-1], 8.0, atol=0.01)
    east = np.tile(np.arange(10) * 3.0, (5, 1))  # 3 m per 30 m pixel = 10 %
    assert np.allclose(
        slope_percent(east, from_origin(0, 0, 30, 30), geographic=False)[:, 1:-1], 10.0
    )


def test_mercator_grid_matches_the_original_exports():
    grid = mercator_grid(6.072879, 51.088722)  # LUCAS 40463116, the sample export (103 px)
    assert grid.crs == "EPSG:3857" and grid.width == grid.height == 102
    assert grid.transform.a == 30 and grid.transform.c % 30 == 0
    w, s, e, n = grid.lonlat_bounds()
    assert w < 6.072879 < e and s < 51.088722 < n


def test_cli_wiring(world, server, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="soilnet")
    add_acquire_parser(parser.add_subparsers(dest="command", required=True))
    points = world.points_csv(tmp_path / "p.csv", ("winter", "fallback"))
    args = parser.parse_args(
        ["acquire", "--points", str(points), "--out", str(tmp_path / "cli"), "--stac-url", server.stac_url,
         "--terraclimate-url", world.tc, "--variables", "pr,tmmx", "--signer", "none", "--workers", "2",
         "--limit", "1", "--no-progress", "--retries", "1"]
    )  # fmt: skip
    assert args.func(args) == 0
    assert "ok" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "cli" / "points.csv")["Point_ID"].tolist() == [90000001]
    assert sorted(p.name for p in (tmp_path / "cli" / "climate").iterdir()) == [
        "pr.csv",
        "tmmx.csv",
    ]
    for bad in (["--variables", "rain"], ["--limit", "0"], ["--start", "2010"], ["--workers", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["acquire", "--points", "p", "--out", "o", *bad])


# --------------------------------------------------------------------------------------------
# Real endpoints (deselected by default; needs internet)
# --------------------------------------------------------------------------------------------

#: Three LUCAS 2015 topsoil points: two Portuguese rows of LUCAS_2015_all.csv and the German
#: sample export's point (its coordinates from the LUCAS grid code, EPSG:3035 km 4046/3116).
REAL_POINTS = "Point_ID,long,lat\n26581768,-8.775251839,37.13910423\n26761998,-9.154804085,39.19392373\n40463116,6.072879,51.088722\n"


@pytest.mark.network
def test_real_endpoints_three_lucas_points(tmp_path):
    points = tmp_path / "lucas3.csv"
    points.write_text(REAL_POINTS)
    has_opendap = importlib.util.find_spec("netCDF4") or importlib.util.find_spec("pydap")
    summary = acquire(
        points,
        tmp_path / "real",
        variables=("pr", "swe") if has_opendap else (),
        start="2014-12",
        end="2015-01",
        workers=3,
        progress=False,
    )
    m = _manifest(tmp_path / "real")
    assert len(m) == 3 and summary.counts["error"] == 0, m["reason"].tolist()
    assert summary.counts["ok"] >= 2
    folder = open_folder(
        tmp_path / "real",
        variables=("pr", "swe") if has_opendap else None,
        on_missing="drop",
        require_target=False,
    )
    for path in folder.patch_paths.values():
        assert read_patch(path).data.shape[0] == 14
