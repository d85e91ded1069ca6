"""One point's patch: its window, the scene choice, DEM and slope, and the written file.

:func:`_acquire_point` searches the point's Landsat-8 scenes, reads their QA windows
(:class:`_PointScenes`) until the paper's rule picks one
(:func:`soilnet.acquire.scenes.choose_scene`), adds elevation and percent slope from the DEM
tiles around the window (:func:`_topography`) and writes ``patches/<Point_ID>_<YYMMDD>.tif``.
It never raises: the manifest row it returns says what happened.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import numpy as np

from soilnet.acquire.manifest import _blank_row
from soilnet.acquire.rasters import (
    Grid,
    mercator_grid,
    raster_reader,
    read_mosaic,
    read_to_grid,
    scene_grid,
)
from soilnet.acquire.scenes import (
    QA_RULE,
    Candidate,
    WindowShares,
    choose_scene,
    decode_qa,
    dn_to_reflectance,
    landsat_candidates,
    mean_ndvi,
    window_shares,
)
from soilnet.acquire.sources import _Context
from soilnet.acquire.stac import DEM_ASSET, LANDSAT_ASSETS, QA_ASSET, asset_href
from soilnet.bands import BAND_NAMES, SPECTRAL_BANDS, compute_indices
from soilnet.errors import AcquisitionError, PointAcquisitionFailed
from soilnet.io.patches import PATCH_NAME, write_patch
from soilnet.terrain import raster_spacing_m, slope_percent

#: Landsat-8 WRS-2 paths reach about 82.6° of latitude.
LANDSAT_MAX_LAT = 82.6

_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")


def _redact(text: str) -> str:
    """Drop query strings (signatures) from URLs in a message, and flatten it to one line."""
    return " ".join(_URL_QUERY.sub(r"\1", str(text)).split())


class _PointScenes:
    """Reads and caches one point's windows of its candidate scenes."""

    def __init__(self, ctx: _Context, lon: float, lat: float) -> None:
        self.ctx = ctx
        self.lon, self.lat = lon, lat
        self.fixed = mercator_grid(lon, lat) if ctx.crs == "EPSG:3857" else None
        self.grids: dict[str, Grid] = {}
        self.masks: dict = {}
        self.dns: dict[tuple[str, str], np.ndarray] = {}

    def _utm_grid(self, src) -> Grid:
        from rasterio.warp import transform

        xs, ys = transform("EPSG:4326", src.crs, [self.lon], [self.lat])
        return scene_grid(xs[0], ys[0], src.crs.to_string(), src.transform)

    def _read(self, cand: Candidate, key: str, grid, nodata: float) -> tuple[np.ndarray, Grid]:
        href = asset_href(cand.item, key)  # signed by the search's modifier where needed
        try:
            return read_to_grid(href, grid, resampling="nearest", nodata=nodata)
        except Exception as err:  # rasterio/GDAL errors carry the HTTP status
            raise AcquisitionError(
                f"reading {key} of {cand.id} ({_redact(href)}): {_redact(err)}"
            ) from err

    def evaluate(self, cand: Candidate) -> WindowShares:
        qa, grid = self._read(cand, QA_ASSET, self.fixed or self._utm_grid, nodata=1)
        self.grids[cand.id] = grid
        self.masks[cand.id] = decode_qa(qa)
        return window_shares(self.masks[cand.id])

    def dn(self, cand: Candidate, band: str) -> np.ndarray:
        key = (cand.id, band)
        if key not in self.dns:
            self.dns[key], _ = self._read(cand, LANDSAT_ASSETS[band], self.grids[cand.id], nodata=0)
        return self.dns[key]

    def mean_ndvi(self, cand: Candidate) -> float:
        masked = self.masks[cand.id].masked
        return mean_ndvi(
            dn_to_reflectance(self.dn(cand, "SR_B4"), masked),
            dn_to_reflectance(self.dn(cand, "SR_B5"), masked),
        )

    def reflectance(self, cand: Candidate) -> np.ndarray:
        masked = self.masks[cand.id].masked
        return np.stack([dn_to_reflectance(self.dn(cand, b), masked) for b in SPECTRAL_BANDS])


def _topography(ctx: _Context, grid: Grid) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Elevation (m) and percent slope of the window, from the DEM tiles around it.

    Slope is computed on the DEM's native grid with true ground spacing (so Web-Mercator's
    stretched metres never enter it), then both layers are resampled bilinearly onto ``grid``.

    Returns:
        (elevation float32 (H, W), slope float32 (H, W), DEM item ids).
    """
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    bounds = grid.lonlat_bounds(pad_deg=0.003)
    items = ctx.stac.search(collections=[ctx.sources.dem_collection], bbox=list(bounds))
    if not items:
        raise PointAcquisitionFailed(
            "error",
            f"no {ctx.sources.dem_collection} tile covers the window "
            f"{tuple(round(v, 4) for v in bounds)} in {ctx.stac.url}",
        )
    hrefs = [asset_href(it, DEM_ASSET) for it in items]
    try:
        dem, transform, dem_crs = read_mosaic(hrefs, bounds)
    except Exception as err:
        raise AcquisitionError(
            f"reading DEM tiles {', '.join(it['id'] for it in items)}: {_redact(err)}"
        ) from err
    # Horn slope on the DEM's native grid, in ground metres per row where it is in degrees
    geographic = CRS.from_user_input(dem_crs).is_geographic
    slope = slope_percent(dem, *raster_spacing_m(transform, dem.shape, geographic))
    out = []
    for layer in (dem, slope):
        dst = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
        reproject(
            source=layer,
            destination=dst,
            src_transform=transform,
            src_crs=dem_crs,
            dst_transform=grid.transform,
            dst_crs=grid.crs,
            resampling=Resampling.bilinear,
            src_nodata=np.nan,
            dst_nodata=np.nan,
        )
        out.append(dst)
    return out[0], out[1], [it["id"] for it in items]


def _acquire_point(ctx: _Context, pid: int, lon: float, lat: float) -> dict:
    """Acquire one point's patch; never raises (the manifest row says what happened).

    Returns:
        The point's manifest row (a dict over :data:`~soilnet.acquire.manifest.MANIFEST_COLUMNS`).
    """
    started = time.perf_counter()
    row = _blank_row(pid, lon, lat)
    row["landsat_source"] = f"{ctx.stac.url} {ctx.sources.landsat_collection}"
    try:
        if abs(lat) > LANDSAT_MAX_LAT:
            raise PointAcquisitionFailed(
                "no_coverage",
                f"outside Landsat coverage: latitude {lat:.3f} is beyond ±{LANDSAT_MAX_LAT}°",
            )
        items = ctx.stac.search(
            collections=[ctx.sources.landsat_collection],
            intersects={"type": "Point", "coordinates": [lon, lat]},
            datetime=f"{ctx.year}-01-01T00:00:00Z/{ctx.year}-12-31T23:59:59Z",
            query={"platform": {"in": ["landsat-8"]}},
        )
        candidates = landsat_candidates(items, ctx.year)
        if not candidates:
            raise PointAcquisitionFailed(
                "no_coverage",
                f"outside Landsat coverage: no Landsat-8 Collection 2 Level-2 Tier-1 scene of "
                f"{ctx.year} covers ({lon:.5f}, {lat:.5f}) in {ctx.stac.url} "
                f"({ctx.sources.landsat_collection}; "
                f"{len(items)} item(s) of other platforms or tiers)",
            )
        scenes = _PointScenes(ctx, lon, lat)
        with raster_reader(ctx.policy, uncached=ctx.uncached):
            decision = choose_scene(candidates, scenes.evaluate, scenes.mean_ndvi, ctx.limits)
            row["scenes_checked"] = len(decision.evaluations)
            if decision.choice is None:
                raise PointAcquisitionFailed("no_scene", decision.failure_reason())
            cand, chosen = decision.choice, decision.chosen
            reflectance = scenes.reflectance(cand)
            grid = scenes.grids[cand.id]
            elevation, slope, dem_ids = _topography(ctx, grid)
        indices = compute_indices(reflectance).astype(np.float32)
        data = np.concatenate([reflectance, indices, elevation[None], slope[None]]).astype(
            np.float32
        )
        name = f"{pid}_{cand.date_code}.tif"
        shares = chosen.shares
        ndvi = chosen.mean_ndvi if chosen.mean_ndvi is not None else scenes.mean_ndvi(cand)
        info = {
            "scene_id": cand.id,
            "acquired": cand.datetime.strftime("%Y-%m-%d"),
            "rule": decision.rule,
            "valid_share": round(shares.valid, 4),
            "cloud_share": round(shares.cloud, 4),
            "shadow_share": round(shares.shadow, 4),
            "snow_share": round(shares.snow, 4),
            "nan_share": round(float(np.isnan(reflectance).mean()), 4),
            "mean_ndvi": round(float(ndvi), 4),
            "landsat_source": row["landsat_source"],
            "dem_source": f"{ctx.sources.dem_collection}: {' '.join(dem_ids)}",
        }
        tags = {k: str(v) for k, v in info.items()}
        tags.update(qa_rule=QA_RULE, reflectance="DN * 2.75e-5 - 0.2", software="soilnet.acquire")
        write_patch(
            ctx.patch_dir / name,
            data,
            BAND_NAMES,
            grid.crs,
            grid.transform,
            dtype="float32",
            tags=tags,
        )
        row.update(
            info, status="ok", width=grid.width, height=grid.height, crs=grid.crs, patch=name
        )
        for old in ctx.patch_dir.glob(f"{pid}_*.tif"):
            if old.name != name and PATCH_NAME.match(old.name):
                old.unlink()
    except PointAcquisitionFailed as failure:
        row.update(status=failure.status, reason=failure.reason)
    except Exception as err:  # a failing point never stops the others
        row.update(status="error", reason=_redact(f"{type(err).__name__}: {err}"))
    row["seconds"] = round(time.perf_counter() - started, 3)
    row["updated"] = _utc_now()
    return row


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
