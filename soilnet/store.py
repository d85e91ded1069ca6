"""Consolidation: read every patch and climate row once into memory-mappable arrays.

Training never reopens GeoTIFFs. ``consolidate`` writes, under ``<data>/store/<size>px/``:

- ``images.npy``: float32 (N, C, S, S), physical units, NaN pixels filled, resampled to S.
- ``climate.npy``: float32 (N, T, F), monthly, oldest first (gaps filled, see below).
- ``index.csv``: one row per point in array order: Point_ID, long, lat, x_3035, y_3035,
  oc_g_per_kg (NaN for a prediction grid), nan_pixels_filled, climate_cells_filled and the
  point table's land-cover/country columns when present.
- ``report.csv``: the validation report (points excluded and why).
- ``meta.json``: bands, variables, months, size, the resampling and fill rules, and a
  fingerprint of the inputs. Re-running with unchanged inputs and settings does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES
from soilnet.errors import DataFormatError, DatasetNotFoundError, first_ids
from soilnet.geo import lonlat_to_laea
from soilnet.io.folder import DataFolder, open_folder
from soilnet.io.patches import NAN_FILL_RULE, RESAMPLING, fill_nan, read_patch, resample_patch

CLIMATE_FILL_RULE = (
    "missing months are filled by linear interpolation in time within the point's series "
    "(nearest value at the ends); a series with no value at all excludes the point"
)
PASSTHROUGH_COLUMNS = ("LC0_Desc", "NUTS_0", "LC1_Desc")
STORE_VERSION = 1


def _fingerprint(folder: DataFolder, settings: dict) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update((folder.root / "points.csv").read_bytes())
    for pid in sorted(folder.patch_paths):
        st = folder.patch_paths[pid].stat()
        h.update(f"{folder.patch_paths[pid].name}:{st.st_size}:{st.st_mtime_ns}".encode())
    climate_dir = folder.root / "climate"
    for var in settings.get("variables") or ():
        st = (climate_dir / f"{var}.csv").stat()
        h.update(f"{var}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _fill_climate(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN months per (point, variable) by :data:`CLIMATE_FILL_RULE`; count per point."""
    values = values.copy()
    filled = np.isnan(values).sum(axis=(1, 2))
    t = np.arange(values.shape[1])
    for i, k in zip(*np.nonzero(np.isnan(values).any(axis=1)), strict=True):
        series = values[i, :, k]
        ok = ~np.isnan(series)
        values[i, :, k] = np.interp(t, t[ok], series[ok])
    return values, filled


@dataclass
class Store:
    """A consolidated dataset (see the module docstring for the files).

    Attributes:
        path: the store folder.
        images: float32 (N, C, S, S) memory map; physical units.
        climate: float32 (N, T, F) memory map, or None when no variables were consolidated.
        index: per-point table in array order.
        meta: the content of ``meta.json``.
    """

    path: Path
    images: np.ndarray
    climate: np.ndarray | None
    index: pd.DataFrame
    meta: dict

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open an existing store folder (memory-mapped, nothing is read eagerly)."""
        path = Path(path)
        if not (path / "meta.json").is_file():
            raise DatasetNotFoundError(
                f"{path} is not a consolidated store (no meta.json); run `python -m soilnet consolidate DATA_DIR`."
            )
        meta = json.loads((path / "meta.json").read_text())
        images = np.load(path / "images.npy", mmap_mode="r")
        climate = np.load(path / "climate.npy", mmap_mode="r") if meta["variables"] else None
        index = pd.read_csv(path / "index.csv")
        return cls(path=path, images=images, climate=climate, index=index, meta=meta)

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(self.meta["bands"])

    @property
    def climate_variables(self) -> tuple[str, ...]:
        return tuple(self.meta["variables"] or ())

    @property
    def months(self) -> tuple[str, ...]:
        return tuple(self.meta["months"] or ())

    @property
    def size_px(self) -> int:
        return int(self.meta["size_px"])

    @property
    def point_ids(self) -> np.ndarray:
        return self.index["Point_ID"].to_numpy(np.int64)

    @property
    def fingerprint(self) -> str:
        """Hash of the inputs and settings: identifies the data in run records."""
        return self.meta["fingerprint"]

    def __len__(self) -> int:
        return len(self.index)


def consolidate(
    data_dir: str | Path,
    size_px: int = 32,
    *,
    bands: tuple[str, ...] = BAND_NAMES,
    variables: tuple[str, ...] | None = CLIMATE_VARIABLES,
    months: tuple[str, ...] | None = None,
    on_missing: str = "raise",
    out_dir: str | Path | None = None,
    workers: int | None = None,
    require_target: bool = True,
    climate_id_column: str = "Point_ID",
    missing_code_means: str = "missing",
    progress: bool = False,
) -> Store:
    """Read a data folder once into a :class:`Store`; a no-op when inputs are unchanged.

    Args:
        data_dir: the data folder (layout in ``data/README.md``).
        size_px: model input size; patches are resampled by
            :data:`soilnet.io.patches.RESAMPLING` after NaN filling by
            :data:`soilnet.io.patches.NAN_FILL_RULE`.
        bands: band descriptions to read, in order.
        variables: climate variables (``None`` for none).
        months: months to keep (default all).
        on_missing: ``"raise"`` or ``"drop"`` (see :func:`soilnet.io.open_folder`); also
            governs unreadable patches (missing bands, wrong dtype, all NaN).
        out_dir: store folder (default ``<data_dir>/store/<size_px>px``).
        workers: reader threads (default: CPU count).
        require_target: require ``OC`` (False for a prediction grid).
        climate_id_column: ID column name in the climate CSVs.
        missing_code_means: how ``-999`` in climate CSVs is read (see
            :func:`soilnet.io.read_climate`).
        progress: show a tqdm bar.
    """
    start = time.perf_counter()
    data_dir = Path(data_dir)
    out_dir = Path(out_dir) if out_dir else data_dir / "store" / f"{size_px}px"
    folder = open_folder(
        data_dir,
        variables=variables,
        months=months,
        on_missing=on_missing,
        require_target=require_target,
        climate_id_column=climate_id_column,
        missing_code_means=missing_code_means,
    )
    settings = {
        "version": STORE_VERSION,
        "size_px": size_px,
        "bands": list(bands),
        "variables": list(variables or ()),
        "months": list(months or ()),
        "on_missing": on_missing,
        "climate_id_column": climate_id_column,
        "missing_code_means": missing_code_means,
    }
    fingerprint = _fingerprint(folder, settings)
    meta_path = out_dir / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("fingerprint") == fingerprint:
        return Store.open(out_dir)

    ids = folder.points["Point_ID"].to_numpy(np.int64)

    def load(pid: int):
        path = folder.patch_paths[int(pid)]
        try:
            patch = read_patch(path, bands)
            data, n_filled = fill_nan(patch.data, path)
            return resample_patch(data, size_px), n_filled, None
        except DataFormatError as err:
            return None, 0, err

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_images = out_dir / ".images.npy.tmp"
    images = np.lib.format.open_memmap(
        tmp_images, mode="w+", dtype=np.float32, shape=(len(ids), len(bands), size_px, size_px)
    )
    nan_filled = np.zeros(len(ids), np.int64)
    failed: dict[int, DataFormatError] = {}
    iterator = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2).map(load, ids)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=len(ids), desc="consolidate", unit="patch")
    for i, (arr, n_filled, err) in enumerate(iterator):
        if err is not None:
            failed[int(ids[i])] = err
            continue
        images[i] = arr
        nan_filled[i] = n_filled
    if failed:
        if on_missing == "raise":
            tmp_images.unlink(missing_ok=True)
            first = next(iter(failed.values()))
            raise DataFormatError(
                f"{len(failed):,} patch(es) cannot be used (Point_ID {first_ids(failed)}). First: {first} "
                "Pass on_missing='drop' to exclude them (they are then listed in the report)."
            )
        for pid, err in failed.items():
            folder.report.add(
                "patch unreadable",
                point_ids=[pid],
                files=[folder.patch_paths[pid]],
                detail=str(err),
            )
        warnings.warn(
            f"{data_dir}: excluding {len(failed):,} point(s) whose patch cannot be used "
            f"(Point_ID {first_ids(failed)}); they are listed in {out_dir / 'report.csv'}.",
            stacklevel=2,
        )
    keep = ~np.isin(ids, list(failed))

    index = folder.points.loc[keep, ["Point_ID", "long", "lat"]].reset_index(drop=True)
    x, y = lonlat_to_laea(index["long"].to_numpy(), index["lat"].to_numpy())
    index["x_3035"], index["y_3035"] = np.round(x, 2), np.round(y, 2)
    index["oc_g_per_kg"] = folder.points.loc[keep, "OC"].to_numpy() if folder.has_target else np.nan
    index["nan_pixels_filled"] = nan_filled[keep]
    climate_filled = np.zeros(int(keep.sum()), np.int64)
    if folder.climate is not None:
        climate, climate_filled = _fill_climate(folder.climate.values[keep])
        np.save(out_dir / "climate.npy", climate.astype(np.float32))
    index["climate_cells_filled"] = climate_filled
    for col in PASSTHROUGH_COLUMNS:
        if col in folder.points.columns:
            index[col] = folder.points.loc[keep, col].to_numpy()

    if keep.all():
        images.flush()
        del images
        os.replace(tmp_images, out_dir / "images.npy")
    else:
        final = np.lib.format.open_memmap(
            out_dir / "images.npy",
            mode="w+",
            dtype=np.float32,
            shape=(int(keep.sum()),) + images.shape[1:],
        )
        final[:] = images[keep]
        final.flush()
        del images, final
        tmp_images.unlink()
    index.to_csv(out_dir / "index.csv", index=False)
    folder.report.to_csv(out_dir / "report.csv")
    meta = {
        **settings,
        "months": list(folder.climate.months) if folder.climate is not None else [],
        "fingerprint": fingerprint,
        "data_dir": str(data_dir.resolve()),
        "n_points": int(keep.sum()),
        "n_excluded": len(folder.report.excluded_ids),
        "has_target": folder.has_target,
        "resampling": RESAMPLING,
        "nan_fill_rule": NAN_FILL_RULE,
        "climate_fill_rule": CLIMATE_FILL_RULE,
        "nan_pixels_filled": int(nan_filled[keep].sum()),
        "climate_cells_filled": int(climate_filled.sum()),
        "seconds": round(time.perf_counter() - start, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=2))  # written last: marks the store complete
    return Store.open(out_dir)
