"""Tests for soilnet.acquire.pipeline: whole runs against the loopback server (offline)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from soilnet.acquire import MANIFEST_COLUMNS, Sources, acquire, read_manifest
from soilnet.bands import BAND_NAMES
from soilnet.config import StoreConfig
from soilnet.io import open_folder, read_patch
from soilnet.store import consolidate

from . import server as srv
from .world import POINTS, SLOPE_PCT, VARS, manifest, nearest_cell_km, run, sources


def test_end_to_end_signed_output_passes_readers_and_consolidate(world, blob_server, tmp_path):
    """planetary_computer signs blob URLs with a token from the configured endpoint; GDAL
    reads them; open_folder and consolidate read the folder unchanged."""
    out = tmp_path / "real"
    src = sources(blob_server, world, signer="planetary-computer", sas_url=blob_server.sas_url)
    summary = run(world, blob_server, out, ("winter", "fallback"), sources=src)
    log = blob_server.log
    assert any(r["path"] == "/sas/token/soilnetloopback/files" for r in log)
    files = [r for r in log if r["path"].startswith("/files/")]
    assert files and all(r["proxied"] and "sig=loopback" in r["path"] for r in files)
    assert not [r for r in log if r["status"] == 403]
    assert summary.counts["ok"] == 2 and summary.missing == 0
    assert summary.stac_bytes == sum(
        r["bytes"] for r in log if r["path"].startswith("/stac")
    )  # every STAC answer counted, nothing else
    assert "ok" in str(summary) and "STAC answers" in str(summary)

    folder = open_folder(out, variables=VARS)
    assert folder.points["Point_ID"].tolist() == [90000001, 90000002]
    written = sorted(p.relative_to(out) for p in out.rglob("*"))
    store = consolidate(out, StoreConfig(16, climate_variables=VARS), stores_dir=tmp_path / "ws")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == written  # only read
    assert store.images.shape == (2, 14, 16, 16)
    assert store.climate.shape == (2, 61, 3)
    assert np.isfinite(store.images).all()

    m = manifest(out)
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
    assert fb["climate_cell_km"] > nearest_cell_km(world, *POINTS["fallback"][1:]) + 0.1
    assert win["climate_cell_km"] == pytest.approx(
        nearest_cell_km(world, *POINTS["winter"][1:]), abs=0.01
    )
    assert fb["climate_missing"] == 0
    assert np.isfinite(folder.climate.values).all()


def test_unsigned_blob_urls_are_refused_by_the_server(world, blob_server, tmp_path):
    """The signed run above passes because of signing: without it every read is a 403."""
    summary = run(world, blob_server, tmp_path / "unsigned", ("winter",), variables=())
    assert summary.counts["error"] == 1
    assert "403" in manifest(tmp_path / "unsigned").loc[90000001, "reason"]


# --------------------------------------------------------------------------------------------
# Resume, retries, failures
# --------------------------------------------------------------------------------------------


def test_interrupted_run_resumes_without_redoing_points(world, server, tmp_path):
    out = tmp_path / "resume"
    names = ("winter", "fallback", "noscene")
    done = []

    def interrupt(row):
        done.append(row["Point_ID"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(world, server, out, names, workers=1, on_point=interrupt)
    assert done == [90000001]
    first = out / "patches" / "90000001_150213.tif"
    stamp = first.stat().st_mtime_ns
    assert manifest(out).loc[90000001, "status"] == "ok"
    assert not (out / "climate").exists()
    (out / "patches" / ".tmp-90000002_150920.tif.abc.tif").write_bytes(b"half a file")

    server.log.clear()
    summary = run(world, server, out, names, workers=1)
    assert summary.n_skipped == 1 and summary.n_processed == 2
    assert first.stat().st_mtime_ns == stamp
    assert not [r for r in server.log if "/W_" in r["path"]]  # the finished point is not read
    assert not list((out / "patches").glob(".tmp-*"))
    assert manifest(out)["status"].tolist() == ["ok", "ok", "no_scene"]

    server.log.clear()
    again = run(world, server, out, names, workers=1)
    assert again.n_processed == 0 and again.climate_variables == [] and again.stac_bytes == 0
    assert not [r for r in server.log if r["path"].startswith(("/stac", "/files/"))]


def test_server_errors_are_retried_and_persistent_ones_recorded(world, server, tmp_path):
    out = tmp_path / "flaky"
    server.fail("/stac/search", 503, times=2)  # urllib3 retries the POST
    server.fail("W_20150213_clear_QA_PIXEL", 502, times=1)  # GDAL retries the read
    server.fail("F_20150120_snow_QA_PIXEL", 500)  # always
    summary = run(world, server, out, ("winter", "fallback"), workers=2)
    m = manifest(out)
    assert m.loc[90000001, "status"] == "ok"
    assert m.loc[90000002, "status"] == "error"
    reason = m.loc[90000002, "reason"]
    assert "F_20150120_snow" in reason and "500" in reason
    assert summary.counts["error"] == 1
    statuses = [r["status"] for r in server.log]
    assert statuses.count(503) == 2 and 502 in statuses
    assert (out / "climate" / "pr.csv").is_file()  # the rest of the run completed

    # the same process recovers the failed point once the server does (GDAL must not
    # remember the failed URL)
    server._faults.clear()
    summary = run(world, server, out, ("winter", "fallback"), workers=2)
    assert summary.n_processed == 1
    assert manifest(out).loc[90000002, "status"] == "ok", manifest(out).loc[90000002, "reason"]


def test_arguments_are_checked_before_io(tmp_path):
    with pytest.raises(ValueError, match="crs"):
        acquire(tmp_path / "none.csv", tmp_path / "o", crs="EPSG:4326")
    with pytest.raises(ValueError, match="nope"):
        acquire(tmp_path / "none.csv", tmp_path / "o", variables=("pr", "nope"))
    with pytest.raises(ValueError, match="YYYY-MM"):
        acquire(tmp_path / "none.csv", tmp_path / "o", start="2010")
    with pytest.raises(ValueError, match="signer"):
        acquire(tmp_path / "none.csv", tmp_path / "o", sources=Sources(signer="sas"))
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------------------
# Real endpoints (deselected by default; needs internet)
# --------------------------------------------------------------------------------------------

#: Three LUCAS 2015 topsoil points: two Portuguese rows of LUCAS_2015_all.csv and the German
#: sample export's point (its coordinates from the LUCAS grid code, EPSG:3035 km 4046/3116).
REAL_POINTS = (
    "Point_ID,long,lat\n"
    "26581768,-8.775251839,37.13910423\n"
    "26761998,-9.154804085,39.19392373\n"
    "40463116,6.072879,51.088722\n"
)


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
    m = manifest(tmp_path / "real")
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
