"""Command line: ``python -m soilnet <command>``.

Commands::

    twin         generate a synthetic twin in the real on-disk layout
    consolidate  read a data folder once into the workspace's content-addressed store
    split        write the random and spatial-block split files of that store
    train        train one variant on one split with one seed (under torchrun: N processes)
    runs         train a share of the book's network runs (--shard i/n; SLURM arrays, torchrun)
    map          predict chapter 7's map, over several processes under torchrun
    book         execute every chapter with papermill and build the Jupyter Book
    grid         write the map grid's land cells as a point table (to acquire a map's inputs)
    results      print the results tables of a finished book run as markdown
    acquire      build a real data folder from open archives (Landsat-8, Copernicus DEM, TerraClimate)
    audit        recompute the published results from a checkout of the authors' repository

Every command that uses settings takes ``--profile`` (default ``default``) and any number of
``--set section.field=VALUE`` overrides (see :mod:`soilnet.config`); its other flags are
shorthands for such overrides, so defaults always come from the profile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soilnet.errors import SoilNetError

PROFILE_NAMES = ("smoke", "default", "paper")


def _config(args, **flags):
    """The profile with the command's flags (None = not given) and ``--set`` applied."""
    from soilnet.config import parse_overrides, resolve

    given = {k: v for k, v in flags.items() if v is not None}
    return resolve(args.profile, {**given, **parse_overrides(args.set or [])})


def _work_dir(args) -> Path:
    from soilnet.workspace import REPO_ROOT

    return Path(args.work_dir) if args.work_dir else REPO_ROOT / "runs" / args.profile


def _twin(args) -> int:
    from soilnet.twin import write_twin

    config = _config(args, **{"twin.seed": args.seed, "twin.n_points": args.points})
    summary = write_twin(args.out, config.twin, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0


def _store_flags(args) -> dict:
    variables = None
    if args.no_climate:
        variables = []
    elif args.variables:
        variables = list(args.variables)
    return {
        "store.patch_size_px": args.size,
        "store.climate_variables": variables,
        "store.optical_only": True if args.optical_only else None,
        "store.on_missing": args.on_missing,
        "store.climate_id_column": args.climate_id_column,
        "store.missing_code_means": args.missing_code_means,
    }


def _months(values: list[str] | None) -> list[str] | None:
    """``--months`` as month labels: ``YYYYMMDD`` values, or ``FIRST:LAST`` ranges of month
    starts (``20100101:20141201``)."""
    if not values:
        return None
    import pandas as pd

    months = []
    for value in values:
        first, _, last = value.partition(":")
        bad = [m for m in (first, last) if m and not (len(m) == 8 and m.isdigit())]
        if bad or (last and not (first.endswith("01") and last.endswith("01"))):
            raise SoilNetError(
                f"--months takes YYYYMMDD labels or FIRST:LAST ranges of month starts (e.g. "
                f"20100101:20141201); got {value!r}."
            )
        if last:
            months += list(pd.date_range(first, last, freq="MS").strftime("%Y%m%d"))
        else:
            months.append(first)
    return months


def _selection(args) -> dict:
    """The reading options outside the profile: ``months`` and the point ``id_column``."""
    return {"months": _months(args.months), "id_column": args.id_column or "Point_ID"}


def _consolidate(args) -> int:
    from soilnet.store import consolidate

    config = _config(args, **_store_flags(args))
    store = consolidate(
        args.data, config.store, stores_dir=_work_dir(args) / "stores", progress=True,
        require_target=not args.no_target, **_selection(args),
    )  # fmt: skip
    print(
        f"{store.path}: {len(store)} points, images {store.images.shape}, "
        f"excluded {store.meta['n_excluded']}"
    )
    return 0


def _split_flags(args) -> dict:
    return {"split.seed": args.split_seed, "split.block_km": args.block_km, "split.k_folds": args.k}


def _split(args) -> int:
    from soilnet.splits import write_splits
    from soilnet.store import find_store

    config = _config(args, **_store_flags(args), **_split_flags(args))
    work = _work_dir(args)
    store = find_store(args.data, config.store, work / "stores", **_selection(args))
    print(write_splits(store, config.split, work / "splits"))
    return 0


def _train(args) -> int:
    """Train one run; inside ``torchrun --nproc-per-node N`` (WORLD_SIZE > 1) the N processes
    train it together with DistributedDataParallel (see :mod:`soilnet.trainer`)."""
    from dataclasses import replace

    from soilnet import distributed
    from soilnet.experiment import network_run_address
    from soilnet.splits import open_split, split_address
    from soilnet.store import find_store
    from soilnet.trainer import train

    if args.clip is not None and args.no_clip:
        raise SoilNetError("Give either --clip VALUE or --no-clip, not both.")
    flags = {
        "train.epochs": args.epochs, "train.batch_size": args.batch_size, "train.lr": args.lr,
        "train.schedule": args.schedule, "train.clip_g_per_kg": args.clip,
        "train.augment": False if args.no_augment else None, "train.patience": args.patience,
        "train.stem_maxpool": False if args.no_maxpool else None, "train.device": args.device,
        "train.weights_path": args.weights, "train.amp": False if args.no_amp else None,
    }  # fmt: skip
    config = _config(args, **_store_flags(args), **_split_flags(args), **flags)
    # The experiment's epochs for this variant and protocol, unless given for this run.
    run_config = config.run_config(args.variant, args.seed, args.split)
    if args.epochs is not None or any(s.startswith("train.epochs") for s in args.set or []):
        run_config = replace(run_config, epochs=config.train.epochs)
    if args.no_clip:
        run_config = replace(run_config, clip_g_per_kg=None)
    work = _work_dir(args)
    store = find_store(args.data, config.store, work / "stores", **_selection(args))
    split_dir = work / "splits" / split_address(store.fingerprint, config.split)
    if args.split == "spatial" and args.fold is None:
        raise SoilNetError("--split spatial needs --fold F (the test fold, 0-based).")
    split = open_split(split_dir, store, args.split, args.fold)
    out = (
        Path(args.out)
        if args.out
        else work
        / "runs"
        / network_run_address(store, split_dir, args.split, args.fold, run_config)
    )
    ctx = distributed.init_from_env(run_config.device)
    try:
        result = train(store, split, run_config, out, progress=True)
    finally:
        distributed.shutdown()
    if ctx.is_main:
        print(
            json.dumps(
                {"out": str(result.out_dir), "best_epoch": result.best_epoch,
                 "test": result.metrics["test"], "world_size": ctx.world_size},
                indent=2,
            )
        )  # fmt: skip
    return 0


def _book(args) -> int:
    from soilnet.runner import run_book

    chapters = [int(c) for c in args.chapters.split(",")] if args.chapters else None
    timings = run_book(
        args.profile,
        data_dir=args.data,
        work_dir=args.work_dir,
        device=args.device,
        overrides=args.set,
        chapters=chapters,
        grid_dir=args.grid,
        train=not args.no_train,
        html=not args.no_html,
    )
    print(json.dumps(timings, indent=2))
    return 0


def _runs(args) -> int:
    from soilnet.experiment import train_shard
    from soilnet.shards import Shard
    from soilnet.workspace import Study

    shard = Shard.parse(args.shard) if args.shard else Shard.from_env()
    _use_local_gpu()
    study = Study.open(args.profile, args.data, args.work_dir, args.set, args.device)
    done = train_shard(study, shard, log=lambda m: print(m, file=sys.stderr, flush=True))
    for key, path, how in done:
        print(f"{how:8s} {key.describe():55s} {path}")
    print(f"shard {shard}: {len(done)} run(s) finished", file=sys.stderr)
    return 0


def _map(args) -> int:
    from soilnet import distributed
    from soilnet.experiment import make_map
    from soilnet.workspace import Study

    context = distributed.init_from_env(args.device)
    try:
        study = Study.open(args.profile, args.data, args.work_dir, args.set, args.device)
        result, truth = make_map(study, args.grid)
        distributed.barrier()
    finally:
        distributed.shutdown()
    if context.is_main:
        if result is None:
            raise SoilNetError(
                f"{study.data_dir} is real data: a map needs grid points (python -m soilnet grid, "
                "then acquire; pass the folder with --grid)."
            )
        print(json.dumps({**result.to_dict(), "truth": str(truth) if truth else None}, indent=2))
    return 0


def _use_local_gpu() -> None:
    """Under torchrun on a multi-GPU machine, rank r trains on GPU LOCAL_RANK ("cuda" then means
    that device); without CUDA or LOCAL_RANK nothing changes."""
    import os

    if "LOCAL_RANK" not in os.environ:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())


def _grid(args) -> int:
    from soilnet.grid import grid_point_table
    from soilnet.io.atomic import atomic_path

    config = _config(args, **{"map.resolution_km": args.resolution_km})
    countries = args.countries.split(",") if args.countries else None
    table = grid_point_table(config.map.resolution_km * 1000.0, countries)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(
        f"{len(table):,} cells of the {config.map.resolution_km:g} km EPSG:3035 grid "
        f"({', '.join(sorted(set(table['NUTS_0'])))}) written to {args.out}; next: "
        f"python -m soilnet acquire --points {args.out} --out GRID, then "
        f"python -m soilnet book --data DATA --grid GRID --set map.resolution_km="
        f"{config.map.resolution_km:g}"
    )
    return 0


README_BEGIN = "<!-- results:begin (generated by python -m soilnet results --readme README.md) -->"
README_END = "<!-- results:end -->"


def _results(args) -> int:
    from soilnet.reporting import results_markdown
    from soilnet.workspace import Study

    study = Study.open(args.profile, args.data, args.work_dir, args.set)
    text = results_markdown(study)
    print(text)
    if args.readme:
        path = Path(args.readme)
        old = path.read_text()
        if README_BEGIN not in old or README_END not in old:
            raise SoilNetError(
                f"{path} has no results block; add the two lines {README_BEGIN!r} and "
                f"{README_END!r} where the tables go."
            )
        head, rest = old.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        path.write_text(f"{head}{README_BEGIN}\n{text}\n{README_END}{tail}")
        print(f"wrote the results block of {path}", file=sys.stderr)
    return 0


def _audit(args) -> int:
    from soilnet.audit import format_report, run_audit
    from soilnet.workspace import REPO_ROOT

    out = Path(args.out) if args.out else REPO_ROOT / "runs" / "audit"
    result = run_audit(args.reference, out, k=args.k)
    print(format_report(result))
    print(f"wrote tables, figures and report.md into {out}", file=sys.stderr)
    return 0


def _common(p, work_dir: bool = True) -> None:
    p.add_argument(
        "--profile", choices=PROFILE_NAMES, default="default", help="settings to start from"
    )
    p.add_argument(
        "--set", action="append", metavar="SECTION.FIELD=VALUE",
        help="override a setting, e.g. --set train.lr=3e-4 (repeatable; see soilnet.config)",
    )  # fmt: skip
    if work_dir:
        p.add_argument("--work-dir", help="the workspace (default runs/<profile>)")


def _store_args(p) -> None:
    p.add_argument("--size", type=int, help="model input size in pixels (store.patch_size_px)")
    p.add_argument("--variables", nargs="*", help="climate variables (default: those present)")
    p.add_argument("--no-climate", action="store_true")
    p.add_argument(
        "--optical-only", action="store_true",
        help="read the 12 optical bands (exports without topography)",
    )  # fmt: skip
    p.add_argument(
        "--on-missing", choices=["raise", "drop"],
        help="points with a problem: stop with an error (raise), or exclude and report them",
    )  # fmt: skip
    p.add_argument("--id-column", help="ID column of points.csv (default Point_ID)")
    p.add_argument("--climate-id-column", help="ID column of the climate CSVs (default Point_ID)")
    p.add_argument(
        "--months", nargs="+", metavar="MONTHS",
        help="climate months to keep: YYYYMMDD labels or FIRST:LAST ranges of month starts "
        "(default: all, which must agree across the climate files)",
    )  # fmt: skip
    p.add_argument(
        "--missing-code-means", choices=["missing", "zero"],
        help="how -999 in climate CSVs is read ('zero' for Earth Engine exports that wrote zeros as -999)",
    )  # fmt: skip


def _split_args(p) -> None:
    p.add_argument("--split-seed", type=int, help="seed of the split (split.seed)")
    p.add_argument("--block-km", type=float, help="spatial block side, km (split.block_km)")
    p.add_argument("--k", type=int, help="spatial folds (split.k_folds)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m soilnet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("twin", help="generate a synthetic twin")
    _common(p, work_dir=False)
    p.add_argument("--out", required=True, help="destination folder")
    p.add_argument("--seed", type=int, help="world seed (twin.seed)")
    p.add_argument("--points", type=int, help="number of points (twin.n_points)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_twin)

    p = sub.add_parser("consolidate", help="read a data folder into the workspace's store")
    p.add_argument("data")
    _common(p)
    _store_args(p)
    p.add_argument("--no-target", action="store_true", help="a prediction grid without OC")
    p.set_defaults(func=_consolidate)

    p = sub.add_parser("split", help="write random and spatial-block splits of the store")
    p.add_argument("data")
    _common(p)
    _store_args(p)
    _split_args(p)
    p.set_defaults(func=_split)

    p = sub.add_parser("train", help="train one variant")
    p.add_argument("--variant", required=True)
    p.add_argument("--data", required=True)
    _common(p)
    _store_args(p)
    _split_args(p)
    p.add_argument("--split", choices=["random", "spatial"], default="random")
    p.add_argument("--fold", type=int, help="test fold of the spatial split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default: the content-addressed runs/<address>)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--schedule", choices=["step", "cosine"])
    p.add_argument("--clip", type=float, help="clip targets at this SOC, g/kg (> 0; paper 87)")
    p.add_argument("--no-clip", action="store_true", help="train on unclipped SOC")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument(
        "--no-maxpool", action="store_true", help="drop the ResNet stem max-pool (small inputs)"
    )
    p.add_argument("--patience", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--no-amp",
        action="store_true",
        help="float32 on CUDA (default: bfloat16 autocast, channels_last, float16 images)",
    )
    p.add_argument("--weights", help="local torchvision ResNet state dict")
    p.set_defaults(func=_train)

    p = sub.add_parser("runs", help="train a share of the book's network runs (--shard i/n)")
    p.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE")
    p.add_argument("--work-dir", help="the workspace where chapter 1 ran (default runs/<profile>)")
    p.add_argument("--data", help="the data folder chapter 1 used (default: the twin)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument(
        "--shard", metavar="I/N",
        help="this job's share, 0-based (default: torchrun's RANK/WORLD_SIZE, else the SLURM "
        "array task, else all runs)",
    )  # fmt: skip
    p.set_defaults(func=_runs)

    p = sub.add_parser("map", help="predict chapter 7's map (split over ranks under torchrun)")
    p.add_argument("--profile", choices=PROFILE_NAMES, default="default")
    p.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE")
    p.add_argument(
        "--work-dir", help="the workspace where chapters 1-2 ran (default runs/<profile>)"
    )
    p.add_argument("--data", help="the data folder chapter 1 used (default: the twin)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--grid", help="a data folder of map grid points (needed for real data)")
    p.set_defaults(func=_map)

    p = sub.add_parser("book", help="execute the chapters and build the book")
    _common(p)
    p.add_argument("--data", help="a real data folder (default: the synthetic twin)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--chapters", help="comma-separated chapter numbers (default all)")
    p.add_argument("--no-html", action="store_true", help="execute only")
    p.add_argument(
        "--no-train", action="store_true",
        help="chapter 2 trains nothing: it collects the runs of `soilnet runs --shard i/n` jobs",
    )  # fmt: skip
    p.add_argument(
        "--grid", help="a data folder of map grid points (soilnet grid, then acquire): the map"
    )
    p.set_defaults(func=_book)

    p = sub.add_parser("grid", help="write the map grid's land cells as a point table")
    _common(p, work_dir=False)
    p.add_argument("--resolution-km", type=float, help="cell size, km (map.resolution_km)")
    p.add_argument("--countries", help="NUTS_0 codes to keep, comma separated (default EU-28)")
    p.add_argument("--out", required=True, help="the CSV to write (Point_ID, long, lat, ...)")
    p.set_defaults(func=_grid)

    p = sub.add_parser("results", help="print the results tables of a finished book run")
    _common(p)
    p.add_argument("--data", help="the data folder the run used (default: recorded by chapter 1)")
    p.add_argument("--readme", help="also write the tables into this file's results block")
    p.set_defaults(func=_results)

    p = sub.add_parser("audit", help="recompute the published results from the authors' repository")
    p.add_argument(
        "--reference", required=True,
        help="a checkout of github.com/moienr/SoilNet (results/*.csv, dataset/oc_fix/LUCAS_2015_all.csv)",
    )  # fmt: skip
    p.add_argument("--out", help="output folder (default runs/audit/)")
    p.add_argument("--k", type=int, default=20, help="neighbours of the geographic kNN")
    p.set_defaults(func=_audit)

    try:
        from soilnet.acquire.cli import add_acquire_parser
    except ImportError:  # pragma: no cover - acquisition is optional at import time
        pass
    else:
        add_acquire_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SoilNetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
