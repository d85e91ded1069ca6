"""torchrun jobs of 2 CPU processes on 127.0.0.1, started by tests and bounded in time.

Import as ``from torchrun import launch, finish, kill`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(
    args: list[str],
    log: Path,
    *,
    stdout: Path | None = None,
    nproc: int = 2,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """``torchrun --nproc-per-node nproc ARGS`` on loopback; stderr (and stdout unless
    ``stdout`` names a file of its own) goes to ``log``; ``env`` adds variables."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # stay on loopback whatever the hostname
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *args,
    ]  # fmt: skip
    if stdout is None:
        return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return subprocess.Popen(command, env=env, stdout=stdout.open("w"), stderr=log.open("w"))


def kill(job: subprocess.Popen) -> None:
    """SIGKILL torchrun and its workers (torchrun starts each worker in a session of its own,
    so the job's process group does not reach them), by their process IDs."""
    try:
        procs = [psutil.Process(job.pid)]
        procs += procs[0].children(recursive=True)  # before the parent dies and they move
    except psutil.NoSuchProcess:
        procs = []
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)
    job.wait(timeout=30)


def finish(job: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Wait for the job; kill it (and fail) after ``timeout_s``; fail on a non-zero exit."""
    try:
        code = job.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill(job)
        pytest.fail(f"torchrun job ran over {timeout_s} s; log:\n{log.read_text()[-3000:]}")
    assert code == 0, f"torchrun job failed ({code}); log:\n{log.read_text()[-3000:]}"
