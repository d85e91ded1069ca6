"""Tests for soilnet.store: one read of every patch and climate row into memory-mapped arrays."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest
import rasterio
from checks import assert_store
from rasterio.transform import Affine

from soilnet.bands import BAND_NAMES, OPTICAL_BANDS
from soilnet.errors import DataFormatError, DatasetNotFoundError, MissingValuesWarning, SoilNetError
from soilnet.io.patches import (
    NAN_FILL_RULE,
    RESAMPLING,
    fill_nan,
    read_patch,
    resample_patch,
    write_patch,
)
from soilnet.store import CLIMATE_FILL_RULE, Store, consolidate
from soilnet.synthetic import SyntheticWorld

PR = ("pr",)
MONTHS = tuple(pd.date_range("2010-01", periods=61, freq="MS").strftime("%Y%m%d"))


def patch_of(root, pid: int):
    (path,) = (root / "patches").glob(f"{pid}_*.tif")
    return path


def rewrite(path, data, names, dtype="float32"):
    with rasterio.open(path) as src:
        crs, transform = src.crs.to_string(), src.transform
    path.unlink()
    write_patch(path, data, names, crs, transform, dtype=dtype)


# ---------------------------------------------------------------- round trip


def test_store_layout(twin_store, twin_dir):
    assert_store(twin_store, n_points=48)
    assert twin_store.path == twin_dir / "store" / "16px"
    for name in ("images.npy", "climate.npy", "index.csv", "report.csv", "meta.json"):
        assert (twin_store.path / name).is_file(), name
    assert isinstance(twin_store.images, np.memmap)
    meta = twin_store.meta
    assert meta["resampling"] == RESAMPLING and meta["nan_fill_rule"] == NAN_FILL_RULE
    assert meta["climate_fill_rule"] == CLIMATE_FILL_RULE
    assert meta["bands"] == list(BAND_NAMES) and twin_store.months == MONTHS
    assert meta["n_excluded"] == 0 and meta["has_target"]
    reopened = Store.open(twin_store.path)
    assert reopened.fingerprint == twin_store.fingerprint and len(reopened) == 48


def test_round_trip_generator_files_readers_store(twin_dir, twin_store):
    """Values survive generator -> GeoTIFF/CSV -> readers -> store (native size: no resampling)."""
    from conftest import TINY

    truth = pd.read_csv(twin_dir / "truth.csv")
    points = pd.read_csv(twin_dir / "points.csv", encoding="utf-8-sig")
    index = twin_store.index
    np.testing.assert_array_equal(index["Point_ID"], points["Point_ID"])
    np.testing.assert_array_equal(index["oc_g_per_kg"], points["OC"])
    np.testing.assert_array_equal(index["LC0_Desc"], points["LC0_Desc"])
    np.testing.assert_allclose(index[["x_3035", "y_3035"]], truth[["x_3035", "y_3035"]], atol=0.01)

    rendered = SyntheticWorld(TINY).render(truth["x_3035"].to_numpy(), truth["y_3035"].to_numpy())
    images = np.asarray(twin_store.images)
    valid = ~np.isnan(rendered.image)
    np.testing.assert_array_equal(images[valid], rendered.image[valid])
    assert (index["nan_pixels_filled"].to_numpy() == (~valid).sum(axis=(1, 2, 3))).all()
    np.testing.assert_allclose(
        np.asarray(twin_store.climate), rendered.climate, rtol=6e-6, atol=1e-5
    )  # %.6g CSV
    assert (index["climate_cells_filled"] == 0).all()

    for row in (0, 17, 47):  # the store row equals reading the file by hand
        pid = int(index["Point_ID"].iat[row])
        filled, n = fill_nan(read_patch(patch_of(twin_dir, pid)).data)
        np.testing.assert_array_equal(images[row], resample_patch(filled, 16))
        assert n == index["nan_pixels_filled"].iat[row]


def test_rerun_with_unchanged_inputs_does_nothing(twin_dir, twin_store):
    images = twin_store.path / "images.npy"
    before = images.stat().st_mtime_ns
    start = time.perf_counter()
    again = consolidate(twin_dir, size_px=16)
    elapsed = time.perf_counter() - start
    assert images.stat().st_mtime_ns == before
    assert again.fingerprint == twin_store.fingerprint
    assert elapsed < max(2.0, twin_store.meta["seconds"]), f"no-op took {elapsed:.2f} s"


def test_touching_a_patch_or_changing_settings_rebuilds(copy_twin):
    store = consolidate(copy_twin, size_px=16, variables=PR)
    images = store.path / "images.npy"
    t0 = images.stat().st_mtime_ns
    assert consolidate(copy_twin, size_px=16, variables=PR).fingerprint == store.fingerprint
    assert images.stat().st_mtime_ns == t0

    patch = next((copy_twin / "patches").glob("*.tif"))
    st = patch.stat()
    os.utime(patch, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    rebuilt = consolidate(copy_twin, size_px=16, variables=PR)
    assert rebuilt.fingerprint != store.fingerprint
    assert images.stat().st_mtime_ns != t0
    np.testing.assert_array_equal(np.asarray(rebuilt.images), np.asarray(store.images))

    other = consolidate(copy_twin, size_px=8, variables=PR)  # another size: another folder
    assert other.path.name == "8px" and other.images.shape[-2:] == (8, 8)
    assert (copy_twin / "store" / "16px" / "meta.json").is_file()


def test_resampled_store_and_cnn_only(copy_twin):
    store = consolidate(copy_twin, size_px=8, variables=None, bands=OPTICAL_BANDS)
    assert_store(store, n_points=48)
    assert store.images.shape == (48, 12, 8, 8) and store.climate is None
    assert store.band_names == OPTICAL_BANDS
    pid = int(store.index["Point_ID"].iat[3])
    filled, _ = fill_nan(read_patch(patch_of(copy_twin, pid), OPTICAL_BANDS).data)
    np.testing.assert_allclose(store.images[3], resample_patch(filled, 8), rtol=1e-6)


def test_store_open_requires_meta(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a consolidated store"):
        Store.open(tmp_path)


# ---------------------------------------------------------------- bad patches


def test_bands_in_another_order_give_the_same_store(copy_twin, twin_store):
    pid = int(twin_store.index["Point_ID"].iat[10])
    path = patch_of(copy_twin, pid)
    data = read_patch(path).data
    order = np.arange(14)[::-1]
    rewrite(path, data[order], [BAND_NAMES[i] for i in order])
    with rasterio.open(path) as src:
        assert src.descriptions[0] == "slopePCT"
    store = consolidate(copy_twin, size_px=16)
    np.testing.assert_array_equal(np.asarray(store.images), np.asarray(twin_store.images))


@pytest.mark.parametrize("defect", ["missing band", "all NaN", "uint16", "not a tiff"])
def test_unusable_patch_raises_or_is_dropped_and_reported(copy_twin, defect):
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    pid = int(points["Point_ID"].iat[6])
    path = patch_of(copy_twin, pid)
    data = read_patch(path).data
    if defect == "missing band":
        rewrite(path, data[:13], BAND_NAMES[:13])
        expect = "missing band"
    elif defect == "all NaN":
        rewrite(path, np.full_like(data, np.nan), BAND_NAMES)
        expect = "all NaN"
    elif defect == "uint16":
        with rasterio.open(path) as src:
            profile = src.profile | {"dtype": "uint16", "nodata": None, "predictor": 1}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.ones(data.shape, np.uint16))
            for i, name in enumerate(BAND_NAMES, start=1):
                dst.set_band_description(i, name)
        expect = "uint16"
    else:
        path.write_bytes(b"\x00" * 64)
        expect = "cannot be read"
    with pytest.raises(
        DataFormatError,
        match=rf"1 patch\(es\) cannot be used \(Point_ID {pid}\).*{path.name}.*{expect}",
    ):
        consolidate(copy_twin, size_px=16, variables=PR)
    assert not (copy_twin / "store" / "16px" / "meta.json").exists()

    with pytest.warns(
        UserWarning, match=rf"excluding 1 point\(s\) whose patch cannot be used \(Point_ID {pid}\)"
    ):
        store = consolidate(copy_twin, size_px=16, variables=PR, on_missing="drop")
    assert_store(store, n_points=47)
    assert pid not in set(store.point_ids)
    assert store.meta["n_excluded"] == 1
    report = pd.read_csv(store.path / "report.csv")
    assert report["point_id"].tolist() == [pid]
    assert report["problem"].iat[0] == "patch unreadable"
    assert report["file"].iat[0].endswith(path.name) and expect in report["detail"].iat[0]
    # The remaining rows stay aligned: climate row i still belongs to index row i.
    folder_climate = pd.read_csv(copy_twin / "climate" / "pr.csv").set_index("Point_ID")[
        list(MONTHS)
    ]
    np.testing.assert_allclose(
        store.climate[:, :, 0], folder_climate.loc[store.point_ids].to_numpy(), rtol=1e-6
    )


def test_missing_patch_is_dropped_with_report(copy_twin):
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    pid = int(points["Point_ID"].iat[0])
    patch_of(copy_twin, pid).unlink()
    with pytest.raises(SoilNetError, match=str(pid)):
        consolidate(copy_twin, size_px=16, variables=PR)
    with pytest.warns(UserWarning, match="point has no patch"):
        store = consolidate(copy_twin, size_px=16, variables=PR, on_missing="drop")
    assert len(store) == 47 and pd.read_csv(store.path / "report.csv")["point_id"].tolist() == [pid]


# ---------------------------------------------------------------- real-format folder


def test_real_format_folder(tmp_path):
    """BOM table, 12-band float64 NaN-nodata 103 x 103 EPSG:3857 patches, unordered months, -999."""
    root = tmp_path / "lucas"
    ids = [40463116, 44042412, 27931902]
    rng = np.random.default_rng(7)
    points = pd.DataFrame(
        {"OID_": [1, 2, 3], "Point_ID": ids, "long": [6.07, 11.05, -3.4], "lat": [51.09, 44.81, 50.5],
         "OC": [20.0, 22.7, 560.2], "LC0_Desc": ["Cropland", "Cropland", "Woodland"], "NUTS_0": ["DE", "IT", "UK"]}
    )  # fmt: skip
    root.mkdir()
    points.to_csv(root / "points.csv", index=False, encoding="utf-8-sig")
    nan_counts = [12, 0, 3]
    raw = {}
    for pid, n_nan in zip(ids, nan_counts, strict=True):
        data = rng.uniform(0.0, 0.3, size=(12, 103, 103))
        for k in range(n_nan):
            data[9 + 2 * (k % 2), k, k] = np.nan  # carbonateIndex and NDVI, as the sample
        transform = Affine(30.0, 0.0, 674490.0, 0.0, -30.0, 6638550.0)
        write_patch(
            root / "patches" / f"{pid}_150107.tif",
            data,
            OPTICAL_BANDS,
            "EPSG:3857",
            transform,
            dtype="float64",
        )
        raw[pid] = data
    series = rng.uniform(50, 250, size=(3, 61))
    series[0, 10] = -999  # interior gap: linear interpolation
    series[1, 0] = -999  # first month: nearest value
    order = rng.permutation(61)
    climate = pd.DataFrame(series[:, order], columns=[MONTHS[i] for i in order])
    climate["system:index"] = ["a", "b", "c"]
    climate["SOCstock100"] = 86.4
    climate["ID"] = ids
    (root / "climate").mkdir()
    climate.to_csv(root / "climate" / "tmmx.csv", index=False)

    with pytest.warns(MissingValuesWarning, match=r"tmmx\.csv: 2 of 183 values are -999"):
        store = consolidate(
            root, size_px=32, bands=OPTICAL_BANDS, variables=("tmmx",), climate_id_column="ID"
        )
    assert_store(store, n_points=3)
    assert store.images.shape == (3, 12, 32, 32)
    index = store.index
    assert index["nan_pixels_filled"].tolist() == nan_counts
    assert store.meta["nan_pixels_filled"] == 15
    assert index["climate_cells_filled"].tolist() == [1, 1, 0]
    assert index["oc_g_per_kg"].tolist() == [20.0, 22.7, 560.2]  # stored unclipped
    expected = resample_patch(fill_nan(raw[ids[0]])[0], 32)
    np.testing.assert_allclose(store.images[0], expected, rtol=1e-6)
    clim = np.asarray(store.climate)[:, :, 0]
    assert clim[0, 10] == pytest.approx((series[0, 9] + series[0, 11]) / 2, rel=1e-6)
    assert clim[1, 0] == pytest.approx(series[1, 1], rel=1e-6)
    np.testing.assert_allclose(clim[2], series[2], rtol=1e-6)
    meta = json.loads((store.path / "meta.json").read_text())
    assert meta["climate_id_column"] == "ID" and meta["months"] == list(MONTHS)

    # With missing_code_means="zero" the -999 become zeros: nothing to fill, a new store.
    zero = consolidate(root, size_px=32, bands=OPTICAL_BANDS, variables=("tmmx",), climate_id_column="ID",
                       missing_code_means="zero")  # fmt: skip
    assert zero.index["climate_cells_filled"].tolist() == [0, 0, 0]
    assert zero.climate[0, 10, 0] == 0.0


def test_prediction_grid_without_oc(copy_twin):
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    points.drop(columns="OC").to_csv(copy_twin / "points.csv", index=False, encoding="utf-8-sig")
    with pytest.raises(DataFormatError, match="missing column"):
        consolidate(copy_twin, size_px=16, variables=PR)
    grid = consolidate(copy_twin, size_px=16, variables=PR, require_target=False)
    assert grid.index["oc_g_per_kg"].isna().all() and not grid.meta["has_target"]
