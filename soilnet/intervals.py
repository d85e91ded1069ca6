"""Prediction intervals for SOC (g/kg): split conformal for a seed ensemble, and quantile
regression forests.

Every method returns the same table, one row per point, all in g/kg:

- ``mean``: the point prediction (ensemble mean over seeds, or the forest's mean);
- ``median`` (forests) or ``sd`` (ensembles: the spread over seeds, ddof=1);
- per nominal level ``L`` (central coverage, e.g. 0.9) ``lower_<L>`` and ``upper_<L>``, named
  with ``f"{L:g}"`` (``lower_0.9``, ``upper_0.68``); see :func:`level_columns`.

Split conformal (Vovk et al. 2005; Lei et al. 2018, JASA 113:1094) calibrates on held-out
points: with scores ``s_i`` on ``n`` validation points, the interval at level ``L`` uses
``q = the ceil((n + 1) L)-th smallest s_i``, which covers a new exchangeable point with
probability at least ``L`` (and below ``L + 1/(n+1)`` without ties). Two scores:

- **absolute** (:func:`conformal_intervals`): ``s = |y - mean|``; interval ``mean ± q``, one
  width for every point.
- **spread-normalised** (:func:`adaptive_conformal_intervals`): ``s = |y - mean| / sd``, with
  ``sd`` the seed spread, floored; interval ``mean ± q·sd``, wider where seeds disagree. Same
  marginal guarantee; the widths adapt only as far as the seed spread tracks the error.

Calibration only ever sees the validation set: the functions take validation and test
predictions as separate arguments, and the test targets are not an argument at all.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from quantile_forest import RandomForestQuantileRegressor
from sklearn.utils.validation import check_is_fitted

from soilnet.errors import ConfigurationError, DataFormatError
from soilnet.validation import check_array

#: Nominal central coverages reported by default: ±0.67 sd, ±1 sd, 90 % and 95 %.
NOMINAL_LEVELS: tuple[float, ...] = (0.5, 0.68, 0.9, 0.95)

_LOWER = re.compile(r"^lower_(\d*\.?\d+(?:e-?\d+)?)$")


def level_columns(level: float) -> tuple[str, str]:
    """Column names of the interval at nominal ``level``: ``("lower_0.9", "upper_0.9")``."""
    return f"lower_{level:g}", f"upper_{level:g}"


def interval_levels(frame: pd.DataFrame) -> list[float]:
    """The nominal levels a result table holds (those with both bounds), in column order."""
    levels = []
    for col in frame.columns:
        m = _LOWER.match(str(col))
        if m and level_columns(float(m.group(1)))[1] in frame.columns:
            levels.append(float(m.group(1)))
    return levels


def quantile_levels(n: int = 99) -> np.ndarray:
    """``n`` equally spaced probability levels, the midpoints ``(i + 0.5) / n``.

    Quantiles at these levels act as an ``n``-member ensemble of the predictive distribution
    (for CRPS and PIT in :mod:`soilnet.interval_metrics`); midpoints avoid 0 and 1, where a
    quantile can be infinite.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigurationError(f"n must be a positive integer number of levels; got {n!r}.")
    return (np.arange(int(n)) + 0.5) / int(n)


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Return ``levels`` as unique floats in (0, 1), in the given order; raise otherwise."""
    try:
        out = tuple(dict.fromkeys(float(v) for v in np.atleast_1d(levels)))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"levels must be numbers in (0, 1); got {levels!r}.") from exc
    bad = [v for v in out if not 0.0 < v < 1.0]
    if not out or bad:
        raise ConfigurationError(
            f"levels must be central coverages strictly between 0 and 1, e.g. {NOMINAL_LEVELS}; "
            f"got {levels!r}."
        )
    return out


def _ensemble(pred: object, name: str) -> np.ndarray:
    """Return ensemble predictions as float64 (n_points, n_seeds); a vector is one seed."""
    arr = np.asarray(pred, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    return check_array(
        arr, name, axes=("n_points", "n_seeds"), finite=True,
        hint="Pass one column per seed, in g/kg.",
    )  # fmt: skip


def conformal_quantile(scores: object, level: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1) level)``-th smallest score.

    Args:
        scores: 1-D nonconformity scores of the ``n`` calibration points.
        level: nominal coverage in (0, 1).

    Returns:
        The score quantile; ``inf`` (with a warning) when ``ceil((n + 1) level) > n``, i.e.
        too few calibration points to guarantee that level with a finite interval.
    """
    (level,) = check_levels([level])
    s = check_array(np.asarray(scores, dtype=np.float64), "scores", axes=("n",), finite=True)
    n = s.shape[0]
    # 1e-9 absorbs float error in (n + 1) * level, e.g. 75 * 0.68 = 51.00000000000001.
    k = math.ceil((n + 1) * level - 1e-9)
    if k > n:
        warnings.warn(
            f"{n} calibration points are too few for level {level:g} (needs "
            f"ceil((n+1)·{level:g}) <= n); the interval is infinite.",
            UserWarning,
            stacklevel=2,
        )
        return math.inf
    # Own code: the rule is one order statistic; conformal libraries (MAPIE) wrap estimators,
    # not precomputed ensemble predictions.
    return float(np.partition(s, k - 1)[k - 1])


def _intervals(
    mean: np.ndarray,
    half_width: dict[float, np.ndarray],
    bounds_g_per_kg: tuple[float, float] | None,
) -> dict[str, np.ndarray]:
    """Interval columns ``mean ± half_width``, clipped to ``bounds_g_per_kg`` if given."""
    cols: dict[str, np.ndarray] = {}
    for level, hw in half_width.items():
        lo, hi = mean - hw, mean + hw
        if bounds_g_per_kg is not None:
            lo, hi = np.clip(lo, *bounds_g_per_kg), np.clip(hi, *bounds_g_per_kg)
        lower, upper = level_columns(level)
        cols[lower], cols[upper] = lo, hi
    return cols


def _check_bounds(bounds: tuple[float, float] | None) -> tuple[float, float] | None:
    if bounds is None:
        return None
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ConfigurationError(
            f"bounds_g_per_kg must be (low, high) with low < high; got {bounds}."
        )
    return lo, hi


def _calibration_inputs(
    val_pred: object, val_target: object, test_pred: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ensemble predictions and targets; return val preds, val targets, test preds."""
    val = _ensemble(val_pred, "val_pred")
    test = _ensemble(test_pred, "test_pred")
    y = np.asarray(val_target, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    y = check_array(y, "val_target", axes=("n_val",), finite=True)
    if y.shape[0] != val.shape[0]:
        raise DataFormatError(
            f"val_target has {y.shape[0]} points but val_pred has {val.shape[0]}; pass the "
            "validation targets and predictions of the same points in the same order."
        )
    if val.shape[1] != test.shape[1]:
        raise DataFormatError(
            f"val_pred has {val.shape[1]} seeds but test_pred has {test.shape[1]}; calibrate "
            "and predict with the same ensemble."
        )
    return val, y, test


def _seed_sd(pred: np.ndarray) -> np.ndarray:
    """Sample sd over seeds (ddof=1); NaN for a single seed."""
    if pred.shape[1] < 2:
        return np.full(pred.shape[0], np.nan)
    return pred.std(axis=1, ddof=1)


def conformal_intervals(
    val_pred: object,
    val_target: object,
    test_pred: object,
    levels: Sequence[float] = NOMINAL_LEVELS,
    *,
    bounds_g_per_kg: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Split-conformal intervals of constant width around the ensemble mean.

    Scores are the absolute residuals of the validation ensemble mean, ``|y - mean|``; the
    interval at level ``L`` is ``mean ± q_L`` with ``q_L`` from :func:`conformal_quantile`.

    Args:
        val_pred: float (n_val, n_seeds) ensemble predictions on the validation set (g/kg);
            a vector is one seed.
        val_target: float (n_val,) validation targets (g/kg), as the networks were scored.
        test_pred: float (n_test, n_seeds) predictions of the same seeds on the test points.
        levels: nominal central coverages in (0, 1).
        bounds_g_per_kg: clip the bounds to the target's range, e.g. ``(0, 87)`` for targets
            clipped at 87 g/kg. Targets never lie outside it, so coverage is unchanged and
            intervals only get narrower.

    Returns:
        One row per test point: ``mean``, ``sd`` (spread over seeds, NaN for one seed), then
        ``lower_<L>``, ``upper_<L>`` per level. ``attrs["conformal_quantile"]`` maps each
        level to ``q_L`` (g/kg).

    Raises:
        DataFormatError: misshapen or non-finite inputs, or different seed counts.
        ConfigurationError: a level outside (0, 1).
    """
    levels = check_levels(levels)
    bounds = _check_bounds(bounds_g_per_kg)
    val, y, test = _calibration_inputs(val_pred, val_target, test_pred)
    scores = np.abs(y - val.mean(axis=1))
    q = {level: conformal_quantile(scores, level) for level in levels}
    mean = test.mean(axis=1)
    cols = _intervals(mean, {lv: np.full_like(mean, qv) for lv, qv in q.items()}, bounds)
    frame = pd.DataFrame({"mean": mean, "sd": _seed_sd(test), **cols})
    frame.attrs["conformal_quantile"] = q
    return frame


def spread_floor(val_sd: np.ndarray, sd_floor_g_per_kg: float | None) -> float:
    """The floor for the seed spread: as given, or 10 % of the median validation spread."""
    if sd_floor_g_per_kg is not None:
        if not float(sd_floor_g_per_kg) > 0:
            raise ConfigurationError(f"sd_floor_g_per_kg must be > 0; got {sd_floor_g_per_kg!r}.")
        return float(sd_floor_g_per_kg)
    # Relative to the data, so it suits any unit; the tiny absolute fallback only guards an
    # ensemble whose seeds agree exactly on most points.
    return max(0.1 * float(np.median(val_sd)), 1e-6)


def adaptive_conformal_intervals(
    val_pred: object,
    val_target: object,
    test_pred: object,
    levels: Sequence[float] = NOMINAL_LEVELS,
    *,
    sd_floor_g_per_kg: float | None = None,
    bounds_g_per_kg: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Locally adaptive split-conformal intervals, scaled by the seed spread.

    Scores are ``|y - mean| / max(sd, floor)`` with ``sd`` the spread over seeds (ddof=1);
    the interval at level ``L`` is ``mean ± q_L · max(sd, floor)``. The floor keeps points
    where a few seeds happen to agree from getting near-zero widths (and scores from
    exploding); it applies identically on validation and test points, so the guarantee holds.

    Args:
        val_pred: float (n_val, n_seeds) ensemble predictions on the validation set (g/kg);
            at least 2 seeds.
        val_target: float (n_val,) validation targets (g/kg).
        test_pred: float (n_test, n_seeds) predictions of the same seeds on the test points.
        levels: nominal central coverages in (0, 1).
        sd_floor_g_per_kg: floor of the spread; default 10 % of the median validation spread.
        bounds_g_per_kg: clip the bounds to the target's range (see
            :func:`conformal_intervals`).

    Returns:
        One row per test point: ``mean``, ``sd`` (unfloored spread), then ``lower_<L>``,
        ``upper_<L>`` per level. ``attrs`` holds ``conformal_quantile`` (level -> ``q_L``, in
        units of the spread) and ``sd_floor_g_per_kg``.

    Raises:
        DataFormatError: misshapen or non-finite inputs, different seed counts, or one seed.
        ConfigurationError: a level outside (0, 1), or a floor <= 0.
    """
    levels = check_levels(levels)
    bounds = _check_bounds(bounds_g_per_kg)
    val, y, test = _calibration_inputs(val_pred, val_target, test_pred)
    if val.shape[1] < 2:
        raise DataFormatError(
            "adaptive_conformal_intervals needs at least 2 seeds for a spread; got 1. Use "
            "conformal_intervals for a single model."
        )
    val_sd, test_sd = _seed_sd(val), _seed_sd(test)
    floor = spread_floor(val_sd, sd_floor_g_per_kg)
    scores = np.abs(y - val.mean(axis=1)) / np.maximum(val_sd, floor)
    q = {level: conformal_quantile(scores, level) for level in levels}
    mean, scale = test.mean(axis=1), np.maximum(test_sd, floor)
    cols = _intervals(mean, {lv: qv * scale for lv, qv in q.items()}, bounds)
    frame = pd.DataFrame({"mean": mean, "sd": test_sd, **cols})
    frame.attrs["conformal_quantile"] = q
    frame.attrs["sd_floor_g_per_kg"] = floor
    return frame


def conformal_predictive_quantiles(
    val_pred: object,
    val_target: object,
    test_pred: object,
    levels: object = None,
    *,
    adaptive: bool = False,
    sd_floor_g_per_kg: float | None = None,
) -> np.ndarray:
    """Quantiles of a split-conformal predictive distribution, for CRPS and PIT.

    The predictive distribution at a test point is its ensemble mean plus the empirical
    distribution of the signed validation residuals ``y - mean`` (a split conformal
    predictive system in the sense of Vovk and co-authors, smoothed by linear quantile
    interpolation; no finite-sample guarantee is claimed for its quantiles); with
    ``adaptive=True`` the residuals are divided by the floored seed spread on validation and
    multiplied by it on test, as in :func:`adaptive_conformal_intervals`.

    Args:
        val_pred, val_target, test_pred: as in :func:`conformal_intervals`.
        levels: probability levels; default :func:`quantile_levels` (99 midpoints).
        adaptive: scale residuals by the seed spread.
        sd_floor_g_per_kg: floor of the spread when ``adaptive`` (see
            :func:`adaptive_conformal_intervals`).

    Returns:
        float64 (n_test, n_levels) quantiles in g/kg, in the order of ``levels``.
    """
    lv = quantile_levels() if levels is None else np.asarray(check_levels(levels))
    val, y, test = _calibration_inputs(val_pred, val_target, test_pred)
    resid = y - val.mean(axis=1)
    mean = test.mean(axis=1)
    if not adaptive:
        return mean[:, None] + np.quantile(resid, lv)[None, :]
    if val.shape[1] < 2:
        raise DataFormatError("adaptive=True needs at least 2 seeds for a spread; got 1.")
    val_sd = _seed_sd(val)
    floor = spread_floor(val_sd, sd_floor_g_per_kg)
    z = np.quantile(resid / np.maximum(val_sd, floor), lv)
    return mean[:, None] + np.maximum(_seed_sd(test), floor)[:, None] * z[None, :]


@dataclass(frozen=True, eq=False)
class QuantileForecast:
    """Intervals and a quantile grid from one quantile-forest prediction.

    Attributes:
        frame: one row per point: ``mean`` (the forest's mean, equal to a Random Forest with
            the same trees), ``median``, then ``lower_<L>``, ``upper_<L>`` per level (g/kg).
        quantiles: float64 (n_points, n_levels) predictive quantiles (g/kg) at ``levels``,
            for :func:`soilnet.interval_metrics.crps_quantiles` and ``pit_quantiles``.
        levels: float64 (n_levels,) probability levels of ``quantiles``.
    """

    frame: pd.DataFrame
    quantiles: np.ndarray
    levels: np.ndarray


def quantile_forest_mean(model: object, X: object) -> np.ndarray:
    """The mean prediction of a fitted quantile forest: the average of its trees (g/kg).

    This is what :meth:`sklearn.ensemble.RandomForestRegressor.predict` returns for the same
    trees, so a quantile forest and a Random Forest with the same hyperparameters and seed
    give the same point predictions. (``predict(quantiles="mean")`` pools the leaf samples
    instead, which differs unless every training sample is kept in the leaves.)

    Returns:
        float64 (n_points,).
    """
    x32 = np.asarray(X, dtype=np.float32)  # the trees' dtype; the forest's predict converts too
    return np.mean([tree.predict(x32) for tree in model.estimators_], axis=0).astype(np.float64)


def quantile_forest_intervals(
    model: object,
    X: object,
    levels: Sequence[float] = NOMINAL_LEVELS,
    *,
    n_quantiles: int = 99,
) -> QuantileForecast:
    """Central intervals, median and a quantile grid from a fitted quantile regression forest.

    A thin wrapper over :meth:`quantile_forest.RandomForestQuantileRegressor.predict`: the
    interval at level ``L`` spans the predicted quantiles ``(1 - L)/2`` and ``(1 + L)/2``
    (Meinshausen 2006). All quantiles come from one ``predict`` call. Forests built by
    :func:`soilnet.baselines.make_quantile_forest` keep every training sample in the leaves
    (``max_samples_leaf=None``), as Meinshausen's forest does.

    Args:
        model: a fitted :class:`quantile_forest.RandomForestQuantileRegressor`.
        X: float (n_points, n_features) features, as the forest was fitted on.
        levels: nominal central coverages in (0, 1).
        n_quantiles: size of the :func:`quantile_levels` grid returned for CRPS and PIT.

    Returns:
        :class:`QuantileForecast` with the result table, quantiles and their levels.
    """
    if not isinstance(model, RandomForestQuantileRegressor):
        raise ConfigurationError(
            "model must be a quantile_forest.RandomForestQuantileRegressor; got "
            f"{type(model).__name__}. Build one with soilnet.baselines.make_quantile_forest."
        )
    check_is_fitted(model)
    levels = check_levels(levels)
    grid = quantile_levels(n_quantiles)
    tails = [p for lv in levels for p in ((1 - lv) / 2, (1 + lv) / 2)]
    wanted = np.concatenate([[0.5], tails, grid])
    unique, where = np.unique(np.round(wanted, 12), return_inverse=True)
    q = np.asarray(model.predict(X, quantiles=unique.tolist()), dtype=np.float64)
    q = q.reshape(q.shape[0], -1)[:, where]
    cols: dict[str, np.ndarray] = {"mean": quantile_forest_mean(model, X), "median": q[:, 0]}
    for i, level in enumerate(levels):
        lower, upper = level_columns(level)
        cols[lower], cols[upper] = q[:, 1 + 2 * i], q[:, 2 + 2 * i]
    return QuantileForecast(pd.DataFrame(cols), q[:, 1 + len(tails) :], grid)
