"""Readers and writers for the LUCAS point table and TerraClimate per-variable CSVs.

``points.csv`` is the LUCAS 2015 topsoil table as distributed (UTF-8 with a byte-order mark,
24 columns); only ``Point_ID, long, lat`` and, for training, ``OC`` (g/kg) are required.
``climate/<variable>.csv`` has one row per point, an ID column and one column per month named
``YYYYMMDD`` in any order; ``-999`` codes missing values (the authors' Earth Engine export also
wrote true zeros as ``-999``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    InconsistentDataError,
    MissingValuesWarning,
    first_ids,
)
from soilnet.io.atomic import atomic_path
from soilnet.validation import check_columns

POINT_COLUMNS = ("Point_ID", "long", "lat")
MONTH_COLUMN = re.compile(r"^\d{8}$")
MISSING_CODE = -999.0


def read_points(
    path: str | Path, *, require_oc: bool = True, id_column: str = "Point_ID"
) -> pd.DataFrame:
    """Read a point table (LUCAS 2015 topsoil layout, or a map grid without ``OC``).

    Args:
        path: CSV file; a byte-order mark is accepted.
        require_oc: require an ``OC`` column (SOC, g/kg), finite and non-negative.
        id_column: name of the point identifier column.

    Returns:
        The table with ``Point_ID`` as int64 (renamed from ``id_column``), ``long``/``lat`` in
        EPSG:4326 degrees, every other column kept as read.

    Raises:
        DatasetNotFoundError, DataFormatError, InconsistentDataError: naming the file and IDs.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"Point table {path} does not exist; pass the LUCAS CSV or a data folder holding points.csv."
        )
    table = pd.read_csv(path, encoding="utf-8-sig", low_memory=False)
    if id_column != "Point_ID":
        table = table.rename(columns={id_column: "Point_ID"})
    required = list(POINT_COLUMNS) + (["OC"] if require_oc else [])
    check_columns(
        table, required, path,
        f"The table needs Point_ID, long, lat{' and OC (g/kg)' if require_oc else ''}; pass "
        "id_column= if the IDs are named differently.",
    )  # fmt: skip
    ids = pd.to_numeric(table["Point_ID"], errors="coerce")
    bad_ids = table.loc[ids.isna() | (ids != ids.round()), "Point_ID"]
    if len(bad_ids):
        raise DataFormatError(
            f"{path}: {len(bad_ids)} Point_ID value(s) are not integers ({first_ids(bad_ids)})."
        )
    table["Point_ID"] = ids.astype(np.int64)
    dup = table.loc[table["Point_ID"].duplicated(), "Point_ID"].unique()
    if len(dup):
        raise InconsistentDataError(
            f"{path}: {len(dup)} duplicate Point_ID(s) ({first_ids(dup)}); each point must appear once."
        )
    for col, lo, hi in (("long", -180, 180), ("lat", -90, 90)):
        vals = pd.to_numeric(table[col], errors="coerce")
        bad = table.loc[~np.isfinite(vals) | (vals < lo) | (vals > hi), "Point_ID"]
        if len(bad):
            raise DataFormatError(
                f"{path}: {len(bad)} point(s) have {col} outside [{lo}, {hi}] or not a number "
                f"(Point_ID {first_ids(bad)}); coordinates must be EPSG:4326 degrees."
            )
        table[col] = vals.astype(np.float64)
    if require_oc:
        oc = pd.to_numeric(table["OC"], errors="coerce")
        bad = table.loc[~np.isfinite(oc) | (oc < 0), "Point_ID"]
        if len(bad):
            raise DataFormatError(
                f"{path}: {len(bad)} point(s) have OC that is missing, non-finite or negative "
                f"(Point_ID {first_ids(bad)}); OC must be SOC in g/kg >= 0. Fix or remove these rows."
            )
        table["OC"] = oc.astype(np.float64)
    return table


@dataclass
class ClimateTable:
    """Monthly climate series of many points.

    Attributes:
        values: float32 (N, T, F): points x months (oldest first) x variables; NaN = missing.
        point_ids: (N,) identifiers (int64 when every ID is an integer, else str).
        months: T month labels ``YYYYMMDD``, ascending.
        variables: F variable names, in the order of the last axis.
    """

    values: np.ndarray
    point_ids: np.ndarray
    months: tuple[str, ...]
    variables: tuple[str, ...]

    def missing_count(self) -> dict[str, int]:
        """Missing (NaN) cells per variable."""
        return {v: int(np.isnan(self.values[:, :, i]).sum()) for i, v in enumerate(self.variables)}


def _as_ids(values: pd.Series) -> np.ndarray:
    as_num = pd.to_numeric(values, errors="coerce")
    if as_num.notna().all() and (as_num == as_num.round()).all():
        return as_num.astype(np.int64).to_numpy()
    return values.astype(str).to_numpy()


def _month_columns(path: Path, columns: list[str]) -> list[str]:
    """Columns that are months; a column starting with a digit must parse as YYYYMMDD."""
    months = []
    for c in columns:
        c = str(c)
        if not c[:1].isdigit():
            continue  # metadata such as system:index, .geo, SOCstock100
        ok = bool(MONTH_COLUMN.match(c))
        if ok:
            try:
                pd.Timestamp(f"{c[:4]}-{c[4:6]}-{c[6:]}")
            except ValueError:
                ok = False
        if not ok:
            raise DataFormatError(
                f"{path}: column {c!r} is not a month of the form YYYYMMDD (e.g. 20100101); "
                "rename it, or remove it if it is not a monthly value."
            )
        months.append(c)
    if not months:
        raise DataFormatError(f"{path}: no month columns named YYYYMMDD were found.")
    return months


def read_climate(
    climate_dir: str | Path,
    variables: tuple[str, ...] | list[str],
    *,
    id_column: str = "Point_ID",
    months: tuple[str, ...] | list[str] | None = None,
    missing_code_means: str = "missing",
) -> ClimateTable:
    """Read ``climate/<variable>.csv`` files into one (points x months x variables) array.

    Args:
        climate_dir: folder holding one CSV per variable.
        variables: variables to read, in the order of the last axis.
        id_column: name of the ID column (``Point_ID`` for LUCAS, ``rcasiteid`` for RaCA).
        months: month labels ``YYYYMMDD`` to keep (default: all, which must agree across files).
        missing_code_means: ``"missing"`` (``-999`` becomes NaN, with a warning giving the
            count) or ``"zero"`` (for the authors' exports, where a true zero was written as -999).

    Returns:
        A :class:`ClimateTable`; rows follow the first file, months ascend.

    Raises:
        DatasetNotFoundError: a variable file does not exist.
        DataFormatError: an ID or month column is missing or unparsable.
        InconsistentDataError: the files disagree on months or points, or IDs repeat.
    """
    if missing_code_means not in ("missing", "zero"):
        raise ValueError(
            f"missing_code_means must be 'missing' or 'zero'; got {missing_code_means!r}."
        )
    climate_dir = Path(climate_dir)
    if not variables:
        raise ValueError("read_climate: no variables requested.")
    frames: dict[str, pd.DataFrame] = {}
    month_sets: dict[str, list[str]] = {}
    for var in variables:
        path = climate_dir / f"{var}.csv"
        if not path.is_file():
            have = sorted(p.stem for p in climate_dir.glob("*.csv")) if climate_dir.is_dir() else []
            raise DatasetNotFoundError(
                f"Climate file {path} does not exist (found: {', '.join(have) or 'none'}); "
                "add it, or choose variables from those present."
            )
        df = pd.read_csv(path, encoding="utf-8-sig", dtype={id_column: str}, low_memory=False)
        if id_column not in df.columns:
            raise DataFormatError(
                f"{path}: no ID column {id_column!r}; columns are {', '.join(map(str, df.columns[:6]))}…; "
                "pass id_column= with the right name."
            )
        dup = df.loc[df[id_column].duplicated(), id_column].unique()
        if len(dup):
            raise InconsistentDataError(
                f"{path}: {len(dup)} duplicate ID(s) ({first_ids(dup)}); keep one row per point."
            )
        month_sets[var] = sorted(_month_columns(path, list(df.columns)))
        frames[var] = df
    first = variables[0]
    if months is None:
        for var in variables[1:]:
            if month_sets[var] != month_sets[first]:
                only_a = sorted(set(month_sets[first]) - set(month_sets[var]))
                only_b = sorted(set(month_sets[var]) - set(month_sets[first]))
                raise InconsistentDataError(
                    f"{climate_dir}: {first}.csv and {var}.csv have different months "
                    f"(only in {first}: {first_ids(only_a)}; only in {var}: {first_ids(only_b)}); "
                    "re-export them over the same period, or pass months= to select common ones."
                )
        months = month_sets[first]
    else:
        months = sorted(str(m) for m in months)
        for var in variables:
            absent = sorted(set(months) - set(month_sets[var]))
            if absent:
                raise InconsistentDataError(
                    f"{climate_dir / (var + '.csv')}: requested month(s) {first_ids(absent)} are absent."
                )
    ids = frames[first][id_column]
    id_order = pd.Index(ids)
    values = np.empty((len(ids), len(months), len(variables)), dtype=np.float32)
    for k, var in enumerate(variables):
        df = frames[var].set_index(id_column)
        extra = df.index.difference(id_order)
        lacking = id_order.difference(df.index)
        if len(extra) or len(lacking):
            raise InconsistentDataError(
                f"{climate_dir}: {first}.csv and {var}.csv cover different points "
                f"({len(lacking)} only in {first}: {first_ids(lacking)}; {len(extra)} only in {var}: "
                f"{first_ids(extra)}); export every variable for the same points."
            )
        block = (
            df.loc[id_order, months]
            .apply(pd.to_numeric, errors="coerce")
            .to_numpy(np.float64, copy=True)  # writable: pandas may hand back a read-only view
        )
        n_blank = int(np.isnan(block).sum())
        if n_blank:
            warnings.warn(
                f"{climate_dir / (var + '.csv')}: {n_blank:,} of {block.size:,} values are empty or "
                "not numbers and are read as missing.",
                MissingValuesWarning,
                stacklevel=2,
            )
        coded = block == MISSING_CODE
        n_coded = int(coded.sum())
        if n_coded:
            if missing_code_means == "zero":
                block[coded] = 0.0
            else:
                block[coded] = np.nan
                warnings.warn(
                    f"{climate_dir / (var + '.csv')}: {n_coded:,} of {block.size:,} values are -999 and "
                    "are read as missing (pass missing_code_means='zero' for Earth Engine exports "
                    "that wrote zeros as -999).",
                    MissingValuesWarning,
                    stacklevel=2,
                )
        values[:, :, k] = block
    return ClimateTable(
        values=values, point_ids=_as_ids(ids), months=tuple(months), variables=tuple(variables)
    )


def write_climate(
    climate_dir: str | Path,
    table: ClimateTable,
    *,
    id_column: str = "Point_ID",
    shuffle_months_seed: int | None = None,
) -> list[Path]:
    """Write one ``<variable>.csv`` per variable, atomically; NaN is written as ``-999``.

    Args:
        climate_dir: destination folder.
        table: the series to write.
        id_column: name of the ID column.
        shuffle_months_seed: when given, write the month columns in a seeded random order, as
            the authors' exports have them (the readers sort them back).
    """
    climate_dir = Path(climate_dir)
    order = np.arange(len(table.months))
    if shuffle_months_seed is not None:
        order = np.random.default_rng(shuffle_months_seed).permutation(order)
    written = []
    for k, var in enumerate(table.variables):
        block = np.where(np.isnan(table.values[:, :, k]), MISSING_CODE, table.values[:, :, k])
        df = pd.DataFrame(block[:, order], columns=[table.months[i] for i in order])
        df.insert(0, id_column, table.point_ids)
        path = climate_dir / f"{var}.csv"
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
        written.append(path)
    return written
