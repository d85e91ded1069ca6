"""Chapter 7's map over 2 processes (``torchrun -m soilnet map``, gloo on loopback): the ranks
split the tiles, rank 0 writes the COG, and it equals the single-process map value for value."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from conftest import FINISHED_STUDY

from soilnet.experiment import make_map
from soilnet.workspace import REPO_ROOT

#: Seconds the 2-process map may take (about 20 s on 2 busy cores) before it is killed.
TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node nproc -m soilnet ARGS`` on 127.0.0.1, killed (with every
    worker) after :data:`TIMEOUT_S`."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
        "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
        "--master-port", str(free_port()), "-m", "soilnet", *args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun {' '.join(args)} did not finish in {TIMEOUT_S} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


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


def test_two_ranks_write_the_single_process_map(no_map, one_thread):
    study = no_map
    sets = [a for o in FINISHED_STUDY for a in ("--set", o)]
    proc = torchrun(
        ["map", "--profile", "smoke", "--work-dir", str(study.work_dir), "--device", "cpu", *sets]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout)  # rank 0 alone prints the result
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
