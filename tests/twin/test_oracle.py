"""Tests for soilnet.twin.oracle: closed-form conditional means of SOC."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.twin import clipped_lognormal_mean, conditional_lognormal

from .conftest import STATS


@pytest.mark.parametrize(("a", "b"), [(3.0, 0.7), (4.2, 0.5), (2.0, 1.2), (4.6, 0.3)])
def test_clipped_lognormal_mean_matches_monte_carlo(a, b):
    w = np.random.default_rng(0).standard_normal(400_000)
    sample = np.exp(a + b * w)
    assert clipped_lognormal_mean(a, b) == pytest.approx(np.minimum(sample, 87).mean(), rel=0.005)
    assert clipped_lognormal_mean(a, b, clip=None) == pytest.approx(sample.mean(), rel=0.01)
    assert clipped_lognormal_mean(a, 0.0) == pytest.approx(min(np.exp(a), 87))


def test_oracle_is_the_conditional_mean(world, rendered):
    lat = rendered.latent
    sh = np.sqrt(STATS.shares)
    a = world.mu + world.sigma * (sh[0] * lat["c1"] + sh[1] * lat["c2"] + sh[2] * lat["c3"])
    b = world.sigma * np.sqrt(STATS.shares[3] + STATS.shares[4])
    np.testing.assert_allclose(lat["oracle_clipped"], clipped_lognormal_mean(a.to_numpy(), b))
    np.testing.assert_allclose(
        lat["oracle_unclipped"], clipped_lognormal_mean(a.to_numpy(), b, clip=None)
    )
    # Averaged over points, the clipped observations agree with their conditional means.
    clipped = np.minimum(lat["OC"], PAPER_CLIP_G_PER_KG)
    assert clipped.mean() == pytest.approx(lat["oracle_clipped"].mean(), rel=0.04)
    # The oracle beats every constant and leaves the residual noise.
    mse_oracle = ((clipped - lat["oracle_clipped"]) ** 2).mean()
    assert mse_oracle < clipped.var()
    for c in ("c1", "c2", "c3", "c4", "eps"):
        assert abs(lat[c].mean()) < 0.15 and lat[c].std() == pytest.approx(1.0, abs=0.15), c


def test_conditional_lognormal_matches_the_oracle_columns(world, rendered):
    lat = rendered.latent
    a, b = conditional_lognormal(
        world.mu, world.sigma, STATS.shares, lat["c1"], lat["c2"], lat["c3"]
    )
    np.testing.assert_allclose(clipped_lognormal_mean(np.asarray(a), b), lat["oracle_clipped"])
    # The log of SOC scatters around a with SD b (rounding to 0.1 g/kg aside).
    resid = np.log(lat["OC"].to_numpy()) - np.asarray(a)
    assert abs(resid.mean()) < 0.05 and resid.std() == pytest.approx(b, rel=0.06)


def test_spatial_oracle_knows_the_field_too(world, rendered):
    lat = rendered.latent
    a, _ = conditional_lognormal(
        world.mu, world.sigma, STATS.shares, lat["c1"], lat["c2"], lat["c3"]
    )
    sh = np.sqrt(STATS.shares)
    a4 = np.asarray(a) + world.sigma * sh[3] * lat["c4"].to_numpy()
    expected = clipped_lognormal_mean(a4, world.sigma * sh[4])
    np.testing.assert_allclose(lat["oracle_spatial_clipped"], expected)
    clipped = np.minimum(lat["OC"], PAPER_CLIP_G_PER_KG)
    mse_spatial = ((clipped - lat["oracle_spatial_clipped"]) ** 2).mean()
    mse_oracle = ((clipped - lat["oracle_clipped"]) ** 2).mean()
    assert mse_spatial < mse_oracle  # knowing c4 explains part of the residual
