"""Tests for soilnet.twin.surface: the patch bands of the twin."""

from __future__ import annotations

import numpy as np

from soilnet import terrain
from soilnet.bands import BAND_NAMES, compute_indices
from soilnet.twin.surface import PIXEL_M, slope_percent, smooth_unit


def test_patches_follow_the_band_formulas(rendered):
    image = rendered.image[:50].astype(np.float64)
    assert image.shape == (50, 14, 16, 16)
    refl = image[:, :7]
    assert np.nanmin(refl) >= 0 and np.nanmax(refl) <= 1  # reflectance 0-1
    for k in range(50):
        expected = compute_indices(refl[k])
        ok = np.isfinite(image[k, 7:12]) & np.isfinite(expected)
        np.testing.assert_allclose(image[k, 7:12][ok], expected[ok], atol=1e-5)
    assert (image[:, BAND_NAMES.index("slopePCT")] >= 0).all()
    assert np.isfinite(image[:, 12:]).all()  # no clouds over topography


def test_slope_band_is_the_acquisition_slope_of_the_elevation_band(rendered):
    """The twin's slope is soilnet.terrain's (Horn), as real patches get it, edges included."""
    image = rendered.image[:100]
    elevation = image[:, BAND_NAMES.index("elevation")].astype(np.float64)
    expected = terrain.slope_percent(elevation, PIXEL_M, PIXEL_M)
    # The elevation band is float32; its rounding moves the slope by far less than 0.01 %.
    np.testing.assert_allclose(image[:, BAND_NAMES.index("slopePCT")], expected, atol=1e-2)


def test_slope_of_a_plane():
    """A plane rising 3 m per pixel east and 4 m per pixel south: 5 m / 30 m = 16.7 %."""
    rows, cols = np.mgrid[0:8, 0:8].astype(float)
    dem = np.stack([100 + 3 * cols + 4 * rows, np.full((8, 8), 250.0)])
    slope = slope_percent(dem)
    assert slope.shape == (2, 8, 8)
    np.testing.assert_allclose(slope[0, 1:-1, 1:-1], 100 * 5 / PIXEL_M, rtol=1e-6)
    np.testing.assert_array_equal(slope[1], 0.0)


def test_smooth_unit_gives_unit_sd_per_field():
    white = np.random.default_rng(0).standard_normal((3, 2, 16, 16))
    out = smooth_unit(white, 3.0)
    assert out.shape == white.shape
    np.testing.assert_allclose(out.reshape(6, -1).std(axis=1), 1.0)
    # Smoothing correlates neighbours, which white noise does not do.
    lag1 = np.corrcoef(out[..., :-1].ravel(), out[..., 1:].ravel())[0, 1]
    assert lag1 > 0.8
