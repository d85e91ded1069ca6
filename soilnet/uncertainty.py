"""Uncertainty and area of applicability of a finished study (the book's uncertainty chapter).

Study-level glue over :mod:`soilnet.intervals`, :mod:`soilnet.interval_metrics` and
:mod:`soilnet.applicability`; every number is in g/kg against the targets as the models were
trained and scored (SOC clipped at ``train.clip_g_per_kg``).

- :func:`network_intervals`: per network variant and fold, the seed ensemble's validation and
  test predictions (each run's ``predictions.csv``) calibrated by split conformal on the
  **validation points only**: constant-width (``conformal``) and spread-scaled
  (``adaptive conformal``, needs two seeds or more).
- :func:`forest_intervals`: quantile regression forests with the features, hyperparameters
  and first seed of the paper's RF and the strong RF, one fit per fold.
- :func:`interval_scores`: PICP, mean width and interval score per level, CRPS and PIT.
- :func:`applicability`: the dissimilarity index (DI) of every test point and whether it lies
  inside the area of applicability (AOA), with its absolute error. See
  :func:`applicability` for the predictor spaces and cross-validation folds.

Under spatial CV each fold is calibrated (or fitted) on its own and the test points of all
folds are pooled in the tables. Fitted forests are kept in memory for the session (keyed by
the baseline run's address), so :func:`interval_scores` and :func:`applicability` fit them
once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from soilnet.applicability import di_error_table, train_dissimilarity
from soilnet.dataset import TargetTransform, point_arrays
from soilnet.errors import ConfigurationError, MissingOutputError
from soilnet.experiment import BASELINE_KIND, RunKey, _run_record, hybrid_variant, run_address
from soilnet.interval_metrics import (
    CALIBRATION_COLUMNS,
    calibration_table,
    crps_ensemble,
    pit_ensemble,
)
from soilnet.intervals import (
    NOMINAL_LEVELS,
    adaptive_conformal_intervals,
    conformal_intervals,
    conformal_predictive_quantiles,
    quantile_forest_intervals,
    quantile_levels,
)
from soilnet.reporting import model_label
from soilnet.workspace import Study

#: Interval methods, by name: what calibrates each.
METHODS: dict[str, str] = {
    "conformal": "split conformal on the validation points, one width for all",
    "adaptive conformal": "split conformal on the validation points, scaled by the seed spread",
    "quantile forest": "quantiles of a quantile regression forest (no calibration)",
}
#: Forest baselines given quantile-forest intervals and a DI.
FORESTS: tuple[str, ...] = ("rf_paper", "rf_strong")
#: Random folds of the training DI when the spatial folds cannot serve (see applicability).
RANDOM_DI_FOLDS = 5
#: Pairs of training points behind the DI's mean distance (a seeded sample above it; about
#: 0.3 % sampling error, far below what moves the AOA).
DI_MAX_PAIRS = 200_000
#: Training points (a seeded sample above it) whose network embedding is the DI's reference
#: set: a forward pass per point (about 2-3 ms for ResNet-18 at 32 px on 2 CPU cores) and the
#: neighbour search in ~1,150 dimensions grow with it. Test points are never sampled.
DI_MAX_TRAIN_POINTS = 1000
#: Leading columns of every forecast table.
ID_COLUMNS: tuple[str, ...] = (
    "protocol", "fold", "model", "method", "Point_ID", "observed_g_per_kg", "target_g_per_kg",
)  # fmt: skip

# Fitted quantile forests of this session: baseline run address -> per forest results.
_FOREST_CACHE: dict[str, dict] = {}


@dataclass(frozen=True, eq=False)
class IntervalForecasts:
    """Intervals and predictive quantiles at the test points, one row per point and method.

    Attributes:
        table: :data:`ID_COLUMNS`, ``mean`` (the point prediction, g/kg), then ``lower_<L>``,
            ``upper_<L>`` per level of :data:`~soilnet.intervals.NOMINAL_LEVELS`; ``fold`` is
            -1 for the random split.
        quantiles: float64 (rows, k) predictive quantiles (g/kg), row-aligned with ``table``.
        quantile_levels: float64 (k,) their probability levels (a midpoint grid).
        notes: why a method was left out (e.g. the adaptive one with a single seed).
    """

    table: pd.DataFrame
    quantiles: np.ndarray
    quantile_levels: np.ndarray
    notes: tuple[str, ...] = ()


def _bounds(study: Study) -> tuple[float, float]:
    """The range a target can take: SOC >= 0, at most the clip value."""
    clip = study.config.train.clip_g_per_kg
    return 0.0, float(clip) if clip else np.inf


def _first_seed(study: Study, protocol: str) -> int:
    return int(study.config.experiment.seeds_for(protocol)[0])


def _concat(parts: list[IntervalForecasts], notes: list[str]) -> IntervalForecasts:
    if not parts:
        raise MissingOutputError("No forecasts were made: the study configures no runs.")
    return IntervalForecasts(
        pd.concat([p.table for p in parts], ignore_index=True),
        np.concatenate([p.quantiles for p in parts]),
        parts[0].quantile_levels,
        tuple(notes),
    )


def _ensemble(study: Study, protocol: str, fold, variant: str, store) -> tuple[pd.DataFrame, ...]:
    """Validation and test predictions of one variant's seeds: (val, test), one column per seed
    plus ``observed_g_per_kg`` and ``target_g_per_kg``, indexed by Point_ID."""
    cols: dict[int, pd.DataFrame] = {}
    for seed in study.config.experiment.seeds_for(protocol):
        path, _ = _run_record(study, RunKey("network", protocol, fold, variant, seed), store)
        cols[seed] = pd.read_csv(path / "predictions.csv").set_index("Point_ID")
    first = next(iter(cols.values()))
    out = []
    for part in ("val", "test"):
        ids = first.index[first["split"] == part]
        table = first.loc[ids, ["observed_g_per_kg", "target_g_per_kg"]]
        for seed, pred in cols.items():
            table[seed] = pred["predicted_g_per_kg"].reindex(ids).to_numpy()
        out.append(table)
    return out[0], out[1]


def network_intervals(
    study: Study, protocol: str = "random", levels=NOMINAL_LEVELS
) -> IntervalForecasts:
    """Split-conformal intervals of each network variant's seed ensemble, per fold.

    The ensemble mean over seeds is the point prediction. Calibration reads the validation
    points only (their predictions and targets); the test targets are copied into the table
    for scoring and never reach the calibration. ``conformal`` gives every point the same
    width; ``adaptive conformal`` scales it by the spread over seeds and needs at least two
    seeds: with one it is left out and :attr:`IntervalForecasts.notes` says so. Bounds are
    clipped to [0, clip] g/kg, where every target lies. Quantiles for CRPS and PIT come from
    :func:`~soilnet.intervals.conformal_predictive_quantiles` (99 midpoints).

    Raises:
        MissingOutputError: a configured run is missing (chapter 2 makes them).
    """
    store = study.store()
    bounds = _bounds(study)
    grid = quantile_levels()
    seeds = study.config.experiment.seeds_for(protocol)
    notes = []
    if len(seeds) < 2:
        notes.append(
            f"adaptive conformal left out: {protocol} has one seed ({seeds[0]}), so there is no "
            "seed spread to scale by (set experiment.seeds to two or more)."
        )
        warnings.warn(notes[-1], UserWarning, stacklevel=2)
    parts = []
    for variant in study.config.experiment.variants_for(protocol):
        for fold in study.folds(protocol):
            val, test = _ensemble(study, protocol, fold, variant, store)
            v, y, t = val[list(seeds)], val["target_g_per_kg"], test[list(seeds)]
            methods = {"conformal": False, "adaptive conformal": True}
            if len(seeds) < 2:
                methods.pop("adaptive conformal")
            for method, adaptive in methods.items():
                make = adaptive_conformal_intervals if adaptive else conformal_intervals
                frame = make(v, y, t, levels, bounds_g_per_kg=bounds).drop(columns="sd")
                q = conformal_predictive_quantiles(v, y, t, grid, adaptive=adaptive)
                parts.append(
                    IntervalForecasts(
                        _with_ids(frame, protocol, fold, variant, method, test),
                        np.clip(q, *bounds),
                        grid,
                    )
                )
    return _concat(parts, notes)


def _with_ids(frame: pd.DataFrame, protocol, fold, model, method, points) -> pd.DataFrame:
    """``frame`` with the :data:`ID_COLUMNS` in front; ``points`` indexed by Point_ID."""
    ids = {
        "protocol": protocol, "fold": -1 if fold is None else fold, "model": model,
        "method": method, "Point_ID": points.index.to_numpy(),
        "observed_g_per_kg": points["observed_g_per_kg"].to_numpy(),
        "target_g_per_kg": points["target_g_per_kg"].to_numpy(),
    }  # fmt: skip
    return pd.concat([pd.DataFrame(ids), frame.reset_index(drop=True)], axis=1)


def _forest_fold(study: Study, protocol: str, fold, store) -> dict:
    """Quantile forests of one split (first seed), cached by the baseline run's address.

    Returns:
        dict with ``test`` (Point_ID-indexed observed and target), ``train_rows``,
        ``forecasts`` (name -> QuantileForecast at the test points), ``importances``,
        ``features`` (name -> (train, test)) and ``feature_names``.
    """
    from soilnet.baselines import fit_predict_baselines

    seed = _first_seed(study, protocol)
    key = run_address(study, RunKey("baselines", protocol, fold, BASELINE_KIND, seed), store)
    if key in _FOREST_CACHE:
        return _FOREST_CACHE[key]
    split = study.split(protocol, fold, store)
    target = TargetTransform(study.config.train.clip_g_per_kg)
    train = point_arrays(store, split.train, target)
    test = point_arrays(store, split.test, target)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="rf_strong: no climate", category=UserWarning)
        res = fit_predict_baselines(
            train, test, names=FORESTS, band_names=store.band_names,
            climate_variables=store.climate_variables or None, random_state=seed, n_jobs=-1,
            quantile_forests=True,
        )  # fmt: skip
    points = pd.DataFrame(
        {
            "observed_g_per_kg": store.index["oc_g_per_kg"].to_numpy()[split.test],
            "target_g_per_kg": test["target"],
        },
        index=pd.Index(test["point_id"], name="Point_ID"),
    )
    out = {
        "test": points,
        "train_rows": split.train,
        "forecasts": {
            n: quantile_forest_intervals(res.models[n], res.features[n][1]) for n in FORESTS
        },
        "importances": {n: res.models[n].feature_importances_ for n in FORESTS},
        "features": dict(res.features),
        "feature_names": dict(res.feature_names),
    }
    _FOREST_CACHE[key] = out
    return out


def forest_intervals(
    study: Study, protocol: str = "random", levels=NOMINAL_LEVELS
) -> IntervalForecasts:
    """Quantile regression forest intervals of the paper's RF and the strong RF, per fold.

    Same features, hyperparameters and training points as chapter 3's forests, with the
    protocol's first seed; the ``mean`` is the Random Forest's prediction. Intervals span the
    predicted quantiles (1 - L)/2 and (1 + L)/2 (no calibration on validation points); the
    quantile grid (99 midpoints) serves CRPS and PIT.
    """
    store = study.store()
    parts = []
    for fold in study.folds(protocol):
        fit = _forest_fold(study, protocol, fold, store)
        for name in FORESTS:
            forecast = fit["forecasts"][name]
            if tuple(levels) != NOMINAL_LEVELS:
                raise ConfigurationError(
                    f"forest intervals are cached at {NOMINAL_LEVELS}; got levels {levels}."
                )
            frame = forecast.frame.drop(columns="median")
            table = _with_ids(frame, protocol, fold, name, "quantile forest", fit["test"])
            parts.append(IntervalForecasts(table, forecast.quantiles, forecast.levels))
    return _concat(parts, [])


@dataclass(frozen=True, eq=False)
class IntervalScores:
    """Scores of the intervals and predictive distributions of one protocol.

    Attributes:
        calibration: one row per model, method and level: ``protocol``, ``model``,
            ``method``, ``label``, then :data:`~soilnet.interval_metrics.CALIBRATION_COLUMNS`
            (PICP with its Wilson interval, mean width and interval score in g/kg, n).
        crps: one row per model and method: ``crps_g_per_kg`` (mean CRPS), ``mae_g_per_kg``
            (of the point prediction, the CRPS of a forecast without spread) and ``n``.
        pit: one row per test point, model and method: ``fold``, ``Point_ID``, ``pit``.
        notes: methods left out, and why.
    """

    calibration: pd.DataFrame
    crps: pd.DataFrame
    pit: pd.DataFrame
    notes: tuple[str, ...] = ()


def series_label(model: str, method: str) -> str:
    """Display label of a model's intervals, e.g. ``"ResNet-18-GLAM+LSTM (conformal)"``."""
    return f"{model_label(model)} ({method})"


def interval_scores(
    study: Study,
    protocol: str = "random",
    networks: IntervalForecasts | None = None,
    forests: IntervalForecasts | None = None,
) -> IntervalScores:
    """PICP, width, interval score, CRPS and PIT of every model and method, folds pooled.

    Args:
        networks, forests: forecasts already made by :func:`network_intervals` and
            :func:`forest_intervals` for this protocol (default: made here).
    """
    networks = networks if networks is not None else network_intervals(study, protocol)
    forests = forests if forests is not None else forest_intervals(study, protocol)
    cal, crps, pit = [], [], []
    for fc in (networks, forests):
        groups = fc.table.groupby(["model", "method"], sort=False).indices
        for (model, method), rows in groups.items():
            t = fc.table.iloc[rows]
            y = t["target_g_per_kg"].to_numpy()
            q = fc.quantiles[rows]
            head = {"protocol": protocol, "model": model, "method": method,
                    "label": series_label(model, method)}  # fmt: skip
            cal.append(calibration_table(y, t).assign(**head))
            crps.append(
                {
                    **head, "crps_g_per_kg": float(np.mean(crps_ensemble(y, q))),
                    "mae_g_per_kg": float(np.mean(np.abs(t["mean"].to_numpy() - y))),
                    "n": len(y),
                }
            )  # fmt: skip
            pit.append(
                pd.DataFrame(
                    {
                        **head,
                        "fold": t["fold"].to_numpy(),
                        "Point_ID": t["Point_ID"].to_numpy(),
                        "pit": pit_ensemble(y, q),
                    }  # fmt: skip
                )
            )
    head_cols = ["protocol", "model", "method", "label"]
    calibration = pd.concat(cal, ignore_index=True)[head_cols + list(CALIBRATION_COLUMNS)]
    return IntervalScores(
        calibration, pd.DataFrame(crps), pd.concat(pit, ignore_index=True),
        networks.notes + forests.notes,
    )  # fmt: skip


def coverage_table(scores: list[IntervalScores] | IntervalScores) -> pd.DataFrame:
    """PICP per level (columns) for each protocol, model and method (rows), display labels."""
    scores = [scores] if isinstance(scores, IntervalScores) else list(scores)
    cal = pd.concat([s.calibration for s in scores], ignore_index=True)
    table = cal.pivot_table(
        index=["protocol", "label"], columns="level", values="picp", sort=False
    ).round(3)
    table.columns = [f"PICP at {lv:g}" for lv in table.columns]
    return table.rename_axis(["Protocol", "Model (method)"])


def score_table(scores: list[IntervalScores] | IntervalScores) -> pd.DataFrame:
    """Mean width and interval score per level, CRPS and the point prediction's MAE (g/kg)."""
    scores = [scores] if isinstance(scores, IntervalScores) else list(scores)
    cal = pd.concat([s.calibration for s in scores], ignore_index=True)
    wide = cal.pivot_table(
        index=["protocol", "label"], columns="level",
        values=["mean_width_g_per_kg", "interval_score_g_per_kg"], sort=False,
    )  # fmt: skip
    names = {"mean_width_g_per_kg": "Width", "interval_score_g_per_kg": "Interval score"}
    wide.columns = [f"{names[v]} {lv:g} (g/kg)" for v, lv in wide.columns]
    crps = pd.concat([s.crps for s in scores], ignore_index=True).set_index(["protocol", "label"])
    table = wide.join(crps[["crps_g_per_kg", "mae_g_per_kg"]]).rename(
        columns={"crps_g_per_kg": "CRPS (g/kg)", "mae_g_per_kg": "MAE (g/kg)"}
    )
    return table.round(2).rename_axis(["Protocol", "Model (method)"])


def coverage_at(scores: IntervalScores, model: str, method: str, level: float) -> float:
    """The PICP of one model and method at one level."""
    cal = scores.calibration
    row = cal[(cal["model"] == model) & (cal["method"] == method) & np.isclose(cal["level"], level)]
    if row.empty:
        raise ConfigurationError(
            f"No PICP for {model!r} ({method}) at level {level:g}; the table holds "
            f"{sorted(set(zip(cal['model'], cal['method'], strict=True)))} at {sorted(set(cal['level']))}."
        )
    return float(row["picp"].iloc[0])


# ---------------------------------------------------------------------------------- the AOA
def di_folds(study: Study, train_rows: np.ndarray, store, seed: int = 0) -> tuple[np.ndarray, str]:
    """Cross-validation folds of the training DI: the spatial folds, else random ones.

    A training point's DI is its distance to the nearest training point of another fold. The
    spatial block folds of chapter 1 (:meth:`Study.split`) are used when the training points
    span at least two of them (every protocol of a study with three folds or more): the DI
    threshold then reflects how far spatial cross-validation extrapolated, the stricter test
    Meyer & Pebesma recommend. Otherwise (two folds under spatial CV leave one fold for
    training) the training points get :data:`RANDOM_DI_FOLDS` seeded random folds.

    Returns:
        (int (n_train,) fold labels, ``"spatial folds"`` or ``"5 random folds"``).
    """
    train_rows = np.asarray(train_rows)
    fold_of = np.full(len(store), -1)
    for fold in study.folds("spatial"):
        fold_of[study.split("spatial", fold, store).test] = fold
    labels = fold_of[train_rows]
    if (labels >= 0).all() and np.unique(labels).size >= 2:
        return labels, "spatial folds"
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(train_rows.size) % RANDOM_DI_FOLDS), (
        f"{RANDOM_DI_FOLDS} random folds"
    )


def _varying(train: np.ndarray, *others: np.ndarray):
    """Drop the columns constant over the training points (they carry no dissimilarity)."""
    keep = train.std(axis=0) > 0
    return (train[:, keep], *(o[:, keep] for o in others), keep)


@torch.no_grad()
def network_embedding(model, normalization, store, rows, batch_size: int = 256) -> np.ndarray:
    """The head's input (:meth:`~soilnet.models.SoilNetModel.embed`) at store ``rows``.

    Rows are read, normalised and evaluated in batches on the model's device (CPU as loaded
    by :func:`soilnet.checkpoint.load_model`), so memory stays bounded for any store.

    Returns:
        float64 (len(rows), embedding size).
    """
    from soilnet.inference import embed

    out = []
    rows = np.asarray(rows, np.int64)
    for lo in range(0, rows.size, batch_size):  # rows read a batch at a time: bounded memory
        batch = point_arrays(store, rows[lo : lo + batch_size], target=None)
        image, climate = normalized_inputs(model, normalization, batch)
        out.append(embed(model, image, climate, batch_size))
    size = sum(p[0].in_features for p in model.head.projections)
    return np.concatenate(out) if out else np.zeros((0, size))


def normalized_inputs(model, normalization, sample: dict):
    """(image, climate) of a numpy sample dict as the model's normalised tensors (None where
    the model does not read the input)."""
    image = climate = None
    if model.spec.uses_image:
        image = normalization.image(torch.from_numpy(sample["image"]))
    if model.spec.uses_climate:
        climate = normalization.climate(torch.from_numpy(sample["climate"]))
    return image, climate


@dataclass(frozen=True, eq=False)
class Applicability:
    """DI and AOA of the test points of one protocol.

    Attributes:
        points: one row per test point and model: ``protocol``, ``fold``, ``model``,
            ``label``, ``Point_ID``, ``di``, ``inside_aoa``, ``abs_error_g_per_kg`` (of the
            point prediction of the model whose predictors or embedding gave the DI).
        thresholds: one row per fold and model: ``threshold``, ``cv_folds`` (what the
            training DI was cross-validated over), ``space`` (the predictors), ``n_train``,
            ``n_features`` (after dropping constant ones), ``share_inside_aoa``.
        error_table: per model, :func:`~soilnet.applicability.di_error_table` over the test
            points of all folds (quantile bins of the DI, mean absolute error), the share
            inside the AOA counted with each point's own fold threshold.
        summary: per model, RMSE and MAE (g/kg) inside and outside the AOA and over all.
    """

    points: pd.DataFrame
    thresholds: pd.DataFrame
    error_table: pd.DataFrame
    summary: pd.DataFrame


def _di_rows(protocol, fold, model, space, cv, tdi, X_test, ids, abs_err, n_features):
    di, inside = tdi.applicability(X_test)
    points = pd.DataFrame(
        {
            "protocol": protocol, "fold": -1 if fold is None else fold, "model": model,
            "label": model_label(model), "Point_ID": ids, "di": di, "inside_aoa": inside,
            "abs_error_g_per_kg": abs_err,
        }
    )  # fmt: skip
    threshold = {
        "protocol": protocol, "fold": -1 if fold is None else fold, "model": model,
        "label": model_label(model), "threshold": tdi.threshold, "cv_folds": cv, "space": space,
        "n_train": tdi.train.shape[0], "n_features": n_features,
        "share_inside_aoa": float(inside.mean()) if inside.size else np.nan,
    }  # fmt: skip
    return points, threshold


def _forest_di(study, protocol, fold, store):
    fit = _forest_fold(study, protocol, fold, store)
    folds, cv = di_folds(study, fit["train_rows"], store, _first_seed(study, protocol))
    for name in FORESTS:
        X_tr, X_te = fit["features"][name]
        X_tr, X_te, keep = _varying(X_tr, X_te)
        weights = fit["importances"][name][keep]
        space = "features weighted by importance"
        if not np.any(weights > 0):  # a forest that never split (too few training points)
            weights, space = None, "features, unweighted (the forest made no split)"
        tdi = train_dissimilarity(X_tr, weights, folds, max_pairs=DI_MAX_PAIRS)
        err = np.abs(
            fit["forecasts"][name].frame["mean"].to_numpy()
            - fit["test"]["target_g_per_kg"].to_numpy()
        )
        yield _di_rows(
            protocol, fold, name, space, cv, tdi, X_te,
            fit["test"].index.to_numpy(), err, int(keep.sum()),
        )  # fmt: skip


def _network_di(study, protocol, fold, store):
    from soilnet.checkpoint import load_model

    variant = hybrid_variant(study.config.experiment.variants_for(protocol))
    seed = _first_seed(study, protocol)
    path, _ = _run_record(study, RunKey("network", protocol, fold, variant, seed), store)
    model, norm, _ = load_model(path)
    split = study.split(protocol, fold, store)
    train = split.train
    if train.size > DI_MAX_TRAIN_POINTS:
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(train, DI_MAX_TRAIN_POINTS, replace=False))
    X_tr = network_embedding(model, norm, store, train)
    X_te = network_embedding(model, norm, store, split.test)
    X_tr, X_te, keep = _varying(X_tr, X_te)
    folds, cv = di_folds(study, train, store, seed)
    tdi = train_dissimilarity(X_tr, None, folds, max_pairs=DI_MAX_PAIRS)
    pred = pd.read_csv(path / "predictions.csv").set_index("Point_ID")
    ids = store.point_ids[split.test]
    err = (pred["predicted_g_per_kg"] - pred["target_g_per_kg"]).abs().reindex(ids).to_numpy()
    return _di_rows(
        protocol, fold, variant, "embedding before the regressor head", cv, tdi, X_te, ids, err,
        int(keep.sum()),
    )  # fmt: skip


def _pooled_error_table(points: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """:func:`di_error_table` of pooled folds, the AOA share from each point's own flag."""
    d, e = points["di"].to_numpy(), points["abs_error_g_per_kg"].to_numpy()
    bins = min(n_bins, max(1, d.size // 20))
    table = di_error_table(d, e, np.inf, bins)
    groups = pd.qcut(d, bins, duplicates="drop")  # the bins di_error_table used
    share = pd.Series(points["inside_aoa"].to_numpy()).groupby(groups, observed=True).mean()
    table["share_inside_aoa"] = share.to_numpy()
    return table


def applicability(study: Study, protocol: str = "random", n_bins: int = 10) -> Applicability:
    """Dissimilarity index, AOA and absolute error of the test points (Meyer & Pebesma 2021).

    Predictor spaces:

    - **forests** (paper RF, strong RF): their own features, standardised and weighted by the
      fitted quantile forest's ``feature_importances_`` (first seed, as
      :func:`forest_intervals`); unweighted if the forest never split (all importances 0).
    - **the SoilNet hybrid** (:func:`~soilnet.experiment.hybrid_variant`), first seed: the
      vector its regressor head receives (:meth:`~soilnet.models.SoilNetModel.embed`), all
      dimensions weighted equally, evaluated in batches on the CPU; the reference set is at
      most :data:`DI_MAX_TRAIN_POINTS` training points (a seeded sample; the training DI and
      threshold come from the same sample, so they stay consistent).

    Columns constant over the training points are dropped first. The training DI (and so the
    threshold) is cross-validated over :func:`di_folds`: the spatial block folds when the
    training points span two or more, else :data:`RANDOM_DI_FOLDS` random folds. Under
    spatial CV each fold has its own training set and threshold.

    Args:
        n_bins: quantile bins of the DI in :attr:`Applicability.error_table` (fewer when a
            model has under 20 test points per bin).
    """
    store = study.store()
    points, thresholds = [], []
    for fold in study.folds(protocol):
        for p, t in [
            *_forest_di(study, protocol, fold, store),
            _network_di(study, protocol, fold, store),
        ]:
            points.append(p)
            thresholds.append(t)
    points = pd.concat(points, ignore_index=True)
    tables, summary = [], []
    for model, group in points.groupby("model", sort=False):
        head = {"protocol": protocol, "model": model, "label": model_label(model)}
        tables.append(_pooled_error_table(group, n_bins).assign(**head))
        for name, sel in (("inside", group["inside_aoa"]), ("outside", ~group["inside_aoa"]),
                          ("all", pd.Series(True, index=group.index))):  # fmt: skip
            e = group.loc[sel, "abs_error_g_per_kg"].to_numpy()
            summary.append(
                {
                    **head, "group": name, "n": int(e.size),
                    "rmse_g_per_kg": float(np.sqrt(np.mean(e**2))) if e.size else np.nan,
                    "mae_g_per_kg": float(np.mean(e)) if e.size else np.nan,
                }
            )  # fmt: skip
    return Applicability(
        points, pd.DataFrame(thresholds), pd.concat(tables, ignore_index=True),
        pd.DataFrame(summary),
    )  # fmt: skip


def di_error_relation(app: Applicability, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Does the DI rank the test points by their error? One row per model.

    ``spearman_abs_error`` is Spearman's correlation between DI and absolute error (g/kg);
    ``mae_inside``/``mae_outside`` the mean absolute error inside and outside the AOA.

    With the twin's ``truth`` (its ``noise_floor_clipped`` column), the error is also read
    relative to the SOC level: the twin's noise is multiplicative (log-normal SOC), so a
    point's absolute error grows with its expected SOC whatever the model, and a DI that
    tracks the SOC level would rank absolute errors by level, not by extrapolation.
    ``spearman_noise_floor`` is the DI's correlation with that level, E[min(SOC, 87) | c1..c4];
    ``spearman_relative_error`` and ``rel_error_inside``/``_outside`` use the absolute error
    divided by it (unitless). Real data has no such level, so those columns are NaN there.
    """
    floor = None
    if truth is not None:
        floor = truth.set_index("Point_ID")["noise_floor_clipped"]
    rows = []
    for model, g in app.points.groupby("model", sort=False):
        di, err = g["di"].to_numpy(), g["abs_error_g_per_kg"].to_numpy()
        inside = g["inside_aoa"].to_numpy(bool)
        row = {
            "protocol": g["protocol"].iat[0], "model": model, "label": model_label(model),
            "n": int(di.size), "n_outside": int((~inside).sum()),
            "spearman_abs_error": _spearman(di, err),
            "mae_inside": _mean(err[inside]), "mae_outside": _mean(err[~inside]),
        }  # fmt: skip
        level = np.full(di.size, np.nan)
        if floor is not None:
            level = floor.reindex(g["Point_ID"].to_numpy()).to_numpy(np.float64)
        rel = err / level
        row.update(
            spearman_noise_floor=_spearman(di, level),
            spearman_relative_error=_spearman(di, rel),
            rel_error_inside=_mean(rel[inside]),
            rel_error_outside=_mean(rel[~inside]),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return np.nan
    from scipy.stats import spearmanr

    return float(spearmanr(a[ok], b[ok]).statistic)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size and np.isfinite(values).all() else np.nan


def di_relation_sentence(row: pd.Series) -> str:
    """One Markdown sentence on a :func:`di_error_relation` row, its verdict by rule.

    The DI *ranks* an error when its Spearman correlation with it is positive and the mean
    error outside the AOA exceeds the mean inside; otherwise it does not.
    """

    def ranks(rho, inside, outside) -> str:
        return "ranks" if rho > 0 and outside > inside else "does not rank"

    absolute = ranks(row["spearman_abs_error"], row["mae_inside"], row["mae_outside"])
    text = (
        f"{row['label']} ({row['protocol']}, {row['n_outside']:,d} of {row['n']:,d} test "
        f"points outside the AOA): the DI {absolute} absolute errors (Spearman "
        f"{row['spearman_abs_error']:+.2f}; mean {row['mae_inside']:.2f} g/kg inside, "
        f"{row['mae_outside']:.2f} outside)"
    )
    if np.isnan(row["spearman_relative_error"]):
        return text + "."
    relative = ranks(
        row["spearman_relative_error"], row["rel_error_inside"], row["rel_error_outside"]
    )
    return text + (
        f"; it correlates with the SOC level at {row['spearman_noise_floor']:+.2f} and "
        f"{relative} errors relative to that level (Spearman "
        f"{row['spearman_relative_error']:+.2f}; mean {row['rel_error_inside']:.2f} inside, "
        f"{row['rel_error_outside']:.2f} outside)."
    )
