"""Tests for soilnet.terrain: Horn percent slope and ground spacing, on constructed DEMs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rasterio.transform import from_origin

from soilnet.terrain import ellipsoid_radii, raster_spacing_m, slope_percent

# WGS84 from its defining constants (independent of the module's e² literal)
_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)


def test_plane_rising_eastwards_is_ten_percent():
    """z = 0.1 * x over 30 m pixels: 3 m per pixel, a 10 % slope."""
    x = np.arange(8) * 30.0
    dem = np.tile(0.1 * x, (6, 1))
    slope = slope_percent(dem, 30.0, 30.0)
    assert slope.dtype == np.float32 and slope.shape == (6, 8)
    np.testing.assert_allclose(slope[:, 1:-1], 10.0, rtol=1e-6)  # interior, top and bottom rows
    # edges replicate their neighbours: the outer column sees half the rise on one side
    np.testing.assert_allclose(slope[:, [0, -1]], 5.0, rtol=1e-6)


def test_plane_rising_northwards_uses_row_spacing():
    dem = np.tile((np.arange(7)[::-1] * 2.0)[:, None], (1, 5))  # 2 m per 20 m row northwards
    slope = slope_percent(dem, 30.0, 20.0)
    np.testing.assert_allclose(slope[1:-1, :], 10.0, rtol=1e-6)


def test_hand_computed_3x3():
    # a b c     1 2  3     dz/dx = ((c + 2f + i) - (a + 2d + g)) / (8 dx) = (27 - 16) / 80
    # d e f  =  4 5  6     dz/dy = ((g + 2h + i) - (a + 2b + c)) / (8 dy) = (37 - 8) / 160
    # g h i     7 9 12     (dx = 10 m, dy = 20 m)
    dem = np.array([[1, 2, 3], [4, 5, 6], [7, 9, 12]], dtype=float)
    expected = 100 * math.hypot(11 / 80, 29 / 160)
    assert slope_percent(dem, 10.0, 20.0)[1, 1] == pytest.approx(expected, rel=1e-6)
    # swapping the spacings changes the answer: the axes are not interchangeable
    assert slope_percent(dem, 20.0, 10.0)[1, 1] == pytest.approx(
        100 * math.hypot(11 / 160, 29 / 80), rel=1e-6
    )


def test_batch_equals_single_calls():
    rng = np.random.default_rng(7)
    dems = rng.normal(200.0, 15.0, (2, 12, 9))
    batch = slope_percent(dems, 30.0, 25.0)
    assert batch.shape == (2, 12, 9)
    for k in range(2):
        np.testing.assert_array_equal(batch[k], slope_percent(dems[k], 30.0, 25.0))
    # per-row spacing (a geographic DEM) broadcasts over the batch as well
    dx, dy = raster_spacing_m(from_origin(9.0, 50.0, 1 / 3600, 1 / 3600), (12, 9), True)
    batch = slope_percent(dems, dx, dy)
    for k in range(2):
        np.testing.assert_array_equal(batch[k], slope_percent(dems[k], dx, dy))


def test_nan_propagates_to_its_neighbours_only():
    dem = np.zeros((7, 7))
    dem[3, 3] = np.nan
    slope = slope_percent(dem, 30.0, 30.0)
    nan = np.isnan(slope)
    # Horn's stencil skips the centre cell: the eight neighbours turn NaN, the cell itself not
    assert nan.sum() == 8 and nan[2:5, 2:5].sum() == 8 and slope[3, 3] == 0


def test_geographic_spacing_at_45_degrees():
    deg = 1 / 3600
    dx, dy = raster_spacing_m(from_origin(10.0, 45.0 + deg / 2, deg, deg), (1, 4), True)
    assert dx.shape == dy.shape == (1, 1)
    # the spherical rule of thumb, and the WGS84 value (N cos(lat) per radian)
    assert dx[0, 0] == pytest.approx(111_320 * math.cos(math.radians(45)) * deg, rel=3e-3)
    w = math.sqrt(1 - _E2 / 2)
    assert dx[0, 0] == pytest.approx(_A / w * math.cos(math.radians(45)) * math.radians(deg))
    assert dy[0, 0] == pytest.approx(_A * (1 - _E2) / w**3 * math.radians(deg))
    assert 111_131 < dy[0, 0] / deg < 111_133  # a degree of latitude at 45°N


def test_projected_spacing_is_the_pixel_size():
    assert raster_spacing_m(from_origin(500_000, 5_600_000, 30, 20), (4, 4), False) == (30, 20)


def test_geographic_plane_keeps_its_slope():
    """8 % northwards on a 1-arcsecond grid at 60°N: ground metres, not degrees."""
    res = 1 / 3600
    transform = from_origin(10.0, 60.0, res, res)
    lat = 60.0 - (np.arange(50) + 0.5) * res
    m_rad, _ = ellipsoid_radii(np.array(60.0))
    dem = np.repeat((0.08 * (lat - 60.0) * m_rad * math.pi / 180)[:, None], 40, axis=1)
    slope = slope_percent(dem, *raster_spacing_m(transform, dem.shape, True))
    np.testing.assert_allclose(slope[1:-1, 1:-1], 8.0, atol=0.01)


def _horn_reference(dem, dx, dy):
    """Horn's slope written out per 3x3 window, with libm's hypot: the formula slope_percent
    must match to the bit."""
    z = np.pad(np.asarray(dem, float), [(0, 0)] * (dem.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    a, b, c = z[..., :-2, :-2], z[..., :-2, 1:-1], z[..., :-2, 2:]
    d, f = z[..., 1:-1, :-2], z[..., 1:-1, 2:]
    g, h, i = z[..., 2:, :-2], z[..., 2:, 1:-1], z[..., 2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * np.asarray(dx, float))
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * np.asarray(dy, float))
    return (100.0 * np.hypot(dzdx, dzdy)).astype(np.float32)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 50.0, 1e5, 1e150, 1e-160])
def test_slope_equals_horn_with_hypot_to_the_bit(scale):
    """The shared sums and the hypot-only-where-unsure shortcut change no bit, NaN and
    infinite elevations and per-row spacings included."""
    rng = np.random.default_rng(1)
    dem = rng.normal(300, 1, (6, 33, 17)).cumsum(-1) * scale
    dem.flat[::97] = np.nan
    dem.flat[::1013] = np.inf
    dy = rng.uniform(20, 30, (33, 1))
    with np.errstate(all="ignore"):
        for spacing in [(30.0, 30.0), (rng.uniform(20, 30, (33, 1)), dy)]:
            got, want = slope_percent(dem, *spacing), _horn_reference(dem, *spacing)
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_slope_next_to_float32_rounding_boundaries_equals_hypot():
    """Gradients whose percent slope lies at float32 rounding midpoints take the exact path."""
    rng = np.random.default_rng(2)
    s32 = rng.uniform(1, 300, 4000).astype(np.float32).astype(float)
    mid = s32 + np.spacing(s32.astype(np.float32)).astype(float) / 2  # float32 midpoints
    # 3 x 3 planes with gradient (gx, gy), |(gx, gy)| = mid / 100: the slope is the midpoint.
    gx, gy = mid / 100 * np.cos(1e-4), mid / 100 * np.sin(1e-4)
    steps = np.arange(3.0) * 30.0
    dem = gx[:, None, None] * steps[None, None, :] + gy[:, None, None] * steps[None, :, None]
    got, want = slope_percent(dem, 30.0, 30.0), _horn_reference(dem, 30.0, 30.0)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
