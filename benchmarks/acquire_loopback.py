"""Measure ``soilnet.acquire`` per point against the loopback STAC/COG server of the tests.

Usage::

    PYTHONPATH=. python benchmarks/acquire_loopback.py --points 49 --workers 4

It writes a scene footprint of ``--scene-px`` x ``--scene-px`` 30 m pixels (UTM 32N, around
9.5°E 50°N) shaped like the real files: seven SR bands and QA_PIXEL as Cloud-Optimized GeoTIFFs
with 256 x 256 DEFLATE tiles and spatially smooth content plus per-pixel noise (so tiles
compress about as much as real surface reflectance), ``--scenes`` Landsat-8 dates through 2015
(every 16 days, as one WRS-2 path) whose QA_PIXEL carries random cloud, shadow and snow fields
(cloudier in winter), a 1-arcsecond EPSG:4326 DEM tile with 512 x 512 tiles, and a
TerraClimate-like NetCDF file per variable. Points lie on a grid 8 km apart, so their windows
rarely share a COG tile (LUCAS points are 2 km or more apart; most are much farther).

The server gives every scene its own URLs (aliases of one set of band files), so GDAL's block
cache never serves one point's tiles to another. It serves them as Azure Blob Storage URLs and
demands signatures, so the run signs with ``planetary_computer`` against the server's token
endpoint, and GDAL reaches the blob URLs through the server as its HTTP proxy (127.0.0.1
only). It then runs :func:`soilnet.acquire.acquire` and prints a Markdown table: seconds,
bytes and requests per point, and an estimate for the 21,859 LUCAS 2015 points from a simple
network model (``--rtt-ms``, ``--mbps``, ``--real-workers``), whose assumptions are printed
with it. Bytes are those the server sent: GDAL's own byte counts are not exposed by rasterio.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from acquire import server as srv  # noqa: E402  (tests/acquire/server.py)

from soilnet.acquire import RetryPolicy, Sources, acquire, read_manifest  # noqa: E402
from soilnet.bands import CLIMATE_VARIABLES  # noqa: E402

LUCAS_POINTS = 21_859
CENTRE = (9.5, 50.0)
EPSG = 32632
SPACING_M = 8_000.0


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Zero-mean, unit-variance random field smooth over about ``scale_px`` pixels."""
    from scipy.ndimage import zoom

    coarse = rng.standard_normal(
        (max(2, math.ceil(shape[0] / scale_px)) + 3, max(2, math.ceil(shape[1] / scale_px)) + 3)
    )
    field = zoom(coarse, scale_px, order=1)[: shape[0], : shape[1]]
    return (field - field.mean()) / field.std()


def write_world(root: Path, n_points: int, n_scenes: int, scene_px: int, seed: int = 0):
    """Write the benchmark's files; return (items, aliases, points table, climate template)."""
    from rasterio.transform import from_origin
    from rasterio.warp import transform, transform_bounds

    rng = np.random.default_rng(seed)
    xs, ys = transform("EPSG:4326", f"EPSG:{EPSG}", [CENTRE[0]], [CENTRE[1]])
    left = round(xs[0] / 30) * 30 - scene_px // 2 * 30
    top = round(ys[0] / 30) * 30 + scene_px // 2 * 30
    tr = from_origin(left, top, 30, 30)
    crs = f"EPSG:{EPSG}"
    shape = (scene_px, scene_px)

    # one set of SR band files (smooth land-cover pattern + per-pixel noise, ~120 DN)
    landscape = smooth_field(rng, shape, 12.0)
    bands = {}
    base = {**srv.BASE_REFLECTANCE, "SR_B4": 0.10, "SR_B5": 0.22}
    for band, asset in srv.BAND_ASSETS.items():
        refl = base[band] * (1 + 0.35 * landscape) + rng.normal(0, 120 * 2.75e-5, shape)
        dn = np.clip((refl + 0.2) / 2.75e-5, 1, 65535).astype(np.uint16)
        rel = f"bands/{band}.TIF"
        srv.write_cog(root / rel, dn, crs, tr, 0, blocksize=256)
        bands[asset] = rel

    # one QA file per date: smooth cloud/shadow/snow fields thresholded to a date's cover
    dates = pd.date_range("2015-01-05", periods=n_scenes, freq="16D")
    items, aliases = [], {}
    w, s, e, n = transform_bounds(
        crs, "EPSG:4326", left, top - scene_px * 30, left + scene_px * 30, top
    )
    for day in dates:
        winter = day.month in (1, 2, 11, 12)
        cover = rng.uniform(0.3, 0.9) if winter else rng.uniform(0.05, 0.6)
        clouds = smooth_field(rng, shape, 40.0)
        qa = np.full(shape, srv.QA_CLEAR, dtype=np.uint16)
        cloudy = clouds > np.quantile(clouds, 1 - cover)
        shadow = np.roll(cloudy, (20, 25), axis=(0, 1)) & ~cloudy
        qa[shadow] = srv.QA_SHADOW
        qa[cloudy] = srv.QA_CLOUD
        if day.month in (1, 2, 12):
            snow = smooth_field(rng, shape, 60.0) > 1.0
            qa[snow & ~cloudy & ~shadow] = srv.QA_SNOW
        scene_id = f"LC08_L2SP_195025_{day:%Y%m%d}_02_T1"
        qa_rel = f"qa/{scene_id}_QA_PIXEL.TIF"
        srv.write_cog(root / qa_rel, qa, crs, tr, 1, blocksize=256)
        hrefs = {}
        for asset, rel in {**bands, "qa_pixel": qa_rel}.items():
            alias = f"{scene_id}/{Path(rel).name}"
            aliases[alias] = rel
            hrefs[asset] = f"/files/{alias}"
        spec = srv.SceneSpec(scene_id, f"{day:%Y-%m-%d}", *CENTRE, size_px=scene_px, epsg=EPSG)
        item = srv.scene_item(spec, hrefs)
        item["bbox"] = [w, s, e, n]
        item["geometry"]["coordinates"] = [[[w, s], [e, s], [e, n], [w, n], [w, s]]]
        items.append(item)

    # DEM: 1 arcsecond, smooth hills on an inclined plane
    res = 1 / 3600
    dw, ds, de, dn_ = (
        math.floor(w * 10) / 10,
        math.floor(s * 10) / 10,
        math.ceil(e * 10) / 10,
        math.ceil(n * 10) / 10,
    )
    dshape = (round((dn_ - ds) / res), round((de - dw) / res))
    lat = dn_ - (np.arange(dshape[0]) + 0.5) * res
    z = srv.dem_elevation(lat, z0=300, slope_pct=2.0, lat0=CENTRE[1])[:, None] + 80 * smooth_field(
        rng, dshape, 60.0
    )
    srv.write_cog(
        root / "dem/DEM.tif",
        z.astype(np.float32),
        "EPSG:4326",
        from_origin(dw, dn_, res, res),
        None,
        512,
    )
    items.append(
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": "Copernicus_DSM_COG_10_benchmark_DEM",
            "collection": srv.DEM,
            "bbox": [dw, ds, de, dn_],
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[dw, ds], [de, ds], [de, dn_], [dw, dn_], [dw, ds]]],
            },
            "properties": {"datetime": "2021-04-22T00:00:00Z"},
            "assets": {"data": {"href": "/files/dem/DEM.tif"}},
            "links": [],
        }
    )

    # points on an 8 km grid around the centre
    side = math.ceil(math.sqrt(n_points))
    half_extent = scene_px * 30 / 2 - 1_500
    if (side - 1) * SPACING_M / 2 > half_extent:
        raise SystemExit(
            f"--points {n_points} do not fit {SPACING_M / 1000:g} km apart in a {scene_px}-px "
            "scene; raise --scene-px."
        )
    offsets = (np.arange(side) - (side - 1) / 2) * SPACING_M
    gx, gy = np.meshgrid(xs[0] + offsets, ys[0] + offsets)
    lon, lat = transform(
        crs, "EPSG:4326", gx.ravel()[:n_points].tolist(), gy.ravel()[:n_points].tolist()
    )
    points = pd.DataFrame(
        {"Point_ID": 50_000_000 + np.arange(n_points), "long": lon, "lat": lat, "OC": 20.0}
    )
    tc = srv.write_terraclimate(
        root / "tc",
        CLIMATE_VARIABLES,
        (w - 0.1, s - 0.1, e + 0.1, n + 0.1),
        start="2009-12",
        end="2015-02",
    )
    return items, aliases, points, tc


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=49)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument(
        "--scenes", type=int, default=23, help="Landsat-8 dates in 2015 (23 = one WRS-2 path)"
    )
    p.add_argument("--scene-px", type=int, default=2048)
    p.add_argument("--crs", choices=("EPSG:3857", "utm"), default="EPSG:3857")
    p.add_argument(
        "--rtt-ms", type=float, default=100.0, help="assumed round trip per HTTP request"
    )
    p.add_argument("--mbps", type=float, default=20.0, help="assumed aggregate download rate, MB/s")
    p.add_argument("--real-workers", type=int, default=16, help="assumed workers for the real run")
    p.add_argument("--keep", type=Path, default=None, help="write the world here and keep it")
    args = p.parse_args(argv)

    root = args.keep or Path(tempfile.mkdtemp(prefix="acquire_bench_"))
    t0 = time.perf_counter()
    items, aliases, points, tc = write_world(
        root / "world", args.points, args.scenes, args.scene_px
    )
    build_s = time.perf_counter() - t0
    points_csv = root / "points.csv"
    points.to_csv(points_csv, index=False)
    out = root / "out"
    shutil.rmtree(out, ignore_errors=True)

    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    with srv.LoopbackServer(
        root / "world", items, require_signature=True, aliases=aliases, blob_account="benchmark"
    ) as server:
        os.environ["GDAL_HTTP_PROXY"] = server.proxy  # blob URLs go to 127.0.0.1
        sources = Sources(
            stac_url=server.stac_url,
            terraclimate_url=tc,
            signer="planetary-computer",
            sas_url=server.sas_url,
        )
        try:
            summary = acquire(
                points_csv,
                out,
                variables=CLIMATE_VARIABLES,
                workers=args.workers,
                crs=args.crs,
                sources=sources,
                retry=RetryPolicy(retries=2, backoff_s=0.05),
                progress=False,
            )
        finally:
            del os.environ["GDAL_HTTP_PROXY"]
        log = pd.DataFrame(server.log)

    m = read_manifest(out / "manifest.csv")
    n = summary.n_processed
    patch_bytes = sum(f.stat().st_size for f in (out / "patches").glob("*.tif"))
    n_ok = max(summary.counts.get("ok", 0), 1)
    files = log[log["path"].str.startswith("/files/")]
    stac = log[log["path"].str.startswith(("/stac", "/sas"))]
    qa_reads = files[files["path"].str.contains("QA_PIXEL")]
    dem_reads = files[files["path"].str.contains("/dem/")]
    sent = int(log["bytes"].sum())
    if (files["status"] == 403).any() or not files["proxied"].all():
        raise SystemExit("file requests went unsigned or around the proxy; see the server log")
    per_point_bytes = sent / n
    per_point_req = len(log) / n
    s_per_point = summary.patch_seconds / n
    net_s = LUCAS_POINTS * max(
        per_point_req * args.rtt_ms / 1000 / args.real_workers, per_point_bytes / (args.mbps * 1e6)
    )

    def row(name: str, value: str) -> str:
        return f"| {name} | {value} |"

    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items() if v)
    lines = [
        "| quantity | value |",
        "|---|---|",
        row("points / workers / CRS", f"{n} / {args.workers} / {args.crs}"),
        row("scenes per point (2015)", f"{args.scenes}"),
        row("outcome", counts),
        row(
            "rule used", ", ".join(f"{k} {v}" for k, v in m["rule"].dropna().value_counts().items())
        ),
        row("QA windows read per point (mean)", f"{m['scenes_checked'].mean():.1f}"),
        row(
            "patch stage wall time",
            f"{summary.patch_seconds:.1f} s ({s_per_point:.2f} s per point)",
        ),
        row(
            "climate stage (14 variables, 61 months, local NetCDF)",
            f"{summary.climate_seconds:.1f} s",
        ),
        row(
            "sent by the server (all responses)",
            f"{sent / 1e6:.1f} MB ({sent / n / 1e6:.2f} MB per point)",
        ),
        row(
            "  of which QA_PIXEL / DEM / STAC+token",
            f"{qa_reads['bytes'].sum() / n / 1e6:.2f} / {dem_reads['bytes'].sum() / n / 1e6:.2f}"
            f" / {stac['bytes'].sum() / n / 1e6:.3f} MB per point",
        ),
        row(
            "patch files written (float32, DEFLATE)", f"{patch_bytes / n_ok / 1e6:.2f} MB per patch"
        ),
        row(
            "HTTP requests per point",
            f"{per_point_req:.1f} (files {len(files) / n:.1f}, STAC+token {len(stac) / n:.1f})",
        ),
        row(
            f"{LUCAS_POINTS:,} points at loopback speed ({args.workers} workers)",
            f"{LUCAS_POINTS * s_per_point / 3600:.1f} h",
        ),
        row(f"{LUCAS_POINTS:,} points, bytes", f"{LUCAS_POINTS * per_point_bytes / 1e9:.0f} GB"),
        row(
            f"{LUCAS_POINTS:,} points over a network (model)",
            f"{net_s / 3600:.1f} h = max(requests x {args.rtt_ms:g} ms / {args.real_workers} "
            f"workers, bytes / {args.mbps:g} MB/s)",
        ),
    ]
    print(f"world written in {build_s:.1f} s under {root}")
    print("\n".join(lines))
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
