#!/usr/bin/env python
"""Benchmark of the twin's renderer: cells per second of both noise schemes (not a test).

``SyntheticWorld.render`` renders cells in small chunks (:data:`soilnet.twin.world.
RENDER_CHUNK_PIXELS`) on :data:`~soilnet.twin.world.RENDER_THREADS` threads. Three renderers
render the same cells of the 10 km map grid, alternately, for each patch size:

- "original": the renderer before batching, kept as ``_reference_render`` in
  ``tests/twin/test_render_batch.py`` and loaded from there (per-cell noise);
- "per-cell": today's renderer with ``TwinConfig.noise = "per-cell"`` (the default; smoke and
  default twins), checked bit-identical to the original;
- "counter": ``noise = "counter"`` (:mod:`soilnet.twin.fields`; the paper twin), checked
  bit-identical between the whole batch and its first cells rendered one at a time.

It prints the median rate over the rounds, the speed-ups over the original and the projected
time of the 1 km Europe map (``--map-cells`` land cells, default 4.4 M) on this CPU. A second
table splits each scheme's time per cell, rendering on one thread, into its stages: the noise
(draws and smoothing), reflectance, the indices and band copies, the compiled pixel kernel
that replaces those two under ``"counter"`` and slope (:mod:`soilnet.twin.kernels`; checked
bit-identical to numpy's path, which a last row times), slope, clouds, the rest of the pixel
work (land cover, patch statistics), climate, and the per-cell values (regional fields, latent
values, reference columns). A third table compares, for ``"counter"``, one
thread, the renderer's threads and a :class:`soilnet.twin.pool.RenderPool` of ``--processes``
workers (bit-identical, checked).

Usage::

    python benchmarks/twin_render.py                    # 32 and 64 px, 512 cells, 3 rounds
    python benchmarks/twin_render.py --sizes 64 --cells 256 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import importlib.util
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# Run from a checkout without installing the package: the repository root goes on sys.path.
sys.path.insert(0, str(ROOT))

import soilnet.twin.kernels as kernels_module  # noqa: E402
import soilnet.twin.surface as surface_module  # noqa: E402
import soilnet.twin.world as world_module  # noqa: E402
from soilnet.grid import grid_cells  # noqa: E402
from soilnet.twin import TWINS, SyntheticWorld  # noqa: E402
from soilnet.twin.pool import RenderPool  # noqa: E402

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


def first(r, k: int):
    """The first ``k`` cells of a render."""
    return type(r)(r.image[:k], r.climate[:k], r.latent.iloc[:k].reset_index(drop=True))


def one_by_one(world, x, y):
    parts = [world.render(x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
    return type(parts[0])(
        np.concatenate([p.image for p in parts]),
        np.concatenate([p.climate for p in parts]),
        pd.concat([p.latent for p in parts], ignore_index=True),
    )


def hours(cells: int, rate: float) -> str:
    return f"{cells / rate / 3600:,.1f} h"


#: Stages of the per-stage table: (column, object, attribute of the function it times).
#: Nested calls count in the innermost stage only (slope runs inside patch_image).
STAGES = (
    ("noise", world_module, "counter_noise"),
    ("noise", world_module, "smooth_unit"),
    ("noise", SyntheticWorld, "_point_draws"),
    ("reflectance", world_module, "reflectance"),
    ("indices, bands", world_module, "patch_image"),
    ("fused pixels", kernels_module, "float32_pixels"),
    ("slope", surface_module, "slope_percent"),
    ("clouds", world_module, "add_clouds"),
    ("pixels, other", SyntheticWorld, "_render_pixels"),
    ("climate", SyntheticWorld, "_climate"),
)
STAGE_NAMES = tuple(dict.fromkeys(name for name, _, _ in STAGES)) + ("per-cell values",)


@contextlib.contextmanager
def stage_timers(seconds: dict[str, float]):
    """Time the :data:`STAGES` functions into ``seconds`` (exclusive of nested stages)."""
    stack: list[float] = []  # time spent in nested stages, per open stage

    def timed_stage(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            stack.append(0.0)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                nested = stack.pop()
                seconds[name] = seconds.get(name, 0.0) + spent - nested
                if stack:
                    stack[-1] += spent

        return wrapper

    saved = [(obj, attr, getattr(obj, attr)) for _, obj, attr in STAGES]
    try:
        for name, obj, attr in STAGES:
            setattr(obj, attr, timed_stage(name, getattr(obj, attr)))
        yield seconds
    finally:
        for obj, attr, fn in saved:
            setattr(obj, attr, fn)


def stage_row(world, x, y, size: int, fused: bool = True) -> str:
    """One row of the per-stage table: ms per cell of each stage, rendering on one thread
    (``fused=False``: float32 pixels by the numpy path instead of the compiled kernel)."""
    with renderer_settings(RENDER_THREADS=1, FUSED_PIXELS=fused), stage_timers({}) as seconds:
        t_all, _ = timed(lambda: world.render(x, y))
    # The rest: regional fields, latent values and the reference columns, per batch.
    seconds["per-cell values"] = t_all - sum(seconds.values())
    ms = 1e3 / len(x)
    cols = " | ".join(f"{seconds.get(name, 0.0) * ms:.3f}" for name in STAGE_NAMES)
    label = world.config.noise + ("" if fused or world.config.noise != "counter" else ", numpy")
    return f"| {size} | {label} | {cols} | {t_all * ms:.3f} |"


@contextlib.contextmanager
def renderer_settings(**settings):
    """Set :mod:`soilnet.twin.world`'s module settings (``RENDER_THREADS``, ``FUSED_PIXELS``)
    for the block, and restore them."""
    saved = {name: getattr(world_module, name) for name in settings}
    try:
        for name, value in settings.items():
            setattr(world_module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(world_module, name, value)


def numpy_pixels(world, x, y):
    """``world.render`` with float32 pixels by the numpy path, not the compiled kernel."""
    with renderer_settings(FUSED_PIXELS=False):
        return world.render(x, y)


def bench_size(size: int, x, y, args, old_render) -> tuple[str | None, str, str | None]:
    """(row of the rate table or None if a check fails, rows of the parts table, row of the
    threads-or-processes table)."""
    profile = PROFILE_OF_SIZE.get(size, "paper")
    base = replace(TWINS[profile], patch_size_px=size)
    worlds = {
        noise: SyntheticWorld(replace(base, noise=noise)) for noise in ("per-cell", "counter")
    }
    for w in worlds.values():
        w.render(x[:8], y[:8])  # warm-up
    rates = {"original": [], "per-cell": [], "counter": []}
    for _ in range(args.rounds):
        w = worlds["per-cell"]
        t_old, old = timed(lambda w=w: old_render(w, x, y, with_climate=True, standardised=True))
        t_new, new = timed(lambda w=w: w.render(x, y))
        t_ctr, ctr = timed(lambda: worlds["counter"].render(x, y))
        if not same(old, new):
            print(f"ERROR: {size} px: per-cell batched differs from the original", file=sys.stderr)
            return None, "", None
        rates["original"].append(args.cells / t_old)
        rates["per-cell"].append(args.cells / t_new)
        rates["counter"].append(args.cells / t_ctr)
    k = min(16, args.cells)
    if not same(first(ctr, k), one_by_one(worlds["counter"], x[:k], y[:k])):
        print(f"ERROR: {size} px: counter cells differ alone and in a batch", file=sys.stderr)
        return None, "", None
    if not same(ctr, numpy_pixels(worlds["counter"], x, y)):
        print(f"ERROR: {size} px: the compiled pixels differ from numpy's", file=sys.stderr)
        return None, "", None
    del old, new, ctr
    r = {name: statistics.median(v) for name, v in rates.items()}
    row = (
        f"| {size} | {profile} | {r['original']:,.0f} | {r['per-cell']:,.0f} "
        f"| {r['per-cell'] / r['original']:.1f}x | {r['counter']:,.0f} "
        f"| {r['counter'] / r['original']:.1f}x | {hours(args.map_cells, r['original'])} "
        f"| {hours(args.map_cells, r['per-cell'])} | {hours(args.map_cells, r['counter'])} |"
    )
    # Where each scheme's time goes, on one thread.
    parts = [stage_row(w, x, y, size) for w in worlds.values()]
    parts.append(stage_row(worlds["counter"], x, y, size, fused=False))
    workers = workers_row(worlds["counter"], x, y, size, args, r)
    return (row if workers else None), "\n".join(parts), workers


def workers_row(world, x, y, size: int, args, r: dict) -> str | None:
    """One row of the threads-or-processes table (counter scheme), or None if a check fails."""
    with renderer_settings(RENDER_THREADS=1):
        one = [args.cells / timed(lambda: world.render(x, y))[0] for _ in range(args.rounds)]
    with RenderPool(world, args.processes) as pool:
        # Start the workers and map both segments a caller that holds the last batch while
        # asking for the next (as here, and as the map's loop) alternates between.
        warm = [pool.render(x, y) for _ in range(2)]
        del warm
        seconds = []
        for _ in range(args.rounds):  # each batch dropped before the next, as the map does
            t, rendered = timed(lambda: pool.render(x, y))
            seconds.append(t)
        processes = pool.processes
        if not same(rendered, world.render(x, y)):
            print(f"ERROR: {size} px: the render pool differs from one process", file=sys.stderr)
            return None
        del rendered
    pooled = statistics.median(args.cells / t for t in seconds)
    one_rate = statistics.median(one)
    return (
        f"| {size} | {one_rate:,.0f} | {r['counter']:,.0f} ({world_module.RENDER_THREADS}) "
        f"| {pooled:,.0f} ({processes}) | {pooled / one_rate:.1f}x "
        f"| {pooled / r['original']:.1f}x | {hours(args.map_cells, pooled)} |"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--cells", type=int, default=512, help="cells per render call")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per renderer")
    parser.add_argument("--map-cells", type=int, default=MAP_CELLS_1KM)
    parser.add_argument(
        "--processes", type=int, default=0, help="render pool workers (0: one per CPU core)"
    )
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

    rows, parts, workers = [], [], []
    for size in args.sizes:
        row, part, worker = bench_size(size, x, y, args, old_render)
        if row is None:
            return 1
        rows.append(row)
        parts.append(part)
        workers.append(worker)

    print(f"## Cells per second ({args.map_cells / 1e6:.1f} M-cell 1 km Europe map projected)\n")
    print(
        "| patch (px) | profile | original (cells/s) | per-cell (cells/s) | speed-up "
        "| counter (cells/s) | speed-up | 1 km map, original | 1 km map, per-cell "
        "| 1 km map, counter |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print("\n## Where each scheme's time goes (one thread, ms per cell)\n")
    print(f"| patch (px) | noise scheme | {' | '.join(STAGE_NAMES)} | whole |")
    print("|---:|---|" + "---:|" * (len(STAGE_NAMES) + 1))
    print("\n".join(parts))
    print("\n## Threads or worker processes (counter scheme, cells/s)\n")
    print(
        "| patch (px) | one thread | threads (n) | worker processes (n) | over one thread "
        "| over the original | 1 km map |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(workers))
    print(
        f"\nLoad average at end: {os.getloadavg()[0]:.2f} (1 min). "
        f"Total wall time {time.perf_counter() - wall:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
