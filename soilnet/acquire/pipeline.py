"""Build a real data folder from a LUCAS point table and open archives: :func:`acquire`.

For every point of the table, :func:`acquire` writes one patch
``patches/<Point_ID>_<YYMMDD>.tif`` (14 bands by description: SR_B1..SR_B7 reflectance 0-1,
the five indices, elevation in m and percent slope; float32; NaN where QA_PIXEL flags cloud,
shadow, snow or fill), then one ``climate/<variable>.csv`` per TerraClimate variable, a copy
of the table as ``points.csv`` and ``manifest.csv`` (one row per point,
:data:`~soilnet.acquire.manifest.MANIFEST_COLUMNS`). The folder is the layout
:func:`soilnet.io.open_folder` and :func:`soilnet.store.consolidate` read.

Behaviour:

- **Resumable.** A point is skipped when the manifest says ``ok`` and its patch exists (also
  ``no_scene`` / ``no_coverage`` unless ``retry_failed``); ``error`` points are retried. Every
  file is written under a temporary name and renamed, so an interruption never leaves a
  half-written file; the manifest is flushed every few seconds and on exit.
- **Parallel** with at most ``workers`` points in flight (threads; GDAL and requests release
  the GIL while waiting on the network).
- **Retries** with exponential backoff on transient HTTP answers, for STAC searches and tokens
  (urllib3's ``Retry``) and for COG reads (GDAL's own retry), both configured from one
  :class:`~soilnet.acquire.transport.RetryPolicy`.
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

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.acquire import terraclimate
from soilnet.acquire.manifest import STATUSES, _blank_row, _manifest_rows, _write_manifest
from soilnet.acquire.outdir import _check_out_dir, _clean_tmp, _write_points
from soilnet.acquire.point import _acquire_point
from soilnet.acquire.scenes import SceneLimits
from soilnet.acquire.signing import make_modifier, sas_endpoint
from soilnet.acquire.sources import Sources, _Context, _open_sources
from soilnet.acquire.transport import HttpClient, RetryPolicy
from soilnet.bands import CLIMATE_VARIABLES
from soilnet.errors import AcquisitionError
from soilnet.io.patches import find_patches
from soilnet.io.tables import ClimateTable, read_points, write_climate

_FLUSH_S = 5.0


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
                "folder with on_missing='drop' (CLI: consolidate --on-missing drop) to use the others."
            )
        return "\n".join(lines)


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
