"""Tests for soilnet.intervals: conformal quantiles by hand, coverage on simulated ensembles
with known answers, and quantile forests against the Random Forest with the same trees."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from quantile_forest import RandomForestQuantileRegressor
from sklearn.ensemble import RandomForestRegressor

from soilnet.baselines import (
    FOREST_PARAMS,
    fit_predict_baselines,
    make_quantile_forest,
    make_strong_random_forest,
)
from soilnet.errors import ConfigurationError, DataFormatError
from soilnet.interval_metrics import calibration_table
from soilnet.intervals import (
    NOMINAL_LEVELS,
    QuantileForecast,
    adaptive_conformal_intervals,
    conformal_intervals,
    conformal_predictive_quantiles,
    conformal_quantile,
    interval_levels,
    level_columns,
    quantile_forest_intervals,
    quantile_forest_mean,
    quantile_levels,
)


def coverage(frame: pd.DataFrame, y: np.ndarray, level: float) -> float:
    lower, upper = level_columns(level)
    return float(np.mean((y >= frame[lower]) & (y <= frame[upper])))


def test_level_columns_round_trip() -> None:
    assert level_columns(0.9) == ("lower_0.9", "upper_0.9")
    assert level_columns(0.68) == ("lower_0.68", "upper_0.68")
    frame = pd.DataFrame(columns=["mean", "lower_0.5", "upper_0.5", "lower_0.95", "upper_0.95"])
    assert interval_levels(frame) == [0.5, 0.95]
    np.testing.assert_allclose(quantile_levels(4), [0.125, 0.375, 0.625, 0.875])


def test_conformal_quantile_is_the_ceil_order_statistic() -> None:
    scores = np.arange(19, 0, -1.0)  # 19..1, unsorted on purpose
    # n = 19: ceil(20 L)-th smallest.
    assert conformal_quantile(scores, 0.5) == 10.0  # ceil(10.0) = 10
    assert conformal_quantile(scores, 0.68) == 14.0  # ceil(13.6) = 14
    assert conformal_quantile(scores, 0.9) == 18.0  # ceil(18.0) = 18
    assert conformal_quantile(scores, 0.95) == 19.0  # ceil(19.0) = 19
    # 75 * 0.68 is 51.00000000000001 in floating point; the rule must still give k = 51.
    assert 75 * 0.68 > 51
    assert conformal_quantile(np.arange(1.0, 75.0), 0.68) == 51.0
    with pytest.warns(UserWarning, match="too few"):
        assert conformal_quantile(scores, 0.96) == math.inf  # ceil(19.2) = 20 > 19


def test_conformal_intervals_by_hand() -> None:
    # Validation ensemble means [2, 2, 6]; targets [2.5, 0, 6] -> |residuals| [0.5, 2, 0].
    val_pred = np.array([[1.0, 3.0], [2.0, 2.0], [5.0, 7.0]])
    val_target = np.array([2.5, 0.0, 6.0])
    test_pred = np.array([[10.0, 12.0]])
    with pytest.warns(UserWarning, match="too few"):  # level 0.9: ceil(3.6) = 4 > 3
        frame = conformal_intervals(val_pred, val_target, test_pred, (0.5, 0.68, 0.9))
    assert list(frame.columns) == [
        "mean", "sd", "lower_0.5", "upper_0.5", "lower_0.68", "upper_0.68", "lower_0.9",
        "upper_0.9",
    ]  # fmt: skip
    assert frame["mean"][0] == 11.0 and frame["sd"][0] == pytest.approx(math.sqrt(2.0))
    # level 0.5: ceil(2) = 2nd smallest of [0, 0.5, 2] = 0.5; level 0.68: ceil(2.72) = 3rd = 2.
    assert frame.attrs["conformal_quantile"] == {0.5: 0.5, 0.68: 2.0, 0.9: math.inf}
    assert (frame["lower_0.5"][0], frame["upper_0.5"][0]) == (10.5, 11.5)
    assert (frame["lower_0.68"][0], frame["upper_0.68"][0]) == (9.0, 13.0)
    assert frame["upper_0.9"][0] == math.inf
    # Bounds clip to the target's range.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clipped = conformal_intervals(val_pred, val_target, test_pred, bounds_g_per_kg=(0, 12.5))
    assert clipped["upper_0.68"][0] == 12.5 and clipped["upper_0.95"][0] == 12.5


def test_adaptive_conformal_intervals_by_hand() -> None:
    val_pred = np.array([[1.0, 3.0], [2.0, 2.0], [5.0, 7.0]])
    val_target = np.array([2.5, 0.0, 6.0])
    # Spreads [√2, 0, √2]; default floor 0.1·median = 0.1√2. Scores |r| / max(sd, floor):
    # [0.5/√2, 2/(0.1√2), 0] -> level 0.5 picks the 2nd smallest, 0.5/√2.
    frame = adaptive_conformal_intervals(val_pred, val_target, [[10.0, 12.0], [4.0, 4.0]], [0.5])
    assert frame.attrs["sd_floor_g_per_kg"] == pytest.approx(0.1 * math.sqrt(2.0))
    assert frame.attrs["conformal_quantile"][0.5] == pytest.approx(0.5 / math.sqrt(2.0))
    # Test spread √2 -> half-width 0.5; test spread 0 -> the floor: 0.5/√2 · 0.1√2 = 0.05.
    np.testing.assert_allclose(frame["lower_0.5"], [10.5, 3.95])
    np.testing.assert_allclose(frame["upper_0.5"], [11.5, 4.05])
    with pytest.raises(DataFormatError, match="at least 2 seeds"):
        adaptive_conformal_intervals(val_pred[:, :1], val_target, [[10.0]])


def test_conformal_finite_sample_coverage_is_k_over_n_plus_1() -> None:
    # With n = 19 exchangeable calibration points, the expected coverage at level L is exactly
    # k / (n + 1), k = ceil((n + 1) L): 0.5, 0.70, 0.90, 0.95 for the default levels.
    rng = np.random.default_rng(0)
    n_val, n_test, reps = 19, 100, 2000
    expected = {0.5: 10 / 20, 0.68: 14 / 20, 0.9: 18 / 20, 0.95: 19 / 20}
    hits = {level: 0.0 for level in NOMINAL_LEVELS}
    for _ in range(reps):
        val_pred = rng.normal(0, 1, (n_val, 3))
        test_pred = rng.normal(0, 1, (n_test, 3))
        val_y = val_pred.mean(axis=1) + rng.standard_t(3, n_val) * 4
        test_y = test_pred.mean(axis=1) + rng.standard_t(3, n_test) * 4
        frame = conformal_intervals(val_pred, val_y, test_pred)
        for level in NOMINAL_LEVELS:
            hits[level] += coverage(frame, test_y, level) / reps
    for level, want in expected.items():
        # sd of the mean over reps ≈ 0.065 / √2000 ≈ 0.0015.
        assert hits[level] == pytest.approx(want, abs=0.006), (level, hits[level])


def heteroscedastic(rng: np.random.Generator, n: int, seeds: int = 8):
    """Noise sd 1 + 9x grows with x; the seed spread tracks it (sd 0.3·sigma)."""
    x = rng.uniform(0, 1, n)
    sigma = 1.0 + 9.0 * x
    f = 20.0 + 30.0 * x
    pred = f[:, None] + 0.3 * sigma[:, None] * rng.normal(size=(n, seeds))
    y = f + sigma * rng.normal(size=n)
    return x, pred, y


def test_adaptive_intervals_cover_where_absolute_ones_do_not() -> None:
    rng = np.random.default_rng(1)
    _, val_pred, val_y = heteroscedastic(rng, 2000)
    x, test_pred, test_y = heteroscedastic(rng, 20000)
    plain = conformal_intervals(val_pred, val_y, test_pred)
    adaptive = adaptive_conformal_intervals(val_pred, val_y, test_pred)
    noisy = x > 0.75
    for level in NOMINAL_LEVELS:
        # Marginal coverage of both: L within binomial noise of 2000 calibration points.
        tol = 3.5 * math.sqrt(level * (1 - level) / 2000)
        assert coverage(plain, test_y, level) == pytest.approx(level, abs=tol)
        assert coverage(adaptive, test_y, level) == pytest.approx(level, abs=tol)
    # In the noisiest quarter constant widths undercover; widths that follow the spread don't.
    assert coverage(plain[noisy], test_y[noisy], 0.9) < 0.8
    assert coverage(adaptive[noisy], test_y[noisy], 0.9) == pytest.approx(0.9, abs=0.03)
    # Coverage and sharpness together: the adaptive intervals score better (measured at 0.9:
    # 25.2 against 27.7 g/kg).
    score = {
        name: calibration_table(test_y, frame, levels=[0.9])["interval_score_g_per_kg"][0]
        for name, frame in (("plain", plain), ("adaptive", adaptive))
    }
    assert score["adaptive"] < 0.95 * score["plain"]
    # Constant widths for the plain, varying ones for the adaptive.
    assert np.ptp(plain["upper_0.9"] - plain["lower_0.9"]) == pytest.approx(0.0, abs=1e-9)
    width = adaptive["upper_0.9"] - adaptive["lower_0.9"]
    assert width[noisy].mean() > 2 * width[x < 0.25].mean()


def test_calibration_uses_only_validation_and_checks_shapes() -> None:
    rng = np.random.default_rng(2)
    val_pred, val_y = rng.normal(size=(50, 4)), rng.normal(size=50)
    test_pred = rng.normal(size=(30, 4))
    a = conformal_intervals(val_pred, val_y, test_pred)
    # Other test points do not move the interval width: only validation calibrates.
    b = conformal_intervals(val_pred, val_y, np.vstack([test_pred, 100 + test_pred]))
    pd.testing.assert_frame_equal(a, b.iloc[:30])
    with pytest.raises(DataFormatError, match="val_target has 49"):
        conformal_intervals(val_pred, val_y[:49], test_pred)
    with pytest.raises(DataFormatError, match="4 seeds but test_pred has 3"):
        conformal_intervals(val_pred, val_y, test_pred[:, :3])
    with pytest.raises(DataFormatError, match="non-finite"):
        conformal_intervals(np.where(val_pred > 2, np.nan, val_pred), val_y, test_pred)
    with pytest.raises(ConfigurationError, match="strictly between 0 and 1"):
        conformal_intervals(val_pred, val_y, test_pred, levels=(0.9, 1.0))


def test_conformal_predictive_quantiles_follow_the_residuals() -> None:
    rng = np.random.default_rng(3)
    val_pred = rng.normal(size=(5000, 3))
    val_y = val_pred.mean(axis=1) + rng.normal(0, 2.0, 5000)
    test_pred = np.array([[10.0, 10.0, 10.0], [-5.0, -4.0, -6.0]])
    q = conformal_predictive_quantiles(val_pred, val_y, test_pred, levels=[0.1, 0.5, 0.9])
    # Residuals ~ N(0, 2): quantiles ±2·1.2816 and 0 around each test mean.
    np.testing.assert_allclose(q - test_pred.mean(axis=1)[:, None], [[-2.563, 0, 2.563]] * 2,
                               atol=0.12)  # fmt: skip
    grid = conformal_predictive_quantiles(val_pred, val_y, test_pred, adaptive=True)
    assert grid.shape == (2, 99) and np.all(np.diff(grid, axis=1) >= 0)


# --------------------------------------------------------------------------------------------
# Quantile regression forests
# --------------------------------------------------------------------------------------------


def forest_data(rng: np.random.Generator, n: int):
    X = rng.uniform(0, 1, (n, 4))
    y = 30.0 * X[:, 0] + (1.0 + 4.0 * X[:, 1]) * rng.normal(size=n)
    return X, y


def test_quantile_forest_intervals_cover_and_match_the_random_forest() -> None:
    rng = np.random.default_rng(4)
    X, y = forest_data(rng, 3000)
    X_test, y_test = forest_data(rng, 3000)
    params = {"n_estimators": 60, "min_samples_leaf": 5, "max_features": 0.5}
    qrf = RandomForestQuantileRegressor(**params, max_samples_leaf=None, random_state=0)
    qrf.fit(X, y)
    rf = RandomForestRegressor(**params, random_state=0).fit(X, y)
    out = quantile_forest_intervals(qrf, X_test)
    assert isinstance(out, QuantileForecast)
    frame = out.frame
    # Same trees: the mean is the Random Forest's prediction.
    np.testing.assert_allclose(frame["mean"], rf.predict(X_test), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(frame["median"], qrf.predict(X_test, quantiles=0.5))
    assert interval_levels(frame) == list(NOMINAL_LEVELS)
    # Nested intervals around the median.
    for inner, outer in zip(NOMINAL_LEVELS, NOMINAL_LEVELS[1:], strict=False):
        assert np.all(frame[level_columns(outer)[0]] <= frame[level_columns(inner)[0]])
        assert np.all(frame[level_columns(outer)[1]] >= frame[level_columns(inner)[1]])
    assert np.all(frame["lower_0.5"] <= frame["median"])
    assert np.all(frame["median"] <= frame["upper_0.5"])
    # Meinshausen's forest on noise that depends on X: coverage near nominal (not guaranteed;
    # measured 0.493, 0.680, 0.911, 0.956) and widths that follow the noise sd 1 + 4·x1.
    for level in NOMINAL_LEVELS:
        assert coverage(frame, y_test, level) == pytest.approx(level, abs=0.03)
    width = frame["upper_0.9"] - frame["lower_0.9"]
    assert width[X_test[:, 1] > 0.75].mean() > 1.5 * width[X_test[:, 1] < 0.25].mean()
    assert out.quantiles.shape == (3000, 99)
    np.testing.assert_allclose(out.levels, quantile_levels(99))
    assert np.all(np.diff(out.quantiles, axis=1) >= 0)
    with pytest.raises(ConfigurationError, match="RandomForestQuantileRegressor"):
        quantile_forest_intervals(rf, X_test)


def test_make_quantile_forest_has_the_baseline_hyperparameters() -> None:
    qrf = make_quantile_forest("rf_strong", random_state=5)
    rf = make_strong_random_forest(random_state=5)
    for key, value in FOREST_PARAMS["rf_strong"].items():
        assert qrf.get_params()[key] == value == rf.get_params()[key]
    assert qrf.max_samples_leaf is None and qrf.random_state == 5
    assert make_quantile_forest("rf_paper").max_leaf_nodes == 20
    with pytest.raises(ConfigurationError, match="geo_knn"):
        make_quantile_forest("geo_knn")


def test_fit_predict_baselines_with_quantile_forests() -> None:
    rng = np.random.default_rng(6)
    n_train, n_test = 120, 40
    img = rng.uniform(0, 0.3, (n_train + n_test, 14, 6, 6)).astype(np.float32)
    target = 100.0 * img[:, 4, 2:4, 2:4].mean(axis=(1, 2)) + rng.normal(0, 1.0, n_train + n_test)
    train = {"image": img[:n_train], "climate": None, "target": target[:n_train]}
    test = {"image": img[n_train:], "climate": None}
    names = ("rf_paper", "rf_strong")
    with pytest.warns(UserWarning, match="image features only"):
        plain = fit_predict_baselines(train, test, names=names, random_state=1)
    with pytest.warns(UserWarning, match="image features only"):
        quant = fit_predict_baselines(
            train, test, names=names, random_state=1, quantile_forests=True
        )
    for name in names:
        assert isinstance(quant.models[name], RandomForestQuantileRegressor)
        np.testing.assert_allclose(quant[name], plain[name], rtol=1e-12, atol=1e-12)
        f_train, f_test = quant.features[name]
        assert f_train.shape == (n_train, len(quant.feature_names[name]))
        assert f_test.shape[0] == n_test
        np.testing.assert_allclose(quantile_forest_mean(quant.models[name], f_test), quant[name])
        # Importances per feature, as weights for the DI.
        assert quant.models[name].feature_importances_.shape == (f_train.shape[1],)
        out = quantile_forest_intervals(quant.models[name], f_test, levels=[0.9])
        assert list(out.frame.columns) == ["mean", "median", "lower_0.9", "upper_0.9"]
