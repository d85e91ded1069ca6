#!/usr/bin/env python
"""Benchmark of the data layer: twin generation, consolidation, batch reads (not a test).

For each twin profile (:data:`soilnet.twin.TWINS`) it measures, in one run:

- generation time and disk size of the twin (``write_twin`` into ``<out>/twin-<profile>``);
- consolidation time into the content-addressed store under ``<out>/twin-<profile>-work/stores``
  (the twin folder is only read) and the time of a second, no-op consolidation;
- batch read throughput (samples/s, batches of 32 random indices) of the consolidated store
  (a gather from the memory-mapped ``images.npy``) against reopening each GeoTIFF per sample
  (``read_patch`` + ``fill_nan`` + ``resample_patch``), side by side, and their ratio.

Both readers produce the same float32 (32, C, S, S) image batch; files are in the page cache
for both (they were just written), so the ratio measures the per-sample decoding and
resampling that the store removes, not disk speed. The script prints a markdown table and
exits with status 1 if the store is less than 20x faster than per-file reads.

Usage::

    python benchmarks/data_layer.py                      # smoke and default, in a temp folder
    python benchmarks/data_layer.py --out /tmp/bench --profiles smoke default
    python benchmarks/data_layer.py --profiles smoke   # a quick check (400 points, ~15 s)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# Run from a checkout without installing the package: the repository root goes on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soilnet.config import StoreConfig  # noqa: E402
from soilnet.io.patches import fill_nan, read_patch, resample_patch  # noqa: E402
from soilnet.store import Store, consolidate  # noqa: E402
from soilnet.twin import TWINS as PROFILES  # noqa: E402
from soilnet.twin import write_twin  # noqa: E402

#: The store must deliver batches at least this many times faster than per-file reads.
REQUIRED_SPEEDUP = 20.0


def disk_bytes(root: Path, exclude: str | None = None) -> tuple[int, int]:
    """(total bytes, number of files) under ``root``, skipping the subfolder ``exclude``."""
    total = count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if exclude and exclude in dirnames:
            dirnames.remove(exclude)
        for name in filenames:
            total += (Path(dirpath) / name).stat().st_size
            count += 1
    return total, count


def store_batches_per_s(store: Store, batches: list[np.ndarray]) -> float:
    """Samples per second of memmap gathers (sorted indices, as a sampler would pass them)."""
    start = time.perf_counter()
    for idx in batches:
        batch = torch.from_numpy(np.asarray(store.images[np.sort(idx)], dtype=np.float32))
        assert batch.shape[0] == len(idx)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def file_batches_per_s(store: Store, paths: list[Path], batches: list[np.ndarray]) -> float:
    """Samples per second of reading, NaN-filling and resampling one GeoTIFF per sample."""
    bands, size = store.band_names, store.size_px
    start = time.perf_counter()
    for idx in batches:
        images = []
        for i in idx:
            data, _ = fill_nan(read_patch(paths[i], bands).data, paths[i])
            images.append(resample_patch(data, size))
        batch = torch.from_numpy(np.stack(images))
        assert batch.shape[0] == len(idx)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def run_profile(name: str, out: Path, size_px: int | None, batch_size: int, seed: int) -> dict:
    config = PROFILES[name]
    twin = out / f"twin-{name}"
    # Derived files (the stores) go to a work folder beside the twin, never inside it.
    work = out / f"twin-{name}-work"
    if twin.exists():
        if not (twin / "twin.json").is_file():
            raise SystemExit(f"{twin} exists and is not a twin folder; choose another --out.")
        shutil.rmtree(twin)  # measure a fresh generation
    if work.exists():
        if any(p.name != "stores" for p in work.iterdir()):
            raise SystemExit(
                f"{work} holds more than this benchmark's stores; choose another --out."
            )
        shutil.rmtree(work)  # measure a fresh consolidation
    stores_dir = work / "stores"
    start = time.perf_counter()
    write_twin(twin, config)
    generation_s = time.perf_counter() - start
    size_bytes, n_files = disk_bytes(twin)

    size = size_px or config.patch_size_px
    store_config = StoreConfig(patch_size_px=size)
    start = time.perf_counter()
    store = consolidate(twin, store_config, stores_dir=stores_dir)
    consolidation_s = time.perf_counter() - start
    start = time.perf_counter()
    again = consolidate(twin, store_config, stores_dir=stores_dir)
    rerun_s = time.perf_counter() - start
    assert again.fingerprint == store.fingerprint
    store_bytes, _ = disk_bytes(store.path)

    rng = np.random.default_rng(seed)
    n = len(store)
    paths = [next((twin / "patches").glob(f"{pid}_*.tif")) for pid in store.point_ids]
    file_batches = [rng.choice(n, batch_size, replace=False) for _ in range(8)]
    store_batches = [rng.choice(n, batch_size, replace=False) for _ in range(400)]
    file_batches_per_s(store, paths, file_batches[:1])  # warm-up (imports, first file opens)
    store_batches_per_s(store, store_batches[:10])
    per_file = file_batches_per_s(store, paths, file_batches)
    from_store = store_batches_per_s(store, store_batches)
    return {
        "profile": name,
        "points": n,
        "patch_px": config.patch_size_px,
        "store_px": size,
        "generation_s": generation_s,
        "disk_mb": size_bytes / 1e6,
        "files": n_files,
        "consolidation_s": consolidation_s,
        "rerun_s": rerun_s,
        "store_mb": store_bytes / 1e6,
        "store_sps": from_store,
        "file_sps": per_file,
        "ratio": from_store / per_file,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| profile | points | patch px | generation (s) | twin on disk (MB, files) | "
        "consolidation (s) | no-op re-run (s) | store (MB) | store read (samples/s) | "
        "per-file read (samples/s) | store / per-file |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['profile']} | {r['points']:,} | {r['patch_px']} | {r['generation_s']:.1f} | "
            f"{r['disk_mb']:.1f} ({r['files']:,}) | {r['consolidation_s']:.1f} | {r['rerun_s']:.2f} | "
            f"{r['store_mb']:.1f} | {r['store_sps']:,.0f} | {r['file_sps']:,.0f} | "
            f"{r['ratio']:,.0f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the twins (default: a temporary one)"
    )
    parser.add_argument(
        "--profiles", nargs="+", default=["smoke", "default"], choices=sorted(PROFILES)
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="store size in px (default: the profile's patch size)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="soilnet-bench-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        rows = [run_profile(p, out, args.size, args.batch_size, args.seed) for p in args.profiles]

    command = "python benchmarks/data_layer.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    print(f"Command: `{command.strip()}`")
    print(
        f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; machine: {platform.machine()} "
        f"{platform.processor() or ''}".rstrip()
        + f", {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, {platform.system()}"
    )
    print(
        f"Load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(other jobs on the machine slow every column)."
    )
    print(
        f"Batches of {args.batch_size} random indices; files in the page cache for both readers.\n"
    )
    print(table(rows))
    slowest = min(r["ratio"] for r in rows)
    ok = slowest >= REQUIRED_SPEEDUP
    print(
        f"\nStore vs per-file reads: at least {slowest:,.0f}x faster "
        f"({'meets' if ok else 'FAILS'} the required {REQUIRED_SPEEDUP:.0f}x)."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
