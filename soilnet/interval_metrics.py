"""Scores of prediction intervals and predictive distributions for SOC (g/kg).

Next to the point metrics of :mod:`soilnet.metrics`, for the tables of
:mod:`soilnet.intervals` (``lower_<L>``, ``upper_<L>`` per nominal level ``L``):

- **PICP** (prediction interval coverage probability): the share of observations inside the
  interval; a calibrated interval at level ``L`` has PICP close to ``L``.
- **mean width** (g/kg): sharpness; narrower is better at equal coverage.
- **interval score** (Gneiting & Raftery 2007, JASA 102:359), g/kg: width plus
  ``2/alpha`` times the distance of an observation outside the interval (``alpha = 1 - L``);
  lower is better and it rewards coverage and sharpness together.
- **CRPS** (g/kg): the integrated squared difference between the predictive CDF and the
  observation's step function; lower is better, equals the absolute error for a point forecast.
- **PIT** (probability integral transform): the predictive CDF at the observation; uniform on
  [0, 1] for a calibrated forecast, U-shaped when overconfident, hump-shaped when too wide.

Scores come from ``scoringrules``; the binomial interval of coverage from ``scipy.stats``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scoringrules as sr
from scipy import stats

from soilnet.errors import ConfigurationError, DataFormatError
from soilnet.intervals import check_levels, interval_levels, level_columns
from soilnet.validation import check_array

#: Columns of :func:`calibration_table`, in order.
CALIBRATION_COLUMNS: tuple[str, ...] = (
    "level", "picp", "picp_low", "picp_high", "coverage_error",
    "mean_width_g_per_kg", "interval_score_g_per_kg", "n",
)  # fmt: skip

#: Display names with units.
INTERVAL_LABELS: dict[str, str] = {
    "level": "Nominal coverage",
    "picp": "PICP",
    "picp_low": "PICP lower bound",
    "picp_high": "PICP upper bound",
    "coverage_error": "PICP − nominal",
    "mean_width_g_per_kg": "Mean width (g/kg)",
    "interval_score_g_per_kg": "Interval score (g/kg)",
    "crps_g_per_kg": "CRPS (g/kg)",
    "n": "n",
}


def _vector(values: object, name: str, n: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite float64 vector, of length ``n`` if given."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    arr = check_array(arr, name, axes=("n",), finite=True, hint="Pass one value per point.")
    if n is not None and arr.shape[0] != n:
        raise DataFormatError(
            f"{name} has {arr.shape[0]} values but observed has {n}; pass one per point, in "
            "the same order."
        )
    return arr


def _members(values: object, name: str, n: int) -> np.ndarray:
    """Return ``values`` as finite float64 (n, m), one row per point."""
    arr = check_array(
        np.asarray(values, dtype=np.float64), name, axes=("n", "m"), finite=True,
        hint="Pass one row per point and one column per member or quantile.",
    )  # fmt: skip
    if arr.shape[0] != n:
        raise DataFormatError(f"{name} has {arr.shape[0]} rows but observed has {n} values.")
    return arr


def _bounds(observed: object, lower: object, upper: object) -> tuple[np.ndarray, ...]:
    y = _vector(observed, "observed")
    lo = _vector(lower, "lower", y.shape[0])
    hi = _vector(upper, "upper", y.shape[0])
    if np.any(lo > hi):
        bad = np.flatnonzero(lo > hi)
        raise DataFormatError(
            f"lower exceeds upper at {bad.size} point(s) (first index {bad[0]}); pass "
            "intervals with lower <= upper."
        )
    return y, lo, hi


def picp(observed: object, lower: object, upper: object) -> float:
    """Prediction interval coverage probability: the share of ``lower <= observed <= upper``.

    Args:
        observed: float (n,) observed SOC (g/kg).
        lower, upper: float (n,) interval bounds (g/kg).

    Returns:
        Coverage in [0, 1]; bounds count as inside.
    """
    y, lo, hi = _bounds(observed, lower, upper)
    return float(np.mean((y >= lo) & (y <= hi)))


def mean_width(lower: object, upper: object) -> float:
    """Mean of ``upper - lower`` (g/kg)."""
    lo = _vector(lower, "lower")
    hi = _vector(upper, "upper", lo.shape[0])
    return float(np.mean(hi - lo))


def interval_score(observed: object, lower: object, upper: object, level: float) -> np.ndarray:
    """Interval score of central intervals at nominal ``level``, per point (g/kg).

    ``(u - l) + (2 / alpha) * ((l - y)⁺ + (y - u)⁺)`` with ``alpha = 1 - level``, from
    :func:`scoringrules.interval_score`. Average over points for the set's score.

    Returns:
        float64 (n,) scores; lower is better.
    """
    (level,) = check_levels([level])
    y, lo, hi = _bounds(observed, lower, upper)
    return np.asarray(sr.interval_score(y, lo, hi, 1.0 - level, backend="numpy"), dtype=float)


def calibration_table(
    observed: object,
    intervals: pd.DataFrame,
    levels: Sequence[float] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Nominal against empirical coverage, with width and interval score, one row per level.

    Args:
        observed: float (n,) observed SOC (g/kg), the targets the intervals are for.
        intervals: a table of :mod:`soilnet.intervals` with ``lower_<L>``, ``upper_<L>``.
        levels: the levels to score; default every level the table holds.
        confidence: confidence of the binomial (Wilson) interval of the PICP.

    Returns:
        Columns :data:`CALIBRATION_COLUMNS`: ``level`` (nominal), ``picp`` (empirical),
        ``picp_low``/``picp_high`` (Wilson interval: a PICP whose interval contains the
        level is consistent with calibration at that sample size), ``coverage_error``
        (``picp - level``), ``mean_width_g_per_kg``, ``interval_score_g_per_kg`` (mean) and
        ``n``.

    Raises:
        DataFormatError: a level's columns are missing or lengths differ.
    """
    if not isinstance(intervals, pd.DataFrame):
        raise DataFormatError(
            f"intervals must be a DataFrame from soilnet.intervals; got {type(intervals).__name__}."
        )
    levels = check_levels(interval_levels(intervals) if levels is None else levels)
    if not 0.0 < confidence < 1.0:
        raise ConfigurationError(f"confidence must be in (0, 1); got {confidence!r}.")
    y = _vector(observed, "observed")
    rows = []
    for level in levels:
        lower, upper = level_columns(level)
        if lower not in intervals or upper not in intervals:
            raise DataFormatError(
                f"intervals lacks {lower!r}/{upper!r}; it holds levels {interval_levels(intervals)}."
            )
        _, lo, hi = _bounds(y, intervals[lower], intervals[upper])
        inside = int(np.sum((y >= lo) & (y <= hi)))
        ci = stats.binomtest(inside, y.shape[0]).proportion_ci(confidence, method="wilson")
        rows.append(
            {
                "level": level,
                "picp": inside / y.shape[0],
                "picp_low": float(ci.low),
                "picp_high": float(ci.high),
                "coverage_error": inside / y.shape[0] - level,
                "mean_width_g_per_kg": float(np.mean(hi - lo)),
                "interval_score_g_per_kg": float(np.mean(interval_score(y, lo, hi, level))),
                "n": int(y.shape[0]),
            }
        )
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def crps_ensemble(observed: object, members: object) -> np.ndarray:
    """CRPS of an ensemble (equally weighted members) per point (g/kg).

    The CRPS of the members' empirical distribution (:func:`scoringrules.crps_ensemble`,
    its default estimator). Use it for seed ensembles and for quantiles at the midpoint grid
    of :func:`soilnet.intervals.quantile_levels`, which are equally weighted members.

    Args:
        observed: float (n,) observed SOC (g/kg).
        members: float (n, m) members, one row per point.

    Returns:
        float64 (n,); average for the set's CRPS.
    """
    y = _vector(observed, "observed")
    ens = _members(members, "members", y.shape[0])
    return np.asarray(sr.crps_ensemble(y, ens, backend="numpy"), dtype=float)


def crps_normal(observed: object, mean: object, sd: object) -> np.ndarray:
    """CRPS of normal predictive distributions N(mean, sd²) per point (g/kg).

    Closed form of :func:`scoringrules.crps_normal`.
    """
    y = _vector(observed, "observed")
    mu = _vector(np.broadcast_to(mean, y.shape), "mean", y.shape[0])
    sigma = _vector(np.broadcast_to(sd, y.shape), "sd", y.shape[0])
    if np.any(sigma <= 0):
        raise DataFormatError("sd must be > 0 for a normal predictive distribution.")
    return np.asarray(sr.crps_normal(y, mu, sigma, backend="numpy"), dtype=float)


def crps_quantiles(observed: object, quantiles: object, levels: object) -> np.ndarray:
    """CRPS approximated from predictive quantiles, per point (g/kg).

    Twice the mean pinball loss over ``levels`` (:func:`scoringrules.crps_quantile`); it tends
    to the CRPS for a dense, evenly spaced grid such as
    :func:`soilnet.intervals.quantile_levels`.

    Args:
        observed: float (n,) observed SOC (g/kg).
        quantiles: float (n, k) predictive quantiles at ``levels``.
        levels: float (k,) probability levels in (0, 1).
    """
    y = _vector(observed, "observed")
    q = _members(quantiles, "quantiles", y.shape[0])
    lv = np.asarray(check_levels(levels))
    if lv.shape[0] != q.shape[1]:
        raise DataFormatError(f"quantiles has {q.shape[1]} columns but levels lists {lv.shape[0]}.")
    return np.asarray(sr.crps_quantile(y, q, lv, backend="numpy"), dtype=float)


def pit_normal(observed: object, mean: object, sd: object) -> np.ndarray:
    """PIT of normal predictive distributions: ``Φ((observed - mean) / sd)``, per point."""
    y = _vector(observed, "observed")
    mu = _vector(np.broadcast_to(mean, y.shape), "mean", y.shape[0])
    sigma = _vector(np.broadcast_to(sd, y.shape), "sd", y.shape[0])
    if np.any(sigma <= 0):
        raise DataFormatError("sd must be > 0 for a normal predictive distribution.")
    return stats.norm.cdf(y, loc=mu, scale=sigma)


def pit_ensemble(observed: object, members: object, random_state: int | None = 0) -> np.ndarray:
    """Randomised PIT of an ensemble: ``(#{x < y} + U · (#{x = y} + 1)) / (m + 1)``.

    With ``U`` uniform on [0, 1), this is the observation's rank among the ``m + 1`` values
    spread evenly over its cell, so it is exactly uniform on [0, 1] when the observation is
    exchangeable with the members, ties (SOC clipped at 87 g/kg) included. Own code:
    scoringrules has no PIT. Works for quantiles at the midpoint grid of
    :func:`soilnet.intervals.quantile_levels` as members.

    Args:
        observed: float (n,) observed SOC (g/kg).
        members: float (n, m) members or midpoint-grid quantiles.
        random_state: seed of ``U``.

    Returns:
        float64 (n,) PIT values in [0, 1].
    """
    y = _vector(observed, "observed")
    ens = _members(members, "members", y.shape[0])
    below = np.sum(ens < y[:, None], axis=1)
    ties = np.sum(ens == y[:, None], axis=1)
    u = np.random.default_rng(random_state).random(y.shape[0])
    return (below + u * (ties + 1)) / (ens.shape[1] + 1)


def pit_histogram(pit: object, n_bins: int = 10) -> pd.DataFrame:
    """Counts of PIT values in ``n_bins`` equal bins of [0, 1].

    Returns:
        One row per bin: ``bin_low``, ``bin_high``, ``count``, ``share`` and
        ``expected_share`` (``1 / n_bins``, the calibrated value).
    """
    values = _vector(pit, "pit")
    if np.any((values < 0) | (values > 1)):
        raise DataFormatError("PIT values must lie in [0, 1].")
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ConfigurationError(f"n_bins must be a positive integer; got {n_bins!r}.")
    counts, edges = np.histogram(values, bins=int(n_bins), range=(0.0, 1.0))
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "count": counts,
            "share": counts / values.shape[0],
            "expected_share": 1.0 / n_bins,
        }
    )
