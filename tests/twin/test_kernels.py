"""soilnet.twin.kernels: the compiled float32 pixels are numpy's pixels, bit for bit, and the
compiled smoothing is scipy's Gaussian filter.

The ``"counter"`` scheme renders its pixels with :func:`soilnet.twin.kernels.float32_pixels`;
``world.FUSED_PIXELS = False`` renders them with the numpy path it replaced. Both must give
the same patches (NaN clouds included), slope and latent values, so that a paper twin written
before the kernel existed renders the same today.
"""

from __future__ import annotations

import numpy as np
import pytest

import soilnet.twin.world as world_module
from soilnet import terrain
from soilnet.grid import grid_cells
from soilnet.twin import SyntheticWorld, TwinConfig
from soilnet.twin.fields import gaussian_kernel
from soilnet.twin.kernels import _slope_percent, smooth_unit_float32
from soilnet.twin.surface import smooth_unit

from .test_render_batch import assert_same_render


def _cells(n: int, seed: int):
    x, y = grid_cells(10_000)
    idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
    return x[idx], y[idx]


@pytest.mark.parametrize(
    ("size_px", "cloud_fraction"),
    [(64, 0.3), (32, 0.6)],  # the paper's patch size; more clouds than the twins have
)
def test_compiled_pixels_equal_the_numpy_path(monkeypatch, size_px, cloud_fraction):
    world = SyntheticWorld(
        TwinConfig(patch_size_px=size_px, seed=3, noise="counter", cloud_fraction=cloud_fraction)
    )
    x, y = _cells(40, seed=size_px)
    monkeypatch.setattr(world_module, "FUSED_PIXELS", True)
    fused = world.render(x, y)
    monkeypatch.setattr(world_module, "FUSED_PIXELS", False)
    numpy_path = world.render(x, y)
    assert_same_render(fused, numpy_path)
    # The cases the kernel branches on occur: clouds, stray gaps, soil and vegetated pixels.
    assert np.isnan(fused.image[:, 0]).any() and np.isnan(fused.image[:, 11]).any()
    assert fused.latent["soil_visible"].any() and not fused.latent["soil_visible"].all()


def test_compiled_slope_equals_terrain_slope():
    rng = np.random.default_rng(0)
    s = 24
    col_sums, row_sums = np.empty((s, s + 2)), np.empty((s + 2, s))
    dems = [
        np.full((s, s), 312.5),  # flat: zero slope
        rng.normal(800, 40, (s, s)),  # rough
        np.cumsum(rng.normal(0, 5, (s, s)), axis=1) + 1e4 * rng.random(),  # ramps
    ]
    for dem in dems:
        out = np.empty((s, s), np.float32)
        _slope_percent(dem, col_sums, row_sums, out)
        expected = terrain.slope_percent(dem, 30.0, 30.0)
        np.testing.assert_array_equal(out.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("size_px", [8, 16, 64])
@pytest.mark.parametrize("sigma_px", [0.5, 1.5])
def test_compiled_smoothing_is_scipys_filter_at_unit_sd(size_px, sigma_px):
    """The counter scheme's sensor noise: scipy's Gaussian filter with reflecting edges (the
    per-cell scheme's smooth_unit), rescaled to SD 1, within float32 rounding; the same cell
    alone or among others."""
    white = np.random.default_rng(size_px).standard_normal((6, size_px, size_px))
    white = white.astype(np.float32)
    expected = smooth_unit(white[:, None].astype(np.float64), sigma_px)[:, 0]
    out = np.empty_like(white)
    smooth_unit_float32(white, gaussian_kernel(sigma_px), out)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(out.std(axis=(1, 2), dtype=np.float64), 1.0, atol=1e-6)
    alone = np.empty_like(white[:1])
    smooth_unit_float32(white[3:4], gaussian_kernel(sigma_px), alone)
    np.testing.assert_array_equal(alone[0], out[3])


def test_render_into_a_given_array():
    world = SyntheticWorld(TwinConfig(patch_size_px=16, seed=1, noise="counter"))
    x, y = _cells(6, seed=1)
    out = np.full((6, 14, 16, 16), -1.0, np.float32)
    rendered = world.render(x, y, out=out)
    assert rendered.image is out
    assert_same_render(rendered, world.render(x, y))
    with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape"):
        world.render(x, y, out=np.empty((6, 14, 16, 16), np.float64))
    with pytest.raises(ValueError, match=r"shape \(5, 14, 16, 16\)"):
        world.render(x[:5], y[:5], out=out)
