"""Target grids and COG window reads (rasterio, GDAL's ``/vsicurl/``).

:func:`read_to_grid` resamples one band of a (remote) COG onto a target :class:`Grid` with
rasterio's ``WarpedVRT``; GDAL's ``/vsicurl/`` fetches only the internal tiles the window
touches, by HTTP range requests. :func:`read_mosaic` does the same for DEM tiles on their
native grid. :func:`mercator_grid` and :func:`scene_grid` are the two patch windows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from rasterio.transform import Affine

from soilnet.acquire.transport import RetryPolicy


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform and size.

    Attributes:
        crs: e.g. ``"EPSG:3857"`` or a UTM code such as ``"EPSG:32632"``.
        transform: pixel-to-CRS affine transform (north-up).
        width, height: size in pixels.
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return min(left, right), min(bottom, top), max(left, right), max(bottom, top)

    def lonlat_bounds(self, pad_deg: float = 0.0) -> tuple[float, float, float, float]:
        """(west, south, east, north) in EPSG:4326 degrees, widened by ``pad_deg``."""
        from rasterio.warp import transform_bounds

        w, s, e, n = transform_bounds(self.crs, "EPSG:4326", *self.bounds, densify_pts=21)
        return w - pad_deg, s - pad_deg, e + pad_deg, n + pad_deg


def mercator_grid(lon: float, lat: float, half_m: float = 960.0, pixel: float = 30.0) -> Grid:
    """The window of the original exports: EPSG:3857, ``pixel`` Web-Mercator metres.

    The window spans +-``half_m`` ground metres around the point. Web-Mercator stretches
    distances by ``1 / cos(lat)``, so the side is ``ceil(2 * half_m / cos(lat) / pixel)``
    pixels (102 at 51°N, 78 at 35°N), and a pixel covers ``pixel * cos(lat)`` ground metres.
    Pixel edges lie on multiples of ``pixel`` in EPSG:3857.

    Args:
        lon, lat: the point, EPSG:4326 degrees.
        half_m: half the window side in ground metres (960 = the original's 1,920 m box).
        pixel: pixel size in EPSG:3857 units.
    """
    from rasterio.warp import transform as warp_transform

    xs, ys = warp_transform("EPSG:4326", "EPSG:3857", [lon], [lat])
    half = half_m / math.cos(math.radians(lat))
    n = int(math.ceil(2 * half / pixel - 1e-9))
    col0 = round(xs[0] / pixel - n / 2)
    row_top = round(ys[0] / pixel + n / 2)
    return Grid("EPSG:3857", Affine(pixel, 0, col0 * pixel, 0, -pixel, row_top * pixel), n, n)


def scene_grid(
    x: float, y: float, crs: str, scene_transform: Affine, half_m: float = 960.0
) -> Grid:
    """A window on a scene's own grid (UTM, 30 m): ``2 * half_m / 30`` = 64 pixels a side.

    Args:
        x, y: the point in the scene's CRS (metres).
        crs: the scene's CRS.
        scene_transform: the scene's affine transform; the window's pixels coincide with the
            scene's, so no resampling happens.
        half_m: half the window side in metres.
    """
    res_x, res_y = scene_transform.a, -scene_transform.e
    n_x = int(round(2 * half_m / res_x))
    n_y = int(round(2 * half_m / res_y))
    col0 = round((x - scene_transform.c) / res_x - n_x / 2)
    row0 = round((scene_transform.f - y) / res_y - n_y / 2)
    left = scene_transform.c + col0 * res_x
    top = scene_transform.f - row0 * res_y
    return Grid(crs, Affine(res_x, 0, left, 0, -res_y, top), n_x, n_y)


def vsi_path(href: str) -> str:
    """GDAL path of ``href``: ``/vsicurl/`` for http(s) URLs, unchanged otherwise."""
    return f"/vsicurl/{href}" if href.startswith(("http://", "https://")) else href


def gdal_options(policy: RetryPolicy) -> dict[str, str]:
    """GDAL configuration for efficient, retried COG window reads over HTTP.

    ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` stops GDAL from listing the remote "folder" and
    probing side-car files; ``CPL_VSIL_CURL_USE_HEAD=NO`` saves the HEAD request per file.
    """
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF",
        "CPL_VSIL_CURL_USE_HEAD": "NO",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        "VSI_CACHE": "TRUE",
        **policy.gdal_options(),
    }


# GDAL's /vsicurl/ remembers a URL whose read failed (HTTP 500, timeout) for the rest of the
# process and fails every later open of it from that memory, without a request (measured on the
# loopback server: 0 requests on the reopen), so a second run in the same process could never
# recover such a point. rasterio cannot clear that cache, and turning the cache off for every
# read (CPL_VSIL_CURL_NON_CACHED=/vsicurl/) doubled the requests per point in
# benchmarks/acquire_loopback.py (65.6 -> 131.4). So only a run that follows a failed remote
# read in this process reads uncached; an uncached open also drops the URL's stale entry.
_failed_read = threading.Event()


def take_failed_reads() -> bool:
    """Whether a remote raster read failed since the last call (the flag is then cleared)."""
    failed = _failed_read.is_set()
    _failed_read.clear()
    return failed


@contextmanager
def raster_reader(policy: RetryPolicy, *, uncached: bool = False) -> Iterator[None]:
    """A ``rasterio.Env`` with :func:`gdal_options` for the calling thread.

    Args:
        policy: retries and timeouts of the reads.
        uncached: keep ``/vsicurl/`` from caching across opens (see :func:`take_failed_reads`).
    """
    import rasterio

    options = gdal_options(policy)
    if uncached:
        options["CPL_VSIL_CURL_NON_CACHED"] = "/vsicurl/"
    with rasterio.Env(**options):
        yield


@contextmanager
def _noting_failure(hrefs: Sequence[str]) -> Iterator[None]:
    try:
        yield
    except Exception:
        if any(vsi_path(h) != h for h in hrefs):
            _failed_read.set()
        raise


def read_to_grid(
    href: str,
    grid: Grid | Callable[[object], Grid],
    *,
    resampling: str = "nearest",
    nodata: float = 0,
    band: int = 1,
) -> tuple[np.ndarray, Grid]:
    """Read one band of a (remote) raster onto a target grid.

    Only the internal tiles the window touches are fetched (HTTP range requests through
    ``/vsicurl/``). Pixels outside the source are set to ``nodata``.

    Args:
        href: URL (signed where needed) or local path.
        grid: the target grid, or a function of the opened rasterio dataset that returns it
            (used for the UTM option, whose grid is the scene's own).
        resampling: a :class:`rasterio.enums.Resampling` name (``"nearest"`` for Landsat
            bands and QA, ``"bilinear"`` for elevation).
        nodata: value for pixels without data; also the source's nodata when the file sets none.
        band: 1-based band index.

    Returns:
        (array (height, width) in the source dtype, the grid used).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with _noting_failure([href]), rasterio.open(vsi_path(href)) as src:
        target = grid(src) if callable(grid) else grid
        src_nodata = src.nodata if src.nodata is not None else nodata
        with WarpedVRT(
            src,
            crs=target.crs,
            transform=target.transform,
            width=target.width,
            height=target.height,
            resampling=Resampling[resampling],
            src_nodata=src_nodata,
            nodata=nodata,
        ) as vrt:
            return vrt.read(band), target


def read_mosaic(
    hrefs: Sequence[str], bounds: tuple[float, float, float, float]
) -> tuple[np.ndarray, Affine, str]:
    """Mosaic tiles on their native grid over ``bounds`` (e.g. Copernicus DEM 1° tiles).

    Args:
        hrefs: URLs or paths of tiles sharing a CRS.
        bounds: (west, south, east, north) in EPSG:4326 degrees (transformed when the tiles
            are in a projected CRS).

    Returns:
        (float32 (H, W) with NaN where no tile has data, the mosaic's transform, its CRS).
    """
    import rasterio
    from rasterio.merge import merge
    from rasterio.warp import transform_bounds

    sources: list = []  # closed even when a later tile fails to open
    with _noting_failure(hrefs):
        try:
            sources.extend(rasterio.open(vsi_path(h)) for h in hrefs)
            crs = sources[0].crs.to_string()
            if not sources[0].crs.is_geographic:
                bounds = transform_bounds("EPSG:4326", crs, *bounds, densify_pts=21)
            array, transform = merge(
                sources, bounds=bounds, nodata=np.nan, dtype="float32", use_highest_res=True
            )
        finally:
            for src in sources:
                src.close()
    return array[0].astype(np.float32), transform, crs
