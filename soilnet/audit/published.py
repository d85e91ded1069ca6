"""The published test predictions, checked against LUCAS and against each other.

Every observed value in a prediction file is checked against ``min(OC, 87)`` of the same
``Point_ID`` in LUCAS (tolerance :data:`OBSERVED_TOLERANCE` g/kg); the metrics then use the
LUCAS values, so all models are scored against identical targets.

Which points are "training": the split was never saved, so the prediction files are the only
record of it. :func:`read_run_ids` gives the validation + test points of the ``RUN_*`` files,
from which :func:`~soilnet.audit.report.run_audit` derives two definitions: LUCAS minus the
test points (every point the authors could have trained or validated on), and LUCAS minus the
validation and test points (the 70 % actually trained on, when the ``RUN_*`` files are present).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.audit.files import (
    LUCAS_PATH,
    PUBLISHED_MODELS,
    RESULTS_DIR,
    PublishedModel,
    _read_csv,
    _results_dir,
    read_network_predictions,
    read_rf_predictions,
)
from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.errors import InconsistentDataError, first_ids

#: Largest accepted |file's observed value − min(OC, 87)|, g/kg (float32 OC/87 is ~1e-5 off).
OBSERVED_TOLERANCE = 0.01


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
        lucas: :func:`~soilnet.audit.files.read_lucas`.
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
