"""Tests for soilnet.twin.climate: monthly climate whose droughts hide from the means."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.twin import (
    CLIMATE_MONTHS,
    SyntheticWorld,
    clipped_lognormal_mean,
    monthly_climate,
    with_shares,
)
from soilnet.twin.fields import climate_draws

from .conftest import STATS


def scheme_draws(world, seed, x, y, k):
    """The climate draws ``monthly_climate`` takes in ``world``'s noise scheme (None: its
    default, the per-cell scheme's)."""
    return climate_draws(seed, x, y, k) if world.config.noise == "counter" else None


def test_droughts_hidden_in_the_means(world, xy, rendered):
    k = rendered.latent["drought_count_K"].to_numpy()
    x, y = xy
    _, lat, cont, elev = world._geography(x, y)
    dry = world._climate(x, y, lat, cont, elev, k)
    plain = world._climate(x, y, lat, cont, elev, np.zeros_like(k))
    np.testing.assert_array_equal(dry, rendered.climate)
    assert not np.array_equal(dry, plain)
    # Per point and variable, the 61-month mean is the no-drought mean.
    np.testing.assert_allclose(dry.astype(np.float64).mean(axis=1), plain.astype(np.float64).mean(axis=1),
                               rtol=1e-5, atol=1e-4)  # fmt: skip
    for j, var in enumerate(STATS.climate_variables):
        assert abs(np.corrcoef(k, dry[:, :, j].mean(axis=1))[0, 1]) < 0.1, var
    pr = rendered.climate[:, :, STATS.climate_variables.index("pr")]
    assert np.corrcoef(k, pr.min(axis=1))[0, 1] < -0.15
    dry_months = (pr < 0.25 * np.median(pr, axis=1, keepdims=True)).sum(axis=1)
    assert np.corrcoef(k, dry_months)[0, 1] > 0.7


def test_climate_share_zero_makes_soc_independent_of_droughts(world, xy, rendered):
    k = rendered.latent["drought_count_K"].to_numpy()
    assert np.corrcoef(k, np.log(rendered.latent["OC"]))[0, 1] > 0.25  # default: share 0.15
    no_climate = with_shares(world.config, climate=0.0)  # the same noise scheme
    assert no_climate.shares[2] == 0.0 and sum(no_climate.shares) == pytest.approx(1.0)
    ratio = np.array(no_climate.shares)[[0, 1, 3, 4]] / np.array(STATS.shares)[[0, 1, 3, 4]]
    np.testing.assert_allclose(ratio, ratio[0])  # the rest rescaled proportionally
    other_world = SyntheticWorld(no_climate)
    other = other_world.render(*xy, with_climate=False).latent
    np.testing.assert_array_equal(other["drought_count_K"], k)  # same world, same K
    assert abs(np.corrcoef(k, np.log(other["OC"]))[0, 1]) < 0.08
    # c3 plays no role: the oracle is a function of c1 and c2 alone.
    sh = np.sqrt(no_climate.shares)
    a = other_world.mu + other_world.sigma * (sh[0] * other["c1"] + sh[1] * other["c2"])
    b = other_world.sigma * np.sqrt(no_climate.shares[3] + no_climate.shares[4])
    np.testing.assert_allclose(other["oracle_clipped"], clipped_lognormal_mean(a.to_numpy(), b))


def test_monthly_climate_selects_variables_in_the_order_asked(world, xy, rendered):
    x, y = xy[0][:40], xy[1][:40]
    k = rendered.latent["drought_count_K"].to_numpy()[:40]
    _, lat, cont, elev = world._geography(x, y)
    two = monthly_climate(
        x, y, lat, cont, elev, k,
        seed=STATS.seed, year_fields=world._year_fields, variables=("tmmx", "pr"),
        draws=scheme_draws(world, STATS.seed, x, y, k),
    )  # fmt: skip
    assert two.shape == (40, CLIMATE_MONTHS, 2) and two.dtype == np.float32
    full = rendered.climate[:40]
    for j, var in enumerate(("tmmx", "pr")):
        np.testing.assert_array_equal(two[:, :, j], full[:, :, STATS.climate_variables.index(var)])
    # Another seed draws other noise and drought months at the same places.
    other = monthly_climate(
        x, y, lat, cont, elev, k,
        seed=STATS.seed + 1, year_fields=world._year_fields, variables=("tmmx", "pr"),
        draws=scheme_draws(world, STATS.seed + 1, x, y, k),
    )  # fmt: skip
    assert not np.array_equal(other, two)


def _water_balance_by_arrays(tm, pr, pet):
    """The water balance as array operations over the locations, month by month (the code
    the compiled loop replaced)."""
    n, t = pr.shape
    aet, ro, soil, swe = (np.empty_like(pr) for _ in range(4))
    store, snow = np.full(n, 100.0), np.zeros(n)
    for k in range(t):
        snowfall = np.where(tm[:, k] < 0, pr[:, k], 0.0)
        melt = np.where(tm[:, k] > 0, np.minimum(snow, 25.0 * tm[:, k]), 0.0)
        snow = snow + snowfall - melt
        water_in = pr[:, k] - snowfall + melt
        aet[:, k] = np.minimum(pet[:, k], water_in + 0.5 * store)
        store = store + water_in - aet[:, k]
        ro[:, k] = np.maximum(store - 150.0, 0)
        store = np.clip(store, 0, 150.0)
        soil[:, k] = store
        swe[:, k] = snow
    return aet, ro, soil, swe


def test_compiled_water_balance_and_drought_index_equal_the_array_code():
    """Snow that accumulates and melts, buckets that overflow and nearly empty, indices that
    hit the clip: the compiled loops give the array code's values bit for bit."""
    from soilnet.twin.climate import _drought_index, _water_balance

    rng = np.random.default_rng(8)
    n, t = 500, CLIMATE_MONTHS
    tm = rng.normal(3.0, 8.0, (n, t))
    pr = rng.gamma(0.8, 60.0, (n, t))
    pet = np.maximum(4.0 * (tm + 5) * rng.uniform(50, 900, (n, t)) / 200, 0)
    expected = _water_balance_by_arrays(tm, pr, pet)
    got = _water_balance(tm, pr, pet)
    for name, a, b in zip(("aet", "ro", "soil", "swe"), got, expected, strict=True):
        np.testing.assert_array_equal(a.view(np.uint64), b.view(np.uint64), err_msg=name)
    assert (expected[1] > 0).any() and expected[2].min() < 1 and (expected[3] > 0).any()
    anom = rng.normal(0.0, 60.0, (n, t))
    state, index = np.zeros(n), np.empty((n, t))
    for k in range(t):
        state = 0.85 * state + 0.02 * anom[:, k]
        index[:, k] = np.clip(state, -8, 8)
    np.testing.assert_array_equal(_drought_index(anom).view(np.uint64), index.view(np.uint64))
    assert (np.abs(index) == 8).any()
