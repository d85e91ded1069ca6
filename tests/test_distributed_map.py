"""Chapter 7's map over 2 processes (``torchrun -m soilnet map``, gloo on loopback): the ranks
split the tiles, rank 0 writes the COG, and it equals the single-process map value for value."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import rasterio
from conftest import FINISHED_STUDY
from torchrun import finish, launch

from soilnet.experiment import make_map

#: Seconds the 2-process map may take (about 20 s on 2 busy cores) before it is killed.
TIMEOUT_S = 240


def read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture
def no_map(finished):
    """The finished study with its map folder set aside (restored afterwards)."""
    saved = finished.map_dir.with_name("map.saved")
    if finished.map_dir.exists():
        finished.map_dir.rename(saved)
    yield finished
    shutil.rmtree(finished.map_dir, ignore_errors=True)
    if saved.exists():
        saved.rename(finished.map_dir)


def test_two_ranks_write_the_single_process_map(no_map, one_thread, tmp_path):
    study = no_map
    sets = [a for o in FINISHED_STUDY for a in ("--set", o)]
    log, printed_json = tmp_path / "map.log", tmp_path / "map.json"
    job = launch(
        ["-m", "soilnet", "map", "--profile", "smoke", "--work-dir", str(study.work_dir),
         "--device", "cpu", *sets],
        log, stdout=printed_json, env={"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    finish(job, log, TIMEOUT_S)
    printed = json.loads(printed_json.read_text())  # rank 0 alone prints the result
    split_map, split_truth = read(printed["path"]), read(printed["truth"])
    assert printed["n_cells"] == int(np.isfinite(split_map).sum()) > 0

    # The chapter finds that map and reuses it...
    reused, _ = make_map(study)
    assert str(reused.path) == printed["path"] and reused.seconds == printed["seconds"]
    # ...and a single process, from scratch, writes the same values.
    shutil.rmtree(study.map_dir)
    single, truth = make_map(study)
    assert str(single.path) == printed["path"]
    np.testing.assert_array_equal(read(single.path), split_map)
    np.testing.assert_array_equal(read(truth), split_truth)
    assert single.stats == printed["stats"]
