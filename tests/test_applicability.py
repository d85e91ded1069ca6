"""Tests for soilnet.applicability: the DI and AOA of Meyer & Pebesma (2021) on constructed
point sets with answers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from soilnet.applicability import (
    TrainDI,
    aoa_error_summary,
    area_of_applicability,
    di_error_table,
    di_threshold,
    mean_pairwise_distance,
    train_dissimilarity,
)
from soilnet.errors import ConfigurationError, DataFormatError

# The unit square's corners: column means 0.5, sds (ddof=1) √(1/3), so the standardised
# corners are (±√3/2, ±√3/2): a square of side √3 with diagonals √6.
SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
D_BAR = (4 * math.sqrt(3) + 2 * math.sqrt(6)) / 6  # mean of the 6 pairwise distances


def test_di_of_the_square_by_hand() -> None:
    tdi = train_dissimilarity(SQUARE)
    assert isinstance(tdi, TrainDI)
    np.testing.assert_allclose(tdi.center, [0.5, 0.5])
    np.testing.assert_allclose(tdi.scale, [math.sqrt(1 / 3)] * 2)
    assert tdi.mean_distance == pytest.approx(D_BAR)
    # Leave-one-out: every corner's nearest other corner is a side away.
    np.testing.assert_allclose(tdi.train_di, math.sqrt(3) / D_BAR)
    assert tdi.threshold == pytest.approx(math.sqrt(3) / D_BAR)  # IQR 0: the common value
    # Centre: √1.5 from every corner. (3, 0.5): standardised (2.5√3, 0); the nearest corners
    # (√3/2, ±√3/2) are √((2√3)² + 3/4) = √12.75 away.
    di, inside = tdi.applicability([[0.5, 0.5], [3.0, 0.5]])
    np.testing.assert_allclose(di, [math.sqrt(1.5) / D_BAR, math.sqrt(12.75) / D_BAR])
    assert inside.tolist() == [True, False]
    # A training point is its own nearest neighbour when scored as new data.
    np.testing.assert_allclose(tdi.dissimilarity(SQUARE), 0.0)


def test_a_far_point_is_outside_and_points_inside_the_cloud_are_inside() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 5))
    new = np.vstack([np.zeros(5), rng.normal(scale=0.5, size=(50, 5)), np.full(5, 8.0)])
    di, inside, tdi = area_of_applicability(train, new)
    assert di[-1] > 3 * tdi.threshold and not inside[-1]
    assert np.all(inside[:-1]) and np.all(di[:-1] < tdi.threshold)
    # Most training points lie inside their own AOA; the rule removes only outliers.
    assert tdi.train_inside.mean() > 0.95


def test_weights_choose_the_dimension_that_matters() -> None:
    rng = np.random.default_rng(1)
    train = rng.uniform(0, 1, (300, 2))
    far_in_x = [[5.0, 0.5]]
    far_in_y = [[0.5, 5.0]]
    only_x = train_dissimilarity(train, weights=[1.0, 0.0])
    only_y = train_dissimilarity(train, weights=[0.0, 1.0])
    assert not only_x.applicability(far_in_x)[1][0] and only_x.applicability(far_in_y)[1][0]
    assert only_y.applicability(far_in_x)[1][0] and not only_y.applicability(far_in_y)[1][0]
    # A common factor on all weights cancels between the distance and d̄.
    equal = train_dissimilarity(train)
    doubled = train_dissimilarity(train, weights=[2.0, 2.0])
    np.testing.assert_allclose(doubled.dissimilarity(far_in_x), equal.dissimilarity(far_in_x))
    np.testing.assert_allclose(doubled.train_di, equal.train_di)
    with pytest.warns(UserWarning, match="negative"):
        clipped = train_dissimilarity(train, weights=[1.0, -3.0])
    np.testing.assert_allclose(clipped.weights, [1.0, 0.0])
    with pytest.raises(ConfigurationError, match="weights are <= 0"):
        train_dissimilarity(train, weights=[0.0, 0.0])


def test_cv_folds_give_larger_training_di_than_leave_one_out_on_clusters() -> None:
    # 20 tight clusters of 10 points: a point's nearest other point is in its own cluster,
    # but with one fold per cluster the nearest allowed point is another cluster.
    rng = np.random.default_rng(2)
    centres = rng.uniform(0, 10, (20, 3))
    cluster = np.repeat(np.arange(20), 10)
    train = centres[cluster] + rng.normal(scale=0.05, size=(200, 3))
    loo = train_dissimilarity(train)
    cv = train_dissimilarity(train, folds=cluster)
    assert cv.mean_distance == loo.mean_distance  # d̄ ignores the folds, as in CAST
    assert np.all(cv.train_di >= loo.train_di - 1e-12)  # fewer candidates, never nearer
    assert np.median(cv.train_di) > 5 * np.median(loo.train_di)
    assert cv.threshold > 5 * loo.threshold
    # A point between clusters is outside the leave-one-out AOA but inside the CV one.
    between = (centres[0] + centres[cluster[0] + 1]) / 2
    assert cv.applicability([between])[1][0]
    assert not loo.applicability([between])[1][0]


def test_threshold_rules_by_hand() -> None:
    # [1, 2, 3, 4, 100]: Q1 = 2, Q3 = 4, fence = 4 + 1.5·2 = 7.
    assert di_threshold([1, 2, 3, 4, 100], "cast") == 7.0
    assert di_threshold([1, 2, 3, 4, 100], "whisker") == 4.0
    # No outlier: both give the maximum.
    assert di_threshold([1, 2, 3, 4, 5], "cast") == 5.0
    assert di_threshold([1, 2, 3, 4, 5], "whisker") == 5.0
    with pytest.raises(ConfigurationError, match="rule"):
        di_threshold([1, 2], "boxplot")


def test_sampled_mean_distance_is_close_to_the_exact_one() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(600, 20))
    exact = float(np.mean(pdist(points)))
    assert mean_pairwise_distance(points) == pytest.approx(exact, rel=1e-12)
    sampled = mean_pairwise_distance(points, max_pairs=50_000, random_state=0)
    assert sampled != exact and sampled == pytest.approx(exact, rel=0.01)
    assert mean_pairwise_distance(points, 50_000, 0) == sampled  # seeded


def test_input_errors() -> None:
    with pytest.raises(DataFormatError, match=r"constant column.*b"):
        train_dissimilarity(np.column_stack([SQUARE, np.ones(4)]), feature_names=["a", "c", "b"])
    with pytest.raises(DataFormatError, match="one label per training point"):
        train_dissimilarity(SQUARE, folds=[0, 1, 0])
    with pytest.raises(DataFormatError, match="at least 2 different"):
        train_dissimilarity(SQUARE, folds=[1, 1, 1, 1])
    with pytest.raises(DataFormatError, match="non-finite"):
        train_dissimilarity(np.where(SQUARE == 1, np.nan, SQUARE))
    tdi = train_dissimilarity(SQUARE)
    with pytest.raises(DataFormatError, match=r"shape \(n, 2\)"):
        tdi.dissimilarity(np.zeros((3, 3)))


def test_di_error_table_bins_by_quantile() -> None:
    di = np.arange(100) / 10.0  # 0.0 .. 9.9
    err = 2.0 * di
    table = di_error_table(di, err, threshold=5.0, n_bins=10)
    assert table.columns.tolist() == [
        "di_low", "di_high", "n", "mean_di", "mean_abs_error_g_per_kg", "share_inside_aoa",
    ]  # fmt: skip
    assert table["n"].tolist() == [10] * 10
    np.testing.assert_allclose(table["mean_di"], np.arange(10) + 0.45)
    np.testing.assert_allclose(table["mean_abs_error_g_per_kg"], 2 * (np.arange(10) + 0.45))
    # Bins 0..4 hold DI <= 4.9; bin 5 holds 5.0 (inside) to 5.9; the rest are outside.
    np.testing.assert_allclose(table["share_inside_aoa"], [1] * 5 + [0.1] + [0] * 4)
    assert table["di_high"].iloc[-1] == pytest.approx(9.9)


def test_aoa_error_summary() -> None:
    inside = np.array([True, True, False, False])
    observed = np.array([10.0, 20.0, 30.0, 40.0])
    predicted = np.array([11.0, 19.0, 36.0, 32.0])
    table = aoa_error_summary(inside, observed, predicted)
    assert table.index.tolist() == ["inside", "outside", "all"]
    assert table.loc["inside", "rmse_g_per_kg"] == pytest.approx(1.0)
    assert table.loc["outside", "mae_g_per_kg"] == pytest.approx(7.0)
    assert table.loc["outside", "rmse_g_per_kg"] == pytest.approx(math.sqrt(50.0))
    assert table.loc["all", "n"] == 4
    assert math.isnan(aoa_error_summary([True], [1.0], [2.0]).loc["outside", "mae_g_per_kg"])
