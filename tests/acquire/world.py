"""The loopback world shared by the acquisition tests, written once per session.

All points lie near 9°E 50°N (UTM 32N):

===========  ==========  ==============================================================
point        Point_ID    scenes (2015 unless stated) and the expected outcome
===========  ==========  ==============================================================
winter       90000001    Jan 12 50 % cloud; Feb 13 clear (medium cloud confidence on
                         every pixel, which must not count); Nov 20 clear; Jul clear;
                         a clear Landsat-7 and a clear Tier-2 scene on Jan 5/7; a clear
                         2014 scene -> Feb 13, rule winter-earliest
fallback     90000002    Jan 40 % snow; Dec 30 % cloud; Apr 20 % shadow (NDVI 0.05);
                         Jun NDVI 0.6; Aug 30 % cloud (NDVI 0.02); Sep NDVI 0.15
                         -> Sep 20, rule min-ndvi. Its TerraClimate cell is "sea".
noscene      90000003    Feb 60 % cloud; Jul 90 % cloud -> no_scene
nocover      90000004    no scene at all -> no_coverage
===========  ==========  ==============================================================

The DEM is an inclined plane rising 5 % northwards (two 1/1200° tiles split at 50°N, so the
winter point's window needs both).
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np

from soilnet.acquire import RetryPolicy, Sources, acquire, read_manifest

from . import server as srv

VARS = ("pr", "swe", "tmmx")
POINTS = {
    "winter": (90000001, 9.00, 50.00),
    "fallback": (90000002, 9.30, 50.10),
    "noscene": (90000003, 9.60, 50.20),
    "nocover": (90000004, 9.70, 49.90),
}
#: Quick retries: a test that exhausts them still finishes in well under a second.
FAST = RetryPolicy(retries=2, backoff_s=0.01, max_backoff_s=0.05, timeout_s=10)
SLOPE_PCT = 5.0


def scenes() -> list[srv.SceneSpec]:
    w, f, n = POINTS["winter"], POINTS["fallback"], POINTS["noscene"]
    S = srv.SceneSpec
    return [
        S("W_20150112_cloudy", "2015-01-12", w[1], w[2], ndvi=0.30, cloud=0.5),
        S("W_20150213_clear", "2015-02-13", w[1], w[2], ndvi=0.25),
        S("W_20151120_clear", "2015-11-20", w[1], w[2], ndvi=0.20),
        S("W_20150710_clear", "2015-07-10", w[1], w[2], ndvi=0.05),
        S("W_20150105_l7", "2015-01-05", w[1], w[2], platform="landsat-7"),
        S("W_20150107_t2", "2015-01-07", w[1], w[2], tier="T2"),
        S("W_20141220_old", "2014-12-20", w[1], w[2]),
        S("F_20150120_snow", "2015-01-20", f[1], f[2], snow=0.4),
        S("F_20151215_cloud", "2015-12-15", f[1], f[2], cloud=0.3),
        S("F_20150415_shadow", "2015-04-15", f[1], f[2], ndvi=0.05, shadow=0.2),
        S("F_20150620_green", "2015-06-20", f[1], f[2], ndvi=0.60),
        S("F_20150815_cloud", "2015-08-15", f[1], f[2], ndvi=0.02, cloud=0.3),
        S("F_20150920_bare", "2015-09-20", f[1], f[2], ndvi=0.15),
        S("N_20150210_cloud", "2015-02-10", n[1], n[2], cloud=0.6),
        S("N_20150710_cloud", "2015-07-10", n[1], n[2], cloud=0.9),
    ]


class World:
    """Files and items of the loopback world (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items = [srv.write_scene(root, spec, seed=i) for i, spec in enumerate(scenes())]
        for tile, bounds in (("DEM_S", (8.8, 49.8, 9.9, 50.0)), ("DEM_N", (8.8, 50.0, 9.9, 50.4))):
            self.items.append(
                srv.write_dem(root, tile, bounds, res_deg=1 / 1200, slope_pct=SLOPE_PCT)
            )
        fb = POINTS["fallback"]
        self.tc = srv.write_terraclimate(
            root / "tc", VARS, (8.8, 49.8, 9.9, 50.4), sea_cells=((fb[1], fb[2]),)
        )

    def points_csv(self, path: Path, names: tuple[str, ...]) -> Path:
        """A LUCAS-like table (UTF-8 with BOM) holding the named points."""
        rows = [
            f"{k + 1},{POINTS[n][0]},{POINTS[n][1]},{POINTS[n][2]},{10.0 + k},Cropland,DE"
            for k, n in enumerate(names)
        ]
        path.write_text(
            "\ufeffOID_,Point_ID,long,lat,OC,LC0_Desc,NUTS_0\n" + "\n".join(rows) + "\n",
            encoding="utf-8",
        )
        return path


def sources(server: srv.LoopbackServer, world: World, **kw) -> Sources:
    """Sources on the loopback server, unsigned unless ``signer=`` says otherwise."""
    kw.setdefault("signer", "none")
    return Sources(stac_url=server.stac_url, terraclimate_url=world.tc, **kw)


def run(world: World, server: srv.LoopbackServer, out: Path, names: tuple[str, ...], **kw):
    """:func:`acquire` for the named points with quick, quiet test defaults."""
    points = world.points_csv(out.parent / f"{out.name}_points.csv", names)
    kw.setdefault("variables", VARS)
    kw.setdefault("workers", 2)
    kw.setdefault("retry", FAST)
    kw.setdefault("progress", False)
    src = kw.pop("sources", None) or sources(server, world, signer=kw.pop("signer", "none"))
    return acquire(points, out, sources=src, **kw)


def manifest(out: Path):
    """The manifest of a data folder, indexed by Point_ID."""
    return read_manifest(out / "manifest.csv").set_index("Point_ID")


def nearest_cell_km(world: World, lon: float, lat: float) -> float:
    """Distance (km) from a point to the centre of its nearest TerraClimate cell."""
    import xarray as xr

    with xr.open_dataset(world.tc.format(var="pr"), engine="scipy") as ds:
        cell = ds.sel(lon=lon, lat=lat, method="nearest")
        dy = (float(cell.lat) - lat) * 111.195
        dx = (float(cell.lon) - lon) * 111.195 * np.cos(np.radians(lat))
    return float(np.hypot(dx, dy))


def dead_url(path: str = "") -> str:
    """A URL on 127.0.0.1 where nothing listens (a port bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}{path}"
