"""Spreading the experiment's runs over several jobs: ``--shard i/n``.

A shard is the ``i``-th of ``n`` equal shares of an ordered list of runs, taken round-robin
(``runs[i::n]``), so every job computes the same list and the shares are disjoint and cover it
whatever the job order. ``n`` jobs may be the ranks of one ``torchrun`` (``RANK`` /
``WORLD_SIZE``), the tasks of a SLURM job array (``SLURM_ARRAY_TASK_ID`` counted from
``SLURM_ARRAY_TASK_MIN``, ``SLURM_ARRAY_TASK_COUNT``), or any ``--shard i/n`` given by hand.

Example:
    >>> Shard.parse("1/3").take(list("abcdefg"))
    ['b', 'e']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from soilnet.errors import ConfigurationError

__all__ = ["Shard"]


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (0-based) of ``count`` shares of a run list."""

    index: int = 0
    count: int = 1

    def __post_init__(self):
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigurationError(
                f"A shard is i/n with 0 <= i < n (e.g. --shard 0/4); got {self.index}/{self.count}."
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"i/n"`` (0-based ``i``), as given to ``--shard``."""
        index, sep, count = str(text).partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(int(index), int(count))
        except ValueError:
            raise ConfigurationError(
                f"--shard takes i/n with 0 <= i < n (e.g. --shard 0/4); got {text!r}."
            ) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Shard:
        """The shard of this process: torchrun's rank, else the SLURM array task, else 0/1."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" in env and "RANK" in env:
            return cls(int(env["RANK"]), int(env["WORLD_SIZE"]))
        if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
            first = int(env.get("SLURM_ARRAY_TASK_MIN", 0))
            return cls(int(env["SLURM_ARRAY_TASK_ID"]) - first, int(env["SLURM_ARRAY_TASK_COUNT"]))
        return cls()

    def take(self, items: Sequence) -> list:
        """This shard's items: ``items[index::count]``."""
        return list(items)[self.index :: self.count]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
