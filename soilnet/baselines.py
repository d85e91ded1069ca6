"""Non-deep baselines fitted on the same split as the networks.

Four baselines, from trivial to strong:

- ``null``: the training mean; any model must beat it.
- ``rf_paper``: the authors' final Random Forest (``train_random_forest.ipynb``): 48 raw
  features, the centre 2x2 pixels of the 12 optical bands, and the hyperparameters of their
  05-17 randomized search (300 trees, depth 10, 20 leaves per tree).
- ``rf_strong``: a Random Forest on every covariate the networks see: per band the centre
  pixel, patch mean and patch standard deviation, plus per climate variable the mean,
  seasonal amplitude and trend.
- ``geo_knn``: the mean SOC of the 20 nearest training points, coordinates only. It measures
  what spatial autocorrelation gives for free: on the paper's random split it reaches
  R² 0.386, beating both CNN-only variants.

With ``quantile_forests=True`` both forests are quantile regression forests
(:func:`make_quantile_forest`): the same trees and point predictions, plus predictive
quantiles for :func:`soilnet.intervals.quantile_forest_intervals` from the same fit.

Input arrays (one split, N points), as in the dataset items with a leading N:

- ``image``: float32 (N, C, H, W); reflectance 0-1, indices -1..1, elevation m, slope %;
  NaN already filled; bands in ``band_names`` order (default
  :data:`~soilnet.bands.BAND_NAMES`, or the 12 :data:`~soilnet.bands.OPTICAL_BANDS`).
- ``climate``: float32 (N, T, F) or None; monthly TerraClimate values, oldest first,
  variables in ``climate_variables`` order.
- ``xy``: float64 (N, 2); EPSG:3035 easting, northing in metres.
- ``target``: float (N,); SOC in g/kg, already clipped by the caller where the protocol clips.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from quantile_forest import RandomForestQuantileRegressor
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.utils import validation as sk_validation
from sklearn.utils.validation import check_is_fitted, check_X_y

from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES, OPTICAL_BANDS
from soilnet.errors import ConfigurationError, DataFormatError
from soilnet.intervals import quantile_forest_mean
from soilnet.validation import check_array, check_consistent_length

#: Baseline names accepted by :func:`fit_predict_baselines`, in table order.
BASELINES: tuple[str, ...] = ("null", "rf_paper", "rf_strong", "geo_knn")

#: Display labels for tables and figures.
BASELINE_LABELS: dict[str, str] = {
    "null": "Null (training mean)",
    "rf_paper": "Random Forest (paper: centre 2x2, 12 bands)",
    "rf_strong": "Random Forest (all covariates)",
    "geo_knn": "Geographic kNN (coordinates only)",
}

#: Hyperparameters of the authors' final RF (05-17 search; max_features was sklearn's default,
#: 1.0 in 1.2.2, set explicitly here so a future default cannot change it).
PAPER_RF_PARAMS: dict[str, object] = {
    "n_estimators": 300,
    "max_depth": 10,
    "min_samples_split": 5,
    "min_samples_leaf": 20,
    "max_leaf_nodes": 20,
    "max_features": 1.0,
}

#: Hyperparameters of the strong RF; see :func:`make_strong_random_forest`.
STRONG_RF_PARAMS: dict[str, object] = {
    "n_estimators": 500,
    "min_samples_leaf": 3,
    "max_features": 0.33,
}

#: Hyperparameters of each forest baseline, for :func:`make_quantile_forest`.
FOREST_PARAMS: dict[str, dict[str, object]] = {
    "rf_paper": PAPER_RF_PARAMS,
    "rf_strong": STRONG_RF_PARAMS,
}

#: Seeds accepted by the forests, as in scikit-learn (resolved inside ``fit``).
SeedLike = int | np.random.RandomState | None

# Samples per block when computing patch statistics, to bound float64 temporaries.
_BLOCK = 512


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def _band_positions(band_names: Sequence[str], wanted: Sequence[str], what: str) -> list[int]:
    """Return the positions of ``wanted`` in ``band_names``; raise naming the missing ones."""
    names = list(band_names)
    missing = [b for b in wanted if b not in names]
    if missing:
        raise ConfigurationError(
            f"{what} needs bands {missing}, which band_names={tuple(names)!r} lacks. "
            "Pass an image that holds them and band_names that lists them."
        )
    return [names.index(b) for b in wanted]


def _check_image(image: object, band_names: Sequence[str], where: str = "image") -> np.ndarray:
    """Return ``image`` as an array of shape (N, C, H, W) with C == len(band_names)."""
    arr = check_array(
        image, where, axes=("N", "C", "H", "W"),
        hint="Stack the patches along a leading sample axis.",
    )  # fmt: skip
    if arr.shape[1] != len(band_names):
        raise DataFormatError(
            f"{where} has {arr.shape[1]} bands but band_names lists {len(band_names)} "
            f"({tuple(band_names)!r}). Pass band_names matching the image's band axis."
        )
    if arr.shape[2] < 2 or arr.shape[3] < 2:
        raise DataFormatError(
            f"{where} patches must be at least 2x2 pixels; got {arr.shape[2]}x{arr.shape[3]}."
        )
    return arr


def _centre_block(image: np.ndarray) -> np.ndarray:
    """Return the centre 2x2 pixels, rows H//2-1..H//2 and cols W//2-1..W//2: (N, C, 2, 2)."""
    h, w = image.shape[2], image.shape[3]
    return image[:, :, h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1]


def paper_rf_feature_names() -> list[str]:
    """Names of the 48 :func:`paper_rf_features` columns, e.g. ``"SR_B1_r0c1"``.

    ``r``/``c`` index the row and column inside the centre 2x2 block (0 = upper/left).
    """
    return [f"{b}_r{r}c{c}" for b in OPTICAL_BANDS for r in (0, 1) for c in (0, 1)]


def paper_rf_features(image: object, band_names: Sequence[str] = BAND_NAMES) -> np.ndarray:
    """The authors' RF features: centre 2x2 pixels of the 12 optical bands, unnormalized.

    The authors resized every patch to 64x64 and took rows and columns 31..32. For any
    H and W we take rows H//2-1..H//2 and columns W//2-1..W//2 of the patch as given, so
    pass 64x64 patches to match the paper exactly.

    Args:
        image: float (N, C, H, W) in physical units, bands in ``band_names`` order.
        band_names: names of the C bands; must include all of
            :data:`~soilnet.bands.OPTICAL_BANDS` (SR_B1..SR_B7 and the five indices),
            which are selected by name, so 12- and 14-band inputs both work.

    Returns:
        float64 (N, 48): band-major, then row, then column, as :func:`paper_rf_feature_names`.

    Raises:
        ConfigurationError: if an optical band is missing from ``band_names``.
        DataFormatError: if ``image`` is not (N, C, H, W) with C == len(band_names).
    """
    pos = _band_positions(band_names, OPTICAL_BANDS, "paper_rf_features")
    arr = _check_image(image, band_names)
    block = _centre_block(arr)[:, pos]
    return np.asarray(block, dtype=np.float64).reshape(arr.shape[0], -1)


def _calendar_years(n_months: int, first_month: int) -> list[int]:
    """Start indices (into the month axis) of each complete January-December year."""
    offset = first_month - 1  # month of year (0 = Jan) of step 0
    first = (12 - offset) % 12  # first step that is a January
    return list(range(first, n_months - 11, 12))


def climate_summary(
    climate: object,
    climate_variables: Sequence[str] | None = None,
    first_month: int = 1,
) -> tuple[np.ndarray, list[str]]:
    """Per-variable mean, mean seasonal amplitude and trend of monthly climate series.

    - ``mean``: mean over all T months.
    - ``amplitude``: for each complete calendar year (January to December), max - min of its
      12 monthly values; then the mean over those years. Partial years at either end are left
      out, as they would understate the amplitude.
    - ``trend_per_year``: least-squares slope of the **annual means of the complete calendar
      years** against the year index, in variable units per year. Annual means of whole years
      are free of the seasonal cycle, which would bias a fit to the monthly values when the
      series does not span whole years (61 months = 5 years + one January in the paper).

    With no complete calendar year the amplitude and trend are left out; with one, the trend
    is left out; either case warns.

    Args:
        climate: float (N, T, F); monthly values, oldest first, consecutive months.
        climate_variables: names of the F variables; default
            :data:`~soilnet.bands.CLIMATE_VARIABLES` when F is 14.
        first_month: calendar month of the first step (1 = January); the paper's series
            starts 2010-01.

    Returns:
        ``(features, names)``: float64 (N, K) and K names ``climate_<var>_<stat>``, grouped
        by variable.

    Raises:
        DataFormatError: if ``climate`` is not 3-D or F does not match ``climate_variables``.
        ConfigurationError: if ``first_month`` is not 1..12, or F != 14 without names.
    """
    arr = np.asarray(climate, dtype=np.float64)
    if arr.ndim != 3:
        raise DataFormatError(
            f"climate must have shape (N, T, F) (months x variables); got shape {arr.shape}."
        )
    variables = _climate_names(arr.shape[2], climate_variables)
    if (
        isinstance(first_month, bool)
        or int(first_month) != first_month
        or not 1 <= first_month <= 12
    ):
        raise ConfigurationError(
            f"first_month must be a calendar month 1..12 (1 = January); got {first_month!r}."
        )
    n, t, f = arr.shape
    starts = _calendar_years(t, int(first_month))
    stats: list[tuple[str, np.ndarray]] = [("mean", arr.mean(axis=1))]
    if starts:
        years = np.stack([arr[:, s : s + 12] for s in starts], axis=1)  # (N, Y, 12, F)
        amplitude = (years.max(axis=2) - years.min(axis=2)).mean(axis=1)
        stats.append(("amplitude", amplitude))
        if len(starts) >= 2:
            annual = years.mean(axis=2)  # (N, Y, F)
            idx = np.arange(len(starts), dtype=np.float64)
            idx -= idx.mean()
            slope = np.einsum("y,nyf->nf", idx, annual) / np.sum(idx**2)
            stats.append(("trend_per_year", slope))
        else:
            warnings.warn(
                f"climate has one complete calendar year (T={t} months from month "
                f"{first_month}); the climate trend features are left out.",
                UserWarning,
                stacklevel=2,
            )
    else:
        warnings.warn(
            f"climate has no complete calendar year (T={t} months from month {first_month}); "
            "the climate amplitude and trend features are left out.",
            UserWarning,
            stacklevel=2,
        )
    feats = np.stack([s for _, s in stats], axis=2).reshape(n, f * len(stats))
    names = [f"climate_{v}_{name}" for v in variables for name, _ in stats]
    return feats, names


def _climate_names(n_vars: int, climate_variables: Sequence[str] | None) -> list[str]:
    """Resolve climate variable names for F variables."""
    if climate_variables is None:
        if n_vars != len(CLIMATE_VARIABLES):
            raise ConfigurationError(
                f"climate has {n_vars} variables but no climate_variables were given, and the "
                f"default lists {len(CLIMATE_VARIABLES)}. Pass climate_variables naming them."
            )
        return list(CLIMATE_VARIABLES)
    names = list(climate_variables)
    if len(names) != n_vars:
        raise DataFormatError(
            f"climate has {n_vars} variables but climate_variables lists {len(names)} "
            f"({tuple(names)!r}). Pass names matching the climate's last axis."
        )
    return names


def strong_features(
    image: object,
    climate: object | None = None,
    band_names: Sequence[str] = BAND_NAMES,
    climate_variables: Sequence[str] | None = None,
    first_month: int = 1,
) -> tuple[np.ndarray, list[str]]:
    """All-covariate features for the strong RF.

    Per band (all C bands): the centre pixel (mean of the centre 2x2 block, as
    :func:`paper_rf_features` picks it), the patch mean and the patch standard deviation
    (ddof=0). When ``climate`` is given, per variable the mean, mean seasonal amplitude and
    trend per year of :func:`climate_summary`.

    Args:
        image: float (N, C, H, W) in physical units, bands in ``band_names`` order.
        climate: float (N, T, F) monthly, oldest first, or None.
        band_names: names of the C bands.
        climate_variables: names of the F climate variables (see :func:`climate_summary`).
        first_month: calendar month of the first climate step (1 = January).

    Returns:
        ``(features, names)``: float64 (N, 3C [+ 3F]) and their names (``<band>_centre``,
        ``<band>_mean``, ``<band>_std``, then ``climate_<var>_<stat>``).

    Raises:
        DataFormatError: on shape mismatches between the arrays and their names, or a climate
            array whose N differs from the image's.
    """
    arr = _check_image(image, band_names)
    n, c = arr.shape[:2]
    centre = np.asarray(_centre_block(arr), dtype=np.float64).mean(axis=(2, 3))
    mean = np.empty((n, c))
    std = np.empty((n, c))
    for i in range(0, n, _BLOCK):
        chunk = arr[i : i + _BLOCK]
        mean[i : i + _BLOCK] = chunk.mean(axis=(2, 3), dtype=np.float64)
        std[i : i + _BLOCK] = chunk.std(axis=(2, 3), dtype=np.float64)
    parts = [centre, mean, std]
    names = [f"{b}_{stat}" for stat in ("centre", "mean", "std") for b in band_names]
    if climate is not None:
        clim = np.asarray(climate)
        if clim.ndim >= 1 and clim.shape[0] != n:
            raise DataFormatError(
                f"climate has {clim.shape[0]} samples but image has {n}. Pass arrays for the "
                "same points in the same order."
            )
        cfeat, cnames = climate_summary(clim, climate_variables, first_month)
        parts.append(cfeat)
        names += cnames
    return np.concatenate(parts, axis=1), names


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


class NullBaseline(RegressorMixin, BaseEstimator):
    """Predict the training mean for every sample.

    Attributes:
        mean_: float; mean of the training target (g/kg).
        n_features_in_: int; number of features seen in ``fit`` (ignored otherwise).
    """

    def fit(self, X: object, y: object) -> NullBaseline:
        """Store the mean of ``y``.

        Args:
            X: array-like (n_samples, n_features); only its length is used.
            y: array-like (n_samples,); target (g/kg).
        """
        X, y = check_X_y(X, y, y_numeric=True)
        self.n_features_in_ = X.shape[1]
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X: object) -> np.ndarray:
        """Return float64 (n_samples,) filled with the training mean."""
        check_is_fitted(self, "mean_")
        X = sk_validation.check_array(X)
        return np.full(X.shape[0], self.mean_, dtype=np.float64)


class GeoKNN(RegressorMixin, BaseEstimator):
    """Mean target of the k nearest training points in EPSG:3035 (km).

    Uses coordinates only; it shows how much a random split rewards spatial interpolation.
    Distances are Euclidean in EPSG:3035 (equal-area Lambert), converted to km.

    Args:
        n_neighbors: neighbours averaged (20 in the reference's baseline).
        weights: ``"uniform"`` or ``"distance"``, as in
            :class:`sklearn.neighbors.KNeighborsRegressor`.

    Attributes:
        knn_: the fitted :class:`~sklearn.neighbors.KNeighborsRegressor` on xy in km.
    """

    def __init__(self, n_neighbors: int = 20, weights: str = "uniform") -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights

    @staticmethod
    def _xy_km(X: object) -> np.ndarray:
        X = sk_validation.check_array(X, dtype=np.float64)
        if X.shape[1] != 2:
            raise DataFormatError(
                f"GeoKNN expects xy of shape (n_samples, 2) (EPSG:3035 easting, northing in m); "
                f"got {X.shape[1]} columns."
            )
        return X / 1000.0

    def fit(self, X: object, y: object) -> GeoKNN:
        """Fit on coordinates.

        Args:
            X: float (n_samples, 2); EPSG:3035 easting, northing in metres.
            y: float (n_samples,); target (g/kg).
        """
        if self.weights not in ("uniform", "distance"):
            raise ConfigurationError(
                f"The 'weights' parameter of GeoKNN must be 'uniform' or 'distance'. "
                f"Got {self.weights!r} instead."
            )
        X, y = check_X_y(X, y, y_numeric=True, dtype=np.float64)
        if X.shape[0] < self.n_neighbors:
            raise ConfigurationError(
                f"GeoKNN has n_neighbors={self.n_neighbors} but only {X.shape[0]} training "
                "samples. Pass a smaller n_neighbors or more training points."
            )
        xy_km = self._xy_km(X)
        self.n_features_in_ = 2
        self.knn_ = KNeighborsRegressor(n_neighbors=self.n_neighbors, weights=self.weights)
        self.knn_.fit(xy_km, y)
        return self

    def predict(self, X: object) -> np.ndarray:
        """Return float64 (n_samples,) predictions for coordinates ``X`` (metres)."""
        check_is_fitted(self, "knn_")
        return np.asarray(self.knn_.predict(self._xy_km(X)), dtype=np.float64)


def make_paper_random_forest(
    random_state: SeedLike = 0, n_jobs: int | None = None
) -> RandomForestRegressor:
    """The authors' final Random Forest (``train_random_forest.ipynb``).

    Hyperparameters are :data:`PAPER_RF_PARAMS`: n_estimators=300, max_depth=10,
    min_samples_split=5, min_samples_leaf=20, max_leaf_nodes=20, max_features=1.0. The
    authors set no ``random_state``; we set one so runs repeat.

    Args:
        random_state: None, int or ``numpy.random.RandomState``; stored as given and resolved
            by ``fit``.
        n_jobs: parallel jobs for fit and predict (None = 1); does not change results.

    Returns:
        An unfitted :class:`sklearn.ensemble.RandomForestRegressor`.
    """
    # oob_score: the out-of-bag training predictions feed residual kriging (soilnet.kriging);
    # it changes no tree and no prediction.
    return RandomForestRegressor(
        **PAPER_RF_PARAMS, oob_score=True, random_state=random_state, n_jobs=n_jobs
    )


def make_strong_random_forest(
    random_state: SeedLike = 0, n_jobs: int | None = None
) -> RandomForestRegressor:
    """A Random Forest with standard settings for noisy regression, not tuned on any split.

    - ``n_estimators=500``: past the point where more trees stop lowering the error.
    - ``max_features=0.33``: Breiman's p/3 rule for regression; de-correlates trees, which
      matters with many correlated band statistics.
    - ``min_samples_leaf=3``: fully grown trees with a little smoothing of the noisy SOC
      target; unlike the paper's ``max_leaf_nodes=20`` it does not cap each tree at 20
      distinct predictions.

    Args:
        random_state: None, int or ``numpy.random.RandomState``; stored as given.
        n_jobs: parallel jobs for fit and predict (None = 1).

    Returns:
        An unfitted :class:`sklearn.ensemble.RandomForestRegressor`.
    """
    return RandomForestRegressor(
        **STRONG_RF_PARAMS, oob_score=True, random_state=random_state, n_jobs=n_jobs
    )


def make_quantile_forest(
    name: str, random_state: SeedLike = 0, n_jobs: int | None = None
) -> RandomForestQuantileRegressor:
    """A quantile regression forest with the hyperparameters of forest baseline ``name``.

    Same hyperparameters and seed give the same trees as the Random Forest of
    :func:`make_paper_random_forest` or :func:`make_strong_random_forest`, so its mean
    (:func:`soilnet.intervals.quantile_forest_mean`) equals that forest's prediction, and
    one fit gives both predictions and intervals. Leaves keep every training sample
    (``max_samples_leaf=None``), as in Meinshausen (2006); the package's default keeps one
    random sample per leaf.

    Args:
        name: ``"rf_paper"`` or ``"rf_strong"`` (a key of :data:`FOREST_PARAMS`).
        random_state: None, int or ``numpy.random.RandomState``; stored as given.
        n_jobs: parallel jobs for fit and predict (None = 1).

    Returns:
        An unfitted :class:`quantile_forest.RandomForestQuantileRegressor`.
    """
    if name not in FOREST_PARAMS:
        raise ConfigurationError(
            f"No forest baseline {name!r}; quantile forests exist for {list(FOREST_PARAMS)}."
        )
    return RandomForestQuantileRegressor(
        **FOREST_PARAMS[name], max_samples_leaf=None, random_state=random_state, n_jobs=n_jobs
    )


def make_baseline(
    name: str, random_state: SeedLike = 0, n_jobs: int | None = None, quantile: bool = False
) -> BaseEstimator:
    """Return the unfitted estimator for baseline ``name`` (one of :data:`BASELINES`);
    ``quantile=True`` makes the forests quantile forests (:func:`make_quantile_forest`)."""
    _check_names([name])
    if quantile and name in FOREST_PARAMS:
        return make_quantile_forest(name, random_state=random_state, n_jobs=n_jobs)
    if name == "null":
        return NullBaseline()
    if name == "rf_paper":
        return make_paper_random_forest(random_state=random_state, n_jobs=n_jobs)
    if name == "rf_strong":
        return make_strong_random_forest(random_state=random_state, n_jobs=n_jobs)
    return GeoKNN()


# --------------------------------------------------------------------------------------------
# Fitting on a split
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BaselineResult(Mapping):
    """Test predictions per baseline, plus fit times, fitted models, feature names and features.

    Behaves as a read-only ``dict[str, numpy.ndarray]`` of predictions
    (``result["rf_paper"]``), with extra attributes.

    Attributes:
        predictions: name -> float64 (N_test,) predicted SOC (g/kg).
        fit_seconds: name -> wall-clock seconds of ``estimator.fit`` (features excluded).
        models: name -> the fitted estimator.
        feature_names: name -> names of the feature columns the estimator was fitted on.
        features: name -> (train, test) float64 feature matrices the estimator was fitted on
            and predicted, e.g. for :func:`soilnet.intervals.quantile_forest_intervals` and,
            with ``models[name].feature_importances_`` as weights,
            :func:`soilnet.applicability.train_dissimilarity`.
    """

    predictions: dict[str, np.ndarray]
    fit_seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, object] = field(default_factory=dict)
    feature_names: dict[str, list[str]] = field(default_factory=dict)
    features: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.predictions[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.predictions)

    def __len__(self) -> int:
        return len(self.predictions)


def _check_names(names: Sequence[str]) -> list[str]:
    """Return unique baseline names in the given order; raise on unknown ones."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigurationError(
            f"Unknown baseline(s) {unknown}; accepted names are {list(BASELINES)}."
        )
    return list(dict.fromkeys(names))


def _check_split(
    split: Mapping[str, object],
    which: str,
    needs: set[str],
    band_names: Sequence[str],
    use_target: bool = True,
) -> tuple[int, dict[str, np.ndarray | None]]:
    """Validate one split dict; return its sample count and the arrays it holds.

    ``use_target=False`` ignores ``target`` (test targets are not needed and may be absent).
    """
    if not isinstance(split, Mapping):
        raise DataFormatError(
            f"{which} must be a dict with keys 'image', 'climate', 'xy', 'target'; "
            f"got {type(split).__name__}."
        )
    missing = sorted(k for k in needs if split.get(k) is None)
    if missing:
        raise DataFormatError(
            f"{which} lacks {missing}, needed by the requested baselines; it has keys "
            f"{sorted(k for k, v in split.items() if v is not None)}."
        )
    arrays: dict[str, np.ndarray | None] = {}
    lengths: dict[str, int] = {}
    if split.get("image") is not None:
        arrays["image"] = _check_image(split["image"], band_names, where=f"{which}['image']")
        lengths["image"] = arrays["image"].shape[0]
    clim = split.get("climate")
    arrays["climate"] = None
    if clim is not None:
        arrays["climate"] = check_array(clim, f"{which}['climate']", axes=("N", "T", "F"))
        lengths["climate"] = arrays["climate"].shape[0]
    if split.get("xy") is not None:
        arrays["xy"] = check_array(
            split["xy"], f"{which}['xy']", axes=("N", 2), dtype=np.float64, finite=True,
            hint="(EPSG:3035 easting, northing in m)",
        )  # fmt: skip
        lengths["xy"] = arrays["xy"].shape[0]
    if use_target and split.get("target") is not None:
        y = np.asarray(split["target"], dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        arrays["target"] = check_array(y, f"{which}['target']", axes=("N",), finite=True)
        lengths["target"] = y.shape[0]
    if not lengths:
        raise DataFormatError(f"{which} holds no arrays; pass at least 'image' or 'xy'.")
    check_consistent_length(which, **{k: range(v) for k, v in lengths.items()})
    return next(iter(lengths.values())), arrays


def _check_finite(arr: np.ndarray, what: str) -> None:
    """Raise DataFormatError naming the samples (rows) with non-finite values."""
    check_array(arr, what, finite=True)


def fit_predict_baselines(
    train: Mapping[str, object],
    test: Mapping[str, object],
    names: Sequence[str] = BASELINES,
    band_names: Sequence[str] = BAND_NAMES,
    climate_variables: Sequence[str] | None = None,
    random_state: SeedLike = 0,
    n_jobs: int | None = None,
    first_month: int = 1,
    quantile_forests: bool = False,
) -> BaselineResult:
    """Fit baselines on ``train`` and predict ``test``, the same split as the networks.

    Args:
        train: dict with ``image`` (N, C, H, W), ``climate`` (N, T, F) or None, ``xy``
            (N, 2) and ``target`` (N,) in g/kg; see the module docstring for units.
        test: dict with the same keys; ``target`` is not used.
        names: baselines to run, from :data:`BASELINES`.
        band_names: names of the image's C bands.
        climate_variables: names of the F climate variables; default
            :data:`~soilnet.bands.CLIMATE_VARIABLES` when F is 14.
        random_state: seed of both Random Forests (None, int or RandomState), stored as given.
        n_jobs: parallel jobs for the forests (None = 1).
        first_month: calendar month of the first climate step (1 = January).
        quantile_forests: fit the forests as quantile regression forests
            (:func:`make_quantile_forest`); predictions stay the forests' means, identical
            to the Random Forests'.

    Returns:
        :class:`BaselineResult`: a mapping name -> float64 (N_test,) predictions (g/kg), with
        ``fit_seconds``, ``models``, ``feature_names`` and ``features`` per baseline.

    Raises:
        ConfigurationError: for an unknown baseline name, or bands ``rf_paper`` needs missing.
        DataFormatError: when arrays are missing, misshapen, disagree in length (within a
            split, or in bands/months/variables between splits), or hold NaN/inf.

    Warns:
        UserWarning: when ``rf_strong`` runs without climate (image features only).
    """
    names = _check_names([names] if isinstance(names, str) else list(names))
    needs_train: set[str] = {"target"}
    needs_test: set[str] = set()
    if {"rf_paper", "rf_strong"} & set(names):
        needs_train.add("image")
        needs_test.add("image")
    if "geo_knn" in names:
        needs_train.add("xy")
        needs_test.add("xy")
    if "rf_paper" in names:
        _band_positions(band_names, OPTICAL_BANDS, "Baseline 'rf_paper'")
    n_train, tr = _check_split(train, "train", needs_train, band_names)
    n_test, te = _check_split(test, "test", needs_test, band_names, use_target=False)

    use_climate = "rf_strong" in names and tr["climate"] is not None
    if "rf_strong" in names:
        if (tr["climate"] is None) != (te["climate"] is None):
            has, lacks = ("train", "test") if tr["climate"] is not None else ("test", "train")
            raise DataFormatError(
                f"{has} has climate but {lacks} does not; pass climate for both splits or neither."
            )
        if use_climate and tr["climate"].shape[1:] != te["climate"].shape[1:]:
            raise DataFormatError(
                f"train['climate'] has (T, F) = {tr['climate'].shape[1:]} but test['climate'] "
                f"has {te['climate'].shape[1:]}; both need the same months and variables."
            )
        if not use_climate:
            warnings.warn(
                "rf_strong: no climate was given, so the strong Random Forest uses image "
                "features only (centre pixel, patch mean and std of each band).",
                UserWarning,
                stacklevel=2,
            )

    y_train = tr["target"]
    features: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    if "rf_paper" in names:
        features["rf_paper"] = (
            paper_rf_features(tr["image"], band_names),
            paper_rf_features(te["image"], band_names),
            paper_rf_feature_names(),
        )
    if "rf_strong" in names:
        clim_tr = tr["climate"] if use_climate else None
        clim_te = te["climate"] if use_climate else None
        f_tr, fn = strong_features(tr["image"], clim_tr, band_names, climate_variables, first_month)
        f_te, _ = strong_features(te["image"], clim_te, band_names, climate_variables, first_month)
        features["rf_strong"] = (f_tr, f_te, fn)
    if "geo_knn" in names:
        features["geo_knn"] = (tr["xy"], te["xy"], ["x_m", "y_m"])
    if "null" in names:
        features["null"] = (np.zeros((n_train, 1)), np.zeros((n_test, 1)), [])
    for name, (f_tr, f_te, _) in features.items():
        _check_finite(f_tr, f"train features for {name!r}")
        _check_finite(f_te, f"test features for {name!r}")

    predictions: dict[str, np.ndarray] = {}
    fit_seconds: dict[str, float] = {}
    models: dict[str, object] = {}
    feature_names: dict[str, list[str]] = {}
    for name in names:
        f_tr, f_te, fn = features[name]
        model = make_baseline(name, random_state, n_jobs, quantile=quantile_forests)
        start = time.perf_counter()
        model.fit(f_tr, y_train)
        fit_seconds[name] = time.perf_counter() - start
        if isinstance(model, RandomForestQuantileRegressor):
            # Its predict() gives the median; the mean is the Random Forest's prediction.
            predictions[name] = quantile_forest_mean(model, f_te)
        else:
            predictions[name] = np.asarray(model.predict(f_te), dtype=np.float64)
        models[name] = model
        feature_names[name] = fn
    features_used = {k: (v[0], v[1]) for k, v in features.items()}
    return BaselineResult(predictions, fit_seconds, models, feature_names, features_used)
