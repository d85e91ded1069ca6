"""Tests for soilnet.baselines on small arrays built in the test."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from soilnet.bands import BAND_NAMES, OPTICAL_BANDS
from soilnet.baselines import (
    BASELINE_LABELS,
    BASELINES,
    BaselineResult,
    GeoKNN,
    NullBaseline,
    climate_summary,
    fit_predict_baselines,
    make_paper_random_forest,
    make_strong_random_forest,
    paper_rf_feature_names,
    paper_rf_features,
    strong_features,
)
from soilnet.errors import ConfigurationError, DataFormatError


def encoded_image(n: int, bands: int, h: int, w: int) -> np.ndarray:
    """Pixel value = sample*1e6 + band*1e4 + row*100 + col, so every value says where it is."""
    s, b, r, c = np.meshgrid(
        np.arange(n), np.arange(bands), np.arange(h), np.arange(w), indexing="ij"
    )
    return (s * 1e6 + b * 1e4 + r * 100 + c).astype(np.float64)


@pytest.mark.parametrize("size", [(8, 8), (7, 7), (64, 64), (6, 9)])
@pytest.mark.parametrize("band_names", [BAND_NAMES, OPTICAL_BANDS])
def test_paper_features_centre_2x2(size: tuple[int, int], band_names: tuple[str, ...]) -> None:
    h, w = size
    img = encoded_image(3, len(band_names), h, w)
    feats = paper_rf_features(img, band_names)
    assert feats.shape == (3, 48)
    block = feats.reshape(3, 12, 2, 2)
    rows, cols = [h // 2 - 1, h // 2], [w // 2 - 1, w // 2]
    for s in range(3):
        for b in range(12):
            for i, r in enumerate(rows):
                for j, c in enumerate(cols):
                    assert block[s, b, i, j] == s * 1e6 + b * 1e4 + r * 100 + c
    if size == (64, 64):  # the authors' rows/cols 31..32
        assert block[0, 0, 0, 0] == 31 * 100 + 31 and block[0, 0, 1, 1] == 32 * 100 + 32


def test_paper_features_select_by_name() -> None:
    # Bands stored in reverse order: features must still come out in OPTICAL_BANDS order.
    names = tuple(reversed(BAND_NAMES))
    img = encoded_image(2, 14, 4, 4)
    feats = paper_rf_features(img, names).reshape(2, 12, 2, 2)
    for k, band in enumerate(OPTICAL_BANDS):
        stored = names.index(band)
        assert feats[0, k, 0, 0] == stored * 1e4 + 1 * 100 + 1
    assert len(paper_rf_feature_names()) == 48
    assert paper_rf_feature_names()[:2] == ["SR_B1_r0c0", "SR_B1_r0c1"]


def test_paper_features_missing_band() -> None:
    names = tuple(b for b in BAND_NAMES if b not in ("NDVI", "SR_B2"))
    with pytest.raises(ConfigurationError, match=r"SR_B2.*NDVI"):
        paper_rf_features(np.zeros((1, 12, 4, 4)), names)


def test_paper_features_band_count_mismatch() -> None:
    with pytest.raises(DataFormatError, match=r"13 bands but band_names lists 14"):
        paper_rf_features(np.zeros((1, 13, 4, 4)))


def test_strong_features_shapes() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((5, 14, 6, 6)).astype(np.float32)
    clim = rng.random((5, 61, 3)).astype(np.float32)
    feats, names = strong_features(img, clim, climate_variables=("pr", "tmmx", "vpd"))
    assert feats.shape == (5, 14 * 3 + 3 * 3) == (5, len(names))
    assert len(set(names)) == len(names)
    col = {n: i for i, n in enumerate(names)}
    np.testing.assert_allclose(feats[:, col["NDVI_mean"]], img[:, 11].mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(feats[:, col["NDVI_std"]], img[:, 11].std(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(
        feats[:, col["SR_B1_centre"]], img[:, 0, 2:4, 2:4].mean(axis=(1, 2)), rtol=1e-6
    )
    np.testing.assert_allclose(feats[:, col["climate_pr_mean"]], clim[:, :, 0].mean(1), rtol=1e-6)
    img_only, names_only = strong_features(img)
    assert img_only.shape == (5, 42) and len(names_only) == 42


def _seasonal_series(n_months: int, first_month: int, trend: float, base: float) -> np.ndarray:
    """base + trend * calendar-year index + a seasonal pattern of range 5 (per calendar month)."""
    season = np.array([0, 1, 2, 3, 5, 3, 2, 1, 0, 0, 0, 0], dtype=float)  # max - min = 5
    k = np.arange(n_months) + first_month - 1  # months since January of the first year
    return base + trend * (k // 12) + season[k % 12]


def test_climate_amplitude_and_trend() -> None:
    # 61 months from January (the paper's 2010-01..2015-01): 5 complete years.
    a = _seasonal_series(61, 1, trend=2.0, base=10.0)
    b = _seasonal_series(61, 1, trend=-0.5, base=3.0)
    clim = np.stack([a, b], axis=-1)[None]  # (1, 61, 2)
    feats, names = climate_summary(clim, ("tmmx", "pr"))
    got = dict(zip(names, feats[0], strict=True))
    assert got["climate_tmmx_amplitude"] == pytest.approx(5.0)
    assert got["climate_tmmx_trend_per_year"] == pytest.approx(2.0)
    assert got["climate_pr_trend_per_year"] == pytest.approx(-0.5)
    assert got["climate_tmmx_mean"] == pytest.approx(a.mean())
    # Starting in July: 36 months hold 2 complete calendar years (months 6..29).
    c = _seasonal_series(36, 7, trend=1.5, base=0.0)[None, :, None]
    feats, names = climate_summary(c, ("pr",), first_month=7)
    got = dict(zip(names, feats[0], strict=True))
    assert got["climate_pr_amplitude"] == pytest.approx(5.0)
    assert got["climate_pr_trend_per_year"] == pytest.approx(1.5)


def test_climate_short_series_warns() -> None:
    with pytest.warns(UserWarning, match="trend features are left out"):
        _, names = climate_summary(np.zeros((2, 13, 1)), ("pr",))
    assert names == ["climate_pr_mean", "climate_pr_amplitude"]
    with pytest.raises(ConfigurationError, match="first_month"):
        climate_summary(np.zeros((2, 24, 1)), ("pr",), first_month=13)
    with pytest.raises(ConfigurationError, match="Pass climate_variables"):
        climate_summary(np.zeros((2, 24, 3)))


def test_null_baseline() -> None:
    X = np.zeros((4, 2))
    model = NullBaseline()
    with pytest.raises(NotFittedError):
        model.predict(X)
    pred = model.fit(X, [1.0, 2.0, 3.0, 6.0]).predict(np.zeros((3, 2)))
    np.testing.assert_array_equal(pred, [3.0, 3.0, 3.0])


def test_paper_rf_hyperparameters() -> None:
    rf = make_paper_random_forest(random_state=7, n_jobs=2)
    params = rf.get_params()
    expected = dict(
        n_estimators=300,
        max_depth=10,
        min_samples_split=5,
        min_samples_leaf=20,
        max_leaf_nodes=20,
        max_features=1.0,
        random_state=7,
        n_jobs=2,
    )
    assert {k: params[k] for k in expected} == expected
    assert params["bootstrap"] is True
    strong = make_strong_random_forest(random_state=3).get_params()
    assert strong["n_estimators"] == 500
    assert strong["min_samples_leaf"] == 3
    assert strong["max_features"] == 0.33
    assert strong["random_state"] == 3


def test_same_random_state_same_predictions() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((150, 6))
    y = 10 * X[:, 0] + rng.normal(0, 1, 150)
    preds = [make_paper_random_forest(random_state=5).fit(X, y).predict(X[:20]) for _ in range(2)]
    np.testing.assert_array_equal(preds[0], preds[1])
    other = make_paper_random_forest(random_state=6).fit(X, y).predict(X[:20])
    assert not np.array_equal(preds[0], other)


def _smooth_field(xy_m: np.ndarray) -> np.ndarray:
    x_km, y_km = xy_m[:, 0] / 1000 - 4000, xy_m[:, 1] / 1000 - 3000
    return 30 + 10 * np.sin(x_km / 150) + 8 * np.cos(y_km / 200)


def test_geo_knn_recovers_smooth_field() -> None:
    rng = np.random.default_rng(1)
    xy = np.column_stack([rng.uniform(4.0e6, 5.0e6, 600), rng.uniform(3.0e6, 4.0e6, 600)])
    y = _smooth_field(xy) + rng.normal(0, 1, 600)
    knn = GeoKNN().fit(xy[:500], y[:500])
    null = NullBaseline().fit(xy[:500], y[:500])
    rmse_knn = np.sqrt(np.mean((knn.predict(xy[500:]) - y[500:]) ** 2))
    rmse_null = np.sqrt(np.mean((null.predict(xy[500:]) - y[500:]) ** 2))
    assert rmse_knn < 0.5 * rmse_null
    assert knn.n_neighbors == 20 and knn.knn_.n_neighbors == 20
    with pytest.raises(ConfigurationError, match="n_neighbors=20 but only 5"):
        GeoKNN().fit(xy[:5], y[:5])


def make_split(n: int, rng: np.random.Generator, with_climate: bool = False) -> dict:
    """Patches whose centre SR_B5 reflectance drives SOC; the rest of each patch is noise."""
    img = rng.uniform(0.0, 0.4, size=(n, 14, 8, 8)).astype(np.float32)
    level = rng.uniform(0.05, 0.45, size=n).astype(np.float32)
    img[:, 4, 3:5, 3:5] = level[:, None, None]
    xy = np.column_stack([rng.uniform(4.0e6, 5.0e6, n), rng.uniform(3.0e6, 4.0e6, n)])
    split = {
        "image": img,
        "climate": rng.random((n, 24, 2)).astype(np.float32) if with_climate else None,
        "xy": xy,
        "target": 100.0 * level + rng.normal(0, 2.0, n),
    }
    return split


def test_fit_predict_baselines_rf_beats_null() -> None:
    rng = np.random.default_rng(2)
    train, test = make_split(300, rng), make_split(100, rng)
    with pytest.warns(UserWarning, match="image features only"):
        res = fit_predict_baselines(train, test)
    assert isinstance(res, BaselineResult)
    assert list(res) == list(BASELINES) == list(BASELINE_LABELS)
    assert all(res[k].shape == (100,) for k in res)
    assert set(res.fit_seconds) == set(BASELINES) and min(res.fit_seconds.values()) >= 0
    assert len(res.feature_names["rf_paper"]) == 48

    def rmse(name: str) -> float:
        return float(np.sqrt(np.mean((res[name] - test["target"]) ** 2)))

    assert rmse("rf_paper") < 0.5 * rmse("null")
    assert rmse("rf_strong") < 0.5 * rmse("null")
    np.testing.assert_allclose(res["null"], train["target"].mean())


def test_fit_predict_baselines_with_climate_no_warning() -> None:
    rng = np.random.default_rng(3)
    train, test = make_split(60, rng, True), make_split(20, rng, True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_predict_baselines(
            train, dict(test, target=None), names=("rf_strong",), climate_variables=("pr", "tmmx")
        )
    assert len(res.feature_names["rf_strong"]) == 42 + 6
    assert res["rf_strong"].shape == (20,)


def test_fit_predict_baselines_errors() -> None:
    rng = np.random.default_rng(4)
    train, test = make_split(40, rng), make_split(10, rng)
    with pytest.raises(ConfigurationError, match=r"\['xgb'\].*'null', 'rf_paper'"):
        fit_predict_baselines(train, test, names=("null", "xgb"))
    short = dict(train, target=train["target"][:39])
    with pytest.raises(DataFormatError, match=r"train\['image'\] has 40.*train\['target'\] has 39"):
        fit_predict_baselines(short, test, names=("null",))
    nan_target = dict(train, target=np.where(np.arange(40) == 7, np.nan, train["target"]))
    with pytest.raises(DataFormatError, match=r"train\['target'\].*first: 7"):
        fit_predict_baselines(nan_target, test, names=("null",))
    with pytest.raises(DataFormatError, match=r"test lacks \['xy'\]"):
        fit_predict_baselines(train, dict(test, xy=None), names=("geo_knn",))
    with pytest.raises(ConfigurationError, match="NDVI"):
        fit_predict_baselines(
            dict(train, image=train["image"][:, :11]),
            dict(test, image=test["image"][:, :11]),
            names=("rf_paper",),
            band_names=OPTICAL_BANDS[:11],
        )
