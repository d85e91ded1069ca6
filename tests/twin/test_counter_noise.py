"""The ``"counter"`` noise scheme (soilnet.twin.fields): a cell renders the same in any batch,
and the fields, draws and variance shares have the ``"per-cell"`` scheme's statistics.

The statistical tests of ``conftest.world`` (land-cover shares, OC quartiles, the oracle's
conditional means, the band formulas) run for both schemes; these add what is specific to it.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import rasterio
from scipy import stats

import soilnet.twin.world as world_module
from soilnet.errors import ConfigurationError
from soilnet.grid import grid_cells, sample_land_points
from soilnet.twin import TWINS, Rendered, SyntheticWorld, TwinConfig, write_twin
from soilnet.twin.climate import CLIMATE_MONTHS, DROUGHT_EVENTS, DROUGHT_P, SUMMER_MONTHS
from soilnet.twin.fields import (
    cell_keys,
    climate_draws,
    normals_float32,
    per_point_values,
    spectral_basis,
    spectral_fields,
    stream_bits,
)
from soilnet.twin.surface import smooth_unit

from .test_render_batch import assert_same_render, one_at_a_time

#: A 64 px counter world, the paper's patch size.
WORLD64 = TwinConfig(n_points=10, patch_size_px=64, seed=5, noise="counter")


@pytest.fixture(scope="module")
def world64():
    return SyntheticWorld(WORLD64)


@pytest.fixture(scope="module")
def cells():
    """(x, y) of 30 cells of the 10 km map grid, spread over it."""
    x, y = grid_cells(10_000)
    idx = np.random.default_rng(4).choice(len(x), 30, replace=False)
    return x[idx], y[idx]


def take(r: Rendered, idx) -> Rendered:
    return Rendered(
        image=r.image[idx],
        climate=r.climate[idx],
        latent=r.latent.iloc[idx].reset_index(drop=True),
    )


# ---------------------------------------------------------------- batch independence


def test_cells_render_the_same_one_at_a_time_as_in_a_batch(world64, cells):
    x, y = cells
    assert_same_render(world64.render(x, y), one_at_a_time(world64, x, y))


def test_cells_render_the_same_in_any_order_and_among_other_cells(world64, cells):
    x, y = cells
    whole = world64.render(x, y)
    order = np.random.default_rng(0).permutation(len(x))
    assert_same_render(world64.render(x[order], y[order]), take(whole, order))
    # The first 7 cells again, inside a batch of 57 with 50 other grid cells around them.
    gx, gy = grid_cells(50_000)
    bx, by = (
        np.concatenate([gx[:20], x[:7], gx[20:50]]),
        np.concatenate([gy[:20], y[:7], gy[20:50]]),
    )
    assert_same_render(take(world64.render(bx, by), np.arange(20, 27)), take(whole, np.arange(7)))


@pytest.mark.parametrize("chunk_cells, threads", [(1, 1), (4, 2), (64, 1)])
def test_chunking_and_threads_do_not_change_cells(
    world64, cells, monkeypatch, chunk_cells, threads
):
    x, y = cells
    whole = world64.render(x, y)
    monkeypatch.setattr(world_module, "RENDER_CHUNK_PIXELS", chunk_cells * 64 * 64)
    monkeypatch.setattr(world_module, "RENDER_THREADS", threads)
    assert_same_render(world64.render(x, y), whole)


def test_schemes_and_seeds_give_different_worlds(cells):
    x, y = cells[0][:5], cells[1][:5]
    cfg = replace(WORLD64, patch_size_px=16)
    image = SyntheticWorld(cfg).render(x, y).image
    per_cell = SyntheticWorld(replace(cfg, noise="per-cell")).render(x, y).image
    other_seed = SyntheticWorld(replace(cfg, seed=6)).render(x, y).image
    for other in (per_cell, other_seed):
        assert not np.allclose(image, other, equal_nan=True)


# ---------------------------------------------------------------- statistics


def _lag_correlations(fields: np.ndarray, lag: int) -> float:
    """Mean correlation of fields (N, 1, S, S) at ``lag`` px along rows and columns."""
    f = fields - fields.mean(axis=(-2, -1), keepdims=True)
    f = f / f.std(axis=(-2, -1), keepdims=True)
    along_rows = (f[..., :, :-lag] * f[..., :, lag:]).mean()
    along_cols = (f[..., :-lag, :] * f[..., lag:, :]).mean()
    return float((along_rows + along_cols) / 2)


@pytest.mark.parametrize("sigma_px", [3.0, 4.0])
def test_spectral_fields_have_the_covariance_of_the_per_cell_fields(sigma_px):
    """Over 300 fields of 64 px, the mean correlation at lags 1, 2, 4, 8 and 12 px of the
    spectral fields is within 0.015 of the per-cell scheme's Gaussian-filtered white noise
    (sampling SE at most 0.004). Compared away from the per-cell fields' reflecting edges
    (12 px margin on a 64 px patch), which lower its correlations (by up to 0.017 at lag 2
    over the whole patch; the spectral fields are stationary). Power: fields of the other
    smoothing SD (3 vs 4 px) differ by more than 0.03 at lags 2-8."""
    n, s, margin = 300, 64, 12
    inner = (..., slice(margin, s - margin), slice(margin, s - margin))
    per_cell = smooth_unit(np.random.default_rng(1).standard_normal((n, 1, s, s)), sigma_px)
    keys = cell_keys(0, np.arange(n) * 1000.0, np.zeros(n))

    def spectral(sigma):
        basis = spectral_basis(s, sigma)
        m = basis.shape[1]
        return spectral_fields(normals_float32(keys, 0, m * m).reshape(n, 1, m, m), basis)

    fields = spectral(sigma_px)
    assert fields.dtype == np.float32
    np.testing.assert_allclose(fields.std(axis=(-2, -1)), 1.0, rtol=1e-5)
    other = spectral(7.0 - sigma_px)
    for lag in (1, 2, 4, 8, 12):
        want = _lag_correlations(per_cell[inner], lag)
        assert _lag_correlations(fields[inner], lag) == pytest.approx(want, abs=0.015), lag
        if 2 <= lag <= 8:
            assert abs(_lag_correlations(other[inner], lag) - want) > 0.03, lag


def test_spectral_basis_keeps_the_variance_and_stays_exact():
    """The kept frequencies carry all but 1e-4 of the variance (the dropped ones would change
    lag-1 correlation by less than that), and the integer sums stay below 2**53."""
    for s in (8, 32, 64, 128):
        for sigma in (3.0, 4.0):
            basis = spectral_basis(s, sigma)
            m = basis.shape[1]
            assert m % 2 == 1 and m < s + 8 * sigma
            assert np.array_equal(basis, np.round(basis))
            assert m * m * 2.0**13 * np.abs(basis).max() ** 2 < 2.0**53
    assert spectral_basis(64, 3.0).shape[1] == 27 and spectral_basis(64, 4.0).shape[1] == 21


def test_per_point_draws_have_the_per_cell_distributions():
    """Over 40,000 cells: the normal columns (jitters, d, illumination, eps, relief) pass a
    Kolmogorov-Smirnov test against N(0, 1), the uniform ones against U(0, 1), K a chi-square
    test against Binomial(6, 0.4) (all at p > 1e-3), and every pair of columns is uncorrelated
    within 4 standard errors."""
    n = 40_000
    rng = np.random.default_rng(2)
    x, y = rng.uniform(2.5e6, 7.5e6, n), rng.uniform(1.4e6, 5.5e6, n)
    draws = per_point_values(cell_keys(7, x, y))
    for col in (*range(9), 12):
        assert stats.kstest(draws[:, col], "norm").pvalue > 1e-3, col
    for col in (9, 10):
        assert stats.kstest(draws[:, col], "uniform").pvalue > 1e-3, col
    counts = np.bincount(draws[:, 11].astype(int), minlength=DROUGHT_EVENTS + 1)
    expected = stats.binom.pmf(np.arange(DROUGHT_EVENTS + 1), DROUGHT_EVENTS, DROUGHT_P) * n
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    corr = np.corrcoef(draws.T)
    np.fill_diagonal(corr, 0.0)
    assert np.abs(corr).max() < 4 / np.sqrt(n)


def test_climate_draws_have_the_per_cell_distributions():
    """Over 20,000 cells: the climate noise passes a Kolmogorov-Smirnov test against N(0, 1)
    with uncorrelated neighbouring months and variables; each cell has exactly its K drought
    months, all in June-August 2010-2014, each of the 15 equally likely (chi-square), and
    every pair of them as likely as any other for K = 2."""
    n = 20_000
    rng = np.random.default_rng(5)
    x, y = rng.uniform(2.5e6, 7.5e6, n), rng.uniform(1.4e6, 5.5e6, n)
    k = rng.binomial(DROUGHT_EVENTS, DROUGHT_P, n)
    noise, drought = climate_draws(7, x, y, k)
    assert noise.shape == (n, 6, CLIMATE_MONTHS) and drought.shape == (n, CLIMATE_MONTHS)
    assert stats.kstest(noise.ravel(), "norm").pvalue > 1e-3
    for a, b in ((noise[:, 0, :-1], noise[:, 0, 1:]), (noise[:, 0], noise[:, 5])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 4 / np.sqrt(a.size)
    np.testing.assert_array_equal(drought.sum(axis=1), k)
    assert not drought[:, np.setdiff1d(np.arange(CLIMATE_MONTHS), SUMMER_MONTHS)].any()
    months = drought[:, SUMMER_MONTHS]
    per_month = months.sum(axis=0)
    assert stats.chisquare(per_month).pvalue > 1e-3
    # For K = 2, every pair of the 15 months is equally likely.
    n_summer = len(SUMMER_MONTHS)
    pairs = np.argwhere(months[k == 2])[:, 1].reshape(-1, 2)  # each cell's two months
    counts = np.zeros((n_summer, n_summer), int)
    np.add.at(counts, (pairs[:, 0], pairs[:, 1]), 1)
    assert stats.chisquare(counts[np.triu_indices(n_summer, 1)]).pvalue > 1e-3
    # Another seed draws other noise and months at the same places.
    other_noise, other_drought = climate_draws(8, x, y, k)
    assert abs(np.corrcoef(noise.ravel(), other_noise.ravel())[0, 1]) < 0.01
    assert not np.array_equal(drought, other_drought)


def test_compiled_normals_are_box_muller_on_the_streams():
    """normals_float32's compiled pass hashes the same stream values as stream_bits (the
    per-point values' and the climate's) and gives numpy's Box-Muller on them, bit for bit."""
    keys = cell_keys(4, np.arange(50) * 1000.0, np.full(50, 2.9e6))
    for start, count in ((32, 4374), (90, 7), (7, 1)):
        bits = stream_bits(keys, start, (count + 1) // 2)
        u1 = ((bits >> np.uint64(40)) + np.uint64(1)).astype(np.float32) * np.float32(2.0**-24)
        u2 = ((bits >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(np.float32)
        radius = np.sqrt(np.float32(-2.0) * np.log(u1))
        angle = u2 * np.float32(2 * np.pi * 2.0**-24)
        expected = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        got = normals_float32(keys, start, count)
        np.testing.assert_array_equal(got.view(np.uint32), expected[:, :count].view(np.uint32))


def test_float32_normals_are_standard_and_bounded():
    keys = cell_keys(1, np.arange(200) * 30.0, np.full(200, 3e6))
    z = normals_float32(keys, 100, 1001)
    assert z.shape == (200, 1001) and z.dtype == np.float32
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    assert np.abs(z).max() <= np.sqrt(-2 * np.log(2.0**-24))
    # Other counters of the same cells are other draws.
    assert abs(np.corrcoef(z.ravel(), normals_float32(keys, 2000, 1001).ravel())[0, 1]) < 0.01


@pytest.fixture(scope="module")
def both_schemes():
    """Latent values of 8,000 land points of a 16 px world under both schemes (at 8 px the
    per-cell fields' reflecting edges, 12 px from the centre, dominate the patch)."""
    x, y = sample_land_points(8_000, np.random.default_rng(17))
    cfg = TwinConfig(n_points=10, patch_size_px=16, seed=29)
    return {
        noise: SyntheticWorld(replace(cfg, noise=noise)).render(x, y, with_climate=False).latent
        for noise in ("per-cell", "counter")
    }


def test_variance_shares_hold_under_the_counter_scheme(both_schemes):
    """c1..c4 and eps have variance 1 (within 0.12: c1..c4 are standardised on the world's
    1,500 calibration points; the per-cell scheme's c1 has 1.09 on these points) and eps is
    independent of them, so the configured shares of log SOC's variance hold; each
    component's variance is within 0.15 of the per-cell scheme's on the same points; soil visibility is as frequent within 0.03
    (measured on 2,000 points: 0.926 and 0.935 at 16 px, 0.999 and 0.997 at 64 px)."""
    old, new = both_schemes["per-cell"], both_schemes["counter"]
    n = len(new)
    for c in ("c1", "c2", "c3", "c4", "eps"):
        assert new[c].var() == pytest.approx(1.0, abs=0.12), c
        assert new[c].var() == pytest.approx(old[c].var(), abs=0.15), c
    for c in ("c1", "c2", "c3", "c4", "soil_darkness_d"):
        assert abs(np.corrcoef(new["eps"], new[c])[0, 1]) < 4 / np.sqrt(n), c
    for c in ("c2", "c3", "c4"):
        assert abs(np.corrcoef(new["soil_darkness_d"], new[c])[0, 1]) < 4 / np.sqrt(n), c
    assert new["soil_visible"].mean() == pytest.approx(old["soil_visible"].mean(), abs=0.03)
    # The context component, which the smooth fields drive, correlates with the centre land
    # cover about as much under both schemes (measured: 0.61 and 0.56 at 16 px, 0.50 and 0.47
    # at 64 px; the per-cell fields' reflecting edges tie the centre to the patch more).
    for df in (old, new):
        df["woodland"] = (df["land_cover"] == "Woodland").astype(float)
    r_old = np.corrcoef(old["c2"], old["woodland"])[0, 1]
    r_new = np.corrcoef(new["c2"], new["woodland"])[0, 1]
    assert r_new == pytest.approx(r_old, abs=0.08)


# ---------------------------------------------------------------- one world for points and maps


def test_write_twin_and_the_map_renderer_use_the_worlds_scheme(tmp_path):
    """The written points are the world's render at their locations (the map grid renders
    through the same ``render``), and twin.json records the scheme, so the world can be rebuilt
    from it."""
    cfg = TwinConfig(n_points=12, patch_size_px=16, seed=3, noise="counter")
    write_twin(tmp_path, cfg)
    recorded = json.loads((tmp_path / "twin.json").read_text())["config"]
    assert recorded["noise"] == "counter"
    rebuilt = TwinConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()})
    assert rebuilt == cfg
    truth = pd.read_csv(tmp_path / "truth.csv")
    r = SyntheticWorld(rebuilt).render(truth["x_3035"].to_numpy(), truth["y_3035"].to_numpy())
    np.testing.assert_array_equal(truth["OC"].to_numpy(), r.latent["OC"].to_numpy())
    np.testing.assert_array_equal(truth["land_cover"], r.latent["land_cover"])
    points = pd.read_csv(tmp_path / "points.csv", encoding="utf-8-sig")
    for k in (0, 5, 11):
        (path,) = (tmp_path / "patches").glob(f"{points['Point_ID'].iat[k]}_*.tif")
        with rasterio.open(path) as src:
            np.testing.assert_array_equal(src.read(), r.image[k])


def test_noise_setting_is_validated_and_profiles_choose_it():
    with pytest.raises(ConfigurationError, match="Unknown TwinConfig.noise 'philox'"):
        TwinConfig(noise="philox")
    assert TWINS["smoke"].noise == TWINS["default"].noise == "per-cell"
    assert TWINS["paper"].noise == "counter"
    assert TwinConfig().noise == "per-cell"
