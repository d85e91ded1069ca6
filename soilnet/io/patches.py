"""GeoTIFF patch reader and writer.

A patch is one multi-band GeoTIFF per point, named ``<Point_ID>_<YYMMDD>.tif`` (YYMMDD is the
Landsat acquisition date). Bands are identified by their descriptions, never by position, so a
file with the bands in another order reads the same. The authors' exports are EPSG:3857, 30 m,
about 103 x 103 px at 51°N, float64 with NaN nodata, and may carry only the 12 optical bands.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.transform import Affine

from soilnet.bands import BAND_NAMES
from soilnet.errors import (
    DataFormatError,
    InconsistentDataError,
    PatchBandsError,
    PatchNotFoundError,
    first_ids,
)
from soilnet.io.atomic import atomic_path

#: File suffixes read as patches (case-insensitive: exports write .tif, .TIF or .tiff).
PATCH_SUFFIXES = (".tif", ".tiff")
#: ``<Point_ID>_<YYMMDD>.tif`` (or ``.tiff``, any case)
PATCH_NAME = re.compile(r"^(?P<point_id>\d+)_(?P<date>\d{6})\.tiff?$", re.IGNORECASE)

#: Resampling used to bring every patch to the model input size.
RESAMPLING = "bilinear with antialiasing (torch.nn.functional.interpolate, align_corners=False)"

#: Rule applied to NaN pixels before resampling.
NAN_FILL_RULE = "each NaN pixel takes the median of the valid pixels of its band in that patch"


@dataclass
class Patch:
    """One point's patch as read from disk.

    Attributes:
        data: float32 (C, H, W) in ``band_names`` order; reflectance 0-1, indices -1..1,
            elevation m, slope %; NaN where the file has no data. Pixel grid in ``crs``.
        band_names: the band descriptions, in the order of ``data``.
        crs: the file's CRS as a string (``"EPSG:3857"`` in the authors' exports).
        transform: affine pixel-to-CRS transform.
        path: the file read.
    """

    data: np.ndarray
    band_names: tuple[str, ...]
    crs: str | None
    transform: Affine
    path: Path

    @property
    def nan_count(self) -> int:
        """Number of NaN values over all bands and pixels."""
        return int(np.isnan(self.data).sum())


def read_patch(path: str | Path, bands: tuple[str, ...] | list[str] = BAND_NAMES) -> Patch:
    """Read the bands ``bands`` of a patch GeoTIFF, matched by band description.

    Args:
        path: the GeoTIFF.
        bands: band descriptions to read, in the order wanted. Use
            :data:`soilnet.bands.OPTICAL_BANDS` for 12-band exports without topography.

    Returns:
        A :class:`Patch` with float32 data (len(bands), H, W); nodata values become NaN.

    Raises:
        PatchNotFoundError: the file does not exist.
        PatchBandsError: a requested band is missing (the message lists what the file has).
        DataFormatError: the file is not a readable GeoTIFF, has no band descriptions or a
            non-float dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise PatchNotFoundError(
            f"Patch {path} does not exist; check the path or re-export the patch."
        )
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as err:
        raise DataFormatError(
            f"{path}: cannot be read as a GeoTIFF ({err}); re-export the patch, or exclude the "
            "point (on_missing='drop'; CLI: --on-missing drop)."
        ) from err
    with src:
        descriptions = tuple(d or "" for d in src.descriptions)
        if not any(descriptions):
            raise DataFormatError(
                f"{path}: the bands have no descriptions. soilnet matches bands by description "
                f"({', '.join(BAND_NAMES)}); set them (e.g. rasterio `dst.set_band_description`) "
                "or re-export the patch."
            )
        missing = [b for b in bands if b not in descriptions]
        if missing:
            raise PatchBandsError(
                f"{path}: missing band(s) {', '.join(missing)}; the file has "
                f"{', '.join(descriptions)}. Re-export the patch with these bands, or read "
                "fewer bands (e.g. bands=soilnet.bands.OPTICAL_BANDS for exports without "
                "elevation and slope)."
            )
        dtype = np.dtype(src.dtypes[0])
        if dtype.kind != "f":
            raise DataFormatError(
                f"{path}: unexpected dtype {dtype}; patches must be floating point "
                "(surface reflectance already scaled as DN * 2.75e-5 - 0.2, NaN as nodata). "
                "Convert the file to float32 or float64."
            )
        indexes = [descriptions.index(b) + 1 for b in bands]
        data = src.read(indexes).astype(np.float32)
        nodata = src.nodata
        crs = src.crs.to_string() if src.crs else None
        transform = src.transform
    if nodata is not None and not np.isnan(nodata):
        data[data == np.float32(nodata)] = np.nan
    return Patch(data=data, band_names=tuple(bands), crs=crs, transform=transform, path=path)


def patch_centres(paths: list[Path], workers: int | None = None) -> pd.DataFrame:
    """Georeferenced centre and ground half-width of patches, from their headers alone.

    Only the GeoTIFF header (CRS, transform, size) is read, never the pixels; GDAL is told not
    to list the folder on each open, so this stays cheap for a folder of ~22,000 patches.

    Args:
        paths: GeoTIFF files.
        workers: reader threads (default: up to 8).

    Returns:
        DataFrame with one row per path, in order: ``lon``, ``lat`` (the centre of the patch
        in EPSG:4326 degrees, reprojected from the file's CRS with pyproj),
        ``half_width_m`` (half the ground distance between the midpoints of the left and
        right edges, metres) and ``status``: ``"ok"``, ``"no CRS"`` or ``"unreadable"``
        (then the other columns are NaN).
    """
    from soilnet.geo import ground_distance_m, to_lonlat

    def header(path: Path):
        try:
            with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="TRUE"), rasterio.open(path) as src:
                crs = src.crs.to_string() if src.crs else None
                return crs, src.transform, src.width, src.height
        except rasterio.errors.RasterioError:
            return "unreadable", None, 0, 0

    n_workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        headers = list(pool.map(header, paths))
    out = pd.DataFrame(
        {"lon": np.nan, "lat": np.nan, "half_width_m": np.nan, "status": "ok"},
        index=range(len(paths)),
    )
    by_crs: dict[str, list[int]] = {}
    for i, (crs, *_rest) in enumerate(headers):
        if crs is None or crs == "unreadable":
            out.loc[i, "status"] = "no CRS" if crs is None else "unreadable"
        else:
            by_crs.setdefault(crs, []).append(i)
    for crs, rows in by_crs.items():
        # (a, b, c, d, e, f) of each transform; columns and rows of the centre and of the
        # midpoints of the left and right edges
        t = np.array([tuple(headers[i][1])[:6] for i in rows])
        w = np.array([headers[i][2] for i in rows], float)[:, None]
        h = np.array([headers[i][3] for i in rows], float)[:, None]
        col = np.hstack([w / 2, 0 * w, w])
        row = np.hstack([h / 2, h / 2, h / 2])
        x = t[:, [0]] * col + t[:, [1]] * row + t[:, [2]]
        y = t[:, [3]] * col + t[:, [4]] * row + t[:, [5]]
        lon, lat = to_lonlat(x.ravel(), y.ravel(), crs)
        lon, lat = lon.reshape(-1, 3), lat.reshape(-1, 3)
        width = ground_distance_m(lon[:, 1], lat[:, 1], lon[:, 2], lat[:, 2])
        out.loc[rows, "lon"], out.loc[rows, "lat"] = lon[:, 0], lat[:, 0]
        out.loc[rows, "half_width_m"] = width / 2
    return out


def fill_nan(data: np.ndarray, path: str | Path = "<array>") -> tuple[np.ndarray, int]:
    """Fill NaN pixels by :data:`NAN_FILL_RULE` and count them.

    Args:
        data: float (C, H, W).
        path: file name used in error messages.

    Returns:
        (filled float32 (C, H, W), number of pixels filled over all bands).

    Raises:
        DataFormatError: a band has no valid pixel (an all-NaN patch or band).
    """
    data = np.array(data, dtype=np.float32, copy=True)
    nan = np.isnan(data)
    n = int(nan.sum())
    if n == 0:
        return data, 0
    all_nan = nan.reshape(data.shape[0], -1).all(axis=1)
    if all_nan.any():
        what = (
            "every band"
            if all_nan.all()
            else f"band(s) at position {np.flatnonzero(all_nan).tolist()}"
        )
        raise DataFormatError(
            f"{path}: {what} is all NaN, so there is nothing to learn from; re-export the "
            "patch from another scene, or exclude the point (on_missing='drop'; CLI: --on-missing "
            "drop)."
        )
    medians = np.nanmedian(data.reshape(data.shape[0], -1), axis=1)
    band_idx = np.nonzero(nan)[0]
    data[nan] = medians[band_idx]
    return data, n


def resample_patch(data: np.ndarray, size_px: int) -> np.ndarray:
    """Resample a NaN-free patch to ``size_px`` x ``size_px`` by :data:`RESAMPLING`.

    Args:
        data: float (C, H, W) without NaN (see :func:`fill_nan`).
        size_px: output height and width in pixels.

    Returns:
        float32 (C, size_px, size_px).
    """
    import torch
    import torch.nn.functional as F

    if data.shape[-2:] == (size_px, size_px):
        return np.asarray(data, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))[None]
    out = F.interpolate(
        t, size=(size_px, size_px), mode="bilinear", align_corners=False, antialias=True
    )
    return out[0].numpy()


def write_patch(
    path: str | Path,
    data: np.ndarray,
    band_names: tuple[str, ...] | list[str],
    crs: str,
    transform: Affine,
    *,
    dtype: str = "float32",
    tags: dict[str, str] | None = None,
) -> Path:
    """Write a patch GeoTIFF atomically with NaN nodata and band descriptions.

    Args:
        path: destination ``.tif`` (named ``<Point_ID>_<YYMMDD>.tif`` in a data folder).
        data: float (C, H, W) in ``band_names`` order.
        band_names: one description per band.
        crs: e.g. ``"EPSG:3857"``.
        transform: affine pixel-to-CRS transform.
        dtype: ``"float32"`` (compact) or ``"float64"`` (as the authors' exports).
        tags: extra GDAL metadata tags (scene id, cloud cover, ...).
    """
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[0] != len(band_names):
        raise ValueError(
            f"write_patch: data shape {data.shape} does not match {len(band_names)} band names."
        )
    profile = {
        "driver": "GTiff",
        "height": data.shape[1],
        "width": data.shape[2],
        "count": data.shape[0],
        "dtype": dtype,
        "crs": crs,
        "transform": transform,
        "nodata": np.nan,
        "compress": "deflate",
        "predictor": 3,
    }
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data.astype(dtype))
            for i, name in enumerate(band_names, start=1):
                dst.set_band_description(i, name)
            if tags:
                dst.update_tags(**tags)
    return Path(path)


def find_patches(patch_dir: str | Path) -> tuple[dict[int, Path], list[Path]]:
    """Index ``patch_dir`` by Point_ID.

    Returns:
        (mapping Point_ID -> path, list of ``.tif`` files whose names do not follow
        ``<Point_ID>_<YYMMDD>.tif``).

    Raises:
        InconsistentDataError: two files share a Point_ID.
    """
    patch_dir = Path(patch_dir)
    found: dict[int, Path] = {}
    dupes: dict[int, list[Path]] = {}
    unnamed: list[Path] = []
    for p in sorted(q for q in patch_dir.glob("*") if q.suffix.lower() in PATCH_SUFFIXES):
        m = PATCH_NAME.match(p.name)
        if not m:
            unnamed.append(p)
            continue
        pid = int(m["point_id"])
        if pid in found:
            dupes.setdefault(pid, [found[pid]]).append(p)
        else:
            found[pid] = p
    if dupes:
        example = next(iter(dupes.values()))
        raise InconsistentDataError(
            f"{patch_dir}: {len(dupes)} Point_ID(s) have more than one patch "
            f"({first_ids(dupes)}; e.g. {', '.join(x.name for x in example)}); keep one file per point."
        )
    return found, unnamed
