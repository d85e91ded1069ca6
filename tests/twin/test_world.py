"""Tests for soilnet.twin.world: a deterministic, continuous world with a calibrated SOC model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import soilnet.twin.surface
from soilnet.bands import BAND_NAMES, PAPER_CLIP_G_PER_KG
from soilnet.geo import on_land
from soilnet.twin import (
    LAND_COVER,
    LAND_COVER_SHARES,
    LUCAS_QUARTILES,
    SyntheticWorld,
    TwinConfig,
)

# ---------------------------------------------------------------- continuous world


def test_location_renders_the_same_alone_or_in_a_batch(world, xy, rendered):
    for i in (0, 7, 1234):
        alone = world.render(xy[0][i : i + 1], xy[1][i : i + 1])
        np.testing.assert_array_equal(alone.image[0], rendered.image[i])
        np.testing.assert_array_equal(alone.climate[0], rendered.climate[i])
        pd.testing.assert_series_equal(
            alone.latent.iloc[0], rendered.latent.iloc[i], check_names=False, rtol=1e-12
        )


def test_different_seeds_render_differently(world, xy):
    other = SyntheticWorld(TwinConfig(n_points=100, patch_size_px=16, seed=12))
    x, y = xy[0][:3], xy[1][:3]
    assert not np.allclose(other.render(x, y).image, world.render(x, y).image, equal_nan=True)


def test_soil_darkens_with_soc_on_cropland_and_bare(rendered):
    lat = rendered.latent
    soil = lat["land_cover"].isin(["Cropland", "Bareland"]).to_numpy()
    c = rendered.image.shape[-1] // 2
    red = rendered.image[soil, BAND_NAMES.index("SR_B4"), c, c]
    ok = np.isfinite(red)
    assert np.corrcoef(np.log(lat["OC"].to_numpy()[soil][ok]), red[ok])[0, 1] < -0.2


def test_slope_band_drives_nothing(world, xy, rendered, monkeypatch):
    """SOC, its components and the oracle are the same whatever the slope band holds."""
    monkeypatch.setattr(soilnet.twin.surface, "slope_percent", lambda dem: np.zeros_like(dem))
    # The numpy path, where slope is a function to replace; the compiled one renders the same
    # (tests/twin/test_kernels.py).
    monkeypatch.setattr(soilnet.twin.world, "FUSED_PIXELS", False)
    x, y = xy[0][:200], xy[1][:200]
    flat = world.render(x, y)
    assert (flat.image[:, BAND_NAMES.index("slopePCT")] == 0).all()
    assert (rendered.image[:200, BAND_NAMES.index("slopePCT")] > 0).any()
    pd.testing.assert_frame_equal(flat.latent, rendered.latent.iloc[:200], check_exact=True)
    np.testing.assert_array_equal(flat.image[:, :-1], rendered.image[:200, :-1])


# ---------------------------------------------------------------- distributions


def test_land_cover_shares_close_to_lucas(rendered):
    shares = rendered.latent["land_cover"].value_counts(normalize=True)
    tolerance = {
        "Cropland": 0.05,
        "Woodland": 0.05,
        "Grassland": 0.05,
        "Shrubland": 0.025,
        "Bareland": 0.02,
    }
    for name, target in zip(LAND_COVER, LAND_COVER_SHARES, strict=True):
        if name == "Wetlands":
            assert shares.get(name, 0.0) < 0.015
        else:
            assert shares.get(name, 0.0) == pytest.approx(target, abs=tolerance[name]), name


def test_oc_quartiles_close_to_lucas(rendered):
    oc = rendered.latent["OC"].to_numpy()
    assert LUCAS_QUARTILES == (12.5, 20.4, 38.6)
    np.testing.assert_allclose(np.quantile(oc, [0.25, 0.5, 0.75]), LUCAS_QUARTILES, rtol=0.15)
    assert 0.03 < (oc > PAPER_CLIP_G_PER_KG).mean() < 0.2  # heavy right tail, as LUCAS (9 %)
    assert oc.mean() > np.median(oc)


# ---------------------------------------------------------------- grid


def test_grid_is_on_land(world):
    gx, gy = world.grid(200_000.0)
    assert 50 < len(gx) < 200
    assert on_land(gx, gy).all()
    assert len(np.unique(np.round(gy))) > 5  # several rows, north up
