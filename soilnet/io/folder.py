"""A data folder: the point table, its patches and its climate CSVs, checked against each other.

Every problem is reported per point in a :class:`ValidationReport`. With ``on_missing="raise"``
(the default) any problem raises one error that names the file, the point IDs of every kind
of problem found and what to do; with ``on_missing="drop"`` the affected points are excluded,
the report lists them and a warning gives the count. Nothing is dropped silently, and a folder
that leaves no usable point is an error either way.
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
from soilnet.geo import ground_distance_m
from soilnet.io.atomic import atomic_path
from soilnet.io.patches import find_patches, patch_centres
from soilnet.io.tables import ClimateTable, check_points, read_climate, table_error

ON_MISSING = ("raise", "drop")
#: What happened to the subject of a report row: a point excluded, a file or row ignored, a
#: point-table row refused (always an error), or repeated rows read once (not a problem).
ACTIONS = ("excluded", "ignored", "refused", "merged")
#: Problem kind of a patch whose georeferenced centre is not at its point's long/lat.
FAR_FROM_POINT = "patch centre far from the point's long/lat"
#: End of the detail of such a point when its patch is where long and lat, swapped, point.
SWAPPED = "; it matches with long and lat swapped"
#: What to do about a kind of problem, when the kind alone does not say it.
REMEDIES = {
    FAR_FROM_POINT: (
        "check the order of the long and lat columns of points.csv (long is the easting) and "
        "that each patch belongs to its point"
    ),
}


@dataclass
class ValidationReport:
    """Problems found in a data folder, one row per (point or file, problem).

    Attributes:
        issues: DataFrame with columns ``point_id`` (may be NA for files), ``problem``,
            ``file``, ``detail`` and ``action`` (one of :data:`ACTIONS`: what was done).
    """

    issues: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["point_id", "problem", "file", "detail", "action"]
        )
    )

    def add(
        self, problem: str, point_ids=(), files=(), detail="", action: str | None = None
    ) -> None:
        """Record one problem for several points (or files).

        Args:
            problem: the kind of problem.
            point_ids: the IDs concerned (one row each).
            files: the file of each row (or of each file-level problem).
            detail: one text for all rows, or one per row.
            action: what is done (:data:`ACTIONS`); default ``"excluded"`` when point IDs are
                given, else ``"ignored"``.
        """
        point_ids, files = list(point_ids), [str(f) for f in files]
        n = max(len(point_ids), len(files))
        if n == 0:
            return
        action = action or ("excluded" if point_ids else "ignored")
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}; got {action!r}.")
        rows = pd.DataFrame(
            {
                "point_id": point_ids if point_ids else [pd.NA] * n,
                "problem": problem,
                "file": files if files else [""] * n,
                "detail": detail if isinstance(detail, str) else list(detail),
                "action": action,
            }
        )
        self.issues = (
            rows if self.issues.empty else pd.concat([self.issues, rows], ignore_index=True)
        )

    @property
    def problems(self) -> pd.DataFrame:
        """The rows that are problems (all but repeated rows that were merged)."""
        return self.issues[self.issues["action"] != "merged"]

    @property
    def excluded_ids(self) -> set[int]:
        """Point IDs excluded for at least one problem."""
        excluded = self.issues.loc[self.issues["action"] == "excluded", "point_id"]
        return {int(p) for p in excluded.dropna()}

    def summary(self) -> pd.DataFrame:
        """Count of points/files per problem."""
        if self.issues.empty:
            return pd.DataFrame({"problem": [], "count": []})
        return self.issues.groupby("problem", sort=False).size().rename("count").reset_index()

    def to_csv(self, path: str | Path) -> None:
        """Write the per-point problem list (atomically)."""
        with atomic_path(path) as tmp:
            self.issues.to_csv(tmp, index=False)


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
        report: everything that was found wrong (and repeated climate rows read once).
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
    id_column: str = "Point_ID",
    climate_id_column: str = "Point_ID",
    missing_code_means: str = "missing",
    report_path: str | Path | None = None,
) -> DataFolder:
    """Open a data folder and check that points, patches and climate rows match.

    A point table or climate file that cannot be used stops the reading at once (every row
    problem of the point table in one error, see :func:`read_points`). The checks across
    files are then all made before anything is raised, so one error reports every kind found:
    each point has one patch and (with variables) one climate row and vice versa; patch names
    follow ``<Point_ID>_<YYMMDD>.tif``; no climate series is entirely missing; and each
    patch's georeferenced centre (its header's transform and CRS, reprojected to EPSG:4326) is
    within half the patch width (measured on the ground between the midpoints of its left and
    right edges) of its point's ``long``/``lat``. The last check catches swapped ``long`` and
    ``lat`` columns; a patch without a CRS cannot be checked (a warning gives the count).

    Args:
        root: folder with ``points.csv``, ``patches/`` and (when variables are given) ``climate/``.
        variables: climate variables to read; ``None`` or ``()`` reads none (CNN-only studies).
        months: month labels ``YYYYMMDD`` to keep (default: all).
        on_missing: ``"raise"`` or ``"drop"`` (exclude and report the affected points).
        require_target: require ``OC`` in ``points.csv`` (False for a prediction grid).
        id_column: ID column name in ``points.csv``.
        climate_id_column: ID column name in the climate CSVs.
        missing_code_means: how ``-999`` in climate CSVs is read (see :func:`read_climate`).
        report_path: where to write the full validation report when problems stop the
            reading (the error message points there); the data folder itself is never written.

    Raises:
        DatasetNotFoundError: the folder or ``points.csv`` / ``patches/`` is missing.
        DataFormatError, InconsistentDataError: ``points.csv`` or a climate file cannot be
            used (empty, rows that are wrong; see :func:`read_points` and :func:`read_climate`).
        PatchNotFoundError, InconsistentDataError: with ``on_missing="raise"``, any problem;
            with either setting, when no usable point is left.
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
    report = ValidationReport()
    points, table_problems = check_points(
        points_path, require_oc=require_target, id_column=id_column
    )
    if table_problems:
        for p in table_problems:
            report.add(
                p.problem, point_ids=p.ids, files=[points_path] * len(p.ids),
                detail=[f"line {n}" for n in p.lines], action="refused",
            )  # fmt: skip
        if report_path is not None:
            report.to_csv(report_path)
        raise table_error(points_path, table_problems, report_path)
    has_target = "OC" in points.columns
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
    _check_locations(points, patches, report)

    climate = None
    if variables:
        climate = read_climate(
            root / "climate",
            variables,
            id_column=climate_id_column,
            months=months,
            missing_code_means=missing_code_means,
        )
        for path, repeated in climate.merged_duplicates.items():
            report.add(
                "climate rows repeated with identical values (read once)",
                point_ids=repeated, files=[path] * len(repeated), action="merged",
            )  # fmt: skip
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
            first_file = root / "climate" / f"{variables[0]}.csv"
            report.add(
                "climate row has no point in points.csv",
                point_ids=list(orphan_rows),
                files=[first_file] * len(orphan_rows),
                detail=f"rows of {first_file}",
                action="ignored",
            )
        series_all_nan = np.isnan(climate.values).all(axis=1).any(axis=1)
        if series_all_nan.any():
            bad = climate.point_ids[series_all_nan]
            report.add(
                "climate series entirely missing for a variable",
                point_ids=[int(b) for b in bad],
                files=[root / "climate"] * len(bad),
            )

    problems = report.problems
    if not problems.empty and on_missing == "raise":
        _raise_for(report, root, report_path)
    keep = ~points["Point_ID"].isin(report.excluded_ids)
    if not keep.any():
        if report_path is not None:
            report.to_csv(report_path)
        raise InconsistentDataError(
            f"{root}: no usable point is left: every one of the {len(points):,} points of "
            f"{points_path.name} has a problem ({_kinds(problems)})"
            + (f"; all are listed in {report_path}" if report_path is not None else "")
            + ". Fix the files; on_missing='drop' (CLI: --on-missing drop) cannot help when "
            "every point is affected."
        )
    if not problems.empty:
        counts = problems.groupby("problem", sort=False).size()
        warnings.warn(
            f"{root}: excluding {len(report.excluded_ids):,} point(s) with problems "
            f"({'; '.join(f'{k}: {n}' for k, n in counts.items())}); see the validation report.",
            stacklevel=2,
        )
    points = points.loc[keep].reset_index(drop=True)
    if climate is not None:
        pos = pd.Index(climate.point_ids).get_indexer(points["Point_ID"].to_numpy())
        climate = ClimateTable(
            climate.values[pos], climate.point_ids[pos], climate.months, climate.variables,
            climate.merged_duplicates,
        )  # fmt: skip
    return DataFolder(
        root=root,
        points=points,
        patch_paths={int(i): patches[int(i)] for i in points["Point_ID"]},
        climate=climate,
        report=report,
        has_target=has_target,
    )


def _check_locations(points: pd.DataFrame, patches: dict[int, Path], report) -> None:
    """Report points whose patch's georeferenced centre is farther than half the patch width
    from the point's long/lat (see :func:`open_folder`)."""
    have = points[points["Point_ID"].isin(list(patches))]
    if have.empty:
        return
    pids = have["Point_ID"].to_numpy()
    paths = [patches[int(i)] for i in pids]
    centres = patch_centres(paths)
    lon, lat = have["long"].to_numpy(), have["lat"].to_numpy()
    dist = ground_distance_m(centres["lon"], centres["lat"], lon, lat)
    tol = centres["half_width_m"].to_numpy()
    far = np.flatnonzero(dist > tol)  # NaN (no CRS, unreadable) compares False
    if len(far):
        could_swap = np.abs(lon) <= 90  # a longitude beyond 90 cannot be a latitude
        swapped = np.full(len(pids), np.inf)
        swapped[could_swap] = ground_distance_m(
            centres["lon"].to_numpy()[could_swap], centres["lat"].to_numpy()[could_swap],
            lat[could_swap], lon[could_swap],
        )  # fmt: skip
        details = [
            f"patch centre {centres['lon'].iat[i]:.5f}, {centres['lat'].iat[i]:.5f} is "
            f"{dist[i] / 1000:,.2f} km from the point ({lon[i]:.5f}, {lat[i]:.5f}); tolerance "
            f"{tol[i] / 1000:,.2f} km (half the patch width)"
            + (SWAPPED if swapped[i] <= tol[i] else "")
            for i in far
        ]
        report.add(
            FAR_FROM_POINT, point_ids=[int(pids[i]) for i in far],
            files=[paths[i] for i in far], detail=details,
        )  # fmt: skip
    no_crs = centres["status"].to_numpy() == "no CRS"
    if no_crs.any():
        warnings.warn(
            f"{paths[0].parent}: {int(no_crs.sum())} patch(es) have no CRS, so their "
            f"location cannot be checked against points.csv (Point_ID {first_ids(pids[no_crs])}).",
            stacklevel=3,
        )


def _kinds(problems: pd.DataFrame) -> str:
    """``"N kind (first IDs); M kind (…)"`` for every kind of problem, in the order found."""
    parts = []
    for kind, group in problems.groupby("problem", sort=False):
        ids = group["point_id"].dropna().tolist() or list(dict.fromkeys(group["file"]))
        details = group["detail"].unique()
        detail = f"; {details[0]}" if len(details) == 1 and details[0] else ""
        if len(details) > 1:
            detail = f"; first: {details[0]}"
        if kind == FAR_FROM_POINT:  # say how many look swapped, rather than if the first does
            n_swapped = int(group["detail"].str.endswith(SWAPPED).sum())
            detail = detail.removesuffix(SWAPPED)
            detail += f"; {n_swapped:,} of them match with long and lat swapped"
        remedy = f"; {REMEDIES[kind]}" if kind in REMEDIES else ""
        parts.append(f"{len(group):,} {kind} ({first_ids(ids)}{detail}{remedy})")
    return "; ".join(parts)


def _raise_for(report: ValidationReport, root: Path, report_path) -> None:
    problems = report.problems
    n_kinds = problems["problem"].nunique()
    where = (
        f" Every affected point and file is listed in {report_path}."
        if report_path is not None
        else " (Pass report_path= to write every affected point and file.)"
    )
    message = (
        f"{root}: "
        + (f"{n_kinds} kinds of problem: " if n_kinds > 1 else "")
        + _kinds(problems)
        + "."
        + where
        + " Fix the files, or pass on_missing='drop' (CLI: --on-missing drop) to exclude "
        "these points (they are then listed in the validation report)."
    )
    if report_path is not None:
        report.to_csv(report_path)
    first = problems["problem"].iloc[0]
    cls = PatchNotFoundError if first == "point has no patch" else InconsistentDataError
    raise cls(message)
