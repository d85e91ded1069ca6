"""soilnet.kriging: residual kriging on a known field, training residuals only, and the study."""

from __future__ import annotations

import gstools as gs
import numpy as np
import pandas as pd
import pytest

from soilnet import kriging
from soilnet.kriging import (
    fit_residual_variogram,
    krige_predictions,
    krige_residuals,
    regression_kriging,
    residual_kriging_runs,
    rk_label,
)


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


@pytest.fixture(scope="module")
def field():
    """1,500 points on a 1,000 km square: y = covariate effect + a spatial residual (an
    exponential random field, 50 km, variance 25) + independent noise (variance 4). The
    'model' knows the covariate effect only."""
    rng = np.random.default_rng(0)
    xy_m = rng.uniform(0, 1e6, size=(1500, 2))
    srf = gs.SRF(gs.Exponential(dim=2, var=25.0, len_scale=50.0), seed=1)
    spatial = srf((xy_m[:, 0] / 1e3, xy_m[:, 1] / 1e3), mesh_type="unstructured")
    effect = 20.0 + 4.0 * rng.normal(size=len(xy_m))
    y = effect + spatial + rng.normal(0.0, 2.0, len(xy_m))
    return xy_m, y, effect


def test_rk_helps_between_training_points_not_far_from_them(field):
    xy_m, y, effect = field
    # Interspersed: a random fifth of the points is the test set.
    test = np.zeros(len(y), bool)
    test[np.random.default_rng(1).choice(len(y), 300, replace=False)] = True
    near = regression_kriging(xy_m[~test], y[~test], effect[~test], xy_m[test], effect[test])
    before, after = _rmse(y[test], effect[test]), _rmse(y[test], near.predicted_g_per_kg)
    assert after < 0.75 * before  # the noise floor is 2/5.4 of before
    record = near.variogram
    assert record["nugget"] < record["sill"] and 20 < record["len_scale_km"] < 300  # 50 km exp.
    # Far: training west of 400 km, test east of 700 km (6 length scales away).
    west, east = xy_m[:, 0] < 4e5, xy_m[:, 0] > 7e5
    far = regression_kriging(xy_m[west], y[west], effect[west], xy_m[east], effect[east])
    before_far = _rmse(y[east], effect[east])
    assert abs(_rmse(y[east], far.predicted_g_per_kg) / before_far - 1) < 0.01
    assert np.all(np.abs(far.residual_g_per_kg) < 0.5)


def test_without_a_fitting_variogram_kriging_leaves_the_prediction(field, monkeypatch):
    class NeverFits(gs.Exponential):
        def fit_variogram(self, *args, **kwargs):
            raise RuntimeError("curve_fit gave up")

    monkeypatch.setattr(kriging, "VARIOGRAM_MODELS", {"Exponential": NeverFits})
    xy_m, y, effect = field
    result = regression_kriging(xy_m[:80], y[:80], effect[:80], xy_m[80:120], effect[80:120])
    assert result.variogram["model"] == kriging.NUGGET_ONLY
    np.testing.assert_array_equal(result.residual_g_per_kg, 0.0)
    np.testing.assert_array_equal(result.predicted_g_per_kg, effect[80:120])
    assert np.allclose(result.variance_g2_per_kg2, np.var(y[:80] - effect[:80]))


def test_neighbourhood_kriging_is_gstools_simple_kriging_with_every_point(field):
    xy_m, y, effect = field
    model, _ = fit_residual_variogram(xy_m[:300], (y - effect)[:300])
    ours, var = krige_residuals(
        xy_m[:300], (y - effect)[:300], xy_m[1000:], model, max_neighbours=300
    )
    krige = gs.krige.Simple(
        model, xy_m[:300].T / 1e3, (y - effect)[:300], mean=0.0, pseudo_inv=False
    )
    theirs, their_var = krige(xy_m[1000:].T / 1e3, mesh_type="unstructured", store=False)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(var, their_var, atol=1e-6)


def test_only_training_residuals_enter(field):
    xy_m, y, effect = field
    split = np.array(["train"] * 1000 + ["val"] * 200 + ["test"] * 300, dtype=object)
    table = pd.DataFrame(
        {"Point_ID": np.arange(len(y)), "split": split, "target_g_per_kg": y,
         "predicted_g_per_kg": effect}
    )  # fmt: skip
    rk, result = krige_predictions(table, xy_m)
    # Other test targets and wild validation targets change nothing but the metrics' input.
    changed = table.copy()
    changed.loc[split != "train", "target_g_per_kg"] += 1000.0
    rk2, result2 = krige_predictions(changed, xy_m)
    pd.testing.assert_series_equal(rk["predicted_g_per_kg"], rk2["predicted_g_per_kg"])
    assert result.variogram == result2.variogram
    _, direct = fit_residual_variogram(xy_m[:1000], y[:1000] - effect[:1000])
    assert result.variogram == direct
    assert rk2["target_g_per_kg"].equals(rk["target_g_per_kg"] + 1000.0)


def test_rk_label():
    assert rk_label("Random Forest (all covariates)") == (
        "Random Forest (all covariates) + residual kriging"
    )


def test_residual_kriging_runs_on_a_finished_study(finished, monkeypatch):
    # random: (2 variants + 2 forests) x 2 seeds; spatial: (resnet18 + 2 forests) x 2 seeds x
    # 2 folds.
    expected = {
        "random": ({"resnet18", "resnet18_glam_lstm", "rf_paper", "rf_strong"}, 8),
        "spatial": ({"resnet18", "rf_paper", "rf_strong"}, 12),
    }
    tables = {}
    for protocol, (models, n_rows) in expected.items():
        table = residual_kriging_runs(finished, protocol)
        tables[protocol] = table
        assert len(table) == n_rows and set(table["model"]) == {f"{m}+rk" for m in models}
        assert np.isfinite(table[["rmse", "mae", "bias", "rk_seconds"]].to_numpy()).all()
        # Chapter 3 kept the forests' out-of-bag predictions: nothing was refitted.
        assert table["fit_seconds"].isna().all()

    # A second call reads the cache: nothing is fitted or kriged again.
    def refuse(*args, **kwargs):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(kriging, "krige_predictions", refuse)
    monkeypatch.setattr(kriging, "_forest_predictions", refuse)
    for protocol, table in tables.items():
        pd.testing.assert_frame_equal(residual_kriging_runs(finished, protocol), table)


def test_a_refitted_forest_is_chapter_3s(finished):
    # Runs made before chapter 3 kept out-of-bag predictions are refitted: same trees.
    from soilnet.experiment import BASELINE_KIND, RunKey, _run_record

    store = finished.store()
    key = RunKey("baselines", "random", None, BASELINE_KIND, 0)
    path, _ = _run_record(finished, key, store)
    for name in kriging.FORESTS:
        refit, seconds = kriging._forest_predictions(finished, key, store, name)
        kept = kriging._chapter3_forest_predictions(path, name)
        assert seconds > 0
        pd.testing.assert_frame_equal(refit, kept, check_exact=False, atol=1e-9)
