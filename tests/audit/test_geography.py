"""Nearest-training-point distances and the geographic kNN on known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet import audit


def test_nearest_distance_is_3_km_on_the_constructed_geometry(repo):
    lucas = repo.lucas
    test = lucas[lucas["role"] == "test"]
    train = lucas[lucas["role"] == "train"]
    d = audit.nearest_distance_km(
        audit.laea_xy(test["long"], test["lat"]), audit.laea_xy(train["long"], train["lat"])
    )
    np.testing.assert_allclose(d, 3.0, atol=1e-6)


def test_nearest_distance_simple_points():
    d = audit.nearest_distance_km([[0, 0], [10_000, 0]], [[3_000, 4_000], [10_000, 2_000]])
    np.testing.assert_allclose(d, [5.0, 2.0])
    with pytest.raises(ValueError, match="train_xy"):
        audit.nearest_distance_km([[0, 0]], np.zeros((0, 2)))


def test_distance_summary_share_within_5_km():
    table = audit.distance_summary({"a": [1.0, 2.0, 5.0, 8.0, 20.0]})
    row = table.iloc[0]
    assert row["median"] == 5.0
    assert row["share_within_5km"] == pytest.approx(3 / 5)
    assert row["n_test"] == 5


def test_geo_knn_is_the_mean_of_the_nearest_clipped_targets():
    train_xy = np.array([[0, 0], [1000, 0], [5000, 0], [50_000, 0]], float)
    train_oc = np.array([10.0, 200.0, 30.0, 60.0])  # 200 is clipped to 87 before fitting
    test_xy = np.array([[400, 0], [49_000, 0]], float)
    metrics, pred = audit.geo_knn_scores(train_xy, train_oc, test_xy, [40.0, 50.0], k=2)
    np.testing.assert_allclose(pred, [(10 + 87) / 2, (60 + 30) / 2])
    assert metrics["rmse"] == pytest.approx(np.sqrt(((48.5 - 40) ** 2 + (45 - 50) ** 2) / 2))
