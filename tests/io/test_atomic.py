"""Tests for soilnet.io.atomic: a file or folder appears complete or not at all."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from soilnet.io.atomic import atomic_dir, atomic_path


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _dead_pid() -> int:
    """The ID of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


# ---------------------------------------------------------------- files


def test_atomic_path_renames_when_complete(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".tmp-table.csv.")
        assert tmp.suffix == ".csv"
        tmp.write_text("a,b\n")
        assert not target.exists()  # nothing at the target while writing
    assert target.read_text() == "a,b\n"
    assert _names(target.parent) == ["table.csv"]


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["table.csv"]
    with atomic_path(target, suffix=".part") as tmp:
        assert tmp.suffix == ".part"
        tmp.write_text("new")
    assert target.read_text() == "new"


# ---------------------------------------------------------------- folders


def test_atomic_dir_appears_whole(tmp_path):
    target = tmp_path / "stores" / "abc"
    with atomic_dir(target) as tmp:
        assert tmp.name == f".tmp-abc.{os.getpid()}" and tmp.parent == target.parent
        (tmp / "a.npy").write_bytes(b"1")
        (tmp / "meta.json").write_text("{}")
        assert not target.exists()
    assert _names(target) == ["a.npy", "meta.json"]
    assert _names(target.parent) == ["abc"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "abc"
    with pytest.raises(ValueError, match="bad patch"), atomic_dir(target) as tmp:
        (tmp / "a.npy").write_bytes(b"1")
        raise ValueError("bad patch")
    assert _names(tmp_path) == []


def test_atomic_dir_removes_leftovers_of_dead_writers_only(tmp_path):
    target = tmp_path / "abc"
    dead = tmp_path / f".tmp-abc.{_dead_pid()}"
    alive = tmp_path / f".tmp-abc.{os.getppid()}"  # a running process (the test's parent)
    other = tmp_path / ".tmp-xyz.1"  # another folder's writer
    odd = tmp_path / ".tmp-abc.notapid"
    for folder in (dead, alive, other, odd):
        folder.mkdir()
        (folder / "part").write_bytes(b"half")
    with atomic_dir(target) as tmp:
        (tmp / "meta.json").write_text("{}")
    assert not dead.exists()
    assert alive.is_dir() and other.is_dir() and odd.is_dir()
    assert _names(target) == ["meta.json"]


def test_atomic_dir_keeps_the_copy_finished_first(tmp_path):
    """Two writers of the same folder: the first complete one stays, the other is discarded."""
    target = tmp_path / "abc"
    with atomic_dir(target) as tmp:
        (tmp / "mine").write_text("late")
        target.mkdir()  # another process renamed its complete copy into place meanwhile
        (target / "theirs").write_text("first")
    assert _names(target) == ["theirs"]
    assert _names(tmp_path) == ["abc"]
