"""``manifest.csv``: one row per point saying what its acquisition did.

:data:`MANIFEST_COLUMNS` are its columns and :data:`STATUSES` the values of ``status``;
:func:`read_manifest` reads it, and the run keeps its rows as dicts keyed by ``Point_ID``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from soilnet.errors import AcquisitionError
from soilnet.io.atomic import atomic_path

#: Columns of ``manifest.csv``, one row per point.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "Point_ID",  # LUCAS point id
    "long",  # EPSG:4326 degrees
    "lat",
    "status",  # ok | no_scene | no_coverage | error
    "reason",  # why a point has no patch (empty when ok)
    "scene_id",  # STAC item id of the chosen Landsat-8 scene
    "acquired",  # acquisition date YYYY-MM-DD
    "rule",  # winter-earliest | min-ndvi
    "scenes_checked",  # QA windows read for the point
    "valid_share",  # window shares of the chosen scene (0-1), see scenes.QA_RULE
    "cloud_share",
    "shadow_share",
    "snow_share",
    "nan_share",  # NaN pixels of the 7 reflectance bands in the written patch (0-1)
    "mean_ndvi",  # window-mean NDVI of the chosen scene
    "width",  # patch size in pixels
    "height",
    "crs",
    "patch",  # file name under patches/
    "landsat_source",  # STAC API and collection
    "dem_source",  # DEM collection and item ids
    "climate_source",  # TerraClimate source template
    "climate_cell_km",  # distance point -> centre of the TerraClimate cell used
    "climate_missing",  # months x variables without a value (written as -999)
    "seconds",  # time spent on the point's patch
    "updated",  # UTC time of the row
)
#: Point statuses in the manifest.
STATUSES: tuple[str, ...] = ("ok", "no_scene", "no_coverage", "error")


def _blank_row(pid: int, lon: float, lat: float) -> dict:
    row = dict.fromkeys(MANIFEST_COLUMNS, "")
    row.update({"Point_ID": int(pid), "long": lon, "lat": lat})
    return row


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read ``manifest.csv`` (one row per point, :data:`MANIFEST_COLUMNS`).

    Raises:
        AcquisitionError: the file is not a manifest written by :func:`~soilnet.acquire.pipeline.acquire`.
    """
    path = Path(path)
    table = pd.read_csv(
        path,
        dtype={"reason": str, "scene_id": str, "patch": str},
        keep_default_na=False,
        na_values=[""],
    )
    missing = [c for c in ("Point_ID", "status", "patch") if c not in table.columns]
    if missing:
        raise AcquisitionError(
            f"{path} is not an acquisition manifest (no column(s) {', '.join(missing)}); move it "
            "away or choose another --out folder."
        )
    return table


def _manifest_rows(path: Path) -> dict[int, dict]:
    if not path.is_file():
        return {}
    table = read_manifest(path)
    rows = {}
    for rec in table.to_dict("records"):
        row = dict.fromkeys(MANIFEST_COLUMNS, "")
        row.update(
            {
                k: ("" if isinstance(v, float) and math.isnan(v) else v)
                for k, v in rec.items()
                if k in row
            }
        )
        rows[int(rec["Point_ID"])] = row
    return rows


def _write_manifest(path: Path, rows: dict[int, dict], order: Sequence[int]) -> None:
    ordered = [rows[pid] for pid in order if pid in rows]
    ordered += [row for pid, row in rows.items() if pid not in set(order)]
    frame = pd.DataFrame(ordered, columns=list(MANIFEST_COLUMNS))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
