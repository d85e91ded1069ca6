"""Audit of the published SoilNet results, recomputed from the authors' own files.

``python -m soilnet audit --reference DIR`` reads a checkout ``DIR`` of the authors' repository
(github.com/moienr/SoilNet) and recomputes, with this project's code:

1. **Table 1** from the published per-point test predictions, with
   :func:`soilnet.metrics.regression_metrics` (correct RPIQ), in g/kg against targets clipped at
   87, beside the numbers the poster printed (:data:`soilnet.reporting.PUBLISHED_TABLE1`);
   and the same predictions scored without the clipped points and against unclipped OC;
2. the **distribution** of the published test set next to all of LUCAS 2015;
3. the **distance from each test point to its nearest training point** in EPSG:3035;
4. a **coordinates-only geographic kNN** (:class:`soilnet.baselines.GeoKNN`) scored on the
   published test points.

Files read (the repository has no licence, so none of them is copied into this project; tests
write their own small files in the same layout):

- ``dataset/oc_fix/LUCAS_2015_all.csv``: LUCAS 2015 topsoil, ``Point_ID, long, lat, OC`` (g/kg)
  are read; other columns are ignored.
- ``results/<file>.csv`` of :data:`PUBLISHED_MODELS`. The networks' files hold
  ``point_id, y_real, y_pred`` in units of OC/87 (``y_real`` clipped to [0, 1]); the random
  forest's holds ``y_true, y_pred`` in g/kg, with a ``point_id`` column when present. Without
  one, its rows are aligned by position with the first network file, and every row's
  ``y_true`` must equal that file's ``y_real``·87.
- ``results/RUN_*.csv``: each network run's predictions on validation *and* test points
  (6,556 rows); only ``point_id`` is read, to tell which LUCAS points were used for training.
  They are optional.

Which points are "training": the split was never saved, so the prediction files are the only
record of it. Two definitions are reported: LUCAS minus the test points (every point the
authors could have trained or validated on), and LUCAS minus the validation and test points
(the 70 % actually trained on, when the ``RUN_*`` files are present).

Every observed value in a prediction file is checked against ``min(OC, 87)`` of the same
``Point_ID`` in LUCAS (tolerance :data:`OBSERVED_TOLERANCE` g/kg); the metrics then use the
LUCAS values, so all models are scored against identical targets.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    InconsistentDataError,
    first_ids,
)
from soilnet.metrics import regression_metrics

#: Where the LUCAS table lies in the authors' repository.
LUCAS_PATH = Path("dataset") / "oc_fix" / "LUCAS_2015_all.csv"
#: The folder of per-point prediction files in the authors' repository.
RESULTS_DIR = Path("results")
#: Largest accepted |file's observed value − min(OC, 87)|, g/kg (float32 OC/87 is ~1e-5 off).
OBSERVED_TOLERANCE = 0.01
#: Neighbours of the geographic kNN baseline.
KNN_K = 20
#: Distance (km) reported as "near" a training point.
NEAR_KM = 5.0
#: Where the authors' repository lives, for messages.
REPOSITORY = "github.com/moienr/SoilNet"

NETWORK_COLUMNS = ("point_id", "y_real", "y_pred")
RF_COLUMNS = ("y_true", "y_pred")


@dataclass(frozen=True)
class PublishedModel:
    """One row of the poster's Table 1 and the file of its per-point test predictions.

    Attributes:
        label: the model's name in :data:`soilnet.reporting.PUBLISHED_TABLE1`.
        test_file: file under ``results/`` with the test predictions (4,371 rows).
        kind: ``"network"`` (``point_id, y_real, y_pred`` in OC/87) or ``"rf"``
            (``y_true, y_pred`` in g/kg, ``point_id`` optional).
        run_file: the run's validation+test predictions under ``results/`` (only its
            ``point_id`` is read), or None.
    """

    label: str
    test_file: str
    kind: str = "network"
    run_file: str | None = None


#: The published Table 1. The ``onlytest_*`` files hold each network's checkpoint evaluated
#: on the 4,371 test points; the ``RUN_*`` files of the same runs hold validation + test
#: points (6,556 rows), so they are used only to tell the training points apart.
PUBLISHED_MODELS: tuple[PublishedModel, ...] = (
    PublishedModel(
        "ResNet-101",
        "onlytest_D_2023_06_06_T_09_56_Nafiseh.csv",
        run_file="RUN_D_2023_06_02_T_20_57_Nafiseh.csv",
    ),
    PublishedModel(
        "ResNet-101-GLAM",
        "onlytest_D_2023_06_06_T_09_44_Nafiseh.csv",
        run_file="RUN_D_2023_06_03_T_09_41_Nafiseh.csv",
    ),
    PublishedModel(
        "ResNet-101-GLAM+LSTM",
        "onlytest_D_2023_06_05_T_16_02_Nafiseh.csv",
        run_file="RUN_D_2023_06_05_T_16_02_Nafiseh.csv",
    ),
    PublishedModel("RF", "RF_D_2023_06_06_T_13_27_Nafiseh.csv", kind="rf"),
)
#: The SoilNet hybrid (CNN + GLAM + LSTM), the paper's headline model.
HYBRID = "ResNet-101-GLAM+LSTM"

#: Metric columns of the printed tables and their decimals.
METRIC_DECIMALS = {"rmse": 2, "r2": 3, "mae": 2, "ccc": 3, "rpiq": 3, "bias": 2}


# --------------------------------------------------------------------------- reading


def _results_dir(reference: Path) -> Path:
    if not reference.is_dir():
        raise DatasetNotFoundError(
            f"--reference {reference} is not a folder; pass a checkout of {REPOSITORY} "
            f"(it holds {RESULTS_DIR}/ and {LUCAS_PATH})."
        )
    results = reference / RESULTS_DIR
    if not results.is_dir():
        raise DatasetNotFoundError(
            f"{results} does not exist: --reference {reference} has no {RESULTS_DIR}/ folder. "
            f"Pass a checkout of {REPOSITORY}, whose {RESULTS_DIR}/ holds the per-point "
            "prediction CSVs."
        )
    return results


def read_lucas(reference: str | Path) -> pd.DataFrame:
    """Read ``dataset/oc_fix/LUCAS_2015_all.csv`` of the authors' repository.

    Args:
        reference: the checkout of the authors' repository.

    Returns:
        ``Point_ID`` (int64), ``long``, ``lat`` (EPSG:4326 degrees) and ``OC`` (g/kg,
        unclipped), one row per point.

    Raises:
        DatasetNotFoundError: the file is missing.
        DataFormatError, InconsistentDataError: columns missing, bad values, duplicate IDs.
    """
    from soilnet.io.tables import read_points

    path = Path(reference) / LUCAS_PATH
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} does not exist; --reference must be a checkout of {REPOSITORY} holding "
            f"{LUCAS_PATH} (the LUCAS 2015 table the published runs used)."
        )
    return read_points(path)[["Point_ID", "long", "lat", "OC"]]


def _read_csv(path: Path, required: Sequence[str], what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"{path} does not exist; it is {what}. Pass --reference a full checkout of "
            f"{REPOSITORY} (its {RESULTS_DIR}/ folder holds this file)."
        )
    table = pd.read_csv(path, encoding="utf-8-sig")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataFormatError(
            f"{path}: missing column(s) {', '.join(missing)}; found "
            f"{', '.join(map(str, table.columns))}. {what[0].upper()}{what[1:]} needs "
            f"{', '.join(required)}; check that the file is the one named, not an edited copy."
        )
    for col in required:
        values = pd.to_numeric(table[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
        if bad.any():
            rows = (np.flatnonzero(bad) + 2).tolist()  # 1-based, after the header line
            raise DataFormatError(
                f"{path}: {int(bad.sum())} value(s) of {col} are missing or not numbers "
                f"(lines {first_ids(rows)})."
            )
        table[col] = values
    if "point_id" in table.columns:
        ids = table["point_id"]
        if (ids != ids.round()).any():
            raise DataFormatError(f"{path}: point_id holds values that are not integers.")
        table["point_id"] = ids.astype(np.int64)
        dup = table.loc[table["point_id"].duplicated(), "point_id"].unique()
        if len(dup):
            raise InconsistentDataError(
                f"{path}: {len(dup)} point_id(s) appear more than once ({first_ids(dup)})."
            )
    return table


def read_network_predictions(path: str | Path, clip: float = PAPER_CLIP_G_PER_KG) -> pd.DataFrame:
    """Read a network's per-point CSV (``point_id, y_real, y_pred`` in OC/``clip``).

    Returns:
        ``point_id`` (int64), ``observed`` and ``predicted`` in g/kg (both times ``clip``;
        predictions are not clipped), in file order.
    """
    table = _read_csv(Path(path), NETWORK_COLUMNS, "a network's per-point prediction file")
    return pd.DataFrame(
        {
            "point_id": table["point_id"],
            "observed": table["y_real"] * clip,
            "predicted": table["y_pred"] * clip,
        }
    )


def read_rf_predictions(path: str | Path) -> pd.DataFrame:
    """Read the random forest's per-point CSV (``y_true, y_pred`` in g/kg, ``point_id`` if any).

    Returns:
        ``observed``, ``predicted`` (g/kg) and, when the file has one, ``point_id`` (int64).
    """
    table = _read_csv(Path(path), RF_COLUMNS, "the random forest's per-point prediction file")
    out = pd.DataFrame({"observed": table["y_true"], "predicted": table["y_pred"]})
    if "point_id" in table.columns:
        out.insert(0, "point_id", table["point_id"])
    return out


def align_by_position(
    table: pd.DataFrame,
    reference: pd.DataFrame,
    name: str,
    reference_name: str,
    tolerance: float = OBSERVED_TOLERANCE,
) -> pd.DataFrame:
    """Give a file without IDs the ``point_id`` of another file with the same rows.

    Row ``i`` of ``table`` is taken to be the point of row ``i`` of ``reference``; that is
    accepted only when both files have the same number of rows and every row's observed
    value agrees within ``tolerance`` g/kg.

    Args:
        table: ``observed, predicted`` (g/kg), no ``point_id``.
        reference: ``point_id, observed`` (g/kg).
        name, reference_name: the two files, for messages.

    Returns:
        ``table`` with ``point_id`` inserted first.

    Raises:
        InconsistentDataError: different row counts, or rows whose observed values differ.
    """
    if len(table) != len(reference):
        raise InconsistentDataError(
            f"{name} has no point_id column and {len(table):,} rows, but {reference_name} has "
            f"{len(reference):,}; rows cannot be aligned by position. Use the file with IDs."
        )
    diff = np.abs(table["observed"].to_numpy() - reference["observed"].to_numpy())
    bad = np.flatnonzero(diff > tolerance)
    if len(bad):
        raise InconsistentDataError(
            f"{name} has no point_id column, and aligned by position with {reference_name} "
            f"its observed SOC differs at {len(bad):,} rows (lines {first_ids(bad + 2)}; "
            f"largest difference {diff.max():.2f} g/kg): the two files are not in the same "
            "order, so its predictions cannot be matched to points."
        )
    out = table.copy()
    out.insert(0, "point_id", reference["point_id"].to_numpy())
    return out


def check_observed(
    table: pd.DataFrame,
    lucas: pd.DataFrame,
    name: str,
    clip: float = PAPER_CLIP_G_PER_KG,
    tolerance: float = OBSERVED_TOLERANCE,
) -> float:
    """Check a file's observed values against ``min(OC, clip)`` of the same LUCAS points.

    Returns:
        The largest absolute difference (g/kg).

    Raises:
        InconsistentDataError: IDs absent from LUCAS, or values off by more than ``tolerance``.
    """
    oc = lucas.set_index("Point_ID")["OC"]
    missing = table.loc[~table["point_id"].isin(oc.index), "point_id"]
    if len(missing):
        raise InconsistentDataError(
            f"{name}: {len(missing):,} point_id(s) are not in {LUCAS_PATH} "
            f"({first_ids(missing)}); the file belongs to another LUCAS table."
        )
    expected = np.minimum(oc.loc[table["point_id"]].to_numpy(), clip)
    diff = np.abs(table["observed"].to_numpy() - expected)
    bad = table.loc[diff > tolerance, "point_id"]
    if len(bad):
        raise InconsistentDataError(
            f"{name}: observed SOC differs from min(OC, {clip:g}) of {LUCAS_PATH} at "
            f"{len(bad):,} point(s) ({first_ids(bad)}; largest difference {diff.max():.2f} "
            "g/kg); the predictions are not aligned with these points."
        )
    return float(diff.max()) if len(diff) else 0.0


@dataclass
class PublishedPredictions:
    """The published per-point test predictions, checked and aligned.

    Attributes:
        frames: model label -> ``point_id, observed, predicted`` (g/kg; observed is
            ``min(OC, clip)`` from LUCAS), rows in the order of the first model's file.
        notes: one line per file on how it was read and checked.
        files: model label -> path read.
    """

    frames: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def test_ids(self) -> np.ndarray:
        """int64 (n_test,) Point_IDs of the published test set."""
        return next(iter(self.frames.values()))["point_id"].to_numpy()


def read_published(
    reference: str | Path,
    lucas: pd.DataFrame,
    models: Sequence[PublishedModel] = PUBLISHED_MODELS,
    clip: float = PAPER_CLIP_G_PER_KG,
) -> PublishedPredictions:
    """Read every model's test predictions, check them against LUCAS and against each other.

    Args:
        reference: the checkout of the authors' repository.
        lucas: :func:`read_lucas`.
        models: which files to read (network files first: a random forest file without IDs is
            aligned by position with the first network file).

    Raises:
        DatasetNotFoundError: ``results/`` or a file is missing.
        DataFormatError, InconsistentDataError: columns, alignment or test sets disagree.
    """
    results = _results_dir(Path(reference))
    out = PublishedPredictions(frames={})
    first_network: tuple[str, pd.DataFrame] | None = None
    for model in models:
        path = results / model.test_file
        name = f"{RESULTS_DIR / model.test_file}"
        if model.kind == "network":
            table = read_network_predictions(path, clip)
            if first_network is None:
                first_network = (name, table)
            how = "point_id, y_real, y_pred (OC/87) read"
        elif model.kind == "rf":
            table = read_rf_predictions(path)
            if "point_id" in table.columns:
                how = "point_id, y_true, y_pred (g/kg) read; joined on point_id"
            elif first_network is None:
                raise InconsistentDataError(
                    f"{name} has no point_id column and no network file was read before it "
                    "to align it with; list a network model first."
                )
            else:
                table = align_by_position(table, first_network[1], name, first_network[0])
                how = (
                    f"no point_id column: aligned by row position with {first_network[0]}, "
                    "y_true equal to its y_real·87 at every row"
                )
        else:
            raise ValueError(f"PublishedModel.kind must be 'network' or 'rf'; got {model.kind!r}.")
        worst = check_observed(table, lucas, name, clip)
        if out.frames:
            ref_ids = out.test_ids
            ids = table["point_id"].to_numpy()
            extra = np.setdiff1d(ids, ref_ids)
            lacking = np.setdiff1d(ref_ids, ids)
            if len(extra) or len(lacking):
                first_name = str(next(iter(out.files.values())).name)
                raise InconsistentDataError(
                    f"{name} has {len(ids):,} points, {first_name} has {len(ref_ids):,}: "
                    f"{len(extra):,} only in the former ({first_ids(extra)}), {len(lacking):,} "
                    f"only in the latter ({first_ids(lacking)}). Table 1 needs one test set."
                )
            order = pd.Index(ids).get_indexer(ref_ids)
            table = table.iloc[order].reset_index(drop=True)
        oc = lucas.set_index("Point_ID")["OC"]
        table = table.assign(observed=np.minimum(oc.loc[table["point_id"]].to_numpy(), clip))
        out.frames[model.label] = table[["point_id", "observed", "predicted"]]
        out.files[model.label] = path
        out.notes.append(
            f"{name}: {len(table):,} rows; {how}; observed = min(OC, {clip:g}) of LUCAS "
            f"within {worst:.1e} g/kg"
        )
    return out


def read_run_ids(
    reference: str | Path,
    test_ids: np.ndarray,
    models: Sequence[PublishedModel] = PUBLISHED_MODELS,
) -> tuple[np.ndarray | None, list[str]]:
    """The validation + test Point_IDs from the ``RUN_*`` files that are present.

    Returns:
        ``(ids, notes)``: the union of their ``point_id`` (int64, sorted), or None when no such
        file exists; one note per file.

    Raises:
        InconsistentDataError: a run file lacks some of the test points.
    """
    results = _results_dir(Path(reference))
    union: np.ndarray | None = None
    notes = []
    for model in models:
        if model.run_file is None:
            continue
        path = results / model.run_file
        if not path.is_file():
            notes.append(f"{RESULTS_DIR / model.run_file}: absent, not used")
            continue
        table = _read_csv(path, ("point_id",), "a run's validation+test prediction file")
        ids = table["point_id"].to_numpy()
        lacking = np.setdiff1d(test_ids, ids)
        if len(lacking):
            raise InconsistentDataError(
                f"{path}: {len(lacking):,} of the {len(test_ids):,} test points are not in it "
                f"({first_ids(lacking)}); it is not the validation+test file of the same split."
            )
        notes.append(
            f"{RESULTS_DIR / model.run_file}: {len(ids):,} rows (validation + test), "
            f"all {len(test_ids):,} test points among them"
        )
        union = ids if union is None else np.union1d(union, ids)
    return (None if union is None else np.unique(union)), notes


# --------------------------------------------------------------------------- metrics


def metrics_row(observed: object, predicted: object) -> dict[str, float]:
    """:func:`~soilnet.metrics.regression_metrics`, in :data:`METRIC_DECIMALS` order plus n."""
    m = regression_metrics(observed, predicted)
    return {**{k: m[k] for k in METRIC_DECIMALS}, "n": m["n"]}


def recompute_table1(predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 1 recomputed beside the poster's printed numbers.

    Args:
        predictions: model label -> ``observed, predicted`` (g/kg, observed clipped).

    Returns:
        One ``recomputed`` and one ``reported`` row per model: ``model, source, rmse, r2,
        mae, ccc, rpiq, bias, n``. Reported rows have RMSE, R², MAE and CCC only.
    """
    from soilnet.reporting import PUBLISHED_TABLE1

    reported = PUBLISHED_TABLE1.set_index("model")
    rows = []
    for label, frame in predictions.items():
        rows.append(
            {
                "model": label,
                "source": "recomputed",
                **metrics_row(frame["observed"], frame["predicted"]),
            }
        )
        if label in reported.index:
            rows.append({"model": label, "source": "reported", **reported.loc[label].to_dict()})
    return pd.DataFrame(rows, columns=["model", "source", *METRIC_DECIMALS, "n"])


def clip_effect(
    predictions: Mapping[str, pd.DataFrame],
    oc: pd.Series,
    clip: float = PAPER_CLIP_G_PER_KG,
) -> pd.DataFrame:
    """The same predictions scored three ways: as published, without clipped points, raw OC.

    Args:
        predictions: model label -> ``point_id, observed, predicted`` (g/kg).
        oc: unclipped OC (g/kg) indexed by Point_ID.

    Returns:
        ``model, evaluation, rmse, r2, mae, ccc, rpiq, bias, n`` where evaluation is
        ``clipped at 87`` (all points, targets min(OC, 87)), ``OC < 87 only`` (points at the
        clip left out: the filtering alternative) or ``unclipped OC`` (all points, raw OC).
    """
    rows = []
    for label, frame in predictions.items():
        raw = oc.loc[frame["point_id"]].to_numpy()
        kept = raw < clip
        for evaluation, obs, pred in (
            (f"clipped at {clip:g}", frame["observed"].to_numpy(), frame["predicted"].to_numpy()),
            (f"OC < {clip:g} only", raw[kept], frame["predicted"].to_numpy()[kept]),
            ("unclipped OC", raw, frame["predicted"].to_numpy()),
        ):
            rows.append({"model": label, "evaluation": evaluation, **metrics_row(obs, pred)})
    return pd.DataFrame(rows, columns=["model", "evaluation", *METRIC_DECIMALS, "n"])


def oc_summary(oc: object, clip: float = PAPER_CLIP_G_PER_KG) -> dict[str, float]:
    """Size, mean, SD, quartiles and the share at the clip of an OC sample (g/kg).

    Returns:
        ``n, mean, sd`` (ddof=1), ``min, q1, median, q3, max`` (numpy linear quantiles),
        ``share_at_clip`` (fraction with OC >= clip, i.e. saturated by the clip) and
        ``mean_clipped, sd_clipped`` of min(OC, clip).
    """
    x = np.asarray(oc, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"oc must be 1-D with at least 2 values; got shape {x.shape}.")
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
    clipped = np.minimum(x, clip)
    return {
        "n": int(len(x)),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "min": float(q[0]),
        "q1": float(q[1]),
        "median": float(q[2]),
        "q3": float(q[3]),
        "max": float(q[4]),
        "share_at_clip": float(np.mean(x >= clip)),
        "mean_clipped": float(clipped.mean()),
        "sd_clipped": float(clipped.std(ddof=1)),
    }


def distribution_table(samples: Mapping[str, object], clip: float = PAPER_CLIP_G_PER_KG):
    """:func:`oc_summary` of each sample as columns (rows: statistics)."""
    return pd.DataFrame({name: oc_summary(x, clip) for name, x in samples.items()})


# --------------------------------------------------------------------------- geography


def laea_xy(lon: object, lat: object) -> np.ndarray:
    """float64 (n, 2) EPSG:3035 easting, northing (m) of EPSG:4326 degrees."""
    from soilnet.geo import lonlat_to_laea

    x, y = lonlat_to_laea(lon, lat)
    return np.column_stack([np.asarray(x, float), np.asarray(y, float)])


def nearest_distance_km(test_xy: object, train_xy: object) -> np.ndarray:
    """Distance (km) from each test point to its nearest training point.

    Args:
        test_xy: float (n_test, 2); EPSG:3035 metres.
        train_xy: float (n_train, 2); EPSG:3035 metres, n_train >= 1.

    Returns:
        float64 (n_test,) Euclidean distances in EPSG:3035, km.
    """
    from scipy.spatial import cKDTree

    test = np.asarray(test_xy, dtype=np.float64)
    train = np.asarray(train_xy, dtype=np.float64)
    for name, arr in (("test_xy", test), ("train_xy", train)):
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            raise ValueError(f"{name} must have shape (n, 2) with n >= 1; got {arr.shape}.")
    dist, _ = cKDTree(train).query(test, k=1)
    return np.asarray(dist, dtype=np.float64) / 1000.0


def distance_summary(distances: Mapping[str, object], near_km: float = NEAR_KM) -> pd.DataFrame:
    """Quantiles of nearest-training-point distances (km) per training definition.

    Returns:
        One row per entry: ``training, n_test, min, p10, q1, median, q3, p90, max, mean`` (km)
        and ``share_within_<near_km>km`` (fraction of test points with distance <= near_km).
    """
    share = f"share_within_{near_km:g}km"
    rows = []
    for name, d in distances.items():
        d = np.asarray(d, dtype=np.float64)
        q = np.quantile(d, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
        rows.append(
            {
                "training": name,
                "n_test": int(len(d)),
                **dict(
                    zip(["min", "p10", "q1", "median", "q3", "p90", "max"], q.tolist(), strict=True)
                ),
                "mean": float(d.mean()),
                share: float(np.mean(d <= near_km)),
            }
        )
    return pd.DataFrame(rows)


def geo_knn_scores(
    train_xy: object,
    train_oc: object,
    test_xy: object,
    test_observed: object,
    k: int = KNN_K,
    clip: float = PAPER_CLIP_G_PER_KG,
) -> tuple[dict[str, float], np.ndarray]:
    """Fit :class:`~soilnet.baselines.GeoKNN` on training coordinates and score the test points.

    Args:
        train_xy: float (n_train, 2); EPSG:3035 metres.
        train_oc: float (n_train,); OC in g/kg, clipped at ``clip`` before fitting.
        test_xy: float (n_test, 2); EPSG:3035 metres.
        test_observed: float (n_test,); the targets to score against (g/kg, already clipped).

    Returns:
        ``(metrics, predictions)``: :func:`metrics_row` and float64 (n_test,) predictions.
    """
    from soilnet.baselines import GeoKNN

    y = np.minimum(np.asarray(train_oc, dtype=np.float64), clip)
    model = GeoKNN(n_neighbors=k).fit(train_xy, y)
    pred = model.predict(test_xy)
    return metrics_row(test_observed, pred), pred


# --------------------------------------------------------------------------- figures


def plot_distributions(
    lucas_oc: object, test_oc: object, clip: float = PAPER_CLIP_G_PER_KG
) -> Figure:
    """Histograms (densities) of OC in LUCAS 2015 and the published test set.

    Left: raw OC on a log axis with the clip marked; right: the clipped target min(OC, clip).
    """
    import seaborn as sns

    from soilnet.plotting._base import new_figure

    lucas = np.asarray(lucas_oc, dtype=np.float64)
    test = np.asarray(test_oc, dtype=np.float64)
    data = pd.concat(
        [
            pd.DataFrame({"OC": lucas, "set": f"LUCAS 2015 (n = {len(lucas):,})"}),
            pd.DataFrame({"OC": test, "set": f"published test set (n = {len(test):,})"}),
        ],
        ignore_index=True,
    )
    data["clipped"] = np.minimum(data["OC"], clip)
    fig = new_figure((10, 3.8))
    ax_raw, ax_clip = fig.subplots(1, 2)
    positive = data[data["OC"] > 0]
    common = dict(hue="set", stat="density", common_norm=False, element="step", fill=False)
    sns.histplot(positive, x="OC", log_scale=True, bins=60, ax=ax_raw, **common)
    ax_raw.axvline(clip, color="0.3", ls="--", lw=1)
    ax_raw.text(clip, 0.6, f" clip {clip:g}", transform=ax_raw.get_xaxis_transform(), fontsize=8)
    ax_raw.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_raw.set(xlabel="OC (g/kg, log scale)", title="Observed OC")
    sns.move_legend(ax_raw, "upper left", title=None, fontsize=8, frameon=False)
    bins = np.linspace(0.0, clip, 30)
    sns.histplot(data, x="clipped", bins=bins, ax=ax_clip, legend=False, **common)
    ax_clip.set(xlabel=f"min(OC, {clip:g}) (g/kg)", title=f"Target as trained: clipped at {clip:g}")
    return fig


def plot_nn_distances(distances: Mapping[str, object], near_km: float = NEAR_KM) -> Figure:
    """Cumulative share of test points within a distance of their nearest training point."""
    import seaborn as sns

    from soilnet.plotting._base import new_figure, palette_color

    fig = new_figure((6.5, 4.0))
    ax = fig.add_subplot()
    for i, (name, d) in enumerate(distances.items()):
        sns.ecdfplot(x=np.asarray(d, dtype=np.float64), ax=ax, label=name, color=palette_color(i))
    ax.axvline(near_km, color="0.3", ls="--", lw=1)
    ax.text(near_km, 0.02, f" {near_km:g} km", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel="distance to the nearest training point (km, EPSG:3035, log scale)",
        ylabel="share of test points",
        title="Published test set: nearest training point",
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig


# --------------------------------------------------------------------------- the audit


@dataclass
class AuditResult:
    """Everything the audit computed; :func:`format_report` prints it."""

    table1: pd.DataFrame
    clip_effect: pd.DataFrame
    distribution: pd.DataFrame
    distances: pd.DataFrame
    knn: pd.DataFrame
    notes: list[str]
    files: dict[str, Path]
    out_dir: Path
    date: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_audit(
    reference: str | Path,
    out_dir: str | Path,
    *,
    models: Sequence[PublishedModel] = PUBLISHED_MODELS,
    k: int = KNN_K,
    clip: float = PAPER_CLIP_G_PER_KG,
    date: str | None = None,
) -> AuditResult:
    """Run the four parts of the audit and write their tables and figures into ``out_dir``.

    Writes ``table1.csv``, ``clip_effect.csv``, ``distribution.csv``, ``nn_distance.csv``,
    ``geo_knn.csv``, ``distribution.png``, ``nn_distance.png``, ``report.md`` (what
    :func:`format_report` prints) and ``audit.json`` (inputs with SHA-256, notes, date).

    Args:
        reference: a checkout of the authors' repository.
        out_dir: output folder (created).
        models: the Table 1 rows and their files.
        k: neighbours of the geographic kNN.
        date: ISO date recorded (default: today).
    """
    reference = Path(reference)
    _results_dir(reference)
    lucas = read_lucas(reference)
    published = read_published(reference, lucas, models, clip)
    notes = [f"{LUCAS_PATH}: {len(lucas):,} rows"] + published.notes
    test_ids = published.test_ids
    run_ids, run_notes = read_run_ids(reference, test_ids, models)
    notes += run_notes

    oc = lucas.set_index("Point_ID")["OC"]
    xy = pd.DataFrame(laea_xy(lucas["long"], lucas["lat"]), index=lucas["Point_ID"])
    is_test = lucas["Point_ID"].isin(test_ids).to_numpy()
    trainings = {f"LUCAS − test (n = {int((~is_test).sum()):,})": ~is_test}
    if run_ids is not None:
        is_val_test = lucas["Point_ID"].isin(run_ids).to_numpy()
        trainings[f"LUCAS − val+test (n = {int((~is_val_test).sum()):,})"] = ~is_val_test
    test_xy = xy.loc[test_ids].to_numpy()
    test_observed = np.minimum(oc.loc[test_ids].to_numpy(), clip)

    distances, knn_rows = {}, []
    for name, mask in trainings.items():
        train_xy = xy.to_numpy()[mask]
        distances[name] = nearest_distance_km(test_xy, train_xy)
        scores, _ = geo_knn_scores(
            train_xy, lucas["OC"].to_numpy()[mask], test_xy, test_observed, k, clip
        )
        knn_rows.append({"model": f"{k}-NN geographic, training = {name}", **scores})
        mean_pred = np.full(len(test_ids), np.minimum(lucas["OC"].to_numpy()[mask], clip).mean())
        knn_rows.append(
            {"model": f"training mean, training = {name}", **metrics_row(test_observed, mean_pred)}
        )
    hybrid = published.frames.get(HYBRID, next(iter(published.frames.values())))
    knn_rows.append(
        {
            "model": f"{HYBRID} (published, for comparison)",
            **metrics_row(hybrid["observed"], hybrid["predicted"]),
        }
    )

    result = AuditResult(
        table1=recompute_table1(published.frames),
        clip_effect=clip_effect(published.frames, oc, clip),
        distribution=distribution_table(
            {"LUCAS 2015": lucas["OC"], "published test set": oc.loc[test_ids]}, clip
        ),
        distances=distance_summary(distances),
        knn=pd.DataFrame(knn_rows, columns=["model", *METRIC_DECIMALS, "n"]),
        notes=notes,
        files={"LUCAS": reference / LUCAS_PATH, **published.files},
        out_dir=Path(out_dir),
        date=date or _dt.date.today().isoformat(),
    )
    _write(result, lucas["OC"].to_numpy(), oc.loc[test_ids].to_numpy(), distances, reference)
    return result


def _write(
    result: AuditResult,
    lucas_oc: np.ndarray,
    test_oc: np.ndarray,
    distances: Mapping[str, np.ndarray],
    reference: Path,
) -> None:
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result.table1.to_csv(out / "table1.csv", index=False)
    result.clip_effect.to_csv(out / "clip_effect.csv", index=False)
    result.distribution.to_csv(out / "distribution.csv", index_label="statistic")
    result.distances.to_csv(out / "nn_distance.csv", index=False)
    result.knn.to_csv(out / "geo_knn.csv", index=False)
    plot_distributions(lucas_oc, test_oc).savefig(out / "distribution.png", dpi=120)
    plot_nn_distances(distances).savefig(out / "nn_distance.png", dpi=120)
    (out / "report.md").write_text(format_report(result) + "\n")
    inputs = {
        str(path.relative_to(reference)): {"sha256": _sha256(path)}
        for path in result.files.values()
    }
    meta = {"date": result.date, "reference": str(reference), "inputs": inputs}
    meta["notes"] = result.notes
    (out / "audit.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- report


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    # The poster printed two decimals: reported rows keep its precision.
    reported = (out["source"] == "reported").to_numpy() if "source" in out else np.zeros(len(out))
    for col, digits in METRIC_DECIMALS.items():
        if col in out.columns:
            out[col] = [
                "" if pd.isna(v) else f"{v:.{2 if rep else digits}f}"
                for v, rep in zip(out[col].astype(float), reported, strict=True)
            ]
    if "n" in out.columns:
        out["n"] = ["" if pd.isna(v) else f"{int(v):,}" for v in out["n"]]
    return out


def _distribution_text(table: pd.DataFrame) -> pd.DataFrame:
    out = table.astype(object).copy()
    for stat in out.index:
        if stat == "n":
            fmt = "{:,.0f}"
        elif stat == "share_at_clip":
            fmt = "{:.2%}"
        else:
            fmt = "{:.2f}"
        out.loc[stat] = [fmt.format(v) for v in table.loc[stat]]
    names = {
        "share_at_clip": "share with OC ≥ 87 (at the clip)",
        "mean_clipped": "mean of min(OC, 87)",
        "sd_clipped": "SD of min(OC, 87)",
        "sd": "SD",
    }
    return out.rename(index=names).rename_axis("OC (g/kg)").reset_index()


def _distance_text(table: pd.DataFrame) -> pd.DataFrame:
    out = table.astype(object).copy()
    for col in table.columns:
        if col == "training":
            continue
        if col == "n_test":
            out[col] = [f"{v:,}" for v in table[col]]
        elif col.startswith("share"):
            out[col] = [f"{v:.1%}" for v in table[col]]
        else:
            out[col] = [f"{v:.2f}" for v in table[col]]
    return out


def _markdown(table: pd.DataFrame) -> str:
    """A markdown table of preformatted strings: the first column left, the others right."""
    align = ["left"] * (2 if "source" in table or "evaluation" in table else 1)
    align += ["right"] * (table.shape[1] - len(align))
    return table.to_markdown(index=False, disable_numparse=True, colalign=align)


def format_report(result: AuditResult) -> str:
    """The audit as markdown: input checks, then the four tables (what the CLI prints)."""
    parts = [
        f"# Audit of the published SoilNet results ({result.date})",
        "",
        "## Inputs",
        *[f"- {note}" for note in result.notes],
        "",
        "## 1. Table 1 recomputed (g/kg, targets clipped at 87; RPIQ = IQR(observed)/RMSE; "
        "bias = mean(predicted − observed))",
        "",
        _markdown(_rounded(result.table1)),
        "",
        "Reported rows: the poster's printed numbers (soilnet.reporting.PUBLISHED_TABLE1).",
        "",
        "### The same predictions without the clip",
        "",
        _markdown(_rounded(result.clip_effect)),
        "",
        "## 2. OC distribution: LUCAS 2015 and the published test set",
        "",
        _markdown(_distribution_text(result.distribution)),
        "",
        "Figure: distribution.png",
        "",
        "## 3. Distance from each test point to its nearest training point (km, EPSG:3035)",
        "",
        _markdown(_distance_text(result.distances)),
        "",
        "Figure: nn_distance.png",
        "",
        "## 4. Coordinates-only baselines on the published test points (g/kg, clipped at 87)",
        "",
        _markdown(_rounded(result.knn)),
    ]
    return "\n".join(parts)
