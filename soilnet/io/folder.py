"""A data folder: the point table, its patches and its climate CSVs, checked against each other.

Every problem is reported per point in a :class:`ValidationReport`. With ``on_missing="raise"``
(the default) any problem raises an error that names the file, the point IDs and what to do;
with ``on_missing="drop"`` the affected points are excluded, the report lists them and a warning
gives the count. Nothing is dropped silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.bands import CLIMATE_VARIABLES
from soilnet.errors import (
    DatasetNotFoundError,
    InconsistentDataError,
    PatchNotFoundError,
    first_ids,
)
from soilnet.io.patches import find_patches
from soilnet.io.tables import ClimateTable, read_climate, read_points

ON_MISSING = ("raise", "drop")


@dataclass
class ValidationReport:
    """Problems found in a data folder, one row per (point or file, problem).

    Attributes:
        issues: DataFrame with columns ``point_id`` (may be NA for files), ``problem``,
            ``file`` and ``detail``.
    """

    issues: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["point_id", "problem", "file", "detail"])
    )

    def add(self, problem: str, point_ids=(), files=(), detail: str = "") -> None:
        """Record one problem for several points (or files)."""
        point_ids, files = list(point_ids), [str(f) for f in files]
        n = max(len(point_ids), len(files))
        if n == 0:
            return
        rows = pd.DataFrame(
            {
                "point_id": point_ids if point_ids else [pd.NA] * n,
                "problem": problem,
                "file": files if files else [""] * n,
                "detail": detail,
            }
        )
        self.issues = (
            rows if self.issues.empty else pd.concat([self.issues, rows], ignore_index=True)
        )

    @property
    def excluded_ids(self) -> set[int]:
        """Point IDs with at least one problem."""
        return {int(p) for p in self.issues["point_id"].dropna()}

    def summary(self) -> pd.DataFrame:
        """Count of points/files per problem."""
        if self.issues.empty:
            return pd.DataFrame({"problem": [], "count": []})
        return self.issues.groupby("problem").size().rename("count").reset_index()

    def to_csv(self, path: str | Path) -> None:
        """Write the per-point problem list."""
        self.issues.to_csv(path, index=False)


@dataclass
class DataFolder:
    """A validated data folder (see ``data/README.md`` for the layout).

    Attributes:
        root: the folder.
        points: the usable points (``Point_ID, long, lat`` and ``OC`` when present, plus the
            table's other columns), in file order.
        patch_paths: Point_ID -> GeoTIFF path, for the usable points.
        climate: monthly climate of the usable points, rows aligned with ``points`` (None when
            no variables were requested).
        report: everything that was found wrong.
        has_target: whether ``points.csv`` has ``OC``.
    """

    root: Path
    points: pd.DataFrame
    patch_paths: dict[int, Path]
    climate: ClimateTable | None
    report: ValidationReport
    has_target: bool


def open_folder(
    root: str | Path,
    *,
    variables: tuple[str, ...] | list[str] | None = CLIMATE_VARIABLES,
    months: tuple[str, ...] | list[str] | None = None,
    on_missing: str = "raise",
    require_target: bool = True,
    climate_id_column: str = "Point_ID",
    missing_code_means: str = "missing",
) -> DataFolder:
    """Open a data folder and check that points, patches and climate rows match.

    Args:
        root: folder with ``points.csv``, ``patches/`` and (when variables are given) ``climate/``.
        variables: climate variables to read; ``None`` or ``()`` reads none (CNN-only studies).
        months: month labels ``YYYYMMDD`` to keep (default: all).
        on_missing: ``"raise"`` or ``"drop"`` (exclude and report the affected points).
        require_target: require ``OC`` in ``points.csv`` (False for a prediction grid).
        climate_id_column: ID column name in the climate CSVs.
        missing_code_means: how ``-999`` in climate CSVs is read (see :func:`read_climate`).

    Raises:
        DatasetNotFoundError: the folder or ``points.csv`` / ``patches/`` is missing.
        PatchNotFoundError, InconsistentDataError: with ``on_missing="raise"``.
    """
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}; got {on_missing!r}.")
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"Data folder {root} does not exist. Generate the twin (`python -m soilnet twin --out {root}`) "
            "or build a real folder (`python -m soilnet acquire ... --out DIR`)."
        )
    points_path = root / "points.csv"
    patch_dir = root / "patches"
    if not patch_dir.is_dir():
        raise DatasetNotFoundError(
            f"{patch_dir} does not exist; a data folder needs patches/<Point_ID>_<YYMMDD>.tif."
        )
    points = read_points(points_path, require_oc=require_target)
    has_target = "OC" in points.columns
    report = ValidationReport()
    patches, unnamed = find_patches(patch_dir)
    if unnamed:
        report.add("patch file name not <Point_ID>_<YYMMDD>.tif", files=unnamed)
    ids = points["Point_ID"].to_numpy()
    no_patch = [int(i) for i in ids if i not in patches]
    if no_patch:
        report.add("point has no patch", point_ids=no_patch, files=[points_path] * len(no_patch))
    orphan = sorted(set(patches) - set(ids.tolist()))
    if orphan:
        report.add("patch has no point in points.csv", files=[patches[i] for i in orphan])

    climate = None
    if variables:
        climate = read_climate(
            root / "climate",
            variables,
            id_column=climate_id_column,
            months=months,
            missing_code_means=missing_code_means,
        )
        cids = pd.Index(climate.point_ids)
        no_climate = [int(i) for i in ids if i not in cids]
        if no_climate:
            report.add(
                "point has no climate row",
                point_ids=no_climate,
                files=[root / "climate"] * len(no_climate),
            )
        orphan_rows = cids.difference(pd.Index(ids))
        if len(orphan_rows):
            report.add(
                "climate row has no point in points.csv",
                files=[root / "climate" / f"{variables[0]}.csv"] * len(orphan_rows),
                detail=f"IDs {first_ids(orphan_rows)}",
            )
        series_all_nan = np.isnan(climate.values).all(axis=1).any(axis=1)
        if series_all_nan.any():
            bad = climate.point_ids[series_all_nan]
            report.add(
                "climate series entirely missing for a variable", point_ids=[int(b) for b in bad]
            )

    if not report.issues.empty and on_missing == "raise":
        _raise_for(report, root)
    if not report.issues.empty:
        warnings.warn(
            f"{root}: excluding {len(report.excluded_ids):,} point(s) with problems "
            f"({'; '.join(f'{r.problem}: {r.count}' for r in report.summary().itertuples())}); "
            "see the validation report.",
            stacklevel=2,
        )
    keep = ~points["Point_ID"].isin(report.excluded_ids)
    points = points.loc[keep].reset_index(drop=True)
    if climate is not None:
        pos = pd.Index(climate.point_ids).get_indexer(points["Point_ID"].to_numpy())
        climate = ClimateTable(
            climate.values[pos], climate.point_ids[pos], climate.months, climate.variables
        )
    return DataFolder(
        root=root,
        points=points,
        patch_paths={int(i): patches[int(i)] for i in points["Point_ID"]},
        climate=climate,
        report=report,
        has_target=has_target,
    )


def _raise_for(report: ValidationReport, root: Path) -> None:
    problems = report.issues
    first = problems.iloc[0]
    group = problems[problems["problem"] == first["problem"]]
    ids = group["point_id"].dropna().tolist() or list(dict.fromkeys(group["file"]))
    detail = f"; {first['detail']}" if first["detail"] else ""
    others = problems["problem"].nunique() - 1
    message = (
        f"{root}: {len(group):,} {first['problem']} ({first_ids(ids)}{detail})"
        + (f"; and {others} other kind(s) of problem" if others else "")
        + ". Fix the files, or pass on_missing='drop' to exclude these points (they are then listed "
        "in the validation report)."
    )
    cls = PatchNotFoundError if first["problem"] == "point has no patch" else InconsistentDataError
    raise cls(message)
