"""soilnet.comparison: the rule behind every comparative word, on predictions with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.comparison import (
    BEATS,
    LOSES,
    TIED,
    comparison_pairs,
    paired_rmse_difference,
    sentence,
)
from soilnet.errors import ConfigurationError


def noisy(y, sd, seed):
    return y + np.random.default_rng(seed).normal(0, sd, y.size)


@pytest.fixture(scope="module")
def observed():
    return np.random.default_rng(0).gamma(2.0, 10.0, 800)


def test_a_clearly_better_model_beats_and_the_reverse_loses(observed):
    good = np.stack([noisy(observed, 5, s) for s in (1, 2)])
    bad = np.stack([noisy(observed, 8, s) for s in (3, 4)])
    forward = paired_rmse_difference(observed, good, bad)
    assert forward.verdict == BEATS
    assert forward.upper < 0 and forward.delta_rmse == pytest.approx(-3, abs=0.5)
    backward = paired_rmse_difference(observed, bad, good)
    assert backward.verdict == LOSES
    assert backward.delta_rmse == pytest.approx(-forward.delta_rmse)
    assert len(forward.per_seed) == 2 and forward.n_points == observed.size


def test_same_quality_cannot_be_told_apart_and_the_interval_holds_zero(observed):
    a = np.stack([noisy(observed, 6, s) for s in (1, 2)])
    b = np.stack([noisy(observed, 6, s) for s in (3, 4)])
    result = paired_rmse_difference(observed, a, b)
    assert result.verdict == TIED
    assert result.lower < 0 < result.upper
    identical = paired_rmse_difference(observed, a, a)
    assert identical.delta_rmse == 0 and identical.verdict == TIED


def test_a_gain_made_by_one_seed_alone_is_not_a_win(observed):
    # Seed 0 much better, seed 1 slightly worse: the mean and its point interval say "better",
    # but the rule also asks every seed to agree.
    a = np.stack([noisy(observed, 3, 1), noisy(observed, 6.3, 2)])
    b = np.stack([noisy(observed, 6, 3), noisy(observed, 6, 4)])
    result = paired_rmse_difference(observed, a, b)
    assert result.upper < 0
    assert result.per_seed[0] < 0 < result.per_seed[1]
    assert result.verdict == TIED


def test_interval_matches_the_sampling_spread_of_the_difference():
    # Repeat the whole experiment on fresh test sets: the 90 % interval of one experiment should
    # be about as wide as the spread of the estimate across experiments.
    estimates, widths = [], []
    for rep in range(40):
        rng = np.random.default_rng(100 + rep)
        y = rng.gamma(2.0, 10.0, 400)
        a = y + rng.normal(0, 5, y.size)
        b = y + rng.normal(0, 6, y.size)
        r = paired_rmse_difference(y, a, b, n_boot=500, level=0.9)
        estimates.append(r.delta_rmse)
        widths.append(r.upper - r.lower)
    spread = np.quantile(estimates, 0.95) - np.quantile(estimates, 0.05)
    assert np.mean(widths) == pytest.approx(spread, rel=0.35)


def test_deterministic_and_refuses_unpaired_inputs(observed):
    a, b = noisy(observed, 5, 1), noisy(observed, 6, 2)
    assert paired_rmse_difference(observed, a, b) == paired_rmse_difference(observed, a, b)
    with pytest.raises(ConfigurationError, match="same test points"):
        paired_rmse_difference(observed, a[:-1], b[:-1])
    with pytest.raises(ConfigurationError, match="non-finite"):
        paired_rmse_difference(observed, np.where(a > 50, np.nan, a), b)


def test_sentence_states_the_verdict_with_its_numbers(observed):
    result = paired_rmse_difference(
        observed, noisy(observed, 5, 1)[None], noisy(observed, 8, 2)[None]
    )
    text = sentence("SoilNet", "ResNet-18", result)
    assert text.startswith("SoilNet beats ResNet-18: its RMSE is ")
    assert f"{abs(result.delta_rmse):.2f} g/kg lower" in text and "1 seed)" in text


def test_pairs_compare_the_hybrid_with_everything_and_glam_with_its_backbone():
    pairs = comparison_pairs(
        ["resnet18", "resnet18_glam", "resnet18_glam_lstm"],
        ["Point_ID", "null", "rf_paper", "rf_strong", "geo_knn"],
    )
    assert pairs == [
        ("resnet18_glam_lstm", "resnet18"),
        ("resnet18_glam_lstm", "resnet18_glam"),
        ("resnet18_glam", "resnet18"),
        ("resnet18_glam_lstm", "rf_paper"),
        ("resnet18_glam_lstm", "rf_strong"),
        ("resnet18_glam_lstm", "geo_knn"),
    ]
