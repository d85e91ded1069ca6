"""Render the twin's cells on worker processes, for wall-to-wall maps on many cores.

:meth:`SyntheticWorld.render` runs its pixel work on at most two threads, and numpy holds the
GIL between its many small operations, so the second thread adds little. A :class:`RenderPool`
splits every batch into contiguous parts rendered by worker processes, each with its own world
built from the same config, on one thread. The patches come back through one shared-memory
buffer (pickling them through pipes was slower than rendering on threads), the climate and
latent values by pickle. On 2 cores at 64 px and 1,024 cells a call it rendered 1,599 cells/s
against 1,175 on two threads (2026-12-01, ``benchmarks/twin_render.py``, third table); it is
meant for hosts with many cores.

A location renders the same alone or in a batch, so the joined batch equals
``world.render(x, y)`` bit for bit, whatever the number of workers (tested).
"""

from __future__ import annotations

import multiprocessing
import os
import weakref
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import numpy as np
import pandas as pd

from soilnet.bands import BAND_NAMES
from soilnet.errors import ConfigurationError
from soilnet.twin.world import Rendered, SyntheticWorld

#: Batches smaller than this many cells per worker are rendered in the calling process.
MIN_CELLS_PER_WORKER = 4

# The worker's world and its view of the parent's buffer (set by _start_worker).
_WORKER: dict = {}


def _start_worker(config) -> None:
    import soilnet.twin.world as world_module

    world_module.RENDER_THREADS = 1  # the processes are the parallelism
    _WORKER.clear()
    _WORKER["world"] = SyntheticWorld(config)


def _attach(name: str) -> shared_memory.SharedMemory:
    """The parent's buffer ``name``, attached once per worker (a new name replaces the old)."""
    shm = _WORKER.get("shm")
    if shm is None or shm.name != name:
        if shm is not None:
            shm.close()
        shm = shared_memory.SharedMemory(name=name)  # the parent owns and unlinks it
        _WORKER["shm"] = shm
    return shm


def _render_part(name: str, shape: tuple, lo: int, x, y, with_climate: bool):
    rendered = _WORKER["world"].render(x, y, with_climate=with_climate)
    image = np.ndarray(shape, np.float32, buffer=_attach(name).buf)
    image[lo : lo + len(x)] = rendered.image
    del image  # release the buffer's export before the next attach may close it
    return rendered.climate, rendered.latent


def default_processes() -> int:
    """Worker processes for ``processes=0``: the CPU cores, shared among torchrun's local ranks."""
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, local_ranks))


class RenderPool:
    """A :class:`SyntheticWorld` whose :meth:`render` runs on worker processes.

    It stands in for the world wherever one is rendered (:class:`soilnet.dataset.WorldGrid`,
    :func:`soilnet.mapping.predict_world_grid`): same ``config``, ``grid`` and ``render``.
    Use it as a context manager, or call :meth:`close`.

    Args:
        world: the world to render; each worker builds its own from ``world.config`` (a world
            is a function of its config).
        processes: worker processes; 0 for :func:`default_processes`. Workers are started with
            ``spawn``, which is safe after torch has started its own threads.

    Raises:
        ConfigurationError: ``processes`` is negative.
    """

    def __init__(self, world: SyntheticWorld, processes: int = 0):
        if processes < 0:
            raise ConfigurationError(
                f"render processes must be >= 0 (0: one per CPU core); got {processes}."
            )
        self.world = world
        self.processes = processes or default_processes()
        self._pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(world.config,),
        )
        # The current buffer, in a list the finalizer shares (it frees whatever is there).
        self._buffers: list[shared_memory.SharedMemory] = []
        self._finalizer = weakref.finalize(self, RenderPool._release, self._pool, self._buffers)

    @property
    def config(self):
        return self.world.config

    def grid(self, resolution_m: float) -> tuple[np.ndarray, np.ndarray]:
        """The world's map grid (:meth:`SyntheticWorld.grid`)."""
        return self.world.grid(resolution_m)

    def _buffer(self, nbytes: int) -> shared_memory.SharedMemory:
        """A shared buffer of at least ``nbytes``: the current one, or a larger replacement."""
        if not self._buffers or self._buffers[0].size < nbytes:
            RenderPool._free(self._buffers)
            self._buffers.append(shared_memory.SharedMemory(create=True, size=max(nbytes, 1)))
        return self._buffers[0]

    def render(self, x, y, *, with_climate: bool = True) -> Rendered:
        """Render like :meth:`SyntheticWorld.render`, the cells split over the workers.

        Returns:
            a :class:`~soilnet.twin.world.Rendered` equal to ``world.render(x, y)``.
        """
        x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
        n = len(x)
        if n < MIN_CELLS_PER_WORKER * self.processes:
            return self.world.render(x, y, with_climate=with_climate)
        size = self.world.config.patch_size_px
        shape = (n, len(BAND_NAMES), size, size)
        shm = self._buffer(int(np.prod(shape)) * 4)
        # Two parts per worker even out cells that take longer (cloudy or mixed patches).
        parts = np.array_split(np.arange(n), 2 * self.processes)
        futures = [
            self._pool.submit(_render_part, shm.name, shape, int(p[0]), x[p], y[p], with_climate)
            for p in parts
        ]
        results = [f.result() for f in futures]
        image = np.array(np.ndarray(shape, np.float32, buffer=shm.buf))  # a copy the caller owns
        climate = np.concatenate([c for c, _ in results])
        latent = pd.concat([lat for _, lat in results], ignore_index=True)
        return Rendered(image=image, climate=climate, latent=latent)

    def close(self) -> None:
        """Stop the workers and free the buffer."""
        self._finalizer()

    @staticmethod
    def _free(buffers: list) -> None:
        while buffers:
            shm = buffers.pop()
            shm.close()
            shm.unlink()

    @staticmethod
    def _release(pool: ProcessPoolExecutor, buffers: list) -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        RenderPool._free(buffers)

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
