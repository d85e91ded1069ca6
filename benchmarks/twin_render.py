#!/usr/bin/env python
"""Benchmark of the twin's renderer: cells per second, before and after batching (not a test).

``SyntheticWorld.render`` renders cells in small chunks (:data:`soilnet.twin.world.
RENDER_CHUNK_PIXELS`) on :data:`~soilnet.twin.world.RENDER_THREADS` threads, with per-band
reflectance and all-patch indices. "before" is the original renderer, kept as
``_reference_render`` in ``tests/twin/test_render_batch.py`` (the test that holds the two to
bit-identical output) and loaded from there. For each patch size the script renders the same
cells of the 10 km map grid with both, alternately, checks the outputs are bit-identical, and
prints the median rate over the rounds, the speed-up and the projected time of the 1 km Europe
map (``--map-cells`` land cells, default 4.4 M) for that profile on this CPU.

A second table splits the batched renderer's time per cell into its parts that no batching
removes: the location-seeded draws (one numpy generator per cell, 11 x S x S standard normals:
the random streams that keep written twins unchanged) and the Gaussian smoothing of those
fields (scipy.ndimage, whose operation order the output is bit-identical to).

Usage::

    python benchmarks/twin_render.py                    # 32 and 64 px, 512 cells, 3 rounds
    python benchmarks/twin_render.py --sizes 64 --cells 256 --rounds 5
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Run from a checkout without installing the package: the repository root goes on sys.path.
sys.path.insert(0, str(ROOT))

import soilnet.twin.world as world_module  # noqa: E402
from soilnet.grid import grid_cells  # noqa: E402
from soilnet.twin import TWINS, SyntheticWorld  # noqa: E402
from soilnet.twin.surface import LAND_COVER, smooth_unit  # noqa: E402

#: Land cells of the 1 km Europe map grid (``grid_cells(1000)``), about 4.4 million.
MAP_CELLS_1KM = 4_400_000
#: The profile whose patch size each benchmarked size stands for.
PROFILE_OF_SIZE = {32: "default", 64: "paper"}


def reference_render():
    """The original renderer, from the test that compares it with the batched one."""
    path = ROOT / "tests" / "twin" / "test_render_batch.py"
    spec = importlib.util.spec_from_file_location("_twin_render_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._reference_render


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def same(a, b) -> bool:
    return (
        np.array_equal(a.image.view(np.uint32), b.image.view(np.uint32))
        and np.array_equal(a.climate, b.climate)
        and a.latent.equals(b.latent)
    )


def hours(cells: int, rate: float) -> str:
    return f"{cells / rate / 3600:,.1f} h"


def bench_size(size: int, x, y, args, old_render) -> tuple[str | None, str]:
    """(row of the rate table or None if outputs differ, row of the parts table)."""
    profile = PROFILE_OF_SIZE.get(size, "paper")
    world = SyntheticWorld(replace(TWINS[profile], patch_size_px=size))
    world.render(x[:8], y[:8])  # warm-up
    before, after = [], []
    for _ in range(args.rounds):
        t_old, old = timed(lambda: old_render(world, x, y, with_climate=True, standardised=True))
        t_new, new = timed(lambda: world.render(x, y))
        if not same(old, new):
            return None, ""
        before.append(args.cells / t_old)
        after.append(args.cells / t_new)
    del old, new
    r_old, r_new = statistics.median(before), statistics.median(after)
    row = (
        f"| {size} | {profile} | {r_old:,.0f} | {r_new:,.0f} | {r_new / r_old:.1f}x "
        f"| {hours(args.map_cells, r_old)} | {hours(args.map_cells, r_new)} | yes |"
    )
    # Parts of the batched renderer that stay: the seeded draws and the smoothing.
    n_cls = len(LAND_COVER)
    t_draw, (white, _) = timed(lambda: world._point_draws(x, y))

    def smooth():
        smooth_unit(white[:, :n_cls], 3.0)
        smooth_unit(white[:, n_cls:], 4.0)
        smooth_unit(white[:, n_cls + 4 : n_cls + 5], 0.5)

    t_smooth, _ = timed(smooth)
    ms = 1e3 / args.cells
    part = (
        f"| {size} | {t_draw * ms:.2f} | {t_smooth * ms:.2f} | {ms / r_new * args.cells:.2f} "
        f"| {args.cells / (t_draw + t_smooth):,.0f} |"
    )
    return row, part


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--cells", type=int, default=512, help="cells per render call")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per renderer")
    parser.add_argument("--map-cells", type=int, default=MAP_CELLS_1KM)
    args = parser.parse_args(argv)

    old_render = reference_render()
    wall = time.perf_counter()
    print("# SoilNet twin rendering benchmark\n")
    print(f"- date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}")
    print(f"- arguments: `{' '.join(argv if argv is not None else sys.argv[1:]) or '(defaults)'}`")
    print(
        f"- machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    print(
        f"- renderer: {world_module.RENDER_THREADS} thread(s), chunks of "
        f"{world_module.RENDER_CHUNK_PIXELS:,} pixels"
    )
    print(f"- load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    x_all, y_all = grid_cells(10_000)
    pick = np.random.default_rng(0).choice(len(x_all), args.cells, replace=False)
    x, y = x_all[pick], y_all[pick]
    print(f"- cells: {args.cells} cells of the 10 km map grid per call, {args.rounds} rounds\n")

    rows, parts = [], []
    for size in args.sizes:
        row, part = bench_size(size, x, y, args, old_render)
        if row is None:
            print(f"ERROR: {size} px: batched rendering differs from the original", file=sys.stderr)
            return 1
        rows.append(row)
        parts.append(part)

    print(f"## Cells per second ({args.map_cells / 1e6:.1f} M-cell 1 km Europe map projected)\n")
    print(
        "| patch (px) | profile | before (cells/s) | after (cells/s) | speed-up "
        "| 1 km map, before | 1 km map, after | bit-identical |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print("\n## Where the batched renderer's time goes (single thread, per cell)\n")
    print(
        "| patch (px) | seeded draws (ms) | Gaussian smoothing (ms) | whole render, "
        "threaded (ms) | ceiling of draws + smoothing on one core (cells/s) |"
    )
    print("|---:|---:|---:|---:|---:|")
    print("\n".join(parts))
    print(
        f"\nLoad average at end: {os.getloadavg()[0]:.2f} (1 min). "
        f"Total wall time {time.perf_counter() - wall:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
