"""Tests for soilnet.splits: the paper's random 70/10/20 split and spatial block folds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soilnet.errors import ConfigurationError, SplitMismatchError
from soilnet.geo import lonlat_to_laea
from soilnet.splits import (
    SPLIT_NAMES,
    load_split,
    n_folds,
    random_split,
    spatial_block_folds,
    write_splits,
)
from soilnet.synthetic import sample_land_points
from soilnet.transforms import Normalization


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
    paths = write_splits(tmp_path, ids, xy, block_km=100, k=5, seed=0)
    assert n_folds(paths["spatial"]) == 5 and n_folds(paths["random"]) == 1
    table = pd.read_csv(paths["spatial"])
    block = table.set_index("Point_ID").loc[ids, "block"].to_numpy()
    tested = []
    for f in range(5):
        split = load_split(paths["spatial"], ids, fold=f)
        assert split.name.endswith(f"/fold{f}")
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
        load_split(paths["spatial"], ids)


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


# ---------------------------------------------------------------- files and stores


def test_split_files_beside_the_data(twin_dir, twin_store, twin_split):
    files = sorted(p.name for p in (twin_dir / "splits").iterdir())
    assert files == [
        "random_seed0.csv",
        "random_seed0.json",
        "spatial_300km_k3_seed0.csv",
        "spatial_300km_k3_seed0.json",
    ]
    info = json.loads((twin_dir / "splits" / "random_seed0.json").read_text())
    assert info["protocol"] == "random" and info["seed"] == 0 and info["n_points"] == 48
    assert (len(twin_split.train), len(twin_split.val), len(twin_split.test)) == (33, 4, 11)
    labels = twin_split.labels(len(twin_store))
    assert set(labels) == set(SPLIT_NAMES)
    table = pd.read_csv(twin_dir / "splits" / "random_seed0.csv").set_index("Point_ID")
    np.testing.assert_array_equal(labels, table.loc[twin_store.point_ids, "split"])
    with pytest.raises(ConfigurationError, match="Unknown split part 'dev'"):
        twin_split.indices("dev")


def test_split_that_does_not_match_the_store_names_ids(twin_dir, twin_store):
    path = twin_dir / "splits" / "random_seed0.csv"
    ids = twin_store.point_ids
    extra = np.append(ids, 99999999)
    with pytest.raises(
        SplitMismatchError,
        match=r"random_seed0\.csv does not match.*1 store point\(s\) absent from the split \(99999999\)",
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
    # Stored beside the split and read back unchanged.
    path = reference.save(tmp_path / "splits" / "random_seed0.normalization.json")
    assert Normalization.load(path) == reference
