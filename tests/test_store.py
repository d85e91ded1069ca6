"""Tests for soilnet.store: one read of every patch and climate row into a content-addressed,
memory-mapped store in the workspace (never in the data folder)."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from checks import assert_store
from conftest import TINY, TINY_SPLIT, TINY_STORE
from pyproj import Transformer
from rasterio.transform import Affine

import soilnet.store
from soilnet.bands import BAND_NAMES, OPTICAL_BANDS
from soilnet.config import StoreConfig
from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    InconsistentDataError,
    MissingValuesWarning,
    SoilNetError,
    StaleStoreError,
    StoreIntegrityError,
)
from soilnet.io.patches import (
    NAN_FILL_RULE,
    RESAMPLING,
    fill_nan,
    read_patch,
    resample_patch,
    write_patch,
)
from soilnet.splits import open_split, write_splits
from soilnet.store import (
    ADDRESS_CHARS,
    CLIMATE_FILL_RULE,
    KILL_AT_ENV,
    Store,
    consolidate,
    failure_report_path,
    find_store,
    fingerprint,
    store_path,
)
from soilnet.twin import SyntheticWorld

PR = ("pr",)
#: One climate variable keeps the tests that change the data folder quick.
PR_STORE = StoreConfig(patch_size_px=16, climate_variables=PR)
MONTHS = tuple(pd.date_range("2010-01", periods=61, freq="MS").strftime("%Y%m%d"))
REPO_ROOT = Path(soilnet.store.__file__).resolve().parents[1]
#: Every write step of a consolidation at which the test hook can kill it, read from the code.
KILL_STEPS = tuple(re.findall(r'_step\("(\w+)"\)', inspect.getsource(soilnet.store)))
REMEDY = r"delete .* and run `python -m soilnet consolidate"


def patch_of(root, pid: int) -> Path:
    (path,) = (root / "patches").glob(f"{pid}_*.tif")
    return path


def rewrite(path, data, names, dtype="float32"):
    with rasterio.open(path) as src:
        crs, transform = src.crs.to_string(), src.transform
    path.unlink()
    write_patch(path, data, names, crs, transform, dtype=dtype)


def change_patch(root, pid: int, delta: float = 0.05) -> np.ndarray:
    """Rewrite one patch with band 0 raised by ``delta``; return the new data."""
    path = patch_of(root, pid)
    data = read_patch(path).data.copy()
    data[0] += delta
    rewrite(path, data, BAND_NAMES)
    return data


def touch(path: Path, seconds: int = 5) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def store_row(data: np.ndarray, size_px: int = 16) -> np.ndarray:
    """What a store holds for a patch: NaN-filled, resampled."""
    return resample_patch(fill_nan(data)[0], size_px)


def store_folders(stores: Path) -> list[Path]:
    return sorted(p for p in stores.iterdir() if not p.name.startswith(".tmp-"))


# ---------------------------------------------------------------- round trip


def test_store_layout(twin_store, twin_dir, workspace):
    assert_store(twin_store, n_points=48)
    assert twin_store.path == workspace / "stores" / twin_store.fingerprint[:ADDRESS_CHARS]
    assert twin_store.fingerprint == fingerprint(twin_dir, TINY_STORE)
    assert twin_dir not in twin_store.path.parents  # stores live in the workspace
    for name in ("images.npy", "climate.npy", "index.csv", "report.csv", "meta.json"):
        assert (twin_store.path / name).is_file(), name
    assert isinstance(twin_store.images, np.memmap)
    meta = twin_store.meta
    assert meta["resampling"] == RESAMPLING and meta["nan_fill_rule"] == NAN_FILL_RULE
    assert meta["climate_fill_rule"] == CLIMATE_FILL_RULE
    assert meta["bands"] == list(BAND_NAMES) and twin_store.months == MONTHS
    assert meta["patch_size_px"] == 16 and len(meta["climate_variables"]) == 14
    assert meta["n_excluded"] == 0 and meta["has_target"]
    assert meta["data_dir"] == str(twin_dir.resolve())
    reopened = Store.open(twin_store.path, expected_fingerprint=twin_store.fingerprint)
    assert reopened.fingerprint == twin_store.fingerprint and len(reopened) == 48
    assert find_store(twin_dir, TINY_STORE, workspace / "stores").path == twin_store.path


def test_round_trip_generator_files_readers_store(twin_dir, twin_store):
    """Values survive generator -> GeoTIFF/CSV -> readers -> store (native size: no resampling)."""
    truth = pd.read_csv(twin_dir / "truth.csv")
    points = pd.read_csv(twin_dir / "points.csv", encoding="utf-8-sig")
    index = twin_store.index
    np.testing.assert_array_equal(index["Point_ID"], points["Point_ID"])
    np.testing.assert_array_equal(index["oc_g_per_kg"], points["OC"])
    np.testing.assert_array_equal(index["LC0_Desc"], points["LC0_Desc"])
    np.testing.assert_allclose(index[["x_3035", "y_3035"]], truth[["x_3035", "y_3035"]], atol=0.01)
    np.testing.assert_allclose(twin_store.xy, truth[["x_3035", "y_3035"]], atol=0.01)

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


def test_rerun_with_unchanged_inputs_does_nothing(twin_dir, twin_store, workspace):
    images, meta = twin_store.path / "images.npy", twin_store.path / "meta.json"
    before = images.stat().st_mtime_ns, meta.stat().st_mtime_ns
    start = time.perf_counter()
    again = consolidate(twin_dir, TINY_STORE, stores_dir=workspace / "stores")
    elapsed = time.perf_counter() - start
    assert (images.stat().st_mtime_ns, meta.stat().st_mtime_ns) == before
    assert again.fingerprint == twin_store.fingerprint and again.path == twin_store.path
    assert elapsed < max(2.0, twin_store.meta["seconds"]), f"no-op took {elapsed:.2f} s"


def test_resampled_store_and_cnn_only(copy_twin, tmp_path):
    config = StoreConfig(patch_size_px=8, optical_only=True, climate_variables=())
    store = consolidate(copy_twin, config, stores_dir=tmp_path / "stores")
    assert_store(store, n_points=48)
    assert store.images.shape == (48, 12, 8, 8) and store.climate is None
    assert store.band_names == OPTICAL_BANDS and store.climate_variables == ()
    pid = int(store.index["Point_ID"].iat[3])
    filled, _ = fill_nan(read_patch(patch_of(copy_twin, pid), OPTICAL_BANDS).data)
    np.testing.assert_allclose(store.images[3], resample_patch(filled, 8), rtol=1e-6)


# ---------------------------------------------------------------- content addressing


@pytest.mark.parametrize(
    ("change", "new_address"),
    [
        ("touch a patch", True),
        ("rewrite a patch", True),
        ("delete a patch", True),
        ("add a patch", True),
        ("touch a climate table", True),
        ("edit points.csv", True),
        ("other settings", True),
        ("touch truth.csv", False),
        ("add a README", False),
        ("touch points.csv", False),
    ],
)
def test_fingerprint_follows_the_inputs(copy_twin, change, new_address):
    before = fingerprint(copy_twin, PR_STORE)
    assert fingerprint(copy_twin, PR_STORE) == before  # deterministic
    config = PR_STORE
    patch = sorted((copy_twin / "patches").glob("*.tif"))[4]
    if change == "touch a patch":
        touch(patch)
    elif change == "rewrite a patch":
        change_patch(copy_twin, int(patch.name.split("_")[0]))
    elif change == "delete a patch":
        patch.unlink()
    elif change == "add a patch":
        shutil.copy2(patch, patch.with_name("99999999_150101.tif"))
    elif change == "touch a climate table":
        touch(copy_twin / "climate" / "pr.csv")
    elif change == "edit points.csv":
        text = (copy_twin / "points.csv").read_bytes()
        (copy_twin / "points.csv").write_bytes(text + b"\n")
    elif change == "other settings":
        config = StoreConfig(patch_size_px=8, climate_variables=PR)
    elif change == "touch truth.csv":
        touch(copy_twin / "truth.csv")
    elif change == "add a README":
        (copy_twin / "README.md").write_text("notes")
    elif change == "touch points.csv":  # points.csv counts by its bytes, not its time
        touch(copy_twin / "points.csv")
    after = fingerprint(copy_twin, config)
    assert (after != before) is new_address
    assert (store_path("stores", after) != store_path("stores", before)) is new_address


def test_find_store_needs_a_consolidated_store(copy_twin, tmp_path):
    stores = tmp_path / "work" / "stores"
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        find_store(tmp_path / "nothing", PR_STORE, stores)
    with pytest.raises(StaleStoreError, match="consolidate") as err:
        find_store(copy_twin, PR_STORE, stores)
    assert "earlier contents" not in str(err.value)  # no older store to name
    store = consolidate(copy_twin, PR_STORE, stores_dir=stores)
    assert find_store(copy_twin, PR_STORE, stores).path == store.path


@pytest.mark.parametrize("change", ["touch", "rewrite"])
def test_changed_patch_gives_a_new_store_and_refuses_the_old(copy_twin, tmp_path, change):
    stores, splits = tmp_path / "work" / "stores", tmp_path / "work" / "splits"
    old = consolidate(copy_twin, PR_STORE, stores_dir=stores)
    old_split_dir = write_splits(old, TINY_SPLIT, splits)
    meta_time = (old.path / "meta.json").stat().st_mtime_ns

    # Identical inputs reuse the store: no rebuild.
    again = consolidate(copy_twin, PR_STORE, stores_dir=stores)
    assert again.path == old.path and (old.path / "meta.json").stat().st_mtime_ns == meta_time
    assert write_splits(again, TINY_SPLIT, splits) == old_split_dir

    pid = int(old.index["Point_ID"].iat[7])
    if change == "touch":
        touch(patch_of(copy_twin, pid))
    else:
        change_patch(copy_twin, pid)
    now = fingerprint(copy_twin, PR_STORE)
    assert now != old.fingerprint and store_path(stores, now) != old.path
    with pytest.raises(StaleStoreError, match=rf"stores {old.path.name} were made from earlier"):
        find_store(copy_twin, PR_STORE, stores)
    with pytest.raises(StaleStoreError, match="other inputs than the data folder holds now"):
        Store.open(old.path, expected_fingerprint=now)

    new = consolidate(copy_twin, PR_STORE, stores_dir=stores)
    assert new.fingerprint == now and new.path == store_path(stores, now)
    assert find_store(copy_twin, PR_STORE, stores).path == new.path
    assert [p.name for p in store_folders(stores)] == sorted([old.path.name, new.path.name])
    assert Store.open(old.path, expected_fingerprint=old.fingerprint).fingerprint == old.fingerprint
    assert (old.path / "meta.json").stat().st_mtime_ns == meta_time  # the old store is untouched
    changed = int(np.flatnonzero(new.point_ids == pid)[0])
    same = np.arange(len(new)) != changed
    np.testing.assert_array_equal(np.asarray(new.images)[same], np.asarray(old.images)[same])
    row_equal = np.array_equal(new.images[changed], old.images[changed])
    assert row_equal is (change == "touch")
    np.testing.assert_array_equal(
        new.images[changed], store_row(read_patch(patch_of(copy_twin, pid)).data)
    )

    # The split of the old store is refused with the new one; the new store gets its own.
    with pytest.raises(StaleStoreError, match=rf"made for store {old.fingerprint[:16]}"):
        open_split(old_split_dir, new, "random")
    new_split_dir = write_splits(new, TINY_SPLIT, splits)
    assert new_split_dir != old_split_dir
    split = open_split(new_split_dir, new, "random")
    assert (len(split.train), len(split.val), len(split.test)) == (33, 4, 11)


# ---------------------------------------------------------------- torn stores


@pytest.mark.parametrize(
    "tear",
    [
        "index rows reordered",
        "index truncated",
        "images with fewer rows",
        "images cut short",
        "climate with fewer rows",
        "meta.json missing",
        "images.npy missing",
        "folder renamed",
    ],
)
def test_torn_store_is_refused(twin_store, tmp_path, tear):
    stores = tmp_path / "stores"
    path = stores / twin_store.path.name
    shutil.copytree(twin_store.path, path)
    assert Store.open(path, expected_fingerprint=twin_store.fingerprint).fingerprint  # intact
    if tear == "index rows reordered":
        index = pd.read_csv(path / "index.csv")
        index.iloc[::-1].to_csv(path / "index.csv", index=False)
    elif tear == "index truncated":
        lines = (path / "index.csv").read_text().splitlines(keepends=True)
        (path / "index.csv").write_text("".join(lines[:-5]))
    elif tear == "images with fewer rows":
        np.save(path / "images.npy", np.load(path / "images.npy")[:-1])
    elif tear == "images cut short":
        os.truncate(path / "images.npy", (path / "images.npy").stat().st_size - 1000)
    elif tear == "climate with fewer rows":
        np.save(path / "climate.npy", np.load(path / "climate.npy")[:-2])
    elif tear == "meta.json missing":
        (path / "meta.json").unlink()
    elif tear == "images.npy missing":
        (path / "images.npy").unlink()
    elif tear == "folder renamed":
        path = path.rename(stores / "0123456789abcdef")
    with pytest.raises(StoreIntegrityError, match=re.escape(str(path))) as err:
        Store.open(path)
    assert re.search(REMEDY, str(err.value)), str(err.value)


def test_store_open_refuses_a_folder_that_is_no_store(tmp_path):
    with pytest.raises(StoreIntegrityError, match="not a complete consolidated store"):
        Store.open(tmp_path)


def test_kill_steps_are_found():
    assert len(KILL_STEPS) == len(set(KILL_STEPS)) >= 5, KILL_STEPS
    assert {"images", "index", "meta", "renamed"} <= set(KILL_STEPS)


_CONSOLIDATE = (
    "import sys\n"
    "from soilnet.config import StoreConfig\n"
    "from soilnet.store import consolidate\n"
    "consolidate(sys.argv[1], StoreConfig(patch_size_px=16, climate_variables=('pr',)),\n"
    "            stores_dir=sys.argv[2], workers=1)\n"
)


@pytest.mark.parametrize("step", KILL_STEPS)
def test_killed_reconsolidation_leaves_only_complete_stores(copy_twin, tmp_path, step):
    """SIGKILL at each write of a re-consolidation: the stores folder holds only whole stores."""
    stores = tmp_path / "work" / "stores"
    old = consolidate(copy_twin, PR_STORE, stores_dir=stores)
    pid = int(old.index["Point_ID"].iat[11])
    row = int(np.flatnonzero(old.point_ids == pid)[0])
    old_row = np.array(old.images[row])
    new_data = change_patch(copy_twin, pid)
    new_fp = fingerprint(copy_twin, PR_STORE)
    new_path = store_path(stores, new_fp)

    env = {**os.environ, KILL_AT_ENV: step, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _CONSOLIDATE, str(copy_twin), str(stores)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # Every step, "renamed" (after the rename, before returning) included, has a process left
    # to kill; a step that is never reached would let it exit 0 and fail here.
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])

    folders = store_folders(stores)
    assert {p.name for p in folders} <= {old.path.name, new_path.name}
    for folder in folders:  # only complete stores: each opens and is named by its fingerprint
        Store.open(folder)
    kept = Store.open(old.path, expected_fingerprint=old.fingerprint)
    np.testing.assert_array_equal(kept.images[row], old_row)
    if new_path.exists():
        new = find_store(copy_twin, PR_STORE, stores)
        assert new.path == new_path and new.fingerprint == new_fp
        np.testing.assert_array_equal(new.images[row], store_row(new_data))
        assert_store(new, n_points=48)
    else:
        with pytest.raises(StaleStoreError, match=old.path.name):
            find_store(copy_twin, PR_STORE, stores)
        # the kill hit mid-write: the writer's temporary folder is what it left
        assert [p.name for p in stores.glob(".tmp-*")], "nothing was being written at the kill"

    done = consolidate(copy_twin, PR_STORE, stores_dir=stores)
    assert done.path == new_path and done.fingerprint == new_fp
    assert_store(done, n_points=48)
    np.testing.assert_array_equal(done.images[row], store_row(new_data))
    assert list(stores.glob(".tmp-*")) == []
    assert [p.name for p in store_folders(stores)] == sorted([old.path.name, new_path.name])


# ---------------------------------------------------------------- bad patches


def test_bands_in_another_order_give_the_same_store(copy_twin, twin_store, tmp_path):
    pid = int(twin_store.index["Point_ID"].iat[10])
    path = patch_of(copy_twin, pid)
    data = read_patch(path).data
    order = np.arange(14)[::-1]
    rewrite(path, data[order], [BAND_NAMES[i] for i in order])
    with rasterio.open(path) as src:
        assert src.descriptions[0] == "slopePCT"
    store = consolidate(copy_twin, TINY_STORE, stores_dir=tmp_path / "stores")
    assert store.fingerprint != twin_store.fingerprint  # another file: another store ...
    np.testing.assert_array_equal(np.asarray(store.images), np.asarray(twin_store.images))


@pytest.mark.parametrize("defect", ["missing band", "all NaN", "uint16", "not a tiff"])
def test_unusable_patch_raises_or_is_dropped_and_reported(copy_twin, tmp_path, defect):
    stores = tmp_path / "work" / "stores"
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
    files_before = sorted(p.relative_to(copy_twin) for p in copy_twin.rglob("*"))
    with pytest.raises(
        DataFormatError,
        match=rf"1 patch\(es\) cannot be used \(Point_ID {pid}\).*{path.name}.*{expect}",
    ):
        consolidate(copy_twin, PR_STORE, stores_dir=stores)
    # No store and no temporary folder: only the report of the failed consolidation.
    (failed,) = stores.iterdir()
    assert failed == failure_report_path(stores, fingerprint(copy_twin, PR_STORE))
    assert pd.read_csv(failed).query("problem == 'patch unreadable'")["point_id"].tolist() == [pid]
    assert sorted(p.relative_to(copy_twin) for p in copy_twin.rglob("*")) == files_before

    drop = StoreConfig(patch_size_px=16, climate_variables=PR, on_missing="drop")
    with pytest.warns(
        UserWarning, match=rf"excluding 1 point\(s\) whose patch cannot be used \(Point_ID {pid}\)"
    ):
        store = consolidate(copy_twin, drop, stores_dir=stores)
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
    assert sorted(p.name for p in stores.iterdir()) == sorted([failed.name, store.path.name])


def test_missing_patch_is_dropped_with_report(copy_twin, tmp_path):
    stores = tmp_path / "stores"
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    pid = int(points["Point_ID"].iat[0])
    patch_of(copy_twin, pid).unlink()
    with pytest.raises(SoilNetError, match=str(pid)):
        consolidate(copy_twin, PR_STORE, stores_dir=stores)
    drop = StoreConfig(patch_size_px=16, climate_variables=PR, on_missing="drop")
    with pytest.warns(UserWarning, match="point has no patch"):
        store = consolidate(copy_twin, drop, stores_dir=stores)
    assert len(store) == 47 and pd.read_csv(store.path / "report.csv")["point_id"].tolist() == [pid]


# ---------------------------------------------------------------- real-format folder


def test_real_format_folder(tmp_path):
    """BOM table, 12-band float64 NaN-nodata 103 x 103 EPSG:3857 patches, unordered months, -999."""
    root = tmp_path / "lucas"
    stores = tmp_path / "work" / "stores"
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
        x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(
            *points.loc[points["Point_ID"] == pid, ["long", "lat"]].iloc[0]
        )  # each patch centred on its point, as the exports are
        transform = Affine(30.0, 0.0, x - 103 * 15.0, 0.0, -30.0, y + 103 * 15.0)
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

    config = StoreConfig(
        patch_size_px=32, optical_only=True, climate_variables=("tmmx",), climate_id_column="ID"
    )
    with pytest.warns(MissingValuesWarning, match=r"tmmx\.csv: 2 of 183 values are -999"):
        store = consolidate(root, config, stores_dir=stores)
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
    assert sorted(p.name for p in root.iterdir()) == ["climate", "patches", "points.csv"]

    # With missing_code_means="zero" the -999 become zeros: nothing to fill, a new store.
    zero_config = StoreConfig(
        patch_size_px=32, optical_only=True, climate_variables=("tmmx",), climate_id_column="ID",
        missing_code_means="zero",
    )  # fmt: skip
    zero = consolidate(root, zero_config, stores_dir=stores)
    assert zero.path != store.path
    assert zero.index["climate_cells_filled"].tolist() == [0, 0, 0]
    assert zero.climate[0, 10, 0] == 0.0


def test_prediction_grid_without_oc(copy_twin, tmp_path):
    stores = tmp_path / "stores"
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    points.drop(columns="OC").to_csv(copy_twin / "points.csv", index=False, encoding="utf-8-sig")
    with pytest.raises(DataFormatError, match="missing column"):
        consolidate(copy_twin, PR_STORE, stores_dir=stores)
    grid = consolidate(copy_twin, PR_STORE, stores_dir=stores, require_target=False)
    assert grid.index["oc_g_per_kg"].isna().all() and not grid.meta["has_target"]


# ---------------------------------------------------------------- hostile input


def test_no_usable_point_fails_with_a_report(copy_twin, tmp_path):
    stores = tmp_path / "work" / "stores"
    drop = StoreConfig(patch_size_px=16, climate_variables=PR, on_missing="drop")
    patches = sorted((copy_twin / "patches").glob("*.tif"))
    for path in patches:  # every patch unreadable: nothing is left to consolidate
        path.write_bytes(b"\x00" * 64)
    with pytest.raises(DataFormatError) as info:
        consolidate(copy_twin, drop, stores_dir=stores)
    report_path = failure_report_path(stores, fingerprint(copy_twin, drop))
    message = str(info.value)
    assert message.startswith(f"{copy_twin}: no usable point is left: the patches of all 48")
    assert "(48 in all)" in message and f"listed with the reason in {report_path}" in message
    assert "re-export the patches" in message
    report = pd.read_csv(report_path)
    assert len(report) == 48 and set(report["problem"]) == {"patch unreadable"}
    assert sorted(report["file"]) == [str(p) for p in patches]
    assert [p.name for p in stores.iterdir()] == [report_path.name]  # no store
    # The next step says what happened instead of asking to consolidate again.
    with pytest.raises(
        StaleStoreError, match=rf"stopped on problems in the data, listed in {report_path}"
    ):
        find_store(copy_twin, drop, stores)

    # Every point excluded while validating the folder: the same, from open_folder.
    for path in patches:
        path.unlink()
    with pytest.raises(
        InconsistentDataError, match=r"no usable point is left.*48 point has no patch"
    ):
        consolidate(copy_twin, drop, stores_dir=stores)
    assert len(pd.read_csv(failure_report_path(stores, fingerprint(copy_twin, drop)))) == 48


def test_id_column_and_months_select_what_is_read(copy_twin, tmp_path):
    stores = tmp_path / "stores"
    points = pd.read_csv(copy_twin / "points.csv", encoding="utf-8-sig")
    points.rename(columns={"Point_ID": "POINT_ID"}).to_csv(
        copy_twin / "points.csv", index=False, encoding="utf-8-sig"
    )
    with pytest.raises(
        DataFormatError, match=r"points\.csv: missing column\(s\) Point_ID.*CLI: --id-column"
    ):
        consolidate(copy_twin, PR_STORE, stores_dir=stores)
    path = copy_twin / "climate" / "tmmx.csv"
    pd.read_csv(path).drop(columns=MONTHS[-1]).to_csv(path, index=False)
    two = StoreConfig(patch_size_px=16, climate_variables=("pr", "tmmx"))
    with pytest.raises(
        InconsistentDataError, match=r"different months.*pass months= \(CLI: --months\)"
    ):
        consolidate(copy_twin, two, stores_dir=stores, id_column="POINT_ID")
    store = consolidate(copy_twin, two, stores_dir=stores, id_column="POINT_ID", months=MONTHS[:-1])
    assert_store(store, n_points=48)
    assert store.months == MONTHS[:-1] and store.meta["id_column"] == "POINT_ID"
    found = find_store(copy_twin, two, stores, id_column="POINT_ID", months=MONTHS[:-1])
    assert found.path == store.path
    with pytest.raises(StaleStoreError):  # the selection is part of the store's address
        find_store(copy_twin, two, stores, id_column="POINT_ID")
