"""Regression metrics for SOC predictions: RMSE, R², MAE, CCC, RPIQ and bias.

Every metric is computed once over the whole evaluation set, in the units of the inputs
(g/kg for SOC). They are never averaged over batches: the authors' training-loop JSONs report
the mean over batches of 32 of per-batch RMSE and R², which is not the dataset RMSE or R²
(their batch-averaged R² of 0.278 corresponds to a dataset R² of 0.398).

Differences from the original code (moienr/SoilNet, ``Accuracy_assessment.ipynb`` and HEAD's
``evaluate_regression_metrics``):

- **RPIQ was wrong in both places.** The notebook printed ``1 - RMSE/SD`` and HEAD computes
  ``(Q3(predicted) - Q1(observed)) / RMSE``. The definition used here, and in the soil
  spectroscopy literature (Bellon-Maurel et al. 2010), is ``(Q3(observed) - Q1(observed)) / RMSE``.
- **"MEC" was the bias.** The original "MEC" is ``mean(observed - predicted)``, a mean error,
  not a model efficiency coefficient. We report it as ``bias`` with the opposite sign,
  ``mean(predicted - observed)``, so a positive bias means over-prediction.

Example:
    >>> m = regression_metrics([1, 2, 3, 4], [1.5, 2, 2.5, 5])
    >>> round(m["rmse"], 4), m["r2"], round(m["ccc"], 2), m["bias"], m["n"]
    (0.6124, 0.7, 0.88, 0.25, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from soilnet.errors import first_ids

#: Metric keys in the order tables show them.
METRIC_ORDER: tuple[str, ...] = ("rmse", "r2", "mae", "ccc", "rpiq", "bias", "n")

#: Display names with units (SOC in g/kg); unitless metrics carry no unit.
METRIC_LABELS: dict[str, str] = {
    "rmse": "RMSE (g/kg)",
    "r2": "R²",
    "mae": "MAE (g/kg)",
    "ccc": "CCC",
    "rpiq": "RPIQ",
    "bias": "Bias (g/kg)",
    "n": "n",
}

#: Which direction is better: ``"higher"``, ``"lower"``, ``"zero"`` (closest to 0) or ``"none"``.
METRIC_BETTER: dict[str, str] = {
    "rmse": "lower",
    "r2": "higher",
    "mae": "lower",
    "ccc": "higher",
    "rpiq": "higher",
    "bias": "zero",
    "n": "none",
}
HIGHER_IS_BETTER: frozenset[str] = frozenset(k for k, v in METRIC_BETTER.items() if v == "higher")
LOWER_IS_BETTER: frozenset[str] = frozenset(k for k, v in METRIC_BETTER.items() if v == "lower")


def _as_1d(values: object, name: str) -> np.ndarray:
    """Return ``values`` as a float64 vector, accepting shape (N,) or (N, 1)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be numeric; could not convert it to float ({exc}). "
            "Pass a 1-D array of numbers."
        ) from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D of shape (n_samples,) or (n_samples, 1); got shape {arr.shape}. "
            "Pass a single column of values, e.g. y.ravel() for one target."
        )
    return arr


def _check_pair(observed: object, predicted: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return observed and predicted as equal-length finite float64 vectors."""
    y = _as_1d(observed, "observed")
    p = _as_1d(predicted, "predicted")
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            f"observed and predicted have different lengths: {y.shape[0]} vs {p.shape[0]}. "
            "Pass one prediction per observed sample, in the same order."
        )
    if y.shape[0] < 2:
        raise ValueError(
            f"At least 2 samples are needed to compute regression metrics; got {y.shape[0]}. "
            "Evaluate on a larger set."
        )
    for name, arr in (("observed", y), ("predicted", p)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(
                f"{name} has {bad.size} non-finite value(s) (NaN or inf) of {arr.size} at "
                f"indices {first_ids(bad.tolist())}. Drop or fill those samples before "
                "computing metrics."
            )
    return y, p


def regression_metrics(observed: object, predicted: object) -> dict[str, float]:
    """Compute RMSE, MAE, R², Lin's CCC, RPIQ and bias over the whole set.

    Args:
        observed: array-like of shape (n_samples,) or (n_samples, 1); measured SOC (g/kg).
        predicted: array-like of the same shape; predicted SOC in the same unit.

    Returns:
        Dict with keys ``rmse``, ``mae``, ``r2``, ``ccc``, ``rpiq``, ``bias`` (floats) and ``n``
        (int), where with ``e = predicted - observed``:

        - ``rmse`` = sqrt(mean(e²)), ``mae`` = mean(|e|), in the input unit;
        - ``r2`` = 1 - SS_res / SS_tot (as ``sklearn.metrics.r2_score``); NaN when observed is
          constant (SS_tot = 0), where sklearn's ``force_finite`` would print 0 or 1;
        - ``ccc`` = 2 cov(y, ŷ) / (var(y) + var(ŷ) + (mean(y) - mean(ŷ))²), population
          (ddof=0) moments; NaN when the denominator is 0;
        - ``rpiq`` = (Q3(observed) - Q1(observed)) / RMSE, numpy's default linear quantiles;
          inf for a perfect fit with IQR > 0;
        - ``bias`` = mean(e): positive means over-prediction;
        - ``n`` = number of samples.

    Raises:
        ValueError: if the inputs are not 1-D, differ in length, hold fewer than 2 values or
            contain NaN/inf.
    """
    y, p = _check_pair(observed, predicted)
    e = p - y
    mse = float(np.mean(e**2))
    rmse = math.sqrt(mse)
    mae = float(np.mean(np.abs(e)))
    bias = float(np.mean(e))

    y_mean, p_mean = float(np.mean(y)), float(np.mean(p))
    ss_res = float(np.sum(e**2))
    ss_tot = float(np.sum((y - y_mean) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan

    var_y = float(np.mean((y - y_mean) ** 2))
    var_p = float(np.mean((p - p_mean) ** 2))
    cov = float(np.mean((y - y_mean) * (p - p_mean)))
    ccc_den = var_y + var_p + (y_mean - p_mean) ** 2
    ccc = 2.0 * cov / ccc_den if ccc_den > 0 else math.nan

    q1, q3 = np.quantile(y, [0.25, 0.75])
    iqr = float(q3 - q1)
    if rmse > 0:
        rpiq = iqr / rmse
    else:
        rpiq = math.inf if iqr > 0 else math.nan

    return {
        "rmse": rmse,
        "mae": mae,
        "r2": r2,
        "ccc": ccc,
        "rpiq": rpiq,
        "bias": bias,
        "n": int(y.shape[0]),
    }


def summarize_runs(
    records: pd.DataFrame,
    by: str | Sequence[str] = ("model",),
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Summarise repeated runs as mean and standard deviation per group.

    Args:
        records: one row per run, e.g. per (model, seed) or (model, seed, fold), with the
            ``by`` columns and metric columns as returned by :func:`regression_metrics`.
        by: column name(s) that define a group, e.g. ``("model",)`` or ``("model", "split")``.
        metrics: metric columns to summarise; default every column of :data:`METRIC_ORDER`
            except ``n`` that ``records`` has, in that order.

    Returns:
        One row per group, in order of first appearance, with the ``by`` columns, then
        ``<metric>_mean`` and ``<metric>_sd`` for each metric (sd with ddof=1, NaN for a
        single run), then ``runs`` (rows in the group).

    Raises:
        ValueError: if ``records`` is not a DataFrame, or a ``by`` or metric column is absent.
    """
    if not isinstance(records, pd.DataFrame):
        raise ValueError(
            f"records must be a pandas DataFrame with one row per run; got {type(records).__name__}."
        )
    by_cols = [by] if isinstance(by, str) else list(by)
    if not by_cols:
        raise ValueError("by must name at least one grouping column, e.g. by=('model',).")
    if metrics is None:
        metric_cols = [m for m in METRIC_ORDER if m != "n" and m in records.columns]
    else:
        metric_cols = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [c for c in by_cols + metric_cols if c not in records.columns]
    if missing:
        raise ValueError(
            f"records lacks column(s) {missing}; it has {list(records.columns)}. "
            "Pass records with those columns or change by=/metrics=."
        )
    if not metric_cols:
        raise ValueError(
            f"records has no metric columns (looked for {[m for m in METRIC_ORDER if m != 'n']}); "
            f"it has {list(records.columns)}. Pass metrics= to name them."
        )

    grouped = records.groupby(by_cols, sort=False, dropna=False)[metric_cols]
    mean = grouped.mean()
    sd = grouped.std(ddof=1)
    out = pd.DataFrame(index=mean.index)
    for m in metric_cols:
        out[f"{m}_mean"] = mean[m]
        out[f"{m}_sd"] = sd[m]
    out["runs"] = grouped.size()
    return out.reset_index()


def format_mean_sd(mean: float, sd: float, digits: int = 2) -> str:
    """Format a mean and standard deviation as ``"19.74 ± 0.31"``.

    Args:
        mean: the mean.
        sd: the standard deviation; NaN (one run) prints the mean alone.
        digits: decimals for both numbers.

    Returns:
        ``"<mean> ± <sd>"``, or ``"<mean>"`` when ``sd`` is NaN.
    """
    if sd is None or math.isnan(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
