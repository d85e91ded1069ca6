"""The output folder: refuse one holding something else, copy the points, clear leftovers.

:func:`_check_out_dir` refuses a folder holding something other than this table's acquisition
(a synthetic twin, another dataset, unrelated files); :func:`_write_points` copies the point
table as ``points.csv``; :func:`_clean_tmp` removes temporary files of an interrupted run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from soilnet.acquire.manifest import read_manifest
from soilnet.errors import AcquisitionError, SoilNetError, first_ids
from soilnet.io.atomic import atomic_path
from soilnet.io.patches import find_patches
from soilnet.io.tables import read_points

#: Coordinate tolerance (degrees) when checking that an output folder holds the same points.
_COORD_TOL = 1e-6


def _check_out_dir(out: Path, table_ids: set[int], coords: pd.DataFrame, source: Path) -> None:
    """Refuse an output folder that holds something other than this table's acquisition."""
    if out.exists() and not out.is_dir():
        raise AcquisitionError(
            f"--out {out} is a file; pass a folder (new or holding an earlier acquisition)."
        )
    if not out.is_dir():
        return
    if (out / "twin.json").exists():
        raise AcquisitionError(
            f"{out} holds a synthetic twin (twin.json), not an acquisition; choose another --out "
            "folder so the twin stays intact."
        )
    points = out / "points.csv"
    manifest = out / "manifest.csv"
    patch_dir = out / "patches"
    known = [p for p in (points, manifest, patch_dir) if p.exists()]
    others = [
        p.name
        for p in out.iterdir()
        if not p.name.startswith(".")
        and p.name not in ("points.csv", "manifest.csv", "patches", "climate")
    ]
    if not known and others:
        raise AcquisitionError(
            f"{out} is not empty ({', '.join(sorted(others)[:5])}) and holds no acquisition; "
            "choose a new or empty --out folder."
        )

    def foreign(ids, where: Path) -> None:
        extra = sorted(set(ids) - table_ids)
        if extra:
            raise AcquisitionError(
                f"{out} holds another dataset: {len(extra):,} Point_ID(s) in {where} are not in "
                f"{source} (first: {first_ids(extra)}). Choose a new --out folder, or delete {out} "
                "to start over."
            )

    if points.is_file():
        try:
            old = read_points(points, require_oc=False)
        except SoilNetError as err:
            raise AcquisitionError(
                f"{points} is not a point table ({err}); choose another --out folder."
            ) from err
        foreign(old["Point_ID"].tolist(), points)
        merged = old[["Point_ID", "long", "lat"]].merge(
            coords, on="Point_ID", suffixes=("_old", "")
        )
        moved = merged.loc[
            (merged["long_old"] - merged["long"]).abs().gt(_COORD_TOL)
            | (merged["lat_old"] - merged["lat"]).abs().gt(_COORD_TOL),
            "Point_ID",
        ]
        if len(moved):
            raise AcquisitionError(
                f"{out} holds another dataset: {len(moved):,} point(s) in {points} have other "
                f"coordinates than in {source} (Point_ID {first_ids(moved)}). Choose a new --out "
                f"folder, or delete {out} to start over."
            )
    if patch_dir.is_dir():
        found, _ = find_patches(patch_dir)
        foreign(found, patch_dir)
    if manifest.is_file():
        foreign(read_manifest(manifest)["Point_ID"].astype(int).tolist(), manifest)


def _write_points(source: Path, dest: Path, n_rows: int | None) -> None:
    """Copy the point table (first ``n_rows`` rows when given) unless ``dest`` already has it."""
    if dest.exists() and source.resolve() == dest.resolve():
        if n_rows is not None and n_rows < len(
            pd.read_csv(dest, usecols=[0], encoding="utf-8-sig")
        ):
            raise AcquisitionError(
                f"--points {source} is the output folder's own points.csv; --limit would "
                "truncate it. Pass the original LUCAS table instead."
            )
        return
    if n_rows is None:
        content = source.read_bytes()
    else:
        raw = pd.read_csv(
            source, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=n_rows
        )
        content = raw.to_csv(index=False).encode("utf-8")
    if dest.is_file() and dest.read_bytes() == content:
        return
    with atomic_path(dest) as tmp:
        tmp.write_bytes(content)


def _clean_tmp(out: Path) -> int:
    """Remove temporary files left by an interrupted run (``.tmp-*``)."""
    n = 0
    for folder in (out, out / "patches", out / "climate"):
        for tmp in folder.glob(".tmp-*") if folder.is_dir() else ():
            tmp.unlink(missing_ok=True)
            n += 1
    return n
