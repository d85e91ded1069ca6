"""Tests for soilnet.interval_metrics on distributions with known answers: scores by hand,
closed forms of the CRPS and the interval score, and coverage and PIT of true predictives."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from soilnet.errors import DataFormatError
from soilnet.interval_metrics import (
    CALIBRATION_COLUMNS,
    calibration_table,
    crps_ensemble,
    crps_normal,
    crps_quantiles,
    interval_score,
    mean_width,
    picp,
    pit_ensemble,
    pit_histogram,
    pit_normal,
)
from soilnet.intervals import NOMINAL_LEVELS, level_columns, quantile_levels


def crps_standard_normal(z: np.ndarray) -> np.ndarray:
    """Closed form CRPS of N(0, 1) at z (Gneiting et al. 2005): z(2Φ(z) - 1) + 2φ(z) - 1/√π."""
    return z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)


def normal_intervals(mu: np.ndarray, sd: np.ndarray, levels=NOMINAL_LEVELS) -> pd.DataFrame:
    cols = {"mean": mu}
    for level in levels:
        z = stats.norm.ppf(0.5 + level / 2)
        lower, upper = level_columns(level)
        cols[lower], cols[upper] = mu - z * sd, mu + z * sd
    return pd.DataFrame(cols)


def test_picp_width_and_interval_score_by_hand() -> None:
    y = np.array([0.0, 5.0, 12.0, 2.0])
    lower, upper = np.full(4, 2.0), np.full(4, 10.0)
    assert picp(y, lower, upper) == 0.5  # 5 inside, 2 on the bound counts as inside
    assert mean_width(lower, upper) == 8.0
    # level 0.9 -> alpha 0.1 -> 2/alpha = 20: width 8 plus 20 x the miss distance.
    np.testing.assert_allclose(interval_score(y, lower, upper, 0.9), [48.0, 8.0, 48.0, 8.0])
    with pytest.raises(DataFormatError, match="lower exceeds upper"):
        picp(y, upper, lower)
    with pytest.raises(DataFormatError, match="has 3 values"):
        picp(y, lower[:3], upper)


def test_crps_of_standard_normal_at_zero_is_the_closed_form() -> None:
    closed = (math.sqrt(2) - 1) / math.sqrt(math.pi)  # 2φ(0) - 1/√π = 0.23369...
    assert closed == pytest.approx(0.2337, abs=1e-4)
    assert crps_normal([0.0], 0.0, 1.0)[0] == pytest.approx(closed, rel=1e-12)
    # Location-scale: CRPS(N(mu, s²), y) = s · CRPS(N(0, 1), (y - mu) / s).
    y = np.array([1.3, -2.0, 40.0])
    got = crps_normal(y, [0.5, 0.0, 35.0], [2.0, 0.5, 10.0])
    want = np.array([2.0, 0.5, 10.0]) * crps_standard_normal(np.array([0.4, -4.0, 0.5]))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Exact normal quantiles on a dense midpoint grid approximate it closely.
    levels = quantile_levels(999)
    q = stats.norm.ppf(levels)[None, :]
    assert crps_quantiles([0.0], q, levels)[0] == pytest.approx(closed, abs=1e-5)
    # A large sample of N(0, 1) as an ensemble: Monte-Carlo error ~ 0.003.
    sample = np.random.default_rng(0).normal(size=(1, 20000))
    assert crps_ensemble([0.0], sample)[0] == pytest.approx(closed, abs=0.01)


def test_crps_of_one_member_is_the_absolute_error() -> None:
    y = np.array([10.0, 20.0, 87.0])
    np.testing.assert_allclose(crps_ensemble(y, [[12.5], [20.0], [80.0]]), [2.5, 0.0, 7.0])


def test_calibration_of_the_true_predictive_distribution() -> None:
    rng = np.random.default_rng(1)
    n = 20000
    mu = rng.uniform(5, 60, n)
    sd = rng.uniform(2, 15, n)
    y = rng.normal(mu, sd)
    table = calibration_table(y, normal_intervals(mu, sd))
    assert list(table.columns) == list(CALIBRATION_COLUMNS)
    assert table["level"].tolist() == list(NOMINAL_LEVELS)
    for row in table.itertuples():
        tol = 4 * math.sqrt(row.level * (1 - row.level) / n)  # binomial sd, 4 sigma
        assert row.picp == pytest.approx(row.level, abs=tol)
        assert row.picp_low < row.picp < row.picp_high
        assert row.coverage_error == pytest.approx(row.picp - row.level)
        z = stats.norm.ppf(0.5 + row.level / 2)
        assert row.mean_width_g_per_kg == pytest.approx(2 * z * sd.mean(), rel=1e-12)
        # E[IS] of the true normal's central interval is 4σφ(z)/α (the width terms cancel).
        alpha = 1 - row.level
        assert row.interval_score_g_per_kg == pytest.approx(
            4 * sd.mean() * stats.norm.pdf(z) / alpha, rel=0.03
        )
        assert row.n == n
    # Too narrow (half the sd): coverage falls well short of nominal.
    narrow = calibration_table(y, normal_intervals(mu, sd / 2), levels=[0.9])
    assert narrow["picp"][0] == pytest.approx(2 * stats.norm.cdf(1.6449 / 2) - 1, abs=0.01)
    assert narrow["picp_high"][0] < 0.9


def test_pit_is_uniform_for_the_true_distribution_and_u_shaped_when_overconfident() -> None:
    rng = np.random.default_rng(2)
    n = 5000
    mu, sd = rng.uniform(5, 60, n), rng.uniform(2, 15, n)
    y = rng.normal(mu, sd)
    pit = pit_normal(y, mu, sd)
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    hist = pit_histogram(pit)
    assert hist["count"].sum() == n and len(hist) == 10
    assert hist["expected_share"].eq(0.1).all()
    assert np.abs(hist["share"] - 0.1).max() < 0.02
    over = pit_normal(y, mu, sd / 2)
    assert stats.kstest(over, "uniform").pvalue < 1e-6
    h = pit_histogram(over, n_bins=5)
    assert h["share"].iloc[0] > 0.2 and h["share"].iloc[-1] > 0.2 and h["share"].iloc[2] < 0.2


def test_pit_of_an_exchangeable_ensemble_is_uniform_with_ties() -> None:
    rng = np.random.default_rng(3)
    n, m = 5000, 9
    centre = rng.uniform(0, 50, n)
    members = centre[:, None] + rng.normal(size=(n, m))
    y = centre + rng.normal(size=n)
    assert stats.kstest(pit_ensemble(y, members), "uniform").pvalue > 0.01
    # All members and the observation at the clip value: the PIT is U(0, 1), not a spike.
    tied = pit_ensemble(np.full(n, 87.0), np.full((n, m), 87.0))
    assert stats.kstest(tied, "uniform").pvalue > 0.01
    # Observation below all members -> PIT in [0, 1/(m+1)); above all -> in [m/(m+1), 1).
    low = pit_ensemble([0.0], [[1.0] * m])[0]
    high = pit_ensemble([2.0], [[1.0] * m])[0]
    assert 0 <= low < 1 / (m + 1) and m / (m + 1) <= high < 1
    # Quantiles at the midpoint grid act as members.
    levels = quantile_levels(49)
    q = centre[:, None] + stats.norm.ppf(levels)[None, :]
    assert stats.kstest(pit_ensemble(y, q), "uniform").pvalue > 0.01


def test_calibration_table_errors() -> None:
    frame = normal_intervals(np.zeros(3), np.ones(3), levels=[0.9])
    with pytest.raises(DataFormatError, match="lacks 'lower_0.5'"):
        calibration_table([0.0, 1.0, 2.0], frame, levels=[0.5])
    with pytest.raises(DataFormatError, match="DataFrame"):
        calibration_table([0.0, 1.0, 2.0], frame.to_numpy())
    with pytest.raises(DataFormatError, match=r"\[0, 1\]"):
        pit_histogram([0.2, 1.2])
