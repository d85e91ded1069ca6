"""Real-format data folders for the tests, built from a twin and stripped of everything twin.

:func:`acquire_format` writes what ``python -m soilnet acquire`` writes (14 bands by description,
EPSG:3857, float64 with NaN nodata, ``manifest.csv``, climate CSVs with unordered months and
-999 where a value is missing) and :func:`authors_format` what the authors' Earth Engine exports
look like (12 optical bands, climate with ``system:index`` and ``.geo``, the ID column named
``POINT_ID``, true zeros written as -999). Neither has ``twin.json`` or ``truth.csv``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from soilnet.acquire.manifest import MANIFEST_COLUMNS
from soilnet.bands import BAND_NAMES, OPTICAL_BANDS


def _rewrite_patches(src: Path, dst: Path, bands: tuple[str, ...]) -> list[str]:
    dst.mkdir(parents=True)
    names = []
    for path in sorted(src.glob("*.tif")):
        with rasterio.open(path) as f:
            profile = f.profile
            data = f.read(list(range(1, len(bands) + 1))).astype(np.float64)
        profile.update(dtype="float64", count=len(bands), nodata=np.nan)
        with rasterio.open(dst / path.name, "w", **profile) as out:
            out.write(data)
            out.descriptions = bands
        names.append(path.name)
    return names


def _manifest(points: pd.DataFrame, patches: list[str]) -> pd.DataFrame:
    by_id = {int(name.split("_")[0]): name for name in patches}
    rows = []
    for pid, lon, lat in zip(points["Point_ID"], points["long"], points["lat"], strict=True):
        row = dict.fromkeys(MANIFEST_COLUMNS, "")
        row.update(
            {"Point_ID": pid, "long": lon, "lat": lat, "status": "ok", "patch": by_id[pid],
             "crs": "EPSG:3857", "rule": "winter-earliest"}
        )  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def acquire_format(twin_dir: Path, out: Path, *, missing_values: int = 3) -> Path:
    """A folder as ``acquire`` writes it, from a twin; ``missing_values`` cells of each climate
    file are -999 (TerraClimate had no value)."""
    out.mkdir(parents=True)
    points = pd.read_csv(twin_dir / "points.csv")
    points.to_csv(out / "points.csv", index=False)
    patches = _rewrite_patches(twin_dir / "patches", out / "patches", BAND_NAMES)
    _manifest(points, patches).to_csv(out / "manifest.csv", index=False)
    (out / "climate").mkdir()
    rng = np.random.default_rng(0)
    for path in sorted((twin_dir / "climate").glob("*.csv")):
        table = pd.read_csv(path)
        months = [c for c in table.columns if c != "Point_ID"]
        table = table[["Point_ID", *rng.permutation(months)]]
        rows = rng.choice(len(table), missing_values, replace=False)
        cols = rng.choice(np.arange(1, table.shape[1]), missing_values)
        for r, c in zip(rows, cols, strict=True):
            table.iat[r, c] = -999
        table.to_csv(out / "climate" / path.name, index=False)
    return out


def authors_format(twin_dir: Path, out: Path) -> Path:
    """A folder in the authors' export format, from a twin (12 bands, their climate CSVs)."""
    out.mkdir(parents=True)
    shutil.copy(twin_dir / "points.csv", out / "points.csv")
    _rewrite_patches(twin_dir / "patches", out / "patches", OPTICAL_BANDS)
    (out / "climate").mkdir()
    for path in sorted((twin_dir / "climate").glob("*.csv")):
        table = pd.read_csv(path)
        months = [c for c in table.columns if c != "Point_ID"]
        values = table[months].to_numpy()
        table[months] = np.where(values == 0, -999, values)  # If(val, val, -999)
        table = table.rename(columns={"Point_ID": "POINT_ID"})
        table.insert(0, "system:index", [f"0000{i:05d}" for i in range(len(table))])
        table[".geo"] = '{"type":"MultiPoint","coordinates":[]}'
        table.to_csv(out / "climate" / path.name, index=False)
    return out
