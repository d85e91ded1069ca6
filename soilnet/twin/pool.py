"""Render the twin's cells on worker processes, for wall-to-wall maps on many cores.

:meth:`SyntheticWorld.render` runs its pixel work on at most two threads, and numpy holds the
GIL between its many small operations, so the second thread adds little. A :class:`RenderPool`
splits every batch into contiguous parts rendered by worker processes, each with its own world
built from the same config, on one thread. The workers render the patches straight into a
shared-memory segment that the returned image views (pickling patches through pipes was
slower than rendering on threads, and copying them out into fresh memory was slow on virtual
machines); the climate and latent values come back by pickle. ``benchmarks/twin_render.py``
(third table) measures it against one thread and the renderer's threads.

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

# The worker's world and its views of the parent's segments (set by _start_worker).
_WORKER: dict = {}


def _start_worker(config) -> None:
    import soilnet.twin.world as world_module

    world_module.RENDER_THREADS = 1  # the processes are the parallelism
    _WORKER.clear()
    _WORKER["world"] = SyntheticWorld(config)
    _WORKER["segments"] = {}


def _attach(name: str, live: tuple[str, ...]) -> shared_memory.SharedMemory:
    """The parent's segment ``name``, attached once and kept (a mapping's pages are faulted
    in once); segments the parent no longer has (not in ``live``) are closed."""
    segments = _WORKER["segments"]
    for old in [k for k in segments if k not in live]:
        segments.pop(old).close()
    if name not in segments:
        segments[name] = shared_memory.SharedMemory(name=name)  # the parent owns and unlinks it
    return segments[name]


def _render_part(name: str, live: tuple, shape: tuple, lo: int, x, y, with_climate: bool):
    part = np.ndarray(shape, np.float32, buffer=_attach(name, live).buf)[lo : lo + len(x)]
    # Rendered straight into the shared segment: no copy here or in the parent.
    rendered = _WORKER["world"].render(x, y, with_climate=with_climate, out=part)
    del part, rendered.image  # release the segment's export: a later call may close it
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
        # Shared segments, and a weak reference to the image each one last became.
        self._segments: list[shared_memory.SharedMemory] = []
        self._images: dict[str, weakref.ref] = {}
        self._finalizer = weakref.finalize(
            self, RenderPool._release, self._pool, self._segments, self._images
        )

    @property
    def config(self):
        return self.world.config

    @property
    def mu(self) -> float:
        """The world's fitted log-SOC location (:class:`SyntheticWorld`)."""
        return self.world.mu

    @property
    def sigma(self) -> float:
        """The world's fitted log-SOC scale (:class:`SyntheticWorld`)."""
        return self.world.sigma

    def grid(self, resolution_m: float) -> tuple[np.ndarray, np.ndarray]:
        """The world's map grid (:meth:`SyntheticWorld.grid`)."""
        return self.world.grid(resolution_m)

    def _segment(self, nbytes: int) -> shared_memory.SharedMemory:
        """A segment of at least ``nbytes`` whose last image is gone: reused when there is one
        (its pages are already mapped), too small ones replaced, else a new one."""
        for shm in list(self._segments):
            ref = self._images.get(shm.name)
            if ref is not None and ref() is not None:
                continue  # its image is still in use
            if shm.size >= nbytes:
                return shm
            self._segments.remove(shm)
            self._images.pop(shm.name, None)
            RenderPool._drop(shm)
        shm = shared_memory.SharedMemory(create=True, size=max(nbytes, 1))
        self._segments.append(shm)
        return shm

    def render(self, x, y, *, with_climate: bool = True) -> Rendered:
        """Render like :meth:`SyntheticWorld.render`, the cells split over the workers.

        The workers render the patches straight into a shared-memory segment, and the
        returned ``image`` is a view of it: no copy. A segment is rendered into again only
        once its image (and every view of it) is gone, so an image stays valid as long as it
        is held; a caller that holds at most the last batch while asking for the next, as
        the map does, alternates between two segments whose pages are already mapped.

        Returns:
            a :class:`~soilnet.twin.world.Rendered` equal to ``world.render(x, y)``.
        """
        x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
        n = len(x)
        if n < MIN_CELLS_PER_WORKER * self.processes:
            return self.world.render(x, y, with_climate=with_climate)
        size = self.world.config.patch_size_px
        shape = (n, len(BAND_NAMES), size, size)
        shm = self._segment(int(np.prod(shape)) * 4)
        live = tuple(seg.name for seg in self._segments)
        # Two parts per worker even out cells that take longer (cloudy or mixed patches).
        parts = np.array_split(np.arange(n), 2 * self.processes)
        futures = [
            self._pool.submit(
                _render_part, shm.name, live, shape, int(p[0]), x[p], y[p], with_climate
            )
            for p in parts
        ]
        results = [f.result() for f in futures]
        image = np.ndarray(shape, np.float32, buffer=shm.buf)
        self._images[shm.name] = weakref.ref(image)
        climate = np.concatenate([c for c, _ in results])
        latent = pd.concat([lat for _, lat in results], ignore_index=True)
        return Rendered(image=image, climate=climate, latent=latent)

    def close(self) -> None:
        """Stop the workers and remove the segments (an image still held keeps its memory
        until it is dropped)."""
        self._finalizer()

    @staticmethod
    def _drop(shm: shared_memory.SharedMemory, image: np.ndarray | None = None) -> None:
        shm.unlink()
        if image is None:
            shm.close()
        else:  # still viewed: close with the image
            weakref.finalize(image, shm.close)

    @staticmethod
    def _release(pool: ProcessPoolExecutor, segments: list, images: dict) -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        while segments:
            shm = segments.pop()
            ref = images.pop(shm.name, None)
            RenderPool._drop(shm, None if ref is None else ref())

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
