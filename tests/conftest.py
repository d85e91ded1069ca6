"""Shared fixtures: a tiny synthetic twin written through soilnet.synthetic (no binary fixtures)."""

from __future__ import annotations

import pytest

from soilnet.splits import load_split, write_splits
from soilnet.store import consolidate
from soilnet.synthetic import TwinConfig, write_twin

#: A dozen-scale twin: small enough for seconds, large enough for a 3-way split.
TINY = TwinConfig(n_points=48, patch_size_px=16, seed=3)


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory):
    """A tiny twin folder (points.csv, patches/, climate/, truth.csv). Do not modify it."""
    out = tmp_path_factory.mktemp("twin")
    write_twin(out, TINY)
    return out


@pytest.fixture(scope="session")
def twin_store(twin_dir):
    """The tiny twin consolidated at 16 px with all 14 climate variables."""
    return consolidate(twin_dir, size_px=16)


@pytest.fixture(scope="session")
def twin_split(twin_dir, twin_store):
    """The paper's random 70/10/20 split of the tiny twin, as store row indices."""
    paths = write_splits(
        twin_dir,
        twin_store.point_ids,
        twin_store.index[["x_3035", "y_3035"]].to_numpy(),
        block_km=300,
        k=3,
    )
    return load_split(paths["random"], twin_store.point_ids)


@pytest.fixture
def copy_twin(twin_dir, tmp_path):
    """A writable copy of the tiny twin folder (for tests that corrupt files)."""
    import shutil

    dst = tmp_path / "twin"
    shutil.copytree(twin_dir, dst, ignore=shutil.ignore_patterns("store", "splits"))
    return dst
