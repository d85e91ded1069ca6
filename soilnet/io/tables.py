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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    DuplicateRowsWarning,
    FileEncodingWarning,
    InconsistentDataError,
    MissingValuesWarning,
    SoilNetError,
    first_ids,
)
from soilnet.io.atomic import atomic_path
from soilnet.validation import check_columns

POINT_COLUMNS = ("Point_ID", "long", "lat")
MONTH_COLUMN = re.compile(r"^\d{8}$")
MISSING_CODE = -999.0
#: Encodings tried, in order, for a CSV that is not UTF-8: Windows (Excel) exports, then
#: ISO Latin-1 (which decodes any byte, so the last one always reads).
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
#: What to do about an empty point table or climate file (for the messages).
POINTS_REMEDY = "export the point table again (Point_ID, long, lat and OC in g/kg)"
CLIMATE_REMEDY = (
    "export it again from TerraClimate, or leave the variable out (variables=...; "
    "CLI: --variables or --no-climate)"
)


def read_table_csv(path: Path, remedy: str, **kwargs) -> pd.DataFrame:
    """Read a CSV as UTF-8 (a byte-order mark is accepted), else in a fallback encoding.

    A file that is not UTF-8 is read as :data:`FALLBACK_ENCODINGS` (the first that decodes)
    with a :class:`~soilnet.errors.FileEncodingWarning` naming the file and the encoding.

    Args:
        path: the CSV file.
        remedy: what to do when the file is empty, for the message.
        **kwargs: passed to :func:`pandas.read_csv`.

    Raises:
        DataFormatError: the file is empty (no header), naming it.
    """
    for encoding in ("utf-8-sig", *FALLBACK_ENCODINGS):
        try:
            table = pd.read_csv(path, encoding=encoding, low_memory=False, **kwargs)
        except UnicodeDecodeError:
            continue  # try the next encoding
        except pd.errors.EmptyDataError as err:
            raise DataFormatError(
                f"{path} is empty ({path.stat().st_size} bytes, no header and no rows); {remedy}."
            ) from err
        if encoding != "utf-8-sig":
            warnings.warn(
                f"{path} is not UTF-8; it was read as {encoding}. Check its accented text, or "
                "save it as UTF-8 to silence this warning.",
                FileEncodingWarning,
                stacklevel=3,
            )
        return table
    raise AssertionError("unreachable: Latin-1 decodes every byte")  # pragma: no cover


@dataclass(frozen=True)
class TableProblem:
    """One kind of problem in a table, with every row that has it.

    Attributes:
        problem: the kind, as the validation report lists it (e.g. ``"duplicate Point_ID"``).
        ids: the ID of every affected row (an integer, or as written when it is not one).
        lines: the file line of every affected row (the header is line 1).
        sentence: the message sentence: count, kind, first IDs and what to do.
        error: the exception class raised for this kind.
    """

    problem: str
    ids: list
    lines: list[int]
    sentence: str
    error: type[SoilNetError] = DataFormatError


def table_error(
    path: Path, problems: list[TableProblem], report_path: Path | None = None
) -> SoilNetError:
    """One exception for every problem found in a table: each kind with its first IDs and
    what to do, and where the full list was written (``report_path``, when given).

    Its class is the one all kinds share (e.g. :class:`InconsistentDataError` for duplicates
    alone), else :class:`DataFormatError`.
    """
    head = f"{len(problems)} kinds of problem. " if len(problems) > 1 else ""
    where = f" Every affected row is listed in {report_path}." if report_path else ""
    classes = {p.error for p in problems}
    cls = classes.pop() if len(classes) == 1 else DataFormatError
    return cls(f"{path}: {head}{' '.join(p.sentence for p in problems)}{where}")


def read_points(
    path: str | Path, *, require_oc: bool = True, id_column: str = "Point_ID"
) -> pd.DataFrame:
    """Read a point table (LUCAS 2015 topsoil layout, or a map grid without ``OC``).

    Args:
        path: CSV file; a byte-order mark is accepted, and a file that is not UTF-8 is read
            as cp1252 or Latin-1 with a warning (see :func:`read_table_csv`).
        require_oc: require an ``OC`` column (SOC, g/kg), finite and non-negative.
        id_column: name of the point identifier column.

    Returns:
        The table with ``Point_ID`` as int64 (renamed from ``id_column``), ``long``/``lat`` in
        EPSG:4326 degrees, every other column kept as read.

    Raises:
        DatasetNotFoundError, DataFormatError, InconsistentDataError: naming the file and IDs.
            Every kind of row problem (IDs that are not integers, duplicate IDs, ``long`` or
            ``lat`` out of range, bad ``OC``) is found before raising, and one error reports
            them all (see :func:`check_points`).
    """
    path = Path(path)
    table, problems = check_points(path, require_oc=require_oc, id_column=id_column)
    if problems:
        raise table_error(path, problems)
    return table


def check_points(
    path: str | Path, *, require_oc: bool = True, id_column: str = "Point_ID"
) -> tuple[pd.DataFrame, list[TableProblem]]:
    """Read a point table like :func:`read_points` and list its row problems instead of
    raising for them.

    Returns:
        (the table, one :class:`TableProblem` per kind found). The table is converted as
        :func:`read_points` returns it only when there is no problem.

    Raises:
        DatasetNotFoundError, DataFormatError: the file is missing, empty, has no rows or
            lacks a required column (problems of the whole file, raised at once).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"Point table {path} does not exist; pass the LUCAS CSV or a data folder holding points.csv."
        )
    table = read_table_csv(path, POINTS_REMEDY)
    if id_column != "Point_ID":
        table = table.rename(columns={id_column: "Point_ID"})
    required = list(POINT_COLUMNS) + (["OC"] if require_oc else [])
    check_columns(
        table, required, path,
        f"The table needs Point_ID, long, lat{' and OC (g/kg)' if require_oc else ''}; pass "
        "id_column= (CLI: --id-column) if the IDs are named differently.",
    )  # fmt: skip
    if table.empty:
        raise DataFormatError(
            f"{path} has a header but no rows: there is no point to read; {POINTS_REMEDY}."
        )
    problems: list[TableProblem] = []
    ids = pd.to_numeric(table["Point_ID"], errors="coerce")
    bad_ids = ids.isna() | (ids != ids.round())
    # IDs for the report: integers where they are, else as written
    shown = table["Point_ID"].where(bad_ids, ids.fillna(0).astype(np.int64))

    def add(rows: pd.Series, problem: str, sentence: str, error=DataFormatError) -> None:
        lines = (np.flatnonzero(rows.to_numpy()) + 2).tolist()
        problems.append(TableProblem(problem, shown[rows].tolist(), lines, sentence, error))

    if bad_ids.any():
        add(
            bad_ids, "Point_ID not an integer",
            f"{int(bad_ids.sum())} Point_ID value(s) are not integers "
            f"({first_ids(table.loc[bad_ids, 'Point_ID'])}); IDs must be whole numbers: fix "
            "these rows, or pass id_column= (CLI: --id-column) if the IDs are in another column.",
        )  # fmt: skip
    dup = ids.duplicated(keep=False) & ~bad_ids
    if dup.any():
        first = table.loc[dup, "Point_ID"].unique()
        add(
            dup, "duplicate Point_ID",
            f"{len(first)} duplicate Point_ID(s) ({first_ids(first)}) on {int(dup.sum())} rows; "
            "each point must appear once: remove the extra rows.",
            InconsistentDataError,
        )  # fmt: skip
    coords = {}
    for col, lo, hi in (("long", -180, 180), ("lat", -90, 90)):
        vals = pd.to_numeric(table[col], errors="coerce")
        bad = ~np.isfinite(vals) | (vals < lo) | (vals > hi)
        if bad.any():
            add(
                bad, f"{col} out of range",
                f"{int(bad.sum())} point(s) have {col} outside [{lo}, {hi}] or not a number "
                f"(Point_ID {first_ids(table.loc[bad, 'Point_ID'])}); coordinates must be "
                "EPSG:4326 degrees.",
            )  # fmt: skip
        coords[col] = vals
    oc = None
    if require_oc:
        oc = pd.to_numeric(table["OC"], errors="coerce")
        bad = ~np.isfinite(oc) | (oc < 0)
        if bad.any():
            add(
                bad, "OC missing or negative",
                f"{int(bad.sum())} point(s) have OC that is missing, non-finite or negative "
                f"(Point_ID {first_ids(table.loc[bad, 'Point_ID'])}); OC must be SOC in g/kg "
                ">= 0. Fix or remove these rows.",
            )  # fmt: skip
    if problems:
        return table, problems
    table["Point_ID"] = ids.astype(np.int64)
    for col, vals in coords.items():
        table[col] = vals.astype(np.float64)
    if oc is not None:
        table["OC"] = oc.astype(np.float64)
    return table, problems


@dataclass
class ClimateTable:
    """Monthly climate series of many points.

    Attributes:
        values: float32 (N, T, F): points x months (oldest first) x variables; NaN = missing.
        point_ids: (N,) identifiers (int64 when every ID is an integer, else str).
        months: T month labels ``YYYYMMDD``, ascending.
        variables: F variable names, in the order of the last axis.
        merged_duplicates: file -> IDs that the file repeats on rows with identical values,
            each read once (see :func:`read_climate`).
    """

    values: np.ndarray
    point_ids: np.ndarray
    months: tuple[str, ...]
    variables: tuple[str, ...]
    merged_duplicates: dict[str, list] = field(default_factory=dict)

    def missing_count(self) -> dict[str, int]:
        """Missing (NaN) cells per variable."""
        return {v: int(np.isnan(self.values[:, :, i]).sum()) for i, v in enumerate(self.variables)}


def _as_ids(values: pd.Series) -> np.ndarray:
    as_num = pd.to_numeric(values, errors="coerce")
    if as_num.notna().all() and (as_num == as_num.round()).all():
        return as_num.astype(np.int64).to_numpy()
    return values.astype(str).to_numpy()


def _merge_repeated_rows(
    df: pd.DataFrame, id_column: str, months: list[str]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Keep once the rows that repeat an ID with identical monthly values (metadata columns
    such as ``system:index`` are not read, so not compared).

    Returns:
        (the table without the repeats, IDs whose repeats were identical, IDs that still
        appear more than once because their rows differ).
    """
    key = pd.concat([df[[id_column]], df[months].apply(pd.to_numeric, errors="coerce")], axis=1)
    repeat = key.duplicated()
    df = df.loc[~repeat]
    conflicting = df.loc[df[id_column].duplicated(), id_column].unique()
    repeated = pd.unique(key.loc[repeat, id_column])
    return df, repeated[~np.isin(repeated, conflicting)], conflicting


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

    A file that is not UTF-8 is read as cp1252 or Latin-1 with a warning. An ID repeated on
    rows with identical monthly values (the authors' TerraClimate exports repeat some sites) is
    read once, with a :class:`~soilnet.errors.DuplicateRowsWarning` naming the IDs; they are
    listed in ``merged_duplicates``. IDs repeated on rows that differ are refused, for every
    file in one error.

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
        DataFormatError: a file is empty or has no rows; an ID or month column is missing
            or unparsable.
        InconsistentDataError: the files disagree on months or points, or IDs repeat on rows
            that differ.
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
    merged: dict[str, list] = {}
    conflicts: dict[Path, np.ndarray] = {}
    for var in variables:
        path = climate_dir / f"{var}.csv"
        if not path.is_file():
            have = sorted(p.stem for p in climate_dir.glob("*.csv")) if climate_dir.is_dir() else []
            raise DatasetNotFoundError(
                f"Climate file {path} does not exist (found: {', '.join(have) or 'none'}); "
                "add it, or choose variables from those present."
            )
        df = read_table_csv(path, CLIMATE_REMEDY, dtype={id_column: str})
        if df.empty:
            raise DataFormatError(
                f"{path} has a header but no rows: no point has values of {var}; {CLIMATE_REMEDY}."
            )
        if id_column not in df.columns:
            raise DataFormatError(
                f"{path}: no ID column {id_column!r}; columns are {', '.join(map(str, df.columns[:6]))}…; "
                "pass id_column= with the right name (climate_id_column= in open_folder and "
                "StoreConfig; CLI: --climate-id-column)."
            )
        month_sets[var] = sorted(_month_columns(path, list(df.columns)))
        df, repeated, conflicting = _merge_repeated_rows(df, id_column, month_sets[var])
        if len(repeated):
            merged[str(path)] = _as_ids(pd.Series(repeated)).tolist()
            warnings.warn(
                f"{path}: {len(repeated)} ID(s) appear on several rows with identical values "
                f"({first_ids(repeated)}); each is read once.",
                DuplicateRowsWarning,
                stacklevel=2,
            )
        if len(conflicting):
            conflicts[path] = conflicting
        frames[var] = df
    if conflicts:
        raise InconsistentDataError(
            "; ".join(
                f"{path}: {len(ids)} duplicate ID(s) ({first_ids(ids)}) whose rows differ"
                for path, ids in conflicts.items()
            )
            + ". Keep one row per point in each file: the rows disagree, so which one is right "
            "cannot be guessed (rows repeated with identical values are read once)."
        )
    first = variables[0]
    if months is None:
        for var in variables[1:]:
            if month_sets[var] != month_sets[first]:
                only_a = sorted(set(month_sets[first]) - set(month_sets[var]))
                only_b = sorted(set(month_sets[var]) - set(month_sets[first]))
                raise InconsistentDataError(
                    f"{climate_dir}: {first}.csv and {var}.csv have different months "
                    f"(only in {first}: {first_ids(only_a)}; only in {var}: {first_ids(only_b)}); "
                    "re-export them over the same period, or pass months= (CLI: --months) to "
                    "select common ones."
                )
        months = month_sets[first]
    else:
        months = sorted(str(m) for m in months)
        for var in variables:
            absent = sorted(set(months) - set(month_sets[var]))
            if absent:
                raise InconsistentDataError(
                    f"{climate_dir / (var + '.csv')}: requested month(s) {first_ids(absent)} are "
                    "absent; request months present in every file (months=; CLI: --months)."
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
                    "are read as missing (pass missing_code_means='zero', CLI: --missing-code-means "
                    "zero, for Earth Engine exports that wrote zeros as -999).",
                    MissingValuesWarning,
                    stacklevel=2,
                )
        values[:, :, k] = block
    return ClimateTable(
        values=values, point_ids=_as_ids(ids), months=tuple(months), variables=tuple(variables),
        merged_duplicates=merged,
    )  # fmt: skip


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
