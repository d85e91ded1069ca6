"""Regression kriging: a model's predictions plus its training residuals, kriged.

The classical digital-soil-mapping answer to spatial autocorrelation (Hengl et al. 2007):
model SOC from the covariates, then krige the residuals ``r = y - ŷ`` of the training points
and add the kriged residual at each test point. The model is any network run of chapter 2 or
forest of chapter 3 (``"<model>+rk"`` in the tables). Only training points enter: the
variogram is fitted on their residuals and they are the only conditioning data, so test
targets are used for the metrics alone.

Choices, and why:

- Coordinates in km (EPSG:3035 / 1000), so length scales read in km.
- Variogram: the empirical (Matheron) variogram of a seeded subsample of ``max_points``
  residuals, in geometric lag bins from 1/100 of half the extent to half the extent (short
  lags decide the kriging weights, so they get the finest bins). Exponential, Spherical and
  Gaussian models, each with a nugget, are fitted by least squares with the sill fixed at the
  residuals' variance and the length scale at most half the extent, from half nugget, half
  partial sill and a tenth of the extent; the highest R² is kept (all three are recorded).
  Unbounded, fits on a few hundred heavy-tailed residuals ran off (a Gaussian of 73,500 km
  and 300 times the variance on the smoke twin); with gstools' default soft-L1 loss (scale
  1 g²/kg²) and a fixed sill they collapsed to a pure nugget on the default twin, whose
  forest residuals hold ~10 % spatial variance.
- Simple kriging with mean 0: the residuals are around a model fitted to the same targets,
  so that model is the trend; far from every training point RK returns the model's own
  prediction. Ordinary kriging would re-estimate a constant the model already fitted. The
  training residuals' mean is recorded to show how close to 0 it is.
- The ``max_neighbours`` nearest training points: global kriging of 3,500 points with
  ``gstools.krige.Simple`` took 27 s per run (inverting the 3,500 x 3,500 system; 230 s with
  its default pseudo-inverse) on the shared 2-core machine, ~15 min for the default profile.
  Each target's small system is solved in batches with gstools' fitted covariance model and
  the equations of ``gstools.krige.Simple`` (nugget as measurement error, not reproduced at
  the data), which it equals when the neighbourhood holds every point (tests).
- Forests: a forest nearly reproduces its training targets, so its in-sample residuals hold
  almost no spatial signal; their training predictions are out-of-bag instead. Chapter 3's
  forests keep them (``train_oob_predictions.csv``); for a baseline run made before they did,
  the forest is refitted with chapter 3's features, hyperparameters and seed plus
  ``oob_score=True``, which changes no tree: the test predictions equal chapter 3's (checked,
  recorded). An OOB prediction
  averages ~37 % of the trees, so these residuals are slightly larger than a test point's.
- Networks: their training residuals are in sample (the best epoch's predictions of
  ``predictions.csv``, against the clipped target); a network that fits part of its training
  noise shrinks them, and RK then corrects less than it could.

Results are cached in ``<work_dir>/kriging/<address>/`` (``rk.json``, ``predictions.csv``),
addressed by the run folder, the model and the settings.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import gstools as gs
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from soilnet.errors import DataFormatError
from soilnet.io.atomic import atomic_dir
from soilnet.metrics import regression_metrics
from soilnet.workspace import Study, address

#: Suffix of a regression-kriging row's model name, e.g. ``"rf_strong+rk"``.
RK_SUFFIX = "+rk"
#: The forests of chapter 3 that get residual kriging (the other baselines have no covariates).
FORESTS = ("rf_paper", "rf_strong")
#: Candidate variogram models, each fitted with a nugget.
#: The variogram recorded when no model of :data:`VARIOGRAM_MODELS` fits: a pure nugget.
NUGGET_ONLY = "nugget"
VARIOGRAM_MODELS = {
    "Exponential": gs.Exponential,
    "Spherical": gs.Spherical,
    "Gaussian": gs.Gaussian,
}
#: Method settings (part of the cache address): residuals subsampled for the variogram, its
#: lag bins, kriging neighbourhood, subsample seed.
SETTINGS = {"max_points": 2000, "n_bins": 20, "max_neighbours": 64, "seed": 0}
_VERSION = 1  # bump when the method changes, so cached results are not reused
_CHUNK = 256  # targets per batch of kriging systems: 256 x 64 x 64 doubles = 8 MB


def rk_label(label: str) -> str:
    """Display label of a model's regression-kriging row, from the model's label."""
    return f"{label} + residual kriging"


def _km(xy_m, what: str) -> np.ndarray:
    xy = np.asarray(xy_m, np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.isfinite(xy).all():
        raise DataFormatError(f"{what} must be finite (N, 2) EPSG:3035 metres; got {xy.shape}.")
    return xy / 1000.0


def _values(values, n: int, what: str) -> np.ndarray:
    v = np.asarray(values, np.float64).reshape(-1)
    if v.shape[0] != n or not np.isfinite(v).all():
        raise DataFormatError(f"{what} must be {n} finite values; got shape {v.shape}.")
    return v


# ---------------------------------------------------------------------------------- variogram
def fit_residual_variogram(
    xy_m, residual_g_per_kg, *, max_points: int = 2000, n_bins: int = 20, seed: int = 0
) -> tuple[gs.CovModel, dict]:
    """Fit an isotropic variogram with nugget to residuals (see the module docstring).

    Args:
        xy_m: float (N, 2) EPSG:3035 easting, northing of the points, metres.
        residual_g_per_kg: float (N,) residuals (observed - predicted), g/kg.
        max_points: residuals subsampled (seeded) for the empirical variogram.
        n_bins: lag bins, geometric up to half the extent.
        seed: seed of the subsample.

    Returns:
        (the fitted gstools model, length scale in km; a record: ``model``, ``sill``,
        ``partial_sill``, ``nugget`` (g²/kg²), ``len_scale_km``, ``r2``, ``r2_by_model``,
        ``bin_edges_km``, ``pairs`` per bin, ``gamma`` per bin, ``n_points``, ``n_used``,
        ``residual_mean_g_per_kg``).
    """
    xy_km = _km(xy_m, "xy_m")
    r = _values(residual_g_per_kg, len(xy_km), "residual_g_per_kg")
    max_lag_km = 0.5 * float(np.hypot(*np.ptp(xy_km, axis=0)))
    edges = np.concatenate([[0.0], np.geomspace(max_lag_km / 100, max_lag_km, n_bins)])
    sampling = {"sampling_size": max_points, "sampling_seed": seed} if len(r) > max_points else {}
    centres, gamma, pairs = gs.vario_estimate(xy_km.T, r, edges, return_counts=True, **sampling)
    keep = pairs > 0
    sill = float(r.var())
    fits = {}
    for name, model_class in VARIOGRAM_MODELS.items():
        model = model_class(dim=2)
        model.len_scale_bounds = [0.0, max_lag_km]
        try:
            _, _, r2 = model.fit_variogram(
                centres[keep], gamma[keep], nugget=True, sill=sill, loss="linear",
                init_guess={"len_scale": max_lag_km / 10, "var": sill / 2, "nugget": sill / 2},
                return_r2=True,
            )  # fmt: skip
        except RuntimeError:  # curve_fit gave up: this shape does not fit
            continue
        if np.isfinite(r2):
            fits[name] = (model, float(r2))
    if fits:
        name = max(fits, key=lambda k: fits[k][1])
        model = fits[name][0]
    else:
        # No shape fits the empirical variogram (a few dozen points, or residuals without a
        # spatial structure to fit): a pure nugget, under which kriging adds nothing and the
        # model's prediction stands. Recorded as model "nugget" with r2 NaN.
        name, model = (
            NUGGET_ONLY,
            gs.Exponential(dim=2, var=0.0, len_scale=max_lag_km / 10, nugget=max(sill, 1e-12)),
        )
        fits[name] = (model, float("nan"))
    record = {
        "model": name, "sill": float(model.sill), "partial_sill": float(model.var),
        "nugget": float(model.nugget), "len_scale_km": float(model.len_scale),
        "r2": fits[name][1], "r2_by_model": {k: v[1] for k, v in fits.items()},
        "bin_edges_km": edges.round(3).tolist(), "pairs": pairs.tolist(),
        "gamma": gamma.round(4).tolist(), "n_points": len(r), "n_used": min(len(r), max_points),
        "residual_mean_g_per_kg": float(r.mean()),
    }  # fmt: skip
    return model, record


# ---------------------------------------------------------------------------------- kriging
def krige_residuals(
    xy_train_m, residual_train, xy_target_m, model: gs.CovModel, *, max_neighbours: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Simple kriging (mean 0) of training residuals at target points, from each target's
    ``max_neighbours`` nearest training points.

    The equations are those of ``gstools.krige.Simple(model, ..., mean=0)`` with its defaults
    (``exact=False``, ``cond_err="nugget"``): the nugget is measurement error, so the kriged
    value is the smooth residual field and the variance is that of a new observation.

    Args:
        xy_train_m, xy_target_m: float (N, 2) and (M, 2) EPSG:3035 coordinates, metres.
        residual_train: float (N,) training residuals, g/kg.
        model: a fitted gstools model with length scale in km (:func:`fit_residual_variogram`).

    Returns:
        (kriged residual g/kg, kriging variance g²/kg²), float64 (M,) each.
    """
    train_km = _km(xy_train_m, "xy_train_m")
    target_km = _km(xy_target_m, "xy_target_m")
    r = _values(residual_train, len(train_km), "residual_train")
    k = min(int(max_neighbours), len(train_km))
    tree = cKDTree(train_km)
    # Coincident training points with a zero nugget would make a system singular.
    diagonal = model.nugget + 1e-9 * model.sill
    kriged = np.empty(len(target_km))
    variance = np.empty(len(target_km))
    for lo in range(0, len(target_km), _CHUNK):
        dist_km, idx = tree.query(target_km[lo : lo + _CHUNK], k=k)
        dist_km, idx = dist_km.reshape(len(idx), k), idx.reshape(len(idx), k)
        near = train_km[idx]  # (b, k, 2)
        lhs = model.covariance(np.linalg.norm(near[:, :, None] - near[:, None, :], axis=-1))
        lhs[:, np.arange(k), np.arange(k)] += diagonal
        rhs = model.covariance(dist_km)
        weights = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        kriged[lo : lo + len(idx)] = np.einsum("bk,bk->b", weights, r[idx])
        variance[lo : lo + len(idx)] = model.sill - np.einsum("bk,bk->b", weights, rhs)
    return kriged, np.maximum(variance, 0.0)


@dataclass(frozen=True)
class RKResult:
    """Regression kriging at test points.

    Attributes:
        predicted_g_per_kg: (M,) model prediction + kriged residual.
        residual_g_per_kg: (M,) the kriged residual.
        variance_g2_per_kg2: (M,) kriging variance of a new observation's residual.
        variogram: the record of :func:`fit_residual_variogram`.
        seconds: wall-clock seconds of the variogram fit and the kriging.
    """

    predicted_g_per_kg: np.ndarray
    residual_g_per_kg: np.ndarray
    variance_g2_per_kg2: np.ndarray
    variogram: dict
    seconds: float


def regression_kriging(
    xy_train_m, y_train, pred_train, xy_test_m, pred_test, *, max_points: int = 2000,
    n_bins: int = 20, max_neighbours: int = 64, seed: int = 0,
) -> RKResult:  # fmt: skip
    """Test predictions plus the kriged training residuals ``y_train - pred_train``.

    Args:
        xy_train_m, xy_test_m: (N, 2) and (M, 2) EPSG:3035 coordinates, metres.
        y_train: (N,) training targets (g/kg, clipped as trained).
        pred_train: (N,) the model's training predictions (out-of-bag for a forest), g/kg.
        pred_test: (M,) the model's test predictions, g/kg.
        max_points, n_bins, seed: see :func:`fit_residual_variogram`.
        max_neighbours: see :func:`krige_residuals`.
    """
    start = time.perf_counter()
    n = len(np.asarray(xy_train_m))
    residual = _values(y_train, n, "y_train") - _values(pred_train, n, "pred_train")
    model, record = fit_residual_variogram(
        xy_train_m, residual, max_points=max_points, n_bins=n_bins, seed=seed
    )
    kriged, variance = krige_residuals(
        xy_train_m, residual, xy_test_m, model, max_neighbours=max_neighbours
    )
    pred = _values(pred_test, len(kriged), "pred_test") + kriged
    return RKResult(pred, kriged, variance, record, time.perf_counter() - start)


def krige_predictions(predictions: pd.DataFrame, xy_m, settings: dict = SETTINGS) -> tuple:
    """Regression kriging of one run's predictions table.

    Args:
        predictions: rows with ``split`` (``train``/``test``; others ignored),
            ``target_g_per_kg`` and ``predicted_g_per_kg``, as a network run's
            ``predictions.csv``.
        xy_m: (len(predictions), 2) coordinates of its rows, metres.

    Returns:
        (the test rows with ``model_g_per_kg``, ``kriged_residual_g_per_kg``,
        ``kriging_variance_g2_per_kg2`` and ``predicted_g_per_kg`` (the RK prediction);
        the :class:`RKResult`). Test targets enter neither.
    """
    train = (predictions["split"] == "train").to_numpy()
    test = (predictions["split"] == "test").to_numpy()
    xy_m = np.asarray(xy_m, np.float64)
    result = regression_kriging(
        xy_m[train], predictions["target_g_per_kg"].to_numpy()[train],
        predictions["predicted_g_per_kg"].to_numpy()[train], xy_m[test],
        predictions["predicted_g_per_kg"].to_numpy()[test], **settings,
    )  # fmt: skip
    table = predictions.loc[test, ["Point_ID", "target_g_per_kg"]].reset_index(drop=True)
    table["model_g_per_kg"] = predictions["predicted_g_per_kg"].to_numpy()[test]
    table["kriged_residual_g_per_kg"] = result.residual_g_per_kg
    table["kriging_variance_g2_per_kg2"] = result.variance_g2_per_kg2
    table["predicted_g_per_kg"] = result.predicted_g_per_kg
    return table, result


# ---------------------------------------------------------------------------------- the study
def _forest_predictions(study: Study, key, store, name: str) -> tuple[pd.DataFrame, float]:
    """Chapter 3's forest ``name`` refitted with ``oob_score=True``: a predictions table with
    out-of-bag training and ordinary test predictions, and the fit's seconds."""
    from sklearn.ensemble import RandomForestRegressor

    from soilnet.baselines import FOREST_PARAMS, paper_rf_features, strong_features
    from soilnet.dataset import TargetTransform, point_arrays

    split = study.split(key.protocol, key.fold, store)
    target = TargetTransform(study.config.train.clip_g_per_kg)
    parts = {"train": point_arrays(store, split.train, target), "test": point_arrays(store, split.test, target)}  # fmt: skip
    if name == "rf_paper":
        features = {p: paper_rf_features(a["image"], store.band_names) for p, a in parts.items()}
    else:  # as fit_predict_baselines: every band statistic, plus climate when the store has it
        climate_variables = store.climate_variables or None
        features = {
            p: strong_features(a["image"], a["climate"], store.band_names, climate_variables)[0]
            for p, a in parts.items()
        }
    forest = RandomForestRegressor(
        **FOREST_PARAMS[name], oob_score=True, random_state=key.seed, n_jobs=-1
    )
    start = time.perf_counter()
    forest.fit(features["train"], parts["train"]["target"])
    fit_seconds = time.perf_counter() - start
    table = pd.concat(
        [
            pd.DataFrame({"Point_ID": parts["train"]["point_id"], "split": "train",
                          "target_g_per_kg": parts["train"]["target"],
                          "predicted_g_per_kg": forest.oob_prediction_}),
            pd.DataFrame({"Point_ID": parts["test"]["point_id"], "split": "test",
                          "target_g_per_kg": parts["test"]["target"],
                          "predicted_g_per_kg": forest.predict(features["test"])}),
        ],
        ignore_index=True,
    )  # fmt: skip
    return table, fit_seconds


def _chapter3_forest_predictions(run_path, name: str) -> pd.DataFrame:
    """Chapter 3's forest ``name``: out-of-bag training and test predictions, as one table."""
    oob = pd.read_csv(run_path / "train_oob_predictions.csv")
    test = pd.read_csv(run_path / "predictions.csv")
    return pd.concat(
        [
            pd.DataFrame({"Point_ID": oob["Point_ID"], "split": "train",
                          "target_g_per_kg": oob["target_g_per_kg"],
                          "predicted_g_per_kg": oob[name]}),
            pd.DataFrame({"Point_ID": test["Point_ID"], "split": "test",
                          "target_g_per_kg": test["target_g_per_kg"],
                          "predicted_g_per_kg": test[name]}),
        ],
        ignore_index=True,
    )  # fmt: skip


def _rk_run(study: Study, store, key, name: str, run_path, settings: dict) -> dict:
    """One "+rk" row: read from its cache folder, or computed and written there."""
    folder = (
        study.work_dir
        / "kriging"
        / address({"run": run_path.name, "model": name, "settings": settings, "version": _VERSION})
    )
    if (folder / "rk.json").is_file():
        return json.loads((folder / "rk.json").read_text())["row"]
    fit_seconds, check = np.nan, {}
    oob_file = run_path / "train_oob_predictions.csv"
    if key.kind == "network":
        predictions = pd.read_csv(run_path / "predictions.csv")
    elif oob_file.is_file():  # chapter 3 kept its forests' out-of-bag training predictions
        predictions = _chapter3_forest_predictions(run_path, name)
    else:
        predictions, fit_seconds = _forest_predictions(study, key, store, name)
        chapter3 = pd.read_csv(run_path / "predictions.csv").set_index("Point_ID")[name]
        test = predictions[predictions["split"] == "test"]
        diff = test["predicted_g_per_kg"].to_numpy() - chapter3.loc[test["Point_ID"]].to_numpy()
        check = {"test_max_abs_diff_vs_chapter3_g_per_kg": float(np.abs(diff).max())}
    rows = pd.Index(store.point_ids).get_indexer(predictions["Point_ID"])
    table, result = krige_predictions(predictions, store.xy[rows], settings)
    row = {
        "model": name + RK_SUFFIX, "seed": key.seed, "fold": key.fold_label,
        "fit_seconds": round(fit_seconds, 3), "rk_seconds": round(result.seconds, 3),
        **regression_metrics(table["target_g_per_kg"], table["predicted_g_per_kg"]),
    }  # fmt: skip
    record = {"row": row, "run": run_path.name, "protocol": key.protocol, "settings": settings,
              "variogram": result.variogram, **check}  # fmt: skip
    with atomic_dir(folder) as tmp:
        table.to_csv(tmp / "predictions.csv", index=False)
        (tmp / "rk.json").write_text(json.dumps(record, indent=2))
    return row


def residual_kriging_runs(
    study: Study, protocol: str = "random", settings: dict = SETTINGS
) -> pd.DataFrame:
    """Test metrics of regression kriging on every configured network run and forest.

    One row per (``<model>+rk``, seed, fold): ``model``, ``seed``, ``fold``, ``fit_seconds``
    (the forests' out-of-bag refit; NaN for networks), ``rk_seconds`` (variogram and
    kriging) and the metrics of :func:`soilnet.metrics.regression_metrics` against the
    clipped test targets. Needs chapters 2 and 3; computed rows are cached (module docstring).
    """
    from soilnet.experiment import _run_record, plan

    store = study.store()
    rows = []
    for key in plan(study, "network", protocol):
        path, _ = _run_record(study, key, store)
        rows.append(_rk_run(study, store, key, key.model, path, settings))
    for key in plan(study, "baselines", protocol):
        path, _ = _run_record(study, key, store)
        rows += [_rk_run(study, store, key, name, path, settings) for name in FORESTS]
    return pd.DataFrame(rows)


def kriging_gain_table(study: Study, protocols=("random", "spatial")) -> pd.DataFrame:
    """What residual kriging changes and costs: per protocol and model, the mean test RMSE
    without and with it (g/kg, over seeds and folds), the change, and the seconds it took."""
    from soilnet.experiment import baseline_runs, network_runs
    from soilnet.reporting import model_label

    rows = []
    for protocol in protocols:
        rk = residual_kriging_runs(study, protocol)
        plain = pd.concat([network_runs(study, protocol), baseline_runs(study, protocol)])
        plain_rmse = plain.groupby("model")["rmse"].mean()
        for name, group in rk.groupby("model", sort=False):
            base = name.removesuffix(RK_SUFFIX)
            rows.append(
                {
                    "protocol": protocol, "model": model_label(base),
                    "RMSE (g/kg)": plain_rmse[base], "RMSE + kriging (g/kg)": group["rmse"].mean(),
                    "change (g/kg)": group["rmse"].mean() - plain_rmse[base],
                    "runs": len(group), "kriging seconds": group["rk_seconds"].sum(),
                }
            )  # fmt: skip
    return pd.DataFrame(rows).round(2)
