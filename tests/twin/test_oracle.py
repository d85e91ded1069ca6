"""Tests for soilnet.twin.oracle: closed-form conditional means of SOC."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.grid import sample_land_points
from soilnet.twin import (
    LAND_COVER,
    LAND_COVER_EFFECT,
    SyntheticWorld,
    TwinConfig,
    clipped_lognormal_mean,
    conditional_lognormal,
)
from soilnet.twin.oracle import noise_floor_lognormal

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


def test_noise_floor_knows_the_field_too(world, rendered):
    lat = rendered.latent
    a, _ = conditional_lognormal(
        world.mu, world.sigma, STATS.shares, lat["c1"], lat["c2"], lat["c3"]
    )
    sh = np.sqrt(STATS.shares)
    a4 = np.asarray(a) + world.sigma * sh[3] * lat["c4"].to_numpy()
    expected = clipped_lognormal_mean(a4, world.sigma * sh[4])
    np.testing.assert_allclose(lat["noise_floor_clipped"], expected)
    clipped = np.minimum(lat["OC"], PAPER_CLIP_G_PER_KG)
    mse_floor = ((clipped - lat["noise_floor_clipped"]) ** 2).mean()
    mse_c1_c3 = ((clipped - lat["oracle_clipped"]) ** 2).mean()
    assert mse_floor < mse_c1_c3  # knowing c4 explains part of the residual


# ---------------------------------------------------------------------------------- references
def test_clipped_lognormal_mean_takes_an_sd_per_point():
    a, b = np.array([3.0, 4.2, 2.0]), np.array([0.7, 0.0, 1.2])
    expected = [clipped_lognormal_mean(ai, bi) for ai, bi in zip(a, b, strict=True)]
    np.testing.assert_allclose(clipped_lognormal_mean(a, b), expected)
    assert clipped_lognormal_mean(4.2, 0.0) == pytest.approx(min(np.exp(4.2), 87))
    with pytest.raises(ValueError, match="SD"):
        clipped_lognormal_mean(a, -b)


#: A world at 8 px: smaller patches hide the soil more often, so both cases of the observable
#: reference occur among a few hundred points.
SMALL = TwinConfig(n_points=100, patch_size_px=8, seed=23)


def _simulated_log_soc(world, row, rng, n, *, hide_d: bool) -> np.ndarray:
    """n draws of log SOC at one rendered point from the world's own formula, with eps (and,
    where ``hide_d``, the soil darkness d) drawn afresh and everything else as rendered."""
    sh = np.sqrt(world.config.shares)
    if hide_d:
        effect = LAND_COVER_EFFECT[LAND_COVER.index(row["land_cover"])]
        c1 = world._z("c1_raw", effect + 0.7 * rng.standard_normal(n))
    else:
        c1 = row["c1"]
    eps = rng.standard_normal(n)
    return world.mu + world.sigma * (
        sh[0] * c1 + sh[1] * row["c2"] + sh[2] * row["c3"] + sh[3] * row["c4"] + sh[4] * eps
    )


def test_closed_forms_agree_with_monte_carlo_at_sample_points():
    """At 24 points with soil visible and 24 without, the Monte Carlo mean of
    min(exp(log SOC), 87) over 100,000 draws of eps (and of d where the patch hides the soil),
    simulated from the world's formula, is within 4 Monte Carlo standard errors of
    ``noise_floor_clipped`` and ``observable_reference_clipped``. The check has power: with d's
    variance left out of the hidden points' SD, most of them are rejected."""
    world = SyntheticWorld(SMALL)
    x, y = sample_land_points(600, np.random.default_rng(8))
    lat = world.render(x, y, with_climate=False).latent
    hidden = np.flatnonzero(~lat["soil_visible"].to_numpy())[:24]
    visible = np.flatnonzero(lat["soil_visible"].to_numpy())[:24]
    assert len(hidden) == 24 and len(visible) == 24
    rng = np.random.default_rng(99)
    n = 100_000
    naive_rejected = 0
    b_naive = world.sigma * np.sqrt(SMALL.shares[4])
    for i in np.concatenate([hidden, visible]):
        row = lat.iloc[i]
        for column, hide_d in (
            ("noise_floor_clipped", False),
            ("observable_reference_clipped", not row["soil_visible"]),
        ):
            y_sim = np.minimum(np.exp(_simulated_log_soc(world, row, rng, n, hide_d=hide_d)), 87)
            se = y_sim.std() / np.sqrt(n)
            assert abs(y_sim.mean() - row[column]) < 4 * se + 1e-9, (i, column, y_sim.mean())
            if hide_d:  # the same mean of the log, but d's variance forgotten
                effect = LAND_COVER_EFFECT[LAND_COVER.index(row["land_cover"])]
                a_obs, _ = noise_floor_lognormal(
                    world.mu, world.sigma, SMALL.shares,
                    world._z("c1_raw", effect), row["c2"], row["c3"], row["c4"],
                )  # fmt: skip
                naive = clipped_lognormal_mean(a_obs, b_naive)
                naive_rejected += abs(y_sim.mean() - naive) > 4 * se
    assert naive_rejected >= 18, naive_rejected


# ---------------------------------------------------------------------------------- a large sample
#: The large sample: 30,000 land points of an 8 px world, rendered without climate (~8 s).
LARGE = TwinConfig(n_points=100, patch_size_px=8, seed=29)
N_LARGE = 30_000


@pytest.fixture(scope="module")
def large():
    """(world, latent DataFrame, image float32 (N, 14, 8, 8)) of :data:`LARGE`."""
    world = SyntheticWorld(LARGE)
    x, y = sample_land_points(N_LARGE, np.random.default_rng(17))
    r = world.render(x, y, with_climate=False)
    return world, r.latent, r.image


def _cheap_features(latent, image) -> np.ndarray:
    """What a Random Forest can have cheaply: the paper's centre 2x2 pixels of the 12 optical
    bands, their patch means, the centre elevation, the coordinates, and the drought count K
    (which the climate sequence carries); cloud gaps filled with the column median."""
    from soilnet.baselines import paper_rf_features

    centre = paper_rf_features(image)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(image[:, :12], axis=(2, 3))
    feats = np.column_stack(
        [
            centre, means, latent["elevation_m"], latent["x_3035"], latent["y_3035"],
            latent["drought_count_K"],
        ]
    )  # fmt: skip
    median = np.nanmedian(feats, axis=0)
    return np.where(np.isfinite(feats), feats, median)


def _rmse_gap_upper(pred, floor, target, rng, n_boot=1000) -> float:
    """97.5 % bootstrap quantile (over test points) of RMSE(pred) - RMSE(floor)."""
    idx = rng.integers(0, len(target), size=(n_boot, len(target)))
    err_p, err_f = (pred - target) ** 2, (floor - target) ** 2
    gaps = np.sqrt(err_p[idx].mean(axis=1)) - np.sqrt(err_f[idx].mean(axis=1))
    return float(np.quantile(gaps, 0.975))


@pytest.mark.slow
def test_no_model_or_reference_beats_the_noise_floor(large):
    """On 10,000 test points (20,000 training points) of a 30,000-point twin, no baseline (null,
    geographic kNN, a Random Forest on cheap features) and no other reference (the observable
    reference, the c1-c3 decomposition) is significantly better than the noise floor
    E[min(SOC, 87) | c1..c4] against min(OC, 87).

    Rule: for each, the 97.5 % bootstrap quantile (1,000 resamples of the test points) of
    RMSE(model) - RMSE(floor) must not be below 0; a quantile below 0 would mean the model is
    better than the floor at the 2.5 % level. The rule has power: a prediction that peeks at the
    realised noise (the floor plus half of the residual) is flagged.
    """
    from sklearn.ensemble import RandomForestRegressor

    from soilnet.baselines import GeoKNN, NullBaseline

    _, lat, image = large
    target = np.minimum(lat["OC"].to_numpy(), PAPER_CLIP_G_PER_KG)
    order = np.random.default_rng(3).permutation(len(lat))
    train, test = order[:20_000], order[20_000:]
    xy = lat[["x_3035", "y_3035"]].to_numpy()
    feats = _cheap_features(lat, image)
    forest = RandomForestRegressor(
        n_estimators=60, min_samples_leaf=5, max_features=0.33, n_jobs=2, random_state=0
    )
    preds = {
        "null": NullBaseline().fit(xy[train], target[train]).predict(xy[test]),
        "geo_knn": GeoKNN().fit(xy[train], target[train]).predict(xy[test]),
        "rf_cheap": forest.fit(feats[train], target[train]).predict(feats[test]),
        **{c: lat[c].to_numpy()[test] for c in ("observable_reference_clipped", "oracle_clipped")},
    }
    floor, y = lat["noise_floor_clipped"].to_numpy()[test], target[test]
    rng = np.random.default_rng(0)
    uppers = {name: _rmse_gap_upper(p, floor, y, rng) for name, p in preds.items()}
    for name, upper in uppers.items():
        assert upper >= 0, (name, upper, uppers)
    # Power: half the realised residual added to the floor is flagged as better.
    peeking = floor + 0.5 * (y - floor)
    assert _rmse_gap_upper(peeking, floor, y, rng) < 0
    # The forest learns something (it is a real competitor), but stays above the floor.
    rmse = {n: float(np.sqrt(np.mean((p - y) ** 2))) for n, p in preds.items()}
    assert rmse["rf_cheap"] < rmse["geo_knn"] < rmse["null"], rmse


@pytest.mark.slow
def test_the_noise_and_the_soil_darkness_are_independent_of_what_is_conditioned_on(large):
    """The closed forms assume eps independent of c1..c4, and d independent of everything the
    observable reference conditions on (centre land cover, soil visibility, c2, c3, c4) and of
    eps. On 30,000 points every sample correlation is within 4 standard errors (1/sqrt(n)) of 0.

    The noise floor needs no assumption about c4 versus c1..c3 (their correlation, or whether
    c4 is a smooth field): it conditions on all four, and only eps is integrated out. The c1-c3
    decomposition, which treats c4 as unknown N(0, 1) noise, is the one that would need it.
    """
    _, lat, _ = large
    n = len(lat)
    bound = 4 / np.sqrt(n)
    cover = pd.get_dummies(lat["land_cover"]).astype(float)
    checks = {
        **{("eps", c): (lat["eps"], lat[c]) for c in ("c1", "c2", "c3", "c4", "soil_darkness_d")},
        **{("d", c): (lat["soil_darkness_d"], lat[c]) for c in ("c2", "c3", "c4")},
        ("d", "soil_visible"): (lat["soil_darkness_d"], lat["soil_visible"].astype(float)),
        **{("d", k): (lat["soil_darkness_d"], cover[k]) for k in cover},
    }
    corr = {k: float(np.corrcoef(u, v)[0, 1]) for k, (u, v) in checks.items()}
    assert all(abs(r) < bound for r in corr.values()), {k: round(r, 4) for k, r in corr.items()}
    # Both cases of the observable reference occur, and c1 does carry d (the check can fail).
    assert 0.05 < lat["soil_visible"].mean() < 0.95
    assert np.corrcoef(lat["soil_darkness_d"], lat["c1"])[0, 1] > 0.3
