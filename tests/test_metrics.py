"""Tests for soilnet.metrics: hand-computed values, sklearn agreement, RPIQ and input checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from soilnet.metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRIC_BETTER,
    METRIC_LABELS,
    METRIC_ORDER,
    format_mean_sd,
    regression_metrics,
    summarize_runs,
)

# Tiny literal example, worked by hand:
#   y    = [1, 2, 3, 4]          mean(y) = 2.5
#   yhat = [1.5, 2, 2.5, 5]      mean(yhat) = 2.75
#   e = yhat - y = [0.5, 0, -0.5, 1]
#   e² = [0.25, 0, 0.25, 1], sum 1.5, mean 0.375  -> RMSE = sqrt(0.375) = 0.612372...
#   MAE = (0.5 + 0 + 0.5 + 1) / 4 = 0.5
#   bias = mean(e) = 1 / 4 = 0.25
#   SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5      -> R² = 1 - 1.5 / 5 = 0.7
#   var(y) = 5 / 4 = 1.25; yhat - mean = [-1.25, -0.75, -0.25, 2.25] -> var(yhat) = 7.25 / 4 = 1.8125
#   cov = (1.875 + 0.375 - 0.125 + 3.375) / 4 = 5.5 / 4 = 1.375
#   CCC = 2 * 1.375 / (1.25 + 1.8125 + 0.25²) = 2.75 / 3.125 = 0.88
#   Q1(y) = 1.75, Q3(y) = 3.25 (linear) -> IQR 1.5 -> RPIQ = 1.5 / sqrt(0.375) = sqrt(6)
Y = [1.0, 2.0, 3.0, 4.0]
YHAT = [1.5, 2.0, 2.5, 5.0]


def test_hand_computed_values() -> None:
    m = regression_metrics(Y, YHAT)
    assert m["rmse"] == pytest.approx(math.sqrt(0.375))
    assert m["mae"] == pytest.approx(0.5)
    assert m["bias"] == pytest.approx(0.25)
    assert m["r2"] == pytest.approx(0.7)
    assert m["ccc"] == pytest.approx(0.88)
    assert m["rpiq"] == pytest.approx(math.sqrt(6.0))
    assert m["n"] == 4
    assert set(m) == set(METRIC_ORDER)


def test_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.gamma(2.0, 15.0, size=500)
    p = 0.6 * y + rng.normal(8.0, 10.0, size=500)
    m = regression_metrics(y, p)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert m["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert m["r2"] == pytest.approx(r2_score(y, p))


def test_accepts_column_vectors() -> None:
    m = regression_metrics(np.array(Y)[:, None], np.array(YHAT)[:, None])
    assert m["rmse"] == pytest.approx(math.sqrt(0.375))


def test_ccc_properties() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(30.0, 10.0, size=200)
    assert regression_metrics(y, y)["ccc"] == pytest.approx(1.0)
    # A shift keeps Pearson r = 1 but CCC penalises the offset: 2 var / (2 var + 3²) < 1.
    shifted = y + 3.0
    r = np.corrcoef(y, shifted)[0, 1]
    ccc = regression_metrics(y, shifted)["ccc"]
    assert ccc < r
    assert ccc == pytest.approx(2 * y.var() / (2 * y.var() + 9.0))
    # Population-variance formula on noisy predictions.
    p = 0.5 * y + rng.normal(10.0, 5.0, size=200)
    cov = np.mean((y - y.mean()) * (p - p.mean()))
    expected = 2 * cov / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)
    assert regression_metrics(y, p)["ccc"] == pytest.approx(expected)


def test_rpiq_is_observed_iqr_over_rmse() -> None:
    # Skewed observations and compressed predictions, so the three candidate formulas differ.
    y = np.array([2.0, 5.0, 8.0, 12.0, 20.0, 35.0, 60.0, 87.0])
    p = np.array([10.0, 12.0, 14.0, 16.0, 22.0, 30.0, 40.0, 50.0])
    m = regression_metrics(y, p)
    rmse = math.sqrt(np.mean((p - y) ** 2))
    q1, q3 = np.quantile(y, [0.25, 0.75])
    correct = (q3 - q1) / rmse
    notebook = 1 - rmse / y.std()
    head = (np.quantile(p, 0.75) - q1) / rmse
    assert m["rpiq"] == pytest.approx(correct)
    assert abs(correct - notebook) > 0.1
    assert abs(correct - head) > 0.1
    # Hand example: sqrt(6) = 2.449; the notebook gives 1 - 0.6124/1.1180 = 0.452 and HEAD
    # gives (Q3(yhat) = 3.125 - 1.75) / 0.6124 = 2.245.
    hand = regression_metrics(Y, YHAT)["rpiq"]
    assert hand == pytest.approx(math.sqrt(6.0))
    assert hand != pytest.approx(1 - math.sqrt(0.375) / math.sqrt(1.25))
    assert hand != pytest.approx(1.375 / math.sqrt(0.375))


def test_bias_sign_is_predicted_minus_observed() -> None:
    assert regression_metrics(Y, np.array(Y) + 2.0)["bias"] == pytest.approx(2.0)
    assert regression_metrics(Y, np.array(Y) - 2.0)["bias"] == pytest.approx(-2.0)


def test_not_batch_averaged() -> None:
    # Batches of 2: RMSEs 0 and sqrt(16/2) = 2.828, mean 1.414; over the set sqrt(16/4) = 2.
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 8.0])
    batch_mean = np.mean([math.sqrt(np.mean((p[i : i + 2] - y[i : i + 2]) ** 2)) for i in (0, 2)])
    rmse = regression_metrics(y, p)["rmse"]
    assert rmse == pytest.approx(2.0)
    assert batch_mean == pytest.approx(math.sqrt(2.0))
    assert rmse != pytest.approx(batch_mean)


def test_length_mismatch_names_lengths() -> None:
    with pytest.raises(ValueError, match=r"different lengths: 4 vs 3"):
        regression_metrics(Y, YHAT[:3])


def test_non_finite_named() -> None:
    bad = [1.0, np.nan, 3.0, np.inf]
    with pytest.raises(ValueError, match=r"predicted has 2 non-finite.*indices 1, 3"):
        regression_metrics(Y, bad)
    with pytest.raises(ValueError, match=r"observed has 2 non-finite"):
        regression_metrics(bad, Y)


def test_too_short_and_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"At least 2 samples.*got 1"):
        regression_metrics([1.0], [1.0])
    with pytest.raises(ValueError, match=r"1-D.*shape \(2, 2\)"):
        regression_metrics(np.ones((2, 2)), np.ones((2, 2)))


def test_degenerate_cases() -> None:
    # Constant observations: R² undefined.
    assert math.isnan(regression_metrics([3.0, 3.0, 3.0], [1.0, 2.0, 3.0])["r2"])
    # Perfect fit with spread: RPIQ infinite.
    assert regression_metrics(Y, Y)["rpiq"] == math.inf


def test_labels_and_directions() -> None:
    assert set(METRIC_LABELS) == set(METRIC_ORDER) == set(METRIC_BETTER)
    assert METRIC_LABELS["rmse"] == "RMSE (g/kg)"
    assert HIGHER_IS_BETTER == {"r2", "ccc", "rpiq"}
    assert LOWER_IS_BETTER == {"rmse", "mae"}


def test_summarize_runs_against_numpy() -> None:
    rng = np.random.default_rng(2)
    rows = []
    for model in ("resnet", "glam"):
        for seed in range(5):
            rmse, r2 = rng.normal(19, 0.3), rng.normal(0.35, 0.01)
            rows.append({"model": model, "seed": seed, "rmse": rmse, "r2": r2, "n": 100})
    rows.append({"model": "rf", "seed": 0, "rmse": 21.25, "r2": 0.245, "n": 100})
    df = pd.DataFrame(rows)
    out = summarize_runs(df)
    assert list(out["model"]) == ["resnet", "glam", "rf"]
    assert list(out.columns) == ["model", "rmse_mean", "rmse_sd", "r2_mean", "r2_sd", "runs"]
    for model in ("resnet", "glam"):
        vals = df.loc[df.model == model, "rmse"].to_numpy()
        row = out.set_index("model").loc[model]
        assert row["rmse_mean"] == pytest.approx(vals.mean())
        assert row["rmse_sd"] == pytest.approx(vals.std(ddof=1))
        assert row["runs"] == 5
    rf = out.set_index("model").loc["rf"]
    assert rf["runs"] == 1 and math.isnan(rf["rmse_sd"])


def test_summarize_runs_missing_column() -> None:
    df = pd.DataFrame({"seed": [0, 1], "rmse": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['model'\]"):
        summarize_runs(df)


def test_format_mean_sd() -> None:
    assert format_mean_sd(19.7412, 0.3149) == "19.74 ± 0.31"
    assert format_mean_sd(19.7412, float("nan")) == "19.74"
    assert format_mean_sd(0.3987, 0.0123, digits=3) == "0.399 ± 0.012"
