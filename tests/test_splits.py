"""Tests for soilnet.splits: the paper's random 70/10/20 split and spatial block folds, written
to the workspace and addressed by the store they were made for."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SPLIT

from soilnet.config import SplitConfig
from soilnet.errors import ConfigurationError, SplitMismatchError, StaleStoreError
from soilnet.geo import lonlat_to_laea
from soilnet.grid import sample_land_points
from soilnet.splits import (
    SPLIT_NAMES,
    load_split,
    n_folds,
    open_split,
    random_split,
    spatial_block_folds,
    split_address,
    write_splits,
)
from soilnet.transforms import Normalization


@dataclass
class PointStore:
    """What write_splits and open_split read of a store: IDs, EPSG:3035 xy and a fingerprint."""

    point_ids: np.ndarray
    xy: np.ndarray
    fingerprint: str = "f" * 64
    path: Path = Path("stores/ffffffffffffffff")

    def __len__(self) -> int:
        return len(self.point_ids)


@pytest.fixture(scope="module")
def europe():
    """2,000 random land points: (Point_IDs, EPSG:3035 xy in metres)."""
    x, y = sample_land_points(2000, np.random.default_rng(0))
    return np.arange(2000, dtype=np.int64) + 10_000_000, np.column_stack([x, y])


# ---------------------------------------------------------------- random


@pytest.mark.parametrize(
    ("n", "sizes"), [(48, (33, 4, 11)), (21852, (15296, 2185, 4371)), (10, (7, 1, 2))]
)
def test_random_split_sizes(n, sizes):
    table = random_split(np.arange(n) + 1, seed=0)
    counts = table["split"].value_counts()
    assert tuple(int(counts.get(p, 0)) for p in SPLIT_NAMES) == sizes
    assert list(table["Point_ID"]) == list(np.arange(n) + 1)  # input order kept


def test_random_split_seeded_and_disjoint():
    ids = np.arange(500) * 7 + 3
    a, b, c = random_split(ids, seed=1), random_split(ids, seed=1), random_split(ids, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["split"].equals(c["split"])
    parts = [set(a.loc[a["split"] == p, "Point_ID"]) for p in SPLIT_NAMES]
    assert sum(len(p) for p in parts) == len(ids) == len(set().union(*parts))


def test_random_split_validation():
    with pytest.raises(ConfigurationError, match="Sum of split fractions must equal 1"):
        random_split(np.arange(10), fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ConfigurationError, match="not unique"):
        random_split(np.array([1, 1, 2]))


# ---------------------------------------------------------------- spatial


def test_spatial_folds_blocks_and_balance(europe):
    ids, xy = europe
    folds = spatial_block_folds(ids, xy, block_km=100, k=5, seed=0)
    assert list(folds.columns) == ["Point_ID", "block", "fold"]
    assert set(folds["fold"]) == set(range(5))
    assert (folds.groupby("block")["fold"].nunique() == 1).all()  # each block in exactly one fold
    # Blocks are 100 km squares in EPSG:3035.
    bx, by = np.floor(xy[:, 0] / 1e5).astype(int), np.floor(xy[:, 1] / 1e5).astype(int)
    assert (folds.groupby(bx * 100_000 + by)["block"].nunique() == 1).all()
    load = folds["fold"].value_counts()
    largest_block = folds["block"].value_counts().max()
    assert load.max() - load.min() <= largest_block
    assert load.max() / load.mean() < 1.1 and load.min() / load.mean() > 0.9
    again = spatial_block_folds(ids, xy, block_km=100, k=5, seed=0)
    pd.testing.assert_frame_equal(folds, again)
    assert not folds["fold"].equals(spatial_block_folds(ids, xy, block_km=100, k=5, seed=1)["fold"])


def test_spatial_fold_parts_share_no_block(tmp_path, europe):
    ids, xy = europe
    store = PointStore(ids, xy)
    split_dir = write_splits(store, SplitConfig(block_km=100, k_folds=5, seed=0), tmp_path)
    assert n_folds(split_dir / "spatial.csv") == 5 and n_folds(split_dir / "random.csv") == 1
    table = pd.read_csv(split_dir / "spatial.csv")
    block = table.set_index("Point_ID").loc[ids, "block"].to_numpy()
    tested = []
    for f in range(5):
        split = open_split(split_dir, store, "spatial", fold=f)
        assert split.name == f"spatial/fold{f}"
        blocks = {p: set(block[split.indices(p)]) for p in SPLIT_NAMES}
        assert not blocks["train"] & blocks["val"]
        assert not blocks["train"] & blocks["test"]
        assert not blocks["val"] & blocks["test"]
        assert len(split.train) + len(split.val) + len(split.test) == len(ids)
        rest = len(split.train) + len(split.val)
        assert 0.05 < len(split.val) / rest < 0.2  # about val_fraction = 12.5 %
        tested.append(split.test)
    all_test = np.concatenate(tested)
    assert len(all_test) == len(ids) == len(np.unique(all_test))  # every point tested once
    with pytest.raises(ConfigurationError, match=r"spatial 5-fold split: pass fold in 0\.\.4"):
        open_split(split_dir, store, "spatial")
    with pytest.raises(ConfigurationError, match=r"spatial 5-fold split: pass fold in 0\.\.4"):
        load_split(split_dir / "spatial.csv", ids, fold=5)


def test_spatial_validation(europe):
    ids, xy = europe
    with pytest.raises(ConfigurationError, match="k >= 2"):
        spatial_block_folds(ids, xy, k=1)
    with pytest.raises(ConfigurationError, match="block_km must be positive"):
        spatial_block_folds(ids, xy, block_km=0)
    with pytest.raises(ConfigurationError, match=r"xy_m must have shape \(2000, 2\)"):
        spatial_block_folds(ids, xy.T)
    near = np.column_stack(lonlat_to_laea([10.0, 10.1, 10.2], [50.0, 50.0, 50.0]))
    with pytest.raises(ConfigurationError, match="Only 1 blocks of 500 km"):
        spatial_block_folds(np.arange(3), near, block_km=500, k=3)
    with pytest.raises(ConfigurationError, match="k_folds must be >= 2"):
        SplitConfig(k_folds=1)
    with pytest.raises(ConfigurationError, match="block_km must be positive"):
        SplitConfig(block_km=0)


# ---------------------------------------------------------------- files and stores


def test_split_files_in_the_workspace(twin_dir, workspace, twin_store, twin_split_dir, twin_split):
    assert twin_split_dir == workspace / "splits" / split_address(
        twin_store.fingerprint, TINY_SPLIT
    )
    assert sorted(p.name for p in twin_split_dir.iterdir()) == [
        "random.csv",
        "spatial.csv",
        "split.json",
    ]
    assert not (twin_dir / "splits").exists() and not (twin_dir / "store").exists()
    info = json.loads((twin_split_dir / "split.json").read_text())
    assert info["store"] == twin_store.fingerprint and info["n_points"] == 48
    assert info["seed"] == 0 and info["block_km"] == 300 and info["k_folds"] == 3
    assert twin_split.name == "random"
    assert (len(twin_split.train), len(twin_split.val), len(twin_split.test)) == (33, 4, 11)
    labels = twin_split.labels(len(twin_store))
    assert set(labels) == set(SPLIT_NAMES)
    table = pd.read_csv(twin_split_dir / "random.csv").set_index("Point_ID")
    np.testing.assert_array_equal(labels, table.loc[twin_store.point_ids, "split"])
    with pytest.raises(ConfigurationError, match="Unknown split part 'dev'"):
        twin_split.indices("dev")


def test_write_splits_is_idempotent_and_addressed(tmp_path, europe):
    ids, xy = europe
    store = PointStore(ids, xy)
    first = write_splits(store, TINY_SPLIT, tmp_path)
    stamp = (first / "split.json").stat().st_mtime_ns
    assert write_splits(store, TINY_SPLIT, tmp_path) == first
    assert (first / "split.json").stat().st_mtime_ns == stamp  # not rewritten
    other_seed = write_splits(store, replace(TINY_SPLIT, seed=1), tmp_path)
    other_store = write_splits(PointStore(ids, xy, fingerprint="e" * 64), TINY_SPLIT, tmp_path)
    assert len({first, other_seed, other_store}) == 3
    assert not (pd.read_csv(first / "random.csv")).equals(pd.read_csv(other_seed / "random.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (first, other_seed, other_store)
    )  # no temporary folder left
    with pytest.raises(SplitMismatchError, match="holds no point"):
        write_splits(PointStore(ids[:0], xy[:0], "d" * 64), TINY_SPLIT, tmp_path)


def test_open_split_refuses_another_store_and_bad_requests(tmp_path, europe):
    ids, xy = europe
    store = PointStore(ids, xy)
    split_dir = write_splits(store, TINY_SPLIT, tmp_path)
    assert len(open_split(split_dir, store, "random").test) == 400
    same_points_other_data = PointStore(ids, xy, fingerprint="a" * 64)
    with pytest.raises(StaleStoreError, match=rf"made for store {'f' * 16}.*the data changed"):
        open_split(split_dir, same_points_other_data, "random")
    with pytest.raises(StaleStoreError):
        open_split(split_dir, same_points_other_data, "spatial", fold=0)
    with pytest.raises(ConfigurationError, match="fold=1 was given with the random split"):
        open_split(split_dir, store, "random", fold=1)
    with pytest.raises(ConfigurationError, match="Unknown protocol 'blocks'"):
        open_split(split_dir, store, "blocks")
    with pytest.raises(SplitMismatchError, match="no split.json"):
        open_split(tmp_path / "nothing", store, "random")


def test_split_that_does_not_match_the_store_names_ids(twin_split_dir, twin_store):
    path = twin_split_dir / "random.csv"
    ids = twin_store.point_ids
    extra = np.append(ids, 99999999)
    with pytest.raises(
        SplitMismatchError,
        match=r"random\.csv does not match.*1 store point\(s\) absent from the split \(99999999\)",
    ):
        load_split(path, extra)
    with pytest.raises(
        SplitMismatchError, match=rf"1 split point\(s\) absent from the store \({ids[0]}\)"
    ):
        load_split(path, ids[1:])
    # The same points in another order are fine: indices follow the store rows.
    perm = ids[::-1]
    split = load_split(path, perm)
    reference = load_split(path, ids)
    np.testing.assert_array_equal(np.sort(perm[split.test]), np.sort(ids[reference.test]))


def test_bad_split_files(tmp_path):
    with pytest.raises(SplitMismatchError, match=r"nothing\.csv does not exist"):
        load_split(tmp_path / "nothing.csv", np.arange(3))
    pd.DataFrame({"Point_ID": [1, 2, 3], "part": ["train"] * 3}).to_csv(
        tmp_path / "odd.csv", index=False
    )
    with pytest.raises(SplitMismatchError, match="neither a 'split' nor a 'fold' column"):
        load_split(tmp_path / "odd.csv", np.array([1, 2, 3]))
    pd.DataFrame({"Point_ID": [1, 2, 3], "split": ["train", "train", "test"]}).to_csv(
        tmp_path / "nov.csv", index=False
    )
    with pytest.raises(SplitMismatchError, match=r"the val part\(s\) are empty"):
        load_split(tmp_path / "nov.csv", np.array([1, 2, 3]))


# ---------------------------------------------------------------- normalisation fitted on train only


def test_normalization_never_sees_test_points(twin_store, twin_split, tmp_path):
    images = np.array(twin_store.images)
    climate = np.array(twin_store.climate)
    reference = Normalization.fit(images, climate, twin_split.train)
    assert reference.n_train == len(twin_split.train) == 33
    held_out = np.concatenate([twin_split.val, twin_split.test])
    images[held_out] = np.nan  # any read of a validation or test row would poison the stats
    climate[held_out] = 1e9
    poisoned = Normalization.fit(images, climate, twin_split.train, chunk=5)
    np.testing.assert_allclose(poisoned.image_mean, reference.image_mean, rtol=1e-9)
    np.testing.assert_allclose(poisoned.image_std, reference.image_std, rtol=1e-6)
    assert (
        poisoned.climate_mean == reference.climate_mean
        and poisoned.climate_std == reference.climate_std
    )
    # ... whereas changing a training row does change them.
    images[twin_split.train[0]] += 1.0
    assert Normalization.fit(images, climate, twin_split.train).image_mean != reference.image_mean
    # Saved (in a run folder) and read back unchanged.
    path = reference.save(tmp_path / "run" / "normalization.json")
    assert Normalization.load(path) == reference


# ---------------------------------------------------------------- too few points


def test_too_few_points_name_the_setting_that_helps(tmp_path):
    lon, lat = [6.0, 6.1, 20.0, 20.1], [50.0, 50.0, 45.0, 45.0]
    xy = np.column_stack(lonlat_to_laea(lon, lat))  # two pairs of points 1,300 km apart
    ids = np.arange(4) + 100
    # Fewer points than folds: smaller blocks cannot help.
    with pytest.raises(ConfigurationError) as info:
        spatial_block_folds(ids, xy, block_km=10, k=5)
    assert "Only 4 point(s), fewer than k=5" in str(info.value)
    assert "fewer folds (split.k_folds; CLI: --k)" in str(info.value)
    assert "smaller blocks" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        spatial_block_folds(ids, xy, block_km=5000, k=3)
    assert "Only 2 blocks of 5000 km hold points, fewer than k=3 folds" in str(info.value)
    assert "use smaller blocks (split.block_km; CLI: --block-km) or fewer folds" in str(info.value)

    store = PointStore(ids, xy, path=tmp_path / "stores" / "ffffffffffffffff")
    # The random split of 4 points leaves no point for validation: refused when written.
    with pytest.raises(ConfigurationError) as info:
        write_splits(store, SplitConfig(block_km=10, k_folds=2), tmp_path / "splits")
    message = str(info.value)
    assert f"The store at {store.path} holds 4 point(s)" in message
    assert "leaves the val part(s) empty" in message and "CLI: --set split.fractions" in message
    assert str(store.path / "report.csv") in message  # where the excluded points are listed
    # Two blocks, two folds: training would have nothing once a block is kept for validation.
    design = SplitConfig(block_km=1000, k_folds=2, fractions=(0.5, 0.25, 0.25))
    with pytest.raises(ConfigurationError) as info:
        write_splits(store, design, tmp_path / "splits")
    message = str(info.value)
    assert "holds 4 point(s) in 2 blocks of 1000 km: spatial fold" in message
    assert "leaves the train part(s) empty" in message and "CLI: --block-km" in message
    assert "fewer folds" not in message  # two folds is the least
    assert not (tmp_path / "splits").exists() or not any((tmp_path / "splits").iterdir())
    written = write_splits(store, replace(design, block_km=10), tmp_path / "splits")
    assert (written / "split.json").is_file()

    empty = PointStore(ids[:0], xy[:0], path=tmp_path / "stores" / "eeee")
    with pytest.raises(
        SplitMismatchError, match=r"holds no point; nothing can be split.*report\.csv"
    ):
        write_splits(empty, SplitConfig(), tmp_path / "splits")
