"""torch.distributed from the environment torchrun sets, for training and other rank-split work.

``torchrun --nproc-per-node N -m soilnet train ...`` starts N processes with ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment;
:func:`init_from_env` joins the process group at that address (``env://``, nothing else) and
returns a :class:`DistContext`. Without ``WORLD_SIZE`` > 1 it starts nothing and returns a
single-process context, so callers need no second code path.

The backend follows the device: ``nccl`` on CUDA (the device is ``cuda:LOCAL_RANK``), ``gloo``
on the CPU. The helpers (:func:`is_distributed`, :func:`is_main`, :func:`barrier`,
:func:`broadcast_object`, :func:`shutdown`) are no-ops or identities in a single process.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from soilnet.errors import ConfigurationError

__all__ = [
    "DistContext",
    "barrier",
    "broadcast_object",
    "current",
    "init_from_env",
    "is_distributed",
    "is_main",
    "rank_seed",
    "shutdown",
]

#: The variables torchrun sets for every process of a job.
ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a job.

    Attributes:
        rank: global rank, 0 .. world_size - 1 (0 in a single process).
        world_size: number of processes (1 in a single process).
        local_rank: rank on this machine (selects the GPU).
        backend: ``"nccl"``, ``"gloo"``, or None in a single process.
        device: this process's device (``cuda:LOCAL_RANK`` or ``cpu``).
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str | None
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes shared outputs."""
        return self.rank == 0


_CONTEXT: DistContext | None = None


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"Environment variable {name}={value!r} is not an integer; start distributed jobs "
            "with torchrun (python -m torch.distributed.run), which sets "
            f"{', '.join(ENV_VARS)}."
        ) from None


def init_from_env(device: str = "auto", *, timeout_s: float = 1800.0) -> DistContext:
    """Join the process group torchrun describes in the environment (once per process).

    Args:
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``, as ``train.device``.
        timeout_s: how long a collective (e.g. a barrier while rank 0 writes) may wait.

    Returns:
        the :class:`DistContext`; the same object on later calls. A single-process context
        (rank 0 of 1, backend None) when ``WORLD_SIZE`` is unset or 1.

    Raises:
        ConfigurationError: ``WORLD_SIZE`` > 1 without the other torchrun variables, or a CUDA
            job with more local ranks than GPUs.
    """
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    from soilnet.inference import resolve_device

    world_size = _env_int("WORLD_SIZE") if "WORLD_SIZE" in os.environ else 1
    if world_size <= 1:
        return DistContext(0, 1, 0, None, resolve_device(device))
    missing = [v for v in ENV_VARS if v not in os.environ]
    if missing:
        raise ConfigurationError(
            f"WORLD_SIZE={world_size} but {', '.join(missing)} not set; start distributed jobs "
            "with torchrun --nproc-per-node N -m soilnet ..., which sets them."
        )
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    kind = resolve_device(device).type
    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigurationError(
                f"LOCAL_RANK={local_rank} but this machine has {torch.cuda.device_count()} "
                "CUDA devices; start at most one process per GPU (--nproc-per-node)."
            )
        where = torch.device("cuda", local_rank)
        torch.cuda.set_device(where)
        backend = "nccl"
    else:
        where, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(
        backend,
        init_method="env://",  # MASTER_ADDR:MASTER_PORT as torchrun gives them, nothing else
        rank=rank,
        world_size=world_size,
        timeout=dt.timedelta(seconds=timeout_s),
        device_id=where if backend == "nccl" else None,
    )
    _CONTEXT = DistContext(rank, world_size, local_rank, backend, where)
    return _CONTEXT


def current() -> DistContext | None:
    """The context of :func:`init_from_env` when this process joined a group, else None."""
    return _CONTEXT if is_distributed() else None


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """Rank 0, or a single process."""
    return not is_distributed() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if not is_distributed():
        return
    if _CONTEXT is not None and _CONTEXT.backend == "nccl":
        dist.barrier(device_ids=[_CONTEXT.local_rank])
    else:
        dist.barrier()


def broadcast_object(obj=None, src: int = 0):
    """``obj`` of rank ``src`` on every rank (picklable; the object itself in one process)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shutdown() -> None:
    """Leave the process group (no-op when none was joined)."""
    global _CONTEXT
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _CONTEXT = None


def rank_seed(seed: int, rank: int, *keys: int) -> int:
    """A seed for one rank's own random stream, from the run's ``seed`` and integer ``keys``
    (e.g. a stream number and the epoch): distinct for distinct inputs, the same on a rerun.

    Returns:
        int in [0, 2**63).
    """
    words = np.random.SeedSequence([seed % 2**64, rank, *keys]).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])
