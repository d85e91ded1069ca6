"""Dissimilarity index (DI) and area of applicability (AOA) of Meyer & Pebesma (2021).

Meyer, H., Pebesma, E. (2021). Predicting into unknown space? Estimating the area of
applicability of spatial prediction models. Methods Ecol Evol 12:1620-1633. We follow the R
package CAST (``trainDI()`` and ``aoa()``):

1. Predictors are standardised with the training mean and sd (ddof=1, R's ``scale``), then
   multiplied by the variable weights (e.g. the model's feature importances; negative weights
   become 0). Scaling all weights by one factor does not change the DI.
2. ``d̄`` (CAST's ``trainDist_avrgmean``) is the mean Euclidean distance between two
   different training points in that space.
3. The DI of a new point is its distance to the nearest training point, divided by ``d̄``.
4. The training DI is the distance from each training point to the nearest training point
   *outside its own cross-validation fold* (the nearest other point without folds), over
   ``d̄``: how far the model had to extrapolate during cross-validation.
5. The threshold is CAST's outlier-removed maximum of the training DI (see
   :func:`di_threshold`); a point is inside the AOA when its DI is at most the threshold.

Nearest neighbours come from :class:`sklearn.neighbors.NearestNeighbors` (a tree in low
dimensions, brute force in high ones).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist
from sklearn.neighbors import NearestNeighbors

from soilnet.errors import ConfigurationError, DataFormatError, first_ids
from soilnet.validation import check_array

#: Threshold rules of :func:`di_threshold`.
THRESHOLD_RULES: tuple[str, ...] = ("cast", "whisker")

#: Above this many training pairs, ``d̄`` is estimated from a seeded random sample of pairs.
MAX_PAIRS: int = 2_000_000

# Rows of sampled pairs per block, to bound the temporaries of the difference vectors.
_PAIR_BLOCK = 20_000


def di_threshold(train_di: object, rule: str = "cast") -> float:
    """The DI threshold: the outlier-removed maximum of the training DI.

    With ``Q1``, ``Q3`` the quartiles (numpy's default, R's type 7) and ``fence = Q3 + 1.5 ·
    (Q3 - Q1)``:

    - ``"cast"``: ``min(fence, max(train_di))``, as current CAST's ``trainDI()`` computes it
      (helper ``aoa_threshold``).
    - ``"whisker"``: the largest training DI not above the fence, the upper whisker of a
      boxplot, as earlier CAST releases (``grDevices::boxplot.stats(TrainDI)$stats[5]``);
      those used Tukey's hinges, which differ from type-7 quartiles by a fraction of a
      point's spacing.

    Args:
        train_di: float (n,) training DI (NaN ignored).
        rule: one of :data:`THRESHOLD_RULES`.

    Returns:
        The threshold; ``"whisker"`` is never above ``"cast"``.
    """
    if rule not in THRESHOLD_RULES:
        raise ConfigurationError(f"rule must be one of {list(THRESHOLD_RULES)}; got {rule!r}.")
    di = np.asarray(train_di, dtype=np.float64).ravel()
    di = di[~np.isnan(di)]
    if di.size == 0:
        raise DataFormatError("train_di holds no values; the threshold needs training DI.")
    q1, q3 = np.quantile(di, [0.25, 0.75])
    fence = q3 + 1.5 * (q3 - q1)
    if rule == "cast":
        return float(min(fence, di.max()))
    return float(di[di <= fence].max())


def mean_pairwise_distance(
    points: np.ndarray, max_pairs: int = MAX_PAIRS, random_state: int | None = 0
) -> float:
    """Mean Euclidean distance between two different rows of ``points`` (CAST's ``d̄``).

    Exact (:func:`scipy.spatial.distance.pdist`) up to ``max_pairs`` pairs; above, the mean
    over ``max_pairs`` pairs drawn uniformly (with replacement) among all ordered pairs
    ``i != j``, seeded by ``random_state``. With 2 million pairs the sampling error is of
    order 0.1 % of ``d̄``, far below what moves the AOA.

    Args:
        points: float (n, p), n >= 2, already standardised and weighted.
        max_pairs: largest number of pairs computed exactly; also the sample size above it.
        random_state: seed of the pair sample.
    """
    n = points.shape[0]
    if n * (n - 1) // 2 <= max_pairs:
        return float(np.mean(pdist(points)))
    rng = np.random.default_rng(random_state)
    i = rng.integers(n, size=max_pairs)
    j = rng.integers(n - 1, size=max_pairs)
    j += j >= i  # uniform over j != i
    total = 0.0
    for lo in range(0, max_pairs, _PAIR_BLOCK):
        diff = points[i[lo : lo + _PAIR_BLOCK]] - points[j[lo : lo + _PAIR_BLOCK]]
        total += float(np.sqrt(np.einsum("ij,ij->i", diff, diff)).sum())
    return total / max_pairs


@dataclass(frozen=True, eq=False)
class TrainDI:
    """The training side of the AOA: scaling, weights, ``d̄``, training DI and threshold.

    Build it with :func:`train_dissimilarity`; then :meth:`dissimilarity` and
    :meth:`applicability` score new points.

    Attributes:
        center: float64 (p,) training means of the predictors.
        scale: float64 (p,) training sds (ddof=1).
        weights: float64 (p,) weights applied after standardising (ones when none given).
        train: float64 (n, p) standardised, weighted training predictors.
        mean_distance: ``d̄``, the mean distance between training points (CAST's
            ``trainDist_avrgmean``).
        train_di: float64 (n,) cross-validated training DI.
        threshold: DI above which a point is outside the AOA.
        threshold_rule: the rule of :func:`di_threshold` used.
        feature_names: names of the p predictors, if given.
    """

    center: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    train: np.ndarray
    mean_distance: float
    train_di: np.ndarray
    threshold: float
    threshold_rule: str
    feature_names: list[str] | None = None

    @property
    def train_inside(self) -> np.ndarray:
        """bool (n,): training points whose cross-validated DI is within the threshold."""
        return self.train_di <= self.threshold

    def transform(self, X: object) -> np.ndarray:
        """Standardise and weight ``X`` (n, p) as the training predictors."""
        arr = check_array(
            np.asarray(X, dtype=np.float64), "X", axes=("n", self.center.shape[0]), finite=True,
            hint="Pass the same predictors, in the same order, as for train_dissimilarity.",
        )  # fmt: skip
        return (arr - self.center) / self.scale * self.weights

    def dissimilarity(self, X: object, n_jobs: int | None = None) -> np.ndarray:
        """DI of new points: distance to the nearest training point over ``d̄``.

        A training point passed here has DI 0 (it is its own nearest neighbour); its
        cross-validated DI is :attr:`train_di`.

        Args:
            X: float (m, p) predictors in training units.
            n_jobs: parallel jobs of the neighbour search (None = 1).

        Returns:
            float64 (m,) DI, >= 0.
        """
        nn = NearestNeighbors(n_neighbors=1, n_jobs=n_jobs).fit(self.train)
        dist, _ = nn.kneighbors(self.transform(X))
        return dist[:, 0] / self.mean_distance

    def applicability(self, X: object, n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """DI and AOA mask of new points.

        Returns:
            ``(di, inside)``: float64 (m,) DI and bool (m,) ``di <= threshold``.
        """
        di = self.dissimilarity(X, n_jobs=n_jobs)
        return di, di <= self.threshold


def _check_weights(weights: object, p: int) -> np.ndarray:
    """Return weights (p,) >= 0, negatives set to 0 with a warning, as CAST does."""
    if weights is None:
        return np.ones(p)
    w = check_array(np.asarray(weights, dtype=np.float64), "weights", axes=(p,), finite=True,
                    hint="Pass one weight per predictor column.")  # fmt: skip
    if np.any(w < 0):
        warnings.warn(
            f"{int(np.sum(w < 0))} negative weight(s) set to 0 (as CAST does).",
            UserWarning,
            stacklevel=3,
        )
        w = np.maximum(w, 0.0)
    if not np.any(w > 0):
        raise ConfigurationError("All weights are <= 0, so no predictor would count.")
    return w


def _cv_nearest(train: np.ndarray, folds: np.ndarray | None, n_jobs: int | None) -> np.ndarray:
    """Distance from each training point to the nearest training point outside its fold."""
    if folds is None:
        # kneighbors() without X leaves each point out of its own neighbours.
        nn = NearestNeighbors(n_neighbors=1, n_jobs=n_jobs).fit(train)
        return nn.kneighbors()[0][:, 0]
    out = np.empty(train.shape[0])
    for fold in np.unique(folds):
        held = folds == fold
        nn = NearestNeighbors(n_neighbors=1, n_jobs=n_jobs).fit(train[~held])
        out[held] = nn.kneighbors(train[held])[0][:, 0]
    return out


def train_dissimilarity(
    X_train: object,
    weights: object = None,
    folds: object = None,
    *,
    feature_names: Sequence[str] | None = None,
    threshold_rule: str = "cast",
    max_pairs: int = MAX_PAIRS,
    random_state: int | None = 0,
    n_jobs: int | None = None,
) -> TrainDI:
    """Standardise the training predictors and compute ``d̄``, the training DI and threshold.

    Args:
        X_train: float (n, p) training predictors, n >= 2, every column with variance.
        weights: float (p,) predictor weights, e.g. a forest's ``feature_importances_``;
            default all 1. Negative weights become 0 (with a warning).
        folds: (n,) cross-validation fold label of each training point: the training DI of a
            point is then its distance to the nearest point of another fold. Default None:
            leave-one-out, the nearest other point.
        feature_names: names of the p predictors, kept for reference.
        threshold_rule: ``"cast"`` or ``"whisker"``, see :func:`di_threshold`.
        max_pairs: exact ``d̄`` up to this many pairs, a seeded sample of that many above
            (see :func:`mean_pairwise_distance`).
        random_state: seed of that sample.
        n_jobs: parallel jobs of the neighbour search (None = 1).

    Returns:
        :class:`TrainDI`.

    Raises:
        DataFormatError: misshapen or non-finite predictors, constant columns, fold labels
            of another length, a single fold, or all training points identical.
        ConfigurationError: an unknown threshold rule, or all weights <= 0.
    """
    if threshold_rule not in THRESHOLD_RULES:
        raise ConfigurationError(
            f"threshold_rule must be one of {list(THRESHOLD_RULES)}; got {threshold_rule!r}."
        )
    X = check_array(np.asarray(X_train, dtype=np.float64), "X_train", axes=("n", "p"), finite=True)
    n, p = X.shape
    if n < 2:
        raise DataFormatError(f"X_train needs at least 2 points; got {n}.")
    names = None if feature_names is None else [str(f) for f in feature_names]
    if names is not None and len(names) != p:
        raise DataFormatError(f"feature_names lists {len(names)} names for {p} columns.")
    center, scale = X.mean(axis=0), X.std(axis=0, ddof=1)
    constant = np.flatnonzero(~(scale > 0))
    if constant.size:
        which = [names[i] for i in constant] if names else constant.tolist()
        raise DataFormatError(
            f"X_train has {constant.size} constant column(s) ({first_ids(which)}); they cannot "
            "be standardised. Drop them first (they carry no information on dissimilarity)."
        )
    w = _check_weights(weights, p)
    fold_ids = None
    if folds is not None:
        fold_ids = np.asarray(folds)
        if fold_ids.shape != (n,):
            raise DataFormatError(
                f"folds must have one label per training point ({n}); got shape {fold_ids.shape}."
            )
        if np.unique(fold_ids).size < 2:
            raise DataFormatError("folds must hold at least 2 different labels.")
    train = (X - center) / scale * w
    d_bar = mean_pairwise_distance(train, max_pairs, random_state)
    if not d_bar > 0:
        raise DataFormatError(
            "All training points coincide in the weighted space; the DI is undefined."
        )
    train_di = _cv_nearest(train, fold_ids, n_jobs) / d_bar
    return TrainDI(
        center=center, scale=scale, weights=w, train=train, mean_distance=d_bar,
        train_di=train_di, threshold=di_threshold(train_di, threshold_rule),
        threshold_rule=threshold_rule, feature_names=names,
    )  # fmt: skip


def area_of_applicability(
    X_train: object, X_new: object, weights: object = None, folds: object = None, **kwargs
) -> tuple[np.ndarray, np.ndarray, TrainDI]:
    """DI and AOA of new points in one call, as CAST's ``aoa()``.

    Args:
        X_train: float (n, p) training predictors.
        X_new: float (m, p) predictors of the points to assess (test points, map cells).
        weights, folds: as in :func:`train_dissimilarity`.
        **kwargs: further arguments of :func:`train_dissimilarity`.

    Returns:
        ``(di, inside, train_di)``: float64 (m,) DI, bool (m,) AOA mask and the
        :class:`TrainDI` (with its threshold and the training DI).
    """
    tdi = train_dissimilarity(X_train, weights, folds, **kwargs)
    di, inside = tdi.applicability(X_new, n_jobs=kwargs.get("n_jobs"))
    return di, inside, tdi


def di_error_table(
    di: object, abs_error_g_per_kg: object, threshold: float, n_bins: int = 10
) -> pd.DataFrame:
    """Absolute error by DI: quantile bins of the DI with their mean error and AOA share.

    Args:
        di: float (n,) DI of evaluated points (e.g. the test set).
        abs_error_g_per_kg: float (n,) absolute errors of the predictions there (g/kg).
        threshold: the AOA threshold (:attr:`TrainDI.threshold`).
        n_bins: number of quantile bins; fewer when DI values repeat.

    Returns:
        One row per bin, low DI first: ``di_low``, ``di_high`` (bin edges), ``n``,
        ``mean_di``, ``mean_abs_error_g_per_kg``, ``share_inside_aoa``.
    """
    d = check_array(np.asarray(di, dtype=np.float64).ravel(), "di", axes=("n",), finite=True)
    err = check_array(np.asarray(abs_error_g_per_kg, dtype=np.float64).ravel(),
                      "abs_error_g_per_kg", axes=(d.shape[0],), finite=True,
                      hint="Pass one absolute error per DI value.")  # fmt: skip
    if np.any(err < 0):
        raise DataFormatError("abs_error_g_per_kg must be absolute errors (>= 0).")
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ConfigurationError(f"n_bins must be a positive integer; got {n_bins!r}.")
    bins = pd.qcut(d, int(n_bins), duplicates="drop")
    table = (
        pd.DataFrame({"bin": bins, "di": d, "err": err, "inside": d <= threshold})
        .groupby("bin", observed=True)
        .agg(n=("di", "size"), mean_di=("di", "mean"), mean_abs_error_g_per_kg=("err", "mean"),
             share_inside_aoa=("inside", "mean"))
    )  # fmt: skip
    table.insert(0, "di_high", [iv.right for iv in table.index])
    table.insert(0, "di_low", [iv.left for iv in table.index])
    return table.reset_index(drop=True)


def aoa_error_summary(inside: object, observed: object, predicted: object) -> pd.DataFrame:
    """Point metrics inside and outside the AOA (Meyer & Pebesma's check of the AOA).

    Args:
        inside: bool (n,) AOA mask of the evaluated points.
        observed, predicted: float (n,) SOC (g/kg).

    Returns:
        Rows ``inside``, ``outside`` and ``all`` with ``n``, ``rmse_g_per_kg``,
        ``mae_g_per_kg``; NaN for an empty group.
    """
    mask = np.asarray(inside, dtype=bool).ravel()
    y = check_array(np.asarray(observed, dtype=np.float64).ravel(), "observed",
                    axes=(mask.shape[0],), finite=True)  # fmt: skip
    p = check_array(np.asarray(predicted, dtype=np.float64).ravel(), "predicted",
                    axes=(mask.shape[0],), finite=True)  # fmt: skip
    rows = {}
    for name, sel in (("inside", mask), ("outside", ~mask), ("all", np.ones_like(mask))):
        e = p[sel] - y[sel]
        rows[name] = {
            "n": int(sel.sum()),
            "rmse_g_per_kg": math.sqrt(float(np.mean(e**2))) if e.size else math.nan,
            "mae_g_per_kg": float(np.mean(np.abs(e))) if e.size else math.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
