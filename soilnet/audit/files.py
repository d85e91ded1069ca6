"""The authors' repository: where its files lie, which ones make Table 1, and reading them.

Files read (the repository has no licence, so none of them is copied into this project; tests
write their own small files in the same layout):

- ``dataset/oc_fix/LUCAS_2015_all.csv``: LUCAS 2015 topsoil, ``Point_ID, long, lat, OC`` (g/kg)
  are read; other columns are ignored.
- ``results/<file>.csv`` of :data:`PUBLISHED_MODELS`. The networks' files hold
  ``point_id, y_real, y_pred`` in units of OC/87 (``y_real`` clipped to [0, 1]); the random
  forest's holds ``y_true, y_pred`` in g/kg, with a ``point_id`` column when present. Without
  one, its rows are aligned by position with the first network file, and every row's
  ``y_true`` must equal that file's ``y_real``·87
  (:func:`~soilnet.audit.published.align_by_position`).
- ``results/RUN_*.csv``: each network run's predictions on validation *and* test points
  (6,556 rows); only ``point_id`` is read, to tell which LUCAS points were used for training.
  They are optional.

Each reader checks columns, numbers and duplicate IDs and names the file in its errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.errors import DataFormatError, DatasetNotFoundError, InconsistentDataError, first_ids
from soilnet.validation import check_columns

#: Where the LUCAS table lies in the authors' repository.
LUCAS_PATH = Path("dataset") / "oc_fix" / "LUCAS_2015_all.csv"
#: The folder of per-point prediction files in the authors' repository.
RESULTS_DIR = Path("results")
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
    check_columns(
        table, required, path,
        f"{what[0].upper()}{what[1:]} needs {', '.join(required)}; check that the file is the "
        "one named, not an edited copy.",
    )  # fmt: skip
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
