"""Write a twin in the real on-disk layout: points, patches, climate, and the truth beside them.

Points are drawn uniformly over the EU-28 land area, one per LUCAS-style 1 km Point_ID, with
winter-2015 acquisition dates; each is rendered by :class:`soilnet.twin.SyntheticWorld` and
written exactly as real exports are (see ``data/README.md``), plus ``truth.csv`` and
``twin.json`` that no model reads.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.bands import BAND_NAMES, PAPER_CLIP_G_PER_KG
from soilnet.errors import ConfigurationError
from soilnet.geo import europe_countries
from soilnet.grid import sample_land_points
from soilnet.twin.climate import CLIMATE_MONTHS, CLIMATE_START
from soilnet.twin.config import NOISE_REVISIONS, TwinConfig, resolve_twin
from soilnet.twin.world import SyntheticWorld

#: Columns of ``truth.csv``, in order. The references (g/kg, :mod:`soilnet.twin.oracle`), each
#: named by what it conditions on:
#:
#: - ``noise_floor_clipped``: E[min(SOC, 87) | c1..c4], the noise floor;
#: - ``observable_reference_clipped``: E[min(SOC, 87) | centre land cover, d where
#:   ``soil_visible``, c2, c3, c4], the observable reference;
#: - ``soil_visible``: the patch has a cropland or bare pixel, which shows d;
#: - ``oracle_clipped`` / ``oracle_unclipped``: E[min(SOC, 87) | c1, c2, c3] and E[SOC | c1, c2,
#:   c3], the c1-c3 decomposition: neither a bound nor a target, kept under their old names for
#:   the decomposition and for readers of earlier twins.
TRUTH_COLUMNS = (
    "Point_ID", "x_3035", "y_3035", "land_cover", "soil_darkness_d", "soil_visible",
    "drought_count_K", "c1", "c2", "c3", "c4", "eps", "OC",
    "noise_floor_clipped", "observable_reference_clipped", "oracle_clipped", "oracle_unclipped",
)  # fmt: skip


def lucas_point_ids(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LUCAS-style Point_ID: 4 digits of easting km then 4 of northing km (EPSG:3035).

    Args:
        x, y: float (N,) EPSG:3035 metres.

    Returns:
        int64 (N,) IDs below 10**8; points in the same 1 km square share an ID.
    """
    return (
        np.floor(x / 1000).astype(np.int64) * 10000 + np.floor(y / 1000).astype(np.int64)
    ) % 10**8


def patch_transform(lon: float, lat: float, size_px: int):
    """Affine of a patch centred on (lon, lat) in EPSG:3857 with 30 m ground pixels.

    Args:
        lon, lat: patch centre, degrees (EPSG:4326).
        size_px: patch height and width in pixels.

    Returns:
        a rasterio ``Affine`` in Web-Mercator metres.
    """
    from pyproj import Transformer
    from rasterio.transform import from_origin

    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    mx, my = tr.transform(lon, lat)
    px = 30.0 / math.cos(math.radians(lat))  # Web-Mercator metres per 30 ground metres
    return from_origin(mx - size_px * px / 2, my + size_px * px / 2, px, px)


def _draw_points(config: TwinConfig, rng: np.random.Generator):
    """(x, y, Point_ID, YYMMDD dates) of ``config.n_points`` points with distinct IDs."""
    x, y = sample_land_points(int(config.n_points * 1.05) + 10, rng)
    ids = lucas_point_ids(x, y)
    _, first = np.unique(ids, return_index=True)
    first = np.sort(first)[: config.n_points]
    if len(first) < config.n_points:
        raise ConfigurationError("Too many points for distinct 1 km LUCAS IDs; lower n_points.")
    x, y, ids = x[first], y[first], ids[first]
    # Acquisition dates: winter 2015 (Jan, Feb, Nov, Dec), as the paper's first-choice scenes.
    month = rng.choice([1, 2, 11, 12], size=len(x))
    day = rng.integers(1, 29, size=len(x))
    dates = [f"15{m:02d}{d:02d}" for m, d in zip(month, day, strict=True)]
    return x, y, ids, dates


def _nuts0(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NUTS-0 code of the nearest LUCAS country for EPSG:3035 points, object (N,)."""
    import geopandas as gpd

    countries = europe_countries()
    lucas = countries[countries["lucas"]].to_crs("EPSG:3035")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:3035")
    nuts0 = (
        gpd.sjoin_nearest(pts, lucas[["nuts0", "geometry"]], how="left")
        .groupby(level=0)["nuts0"]
        .first()
    )
    return nuts0.reindex(range(len(x))).to_numpy()


def write_twin(
    out_dir: str | Path, config: TwinConfig | str = "default", *, progress: bool = False
) -> dict:
    """Generate a twin and write it in the real layout.

    Writes ``points.csv`` (LUCAS columns Point_ID, long, lat, OC, LC0_Desc, NUTS_0),
    ``patches/<Point_ID>_<YYMMDD>.tif`` (14 bands, EPSG:3857, 30 m ground pixels, float32, NaN
    nodata), ``climate/<variable>.csv`` (months in shuffled column order, as the real exports),
    ``truth.csv`` (latent components, soil visibility and the references of
    :data:`TRUTH_COLUMNS`; no model reads it) and
    ``twin.json`` (configuration, fitted mu/sigma, timings).

    Args:
        out_dir: destination folder (created).
        config: a :class:`TwinConfig` or a twin name from :data:`soilnet.twin.TWINS`.
        progress: show a tqdm bar.

    Returns:
        the summary written to ``twin.json``.

    Raises:
        ConfigurationError: unknown twin name, or more points than distinct 1 km IDs.
    """
    from soilnet.io.patches import write_patch
    from soilnet.io.tables import ClimateTable, write_climate

    config = resolve_twin(config)
    start = time.perf_counter()
    out_dir = Path(out_dir)
    (out_dir / "patches").mkdir(parents=True, exist_ok=True)
    world = SyntheticWorld(config)
    x, y, ids, dates = _draw_points(config, np.random.default_rng([config.seed, 2015]))
    nuts0 = _nuts0(x, y)

    latents, climates = [], []
    chunk = 256  # points rendered at once: bounds the patches held in memory
    iterator = range(0, len(x), chunk)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="twin", unit="chunk")
    for lo in iterator:
        sl = slice(lo, lo + chunk)
        r = world.render(x[sl], y[sl])
        for k in range(len(r.latent)):
            i = lo + k
            write_patch(
                out_dir / "patches" / f"{ids[i]}_{dates[i]}.tif",
                r.image[k],
                BAND_NAMES,
                "EPSG:3857",
                patch_transform(
                    r.latent["long"].iat[k], r.latent["lat"].iat[k], config.patch_size_px
                ),
                tags={"source": "soilnet synthetic twin", "seed": str(config.seed)},
            )
        latents.append(r.latent)
        climates.append(r.climate)
    latent = pd.concat(latents, ignore_index=True)
    latent.insert(0, "Point_ID", ids)
    points = pd.DataFrame(
        {
            "Point_ID": ids,
            "long": latent["long"].round(7),
            "lat": latent["lat"].round(7),
            "OC": latent["OC"],
            "LC0_Desc": latent["land_cover"],
            "NUTS_0": nuts0,
        }
    )
    points.to_csv(out_dir / "points.csv", index=False, encoding="utf-8-sig")
    months = tuple(
        pd.date_range(CLIMATE_START, periods=CLIMATE_MONTHS, freq="MS").strftime("%Y%m%d")
    )
    write_climate(
        out_dir / "climate",
        ClimateTable(np.concatenate(climates), ids, months, config.climate_variables),
        shuffle_months_seed=config.seed,
    )
    latent[list(TRUTH_COLUMNS)].to_csv(out_dir / "truth.csv", index=False)
    oc = points["OC"].to_numpy()
    summary = {
        "config": asdict(config),
        "noise_revision": NOISE_REVISIONS[config.noise],
        "mu": world.mu,
        "sigma": world.sigma,
        "n_points": len(points),
        "oc_quartiles_g_per_kg": [float(q) for q in np.quantile(oc, [0.25, 0.5, 0.75])],
        "oc_share_above_clip": float((oc > PAPER_CLIP_G_PER_KG).mean()),
        "land_cover_shares": points["LC0_Desc"].value_counts(normalize=True).round(4).to_dict(),
        "generation_seconds": round(time.perf_counter() - start, 2),
    }
    (out_dir / "twin.json").write_text(json.dumps(summary, indent=2))
    return summary
