"""Build a real data folder from a LUCAS point table and open archives: :func:`acquire`.

For every point of the table, :func:`acquire` writes one patch
``patches/<Point_ID>_<YYMMDD>.tif`` (14 bands by description: SR_B1..SR_B7 reflectance 0-1,
the five indices, elevation in m and percent slope; float32; NaN where QA_PIXEL flags cloud,
shadow, snow or fill), then one ``climate/<variable>.csv`` per TerraClimate variable, a copy
of the table as ``points.csv`` and ``manifest.csv`` (one row per point, :data:`MANIFEST_COLUMNS`).
The folder is the layout :func:`soilnet.io.open_folder` and :func:`soilnet.store.consolidate`
read.

Behaviour:

- **Resumable.** A point is skipped when the manifest says ``ok`` and its patch exists (also
  ``no_scene`` / ``no_coverage`` unless ``retry_failed``); ``error`` points are retried. Every
  file is written under a temporary name and renamed, so an interruption never leaves a
  half-written file; the manifest is flushed every few seconds and on exit.
- **Parallel** with at most ``workers`` points in flight (threads; GDAL and requests release
  the GIL while waiting on the network).
- **Retries** with exponential backoff on transient HTTP answers, for STAC searches and tokens
  (urllib3's ``Retry``) and for COG reads (GDAL's own retry), both configured from one
  :class:`RetryPolicy`.
- **A failing point never stops the others**: its manifest row says why. Only when many points
  in a row fail with errors (the sources are probably unreachable) does the run stop, keeping
  what is done.

Differences from the original Earth Engine downloader: pixel masking instead of none; every
point gets the topography of its own window (the original reused the previous point's
topography when no winter scene existed); the QA rule counts high-confidence flags only; the
valid-pixel test uses 70 % as intended; climate zeros stay zeros; elevation comes from the
Copernicus DEM GLO-30 instead of SRTM.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.acquire import terraclimate
from soilnet.acquire.scenes import (
    QA_RULE,
    Candidate,
    SceneLimits,
    WindowShares,
    choose_scene,
    decode_qa,
    dn_to_reflectance,
    landsat_candidates,
    mean_ndvi,
    window_shares,
)
from soilnet.acquire.stac import (
    DEM_ASSET,
    DEM_COLLECTION,
    LANDSAT_ASSETS,
    LANDSAT_COLLECTION,
    PLANETARY_COMPUTER_STAC,
    QA_ASSET,
    Grid,
    HttpClient,
    PlanetaryComputerSigner,
    RetryPolicy,
    StacCatalog,
    asset_href,
    make_modifier,
    mercator_grid,
    raster_reader,
    read_mosaic,
    read_to_grid,
    sas_endpoint,
    scene_grid,
    take_failed_reads,
)
from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES, SPECTRAL_BANDS, compute_indices
from soilnet.errors import AcquisitionError, PointAcquisitionFailed, SoilNetError, first_ids
from soilnet.io.atomic import atomic_path
from soilnet.io.patches import PATCH_NAME, find_patches, write_patch
from soilnet.io.tables import ClimateTable, read_points, write_climate
from soilnet.terrain import raster_spacing_m, slope_percent

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
#: Landsat-8 WRS-2 paths reach about 82.6° of latitude.
LANDSAT_MAX_LAT = 82.6
#: Coordinate tolerance (degrees) when checking that an output folder holds the same points.
_COORD_TOL = 1e-6
_FLUSH_S = 5.0


@dataclass(frozen=True)
class Sources:
    """Where the data come from (every default needs no account).

    Attributes:
        stac_url: STAC API root serving ``landsat_collection`` and ``dem_collection``.
        terraclimate_url: TerraClimate source template with ``{var}`` (and optionally
            ``{year}``): an OPeNDAP URL, an http(s) NetCDF URL or a local path.
        signer: ``"auto"`` (Planetary Computer tokens on its API, none elsewhere), ``"none"``,
            ``"planetary-computer"``, or a pystac-client modifier (see
            :func:`soilnet.acquire.stac.make_modifier`).
        sas_url: the Planetary Computer SAS token endpoint (``planetary_computer``'s
            ``sas_url`` setting) for this run; None keeps the package's setting
            (``PC_SDK_SAS_URL``, else the public endpoint).
        landsat_collection: Landsat Collection 2 Level-2 collection id.
        dem_collection: DEM collection id (Copernicus GLO-30, 1° tiles in EPSG:4326).
        stac_method: ``"auto"`` (POST where the API advertises it, else GET), ``"POST"`` or
            ``"GET"`` for ``/search``.
    """

    stac_url: str = PLANETARY_COMPUTER_STAC
    terraclimate_url: str = terraclimate.DEFAULT_TERRACLIMATE_URL
    signer: str | Callable[[object], None] = "auto"
    sas_url: str | None = None
    landsat_collection: str = LANDSAT_COLLECTION
    dem_collection: str = DEM_COLLECTION
    stac_method: str = "auto"


@dataclass
class AcquisitionSummary:
    """What a run of :func:`acquire` did.

    Attributes:
        out: the data folder.
        counts: points per status over the whole folder (this run and earlier ones).
        n_points: points in ``points.csv``.
        n_processed: points whose patch was attempted in this run.
        n_skipped: points skipped because an earlier run finished them.
        seconds: wall time of the run.
        patch_seconds: wall time of the patch stage.
        climate_seconds: wall time of the climate stage.
        stac_bytes: bytes of STAC answers received in this run. COG tiles are read by GDAL,
            whose byte counts rasterio does not expose, so they are not included.
        climate_variables: variables (re)written in this run.
        manifest: path of ``manifest.csv``.
    """

    out: Path
    counts: dict[str, int]
    n_points: int
    n_processed: int
    n_skipped: int
    seconds: float
    patch_seconds: float
    climate_seconds: float
    stac_bytes: int
    climate_variables: list[str] = field(default_factory=list)
    manifest: Path | None = None

    @property
    def missing(self) -> int:
        """Points without a patch."""
        return self.n_points - self.counts.get("ok", 0)

    def __str__(self) -> str:
        lines = [
            f"acquire: {self.n_points:,} point(s) in {self.out} "
            f"({self.n_processed:,} processed now, {self.n_skipped:,} already done)"
        ]
        for status in STATUSES:
            lines.append(f"  {status:<12} {self.counts.get(status, 0):>8,}")
        per = max(self.n_processed, 1)
        lines.append(
            f"  patches      {self.patch_seconds:,.1f} s ({self.patch_seconds / per:.2f} s/point), "
            f"STAC answers {self.stac_bytes / 1e6:,.2f} MB"
        )
        lines.append(
            f"  climate      {self.climate_seconds:,.1f} s "
            f"({', '.join(self.climate_variables) or 'nothing to do'})"
        )
        lines.append(f"  manifest     {self.manifest}")
        if self.missing:
            lines.append(
                f"  {self.missing:,} point(s) have no patch (reasons in the manifest); open the "
                "folder with on_missing='drop' to use the others."
            )
        return "\n".join(lines)


@dataclass
class _Context:
    stac: StacCatalog
    sources: Sources
    policy: RetryPolicy
    limits: SceneLimits
    crs: str
    year: int
    patch_dir: Path
    uncached: bool = False  # GDAL must not answer from a failed read of an earlier run


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


def _blank_row(pid: int, lon: float, lat: float) -> dict:
    row = dict.fromkeys(MANIFEST_COLUMNS, "")
    row.update({"Point_ID": int(pid), "long": lon, "lat": lat})
    return row


def _acquire_point(ctx: _Context, pid: int, lon: float, lat: float) -> dict:
    """Acquire one point's patch; never raises (the manifest row says what happened).

    Returns:
        The point's manifest row (a dict over :data:`MANIFEST_COLUMNS`).
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


# --------------------------------------------------------------------------------------------
# Output folder, points and manifest
# --------------------------------------------------------------------------------------------


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read ``manifest.csv`` (one row per point, :data:`MANIFEST_COLUMNS`).

    Raises:
        AcquisitionError: the file is not a manifest written by :func:`acquire`.
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


def _climate_done(path: Path, ids: np.ndarray, months: Sequence[str]) -> bool:
    if not path.is_file():
        return False
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns.tolist()
        have = pd.read_csv(path, usecols=[0], encoding="utf-8-sig").iloc[:, 0]
    except (ValueError, pd.errors.ParserError):
        return False
    return sorted(header[1:]) == sorted(months) and np.array_equal(have.to_numpy(), ids)


def _needs_patch(row: dict | None, patches: dict[int, Path], pid: int, retry_failed: bool) -> bool:
    if row is None:
        return True
    status = row.get("status")
    if status == "ok":
        return not (pid in patches and patches[pid].name == row.get("patch"))
    if status in ("no_scene", "no_coverage"):
        return retry_failed
    return True


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def acquire(
    points: str | Path,
    out: str | Path,
    *,
    start: str = "2010-01",
    end: str = "2015-01",
    variables: Sequence[str] | None = CLIMATE_VARIABLES,
    workers: int = 8,
    sources: Sources | None = None,
    crs: str = "EPSG:3857",
    limit: int | None = None,
    year: int = 2015,
    limits: SceneLimits | None = None,
    retry: RetryPolicy | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    on_point: Callable[[dict], None] | None = None,
) -> AcquisitionSummary:
    """Build (or resume) a data folder for the points of a LUCAS table from open archives.

    Args:
        points: the LUCAS 2015 topsoil CSV as distributed (``Point_ID``, ``long``, ``lat`` in
            EPSG:4326 degrees; other columns are kept). A byte-order mark is accepted.
        out: the data folder to write (new, or holding an earlier run on the same table).
        start, end: first and last climate month, ``YYYY-MM`` (paper: 2010-01 to 2015-01, 61
            months).
        variables: TerraClimate variables (default all 14; None or ``()`` for none).
        workers: points processed at the same time.
        sources: the STAC API, TerraClimate template and signing (default: account-free
            Planetary Computer and the TerraClimate OPeNDAP server).
        crs: ``"EPSG:3857"`` (the original exports: 30 Web-Mercator metres, about 102 x 102 px
            at 51°N) or ``"utm"`` (the scene's own 30 m grid, 64 x 64 px).
        limit: only the first ``limit`` points of the table (for a trial run).
        year: the year of the Landsat-8 scenes (paper: 2015).
        limits: window limits of the scene choice (default: the paper's 10 % / 10 % and 70 %
            valid pixels).
        retry: retries and timeouts for HTTP (default :class:`RetryPolicy`).
        retry_failed: also retry points recorded as ``no_scene`` or ``no_coverage``.
        progress: show tqdm bars (points done and remaining time).
        on_point: called in the calling thread with each finished point's manifest row.

    Returns:
        An :class:`AcquisitionSummary` (print it for a table of points by status).

    Raises:
        ValueError: an argument is invalid (checked before any I/O).
        AcquisitionError: an endpoint is unreachable, the output folder holds another dataset,
            or many points in a row failed with errors. Finished points are always kept.
        soilnet.errors.DataFormatError: the point table is malformed.
    """
    run_start = time.perf_counter()
    sources = sources or Sources()
    policy = retry or RetryPolicy()
    limits = limits or SceneLimits()
    if crs not in ("EPSG:3857", "utm"):
        raise ValueError(f"crs must be 'EPSG:3857' or 'utm'; got {crs!r}.")
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None for all points); got {limit}.")
    variables = list(variables or ())
    unknown = [v for v in variables if v not in CLIMATE_VARIABLES]
    if unknown:
        raise ValueError(
            f"Unknown TerraClimate variable(s) {', '.join(unknown)}; choose from "
            f"{', '.join(CLIMATE_VARIABLES)}."
        )
    months = terraclimate.month_labels(start, end)
    modifier = make_modifier(sources.signer, sources.stac_url, policy)
    source_path = Path(points)
    out = Path(out)

    full = read_points(source_path, require_oc=False)
    table = full.iloc[:limit].reset_index(drop=True) if limit else full
    _check_out_dir(
        out, set(full["Point_ID"].tolist()), full[["Point_ID", "long", "lat"]], source_path
    )
    patch_dir = out / "patches"
    patch_dir.mkdir(parents=True, exist_ok=True)
    _clean_tmp(out)
    _write_points(source_path, out / "points.csv", limit if limit and limit < len(full) else None)

    ids = table["Point_ID"].to_numpy(np.int64)
    manifest_path = out / "manifest.csv"
    rows = _manifest_rows(manifest_path)
    patches, _ = find_patches(patch_dir)
    todo = [
        (int(pid), float(lon), float(lat))
        for pid, lon, lat in table[["Point_ID", "long", "lat"]].itertuples(index=False)
        if _needs_patch(rows.get(int(pid)), patches, int(pid), retry_failed)
    ]
    climate_todo = [
        v for v in variables if not _climate_done(out / "climate" / f"{v}.csv", ids, months)
    ]

    client = HttpClient(policy)
    with sas_endpoint(sources.sas_url):
        ctx = None
        if todo:
            ctx = _open_sources(sources, modifier, policy, limits, crs, year, patch_dir, workers)
        if climate_todo:
            terraclimate.probe(sources.terraclimate_url, climate_todo, months, client)
        patch_start = time.perf_counter()
        _run_points(ctx, todo, rows, manifest_path, ids, workers, progress, on_point)
        patch_seconds = time.perf_counter() - patch_start

    climate_start = time.perf_counter()
    if climate_todo:
        extraction = terraclimate.extract_points(
            sources.terraclimate_url,
            climate_todo,
            table["long"].to_numpy(),
            table["lat"].to_numpy(),
            months,
            client=client,
            progress=progress,
        )
        for k, var in enumerate(extraction.variables):
            block = ClimateTable(extraction.values[:, :, k : k + 1], ids, tuple(months), (var,))
            write_climate(out / "climate", block)
        missing = np.isnan(extraction.values).sum(axis=(1, 2))
        for i, pid in enumerate(ids):
            row = rows.setdefault(
                int(pid), _blank_row(int(pid), float(table["long"][i]), float(table["lat"][i]))
            )
            row["climate_source"] = sources.terraclimate_url
            row["climate_cell_km"] = round(float(extraction.cell_km[i]), 2)
            row["climate_missing"] = int(missing[i])
        _write_manifest(manifest_path, rows, ids.tolist())
    climate_seconds = time.perf_counter() - climate_start

    counts = Counter(
        rows[int(pid)]["status"] for pid in ids if int(pid) in rows and rows[int(pid)]["status"]
    )
    summary = AcquisitionSummary(
        out=out,
        counts={s: counts.get(s, 0) for s in STATUSES},
        n_points=len(ids),
        n_processed=len(todo),
        n_skipped=len(ids) - len(todo),
        seconds=time.perf_counter() - run_start,
        patch_seconds=patch_seconds,
        climate_seconds=climate_seconds,
        stac_bytes=ctx.stac.bytes_received if ctx else 0,
        climate_variables=climate_todo,
        manifest=manifest_path,
    )
    return summary


def _open_sources(
    sources: Sources,
    modifier: Callable[[object], None] | None,
    policy: RetryPolicy,
    limits: SceneLimits,
    crs: str,
    year: int,
    patch_dir: Path,
    workers: int,
) -> _Context:
    """Open the STAC API, check its collections and (when signing) a token, before any point.

    Raises:
        AcquisitionError: naming the endpoint that failed and what to check.
    """
    stac = StacCatalog(
        sources.stac_url, policy, modifier=modifier, method=sources.stac_method, pool_size=workers
    )
    collections = [stac.collection(c) for c in (sources.landsat_collection, sources.dem_collection)]
    if isinstance(modifier, PlanetaryComputerSigner):
        # Planetary Computer collections name their storage container: fail here, not per point
        for found in collections:
            account, container = found.get("msft:storage_account"), found.get("msft:container")
            if account and container:
                modifier.token(account, container)
    return _Context(stac, sources, policy, limits, crs, year, patch_dir, take_failed_reads())


def _run_points(
    ctx: _Context | None,
    todo: list[tuple[int, float, float]],
    rows: dict[int, dict],
    manifest_path: Path,
    order: np.ndarray,
    workers: int,
    progress: bool,
    on_point: Callable[[dict], None] | None,
) -> None:
    """Acquire the points of ``todo`` in parallel, updating ``rows`` and the manifest."""
    order_list = order.tolist()
    if not todo or ctx is None:
        _write_manifest(manifest_path, rows, order_list)
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="patches", unit="pt", disable=not progress, smoothing=0.1)
    max_failures = max(20, 4 * workers)
    consecutive_errors = 0
    last_flush = time.perf_counter()
    pending_iter = iter(todo)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acquire")
    in_flight: set[Future] = set()

    def submit_next() -> None:
        item = next(pending_iter, None)
        if item is not None:
            in_flight.add(executor.submit(_acquire_point, ctx, *item))

    try:
        for _ in range(2 * workers):
            submit_next()
        while in_flight:
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in finished:
                in_flight.discard(fut)
                row = fut.result()
                rows[int(row["Point_ID"])] = row
                consecutive_errors = consecutive_errors + 1 if row["status"] == "error" else 0
                bar.update(1)
                if on_point is not None:
                    on_point(row)
                if consecutive_errors >= max_failures:
                    raise AcquisitionError(
                        f"The last {consecutive_errors} points all failed with errors (last: "
                        f"Point_ID {row['Point_ID']}: {row['reason']}). The sources may be "
                        f"unreachable; finished points are kept in {manifest_path.parent}. Re-run "
                        "the same command to resume."
                    )
                submit_next()
            if time.perf_counter() - last_flush > _FLUSH_S:
                _write_manifest(manifest_path, rows, order_list)
                last_flush = time.perf_counter()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        bar.close()
        _write_manifest(manifest_path, rows, order_list)
