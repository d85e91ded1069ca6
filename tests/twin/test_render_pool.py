"""soilnet.twin.pool: the twin rendered on worker processes is the twin rendered in one."""

from __future__ import annotations

from dataclasses import replace
from multiprocessing import shared_memory

import numpy as np
import pytest

from soilnet.config import MapConfig
from soilnet.errors import ConfigurationError
from soilnet.grid import grid_cells
from soilnet.twin import SyntheticWorld, TwinConfig
from soilnet.twin.pool import MIN_CELLS_PER_WORKER, RenderPool

from .test_render_batch import assert_same_render


@pytest.mark.parametrize("noise", ["per-cell", "counter"])
def test_two_workers_render_what_one_process_renders(noise):
    world = SyntheticWorld(TwinConfig(patch_size_px=16, seed=7, noise=noise))
    x, y = grid_cells(100_000.0)
    x, y = x[::5], y[::5]  # ~90 cells over Europe
    with RenderPool(world, 2) as pool:
        assert pool.processes == 2 and pool.config == world.config
        assert_same_render(pool.render(x, y), world.render(x, y))
        without_climate = pool.render(x[:30], y[:30], with_climate=False)
        assert_same_render(without_climate, world.render(x[:30], y[:30], with_climate=False))
        few = MIN_CELLS_PER_WORKER * 2 - 1  # below the threshold: rendered in this process
        assert_same_render(pool.render(x[:few], y[:few]), world.render(x[:few], y[:few]))
        names = [shm.name for shm in pool._segments]
    for name in names:
        with pytest.raises(FileNotFoundError):  # closed: the shared segments are gone
            shared_memory.SharedMemory(name=name)


def test_an_image_held_is_never_rendered_over():
    """The image views shared memory: a later call must not write into an image still held,
    and a dropped image's segment is reused rather than a new one made."""
    world = SyntheticWorld(TwinConfig(patch_size_px=16, seed=2, noise="counter"))
    x, y = grid_cells(100_000.0)
    a_xy, b_xy = (x[:40], y[:40]), (x[40:80], y[40:80])
    with RenderPool(world, 2) as pool:
        held = pool.render(*a_xy).image
        expected = world.render(*a_xy).image.copy()
        second = pool.render(*b_xy)  # held is alive: another segment
        np.testing.assert_array_equal(held.view(np.uint32), expected.view(np.uint32))
        assert_same_render(second, world.render(*b_xy))
        assert len(pool._segments) == 2
        view = held[:, :7]
        del held, second
        pool.render(*b_xy)  # the second segment is free again: reused
        assert len(pool._segments) == 2
        pool.render(*b_xy)
        assert len(pool._segments) == 2
        # A view keeps its image's segment out of use; the view outlives the pool too.
        np.testing.assert_array_equal(view.view(np.uint32), expected[:, :7].view(np.uint32))
    np.testing.assert_array_equal(view.view(np.uint32), expected[:, :7].view(np.uint32))


def test_render_processes_must_not_be_negative():
    world = SyntheticWorld(replace(TwinConfig(), patch_size_px=16))
    with pytest.raises(ConfigurationError, match="render processes must be >= 0"):
        RenderPool(world, -1)
    with pytest.raises(ConfigurationError, match="map.render_processes must be >= 0"):
        MapConfig(render_processes=-2)
