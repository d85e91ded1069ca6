"""Command line: ``python -m soilnet <command>``.

Commands::

    twin         generate a synthetic twin in the real on-disk layout
    consolidate  read a data folder once into the memory-mappable store
    split        write the random and spatial-block split files
    train        train one variant on one split with one seed
    book         execute every chapter with papermill and build the Jupyter Book
    results      print the results tables of a finished book run as markdown
    acquire      build a real data folder from open archives (Landsat-8, Copernicus DEM, TerraClimate)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soilnet.errors import SoilNetError


def _twin(args) -> int:
    from dataclasses import replace

    from soilnet.synthetic import PROFILES, write_twin

    config = PROFILES[args.profile]
    if args.seed is not None:
        config = replace(config, seed=args.seed)
    if args.points is not None:
        config = replace(config, n_points=args.points)
    summary = write_twin(args.out, config, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0


def _consolidate(args) -> int:
    from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES, OPTICAL_BANDS
    from soilnet.store import consolidate

    variables = None if args.no_climate else tuple(args.variables or CLIMATE_VARIABLES)
    store = consolidate(
        args.data,
        args.size,
        bands=OPTICAL_BANDS if args.optical_only else BAND_NAMES,
        variables=variables,
        on_missing=args.on_missing,
        climate_id_column=args.climate_id_column,
        missing_code_means=args.missing_code_means,
        progress=True,
    )
    print(
        f"{store.path}: {len(store)} points, images {store.images.shape}, excluded {store.meta['n_excluded']}"
    )
    return 0


def _split(args) -> int:
    from soilnet.splits import write_splits
    from soilnet.store import Store

    store = Store.open(Path(args.data) / "store" / f"{args.size}px")
    paths = write_splits(
        args.data,
        store.point_ids,
        store.index[["x_3035", "y_3035"]].to_numpy(),
        seed=args.seed,
        block_km=args.block_km,
        k=args.k,
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _train(args) -> int:
    from soilnet.splits import load_split
    from soilnet.store import Store
    from soilnet.trainer import TrainConfig, train

    store = Store.open(Path(args.data) / "store" / f"{args.size}px")
    split_path = Path(args.split)
    if not split_path.suffix:
        candidates = sorted((Path(args.data) / "splits").glob(f"{args.split}_*.csv"))
        if not candidates:
            raise SoilNetError(
                f"No split file {args.split}_*.csv under {Path(args.data) / 'splits'}; run `python -m soilnet split`."
            )
        split_path = candidates[0]
    split = load_split(split_path, store.point_ids, fold=args.fold)
    config = TrainConfig(
        variant=args.variant,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        clip_g_per_kg=None if args.no_clip else args.clip,
        augment=not args.no_augment,
        patience=args.patience,
        stem_maxpool=not args.no_maxpool,
        seed=args.seed,
        device=args.device,
        weights_path=args.weights,
    )
    result = train(store, split, config, args.out, progress=True)
    print(
        json.dumps(
            {
                "out": str(result.out_dir),
                "best_epoch": result.best_epoch,
                "test": result.metrics["test"],
            },
            indent=2,
        )
    )
    return 0


def _book(args) -> int:
    from soilnet.runner import run_book

    chapters = [int(c) for c in args.chapters.split(",")] if args.chapters else None
    timings = run_book(
        args.profile,
        data_dir=args.data,
        work_dir=args.work_dir,
        device=args.device,
        chapters=chapters,
        html=not args.no_html,
    )
    print(json.dumps(timings, indent=2))
    return 0


def _results(args) -> int:
    from soilnet.study import Study, ranking_check, results_table

    study = Study.from_params(profile=args.profile, work_dir=args.work_dir, data_dir=args.data)
    for protocol in ("random", "spatial"):
        print(f"### {protocol} split ({study.profile.name} profile, {study.data_dir.name})\n")
        print(results_table(study, protocol).drop(columns="key").to_markdown(index=False))
        print()
    print("### Hybrid against CNN-only variants and the paper's RF, test RMSE per seed\n")
    print(ranking_check(study).round(2).to_markdown(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m soilnet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("twin", help="generate a synthetic twin")
    p.add_argument("--profile", choices=["smoke", "default", "paper"], default="default")
    p.add_argument("--out", required=True, help="destination folder")
    p.add_argument("--seed", type=int)
    p.add_argument("--points", type=int, help="override the number of points")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_twin)

    p = sub.add_parser("consolidate", help="read a data folder into the store")
    p.add_argument("data")
    p.add_argument("--size", type=int, default=32, help="model input size in pixels")
    p.add_argument("--variables", nargs="*", help="climate variables (default all 14)")
    p.add_argument("--no-climate", action="store_true")
    p.add_argument(
        "--optical-only",
        action="store_true",
        help="read the 12 optical bands (exports without topography)",
    )
    p.add_argument("--on-missing", choices=["raise", "drop"], default="raise")
    p.add_argument("--climate-id-column", default="Point_ID", help="ID column of the climate CSVs")
    p.add_argument(
        "--missing-code-means",
        choices=["missing", "zero"],
        default="missing",
        help="how -999 in climate CSVs is read ('zero' for Earth Engine exports that wrote zeros as -999)",
    )
    p.set_defaults(func=_consolidate)

    p = sub.add_parser("split", help="write random and spatial-block splits")
    p.add_argument("data")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--block-km", type=float, default=100.0)
    p.add_argument("--k", type=int, default=5)
    p.set_defaults(func=_split)

    p = sub.add_parser("train", help="train one variant")
    p.add_argument("--variant", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="random", help="'random', 'spatial' or a split CSV path")
    p.add_argument("--fold", type=int, help="test fold of a spatial split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--schedule", choices=["step", "cosine"], default="step")
    p.add_argument("--clip", type=float, default=87.0, help="clip targets at this SOC (g/kg)")
    p.add_argument("--no-clip", action="store_true")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument(
        "--no-maxpool", action="store_true", help="drop the ResNet stem max-pool (small inputs)"
    )
    p.add_argument("--patience", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--weights", help="local torchvision ResNet state dict")
    p.set_defaults(func=_train)

    p = sub.add_parser("book", help="execute the chapters and build the book")
    p.add_argument("--profile", choices=["smoke", "default", "paper"], default="default")
    p.add_argument("--data", help="a real data folder (default: the synthetic twin)")
    p.add_argument("--work-dir", help="chapter outputs (default runs/<profile>)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--chapters", help="comma-separated chapter numbers (default all)")
    p.add_argument("--no-html", action="store_true", help="execute only")
    p.set_defaults(func=_book)

    p = sub.add_parser("results", help="print the results tables of a finished book run")
    p.add_argument("--profile", choices=["smoke", "default", "paper"], default="default")
    p.add_argument("--data", help="the data folder the run used (default: recorded by chapter 1)")
    p.add_argument("--work-dir", help="chapter outputs (default runs/<profile>)")
    p.set_defaults(func=_results)

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
