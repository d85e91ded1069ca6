"""Shared fixtures: a tiny synthetic twin written through soilnet.twin (no binary fixtures).

The twin folder is only read; everything derived from it (stores, splits) lives in a session
workspace beside it, as in a real study (``<work_dir>/stores``, ``<work_dir>/splits``).
"""

from __future__ import annotations

import shutil

import pytest

from soilnet.config import SplitConfig, StoreConfig, TrainConfig
from soilnet.splits import open_split, write_splits
from soilnet.store import consolidate
from soilnet.twin import TwinConfig, write_twin

#: A dozen-scale twin: small enough for seconds, large enough for a 3-way split.
TINY = TwinConfig(n_points=48, patch_size_px=16, seed=3)
#: The store of the tiny twin: native 16 px, all 14 climate variables.
TINY_STORE = StoreConfig(patch_size_px=16)
#: The split design of the tiny twin: the paper's random 70/10/20 split, 3 spatial folds.
TINY_SPLIT = SplitConfig(block_km=300.0, k_folds=3)


def tiny_train_config(variant: str = "resnet18_glam_lstm", **overrides) -> TrainConfig:
    """A CPU training config small enough for tests (ResNet-18 without the stem max-pool on
    16 px patches, a 16-unit LSTM, 2 epochs); ``overrides`` replace any field."""
    settings = dict(
        variant=variant,
        epochs=2,
        batch_size=8,
        lr=1e-3,
        schedule="cosine",
        stem_maxpool=False,
        lstm_hidden=16,
        lstm_layers=1,
        device="cpu",
        seed=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="session")
def twin_dir(tmp_path_factory):
    """A tiny twin folder (points.csv, patches/, climate/, truth.csv). Do not modify it."""
    out = tmp_path_factory.mktemp("twin")
    write_twin(out, TINY)
    return out


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """The session workspace of the tiny twin (``stores/``, ``splits/``); outside twin_dir."""
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="session")
def twin_store(twin_dir, workspace):
    """The tiny twin consolidated at 16 px with all 14 climate variables, in ``workspace``."""
    return consolidate(twin_dir, TINY_STORE, stores_dir=workspace / "stores")


@pytest.fixture(scope="session")
def twin_split_dir(twin_store, workspace):
    """The split folder (random.csv, spatial.csv, split.json) of the tiny twin's store."""
    return write_splits(twin_store, TINY_SPLIT, workspace / "splits")


@pytest.fixture(scope="session")
def twin_split(twin_split_dir, twin_store):
    """The paper's random 70/10/20 split of the tiny twin, as store row indices."""
    return open_split(twin_split_dir, twin_store, "random")


@pytest.fixture
def copy_twin(twin_dir, tmp_path):
    """A writable copy of the tiny twin folder (for tests that change or corrupt files).

    ``shutil.copytree`` keeps modification times, so the copy has the fingerprint of twin_dir
    until a test changes it.
    """
    dst = tmp_path / "twin"
    shutil.copytree(twin_dir, dst)
    return dst


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 OpenMP threads slow a step up to 6x."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


#: Overrides for a study small enough for seconds: one seed, one epoch, 16 px, 2 spatial folds
#: of 400 km blocks. Add ``experiment.variants=[...]`` for more than ResNet-18.
TINY_STUDY = [
    "store.patch_size_px=16",
    "experiment.variants=[resnet18]",
    "experiment.seeds=[0]",
    "experiment.epochs=1",
    "experiment.epochs_lstm=1",
    "experiment.spatial_variants=[resnet18]",
    "split.block_km=400",
    "split.k_folds=2",
]


#: The finished tiny study of the table, uncertainty and map tests: ResNet-18 and the hybrid,
#: two seeds (an ensemble), both protocols, a 400 km map grid in tiles of 8 cells.
FINISHED_STUDY = [
    *TINY_STUDY,
    "experiment.variants=[resnet18, resnet18_glam_lstm]",
    "experiment.seeds=[0, 1]",
    "map.resolution_km=400",
    "map.tile_cells=8",  # 4 tiles of the 30 land cells: a 2-rank map splits them
]


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A tiny study whose chapters 1-3 ran (:data:`FINISHED_STUDY`). Tests that change its
    files must restore them."""
    from soilnet.experiment import prepare_data, run_baselines, train_networks
    from soilnet.workspace import Study

    root = tmp_path_factory.mktemp("finished")
    write_twin(root / "twin", TwinConfig(n_points=48, patch_size_px=16, seed=21))
    study = Study.create("smoke", str(root / "twin"), str(root / "work"), FINISHED_STUDY, "cpu")
    prepare_data(study)
    for protocol in ("random", "spatial"):
        train_networks(study, protocol)
        run_baselines(study, protocol)
    return study
