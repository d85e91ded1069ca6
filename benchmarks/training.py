"""Training and inference speed of the SoilNet variants, and Random Forest fit time.

Prints markdown tables (paste them into ``benchmarks/README.md``):

1. Training step time per variant at batch 32 for 32x32 and 64x64 inputs, on the CPU, measured
   on the trainer's own batch path (:func:`soilnet.trainer.train`): a gather from the
   normalised in-memory tensors of :func:`soilnet.dataset.load_tensors`, the random flips and
   90-degree rotations of :func:`soilnet.transforms.random_dihedral`, forward, RMSE loss on the
   scaled target, backward and an Adam step. "batch prep" is the share of the step spent on the
   gather and the augmentation (the trainer has no loader to wait for; the issue's target is
   under 5 %). Both are medians over the timed steps (robust to a busy neighbour process).
2. Inference throughput of :func:`soilnet.inference.predict` (batches of 256, median over them).
3. Random Forest fit time (the paper's RF and the strong RF of :mod:`soilnet.baselines`) on the
   default twin's training split.
4. With CUDA, table 1 and 2 again on the GPU, mixed precision (bfloat16 autocast and
   channels_last, as the trainer) on and off. Without CUDA it prints ``GPU: none``.
5. The device-resident training path (:func:`soilnet.trainer.train_epoch` on tensors held on
   the training device: float16 images with mixed precision, batches and flips/rotations drawn
   there) for ResNet-101-GLAM+LSTM at 64 px: training samples/s in float32 eager, with bfloat16
   autocast + channels_last (the trainer's default on CUDA) and, optionally, with
   ``torch.compile`` as well; then the epoch time of the paper profile
   (``soilnet.config.PROFILES["paper"]``: its twin's points, split fractions and batch size) and
   the projected wall time of all its network runs (variants x seeds under the random split,
   spatial variants x seeds x folds under spatial CV, each with its epochs; epoch = training at
   the measured rate + validation at the measured inference rate; plus one prediction of every
   point per run). Without CUDA the same rows on the CPU (float32 only).

ResNet-18 variants use ``stem_maxpool=False`` at 32 px (the CPU profile) and the paper's stem
at 64 px; ResNet-101 variants always use the paper's stem. The data is the default twin
(``soilnet.twin.TWINS["default"]``: 5,000 points, 32 px patches), written once into
``--data`` and consolidated at 32 px and at 64 px (resampled) into ``--work-dir`` (default:
``<data>-work`` beside the twin; the twin folder is only read), with the paper's random
70/10/20 split (seed 0) of each store; all are reused when present.

``--quick`` only checks that the script works: a 300-point twin (default ``--data``
``/tmp/soilnet-quick-twin``), 2 timed steps (1 for ResNet-101), 64 inference samples, one
torch thread unless ``--threads`` is given. Its numbers are not benchmarks.

Usage::

    python benchmarks/training.py [--data /tmp/soilnet-default-twin] [--work-dir DIR] [--threads N]
    python benchmarks/training.py --quick
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from soilnet import trainer
from soilnet.baselines import fit_predict_baselines
from soilnet.config import PROFILES, SplitConfig, StoreConfig, StudyConfig, TrainConfig
from soilnet.dataset import TargetTransform, load_tensors, point_arrays
from soilnet.inference import predict
from soilnet.models import VARIANTS, count_parameters
from soilnet.splits import Split, open_split, write_splits
from soilnet.store import Store, consolidate
from soilnet.trainer import prepare_batch
from soilnet.transforms import Normalization
from soilnet.twin import TWINS, TwinConfig, write_twin

BENCH_VARIANTS = (
    "resnet18",
    "resnet18_glam",
    "resnet18_glam_lstm",
    "resnet101",
    "resnet101_glam",
    "resnet101_glam_lstm",
    "lstm",
)
SIZES = (32, 64)
BATCH = 32
INFER_BATCH = 256
#: The paper's target transform: SOC clipped at 87 g/kg, trained on SOC / 87.
TARGET = TargetTransform(87.0)
#: The twin of ``--quick`` (a check that the script runs, not a benchmark).
QUICK_TWIN = dataclasses.replace(TWINS["smoke"], n_points=300)
QUICK_DATA = Path("/tmp/soilnet-quick-twin")
DEFAULT_DATA = Path("/tmp/soilnet-default-twin")


@dataclass
class Timing:
    variant: str
    size: int
    stem_maxpool: bool
    params_m: float
    ms_step: float
    ms_sample: float
    prep_share: float
    infer_per_s: float
    steps: int


def stem_maxpool_for(variant: str, size: int) -> bool:
    """ResNet-18 drops the max-pool at 32 px (CPU profile); everything else keeps the paper's."""
    return not (variant.startswith("resnet18") and size == 32)


def ensure_data(data: Path, work: Path, twin: TwinConfig) -> dict[int, Store]:
    """Write the twin once, consolidate it at 32 and 64 px into ``work`` (no-ops when present)."""
    if (data / "twin.json").is_file():
        written = json.loads((data / "twin.json").read_text())["config"]
        if written["n_points"] != twin.n_points or written["seed"] != twin.seed:
            raise SystemExit(
                f"{data} holds a twin of {written['n_points']:,} points (seed {written['seed']}), "
                f"not the {twin.n_points:,} (seed {twin.seed}) this run needs; choose another --data."
            )
    else:
        print(f"Writing the twin ({twin.n_points:,} points) to {data} ...", file=sys.stderr)
        t0 = time.perf_counter()
        write_twin(data, twin, progress=True)
        print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return {
        size: consolidate(data, StoreConfig(patch_size_px=size), stores_dir=work / "stores")
        for size in SIZES
    }


def split_of(work: Path, store: Store) -> Split:
    """The paper's random 70/10/20 split (seed 0) of a store (the same points for every size)."""
    split_dir = write_splits(store, SplitConfig(), work / "splits")
    return open_split(split_dir, store, "random")


def cpu_name() -> str:
    """CPU model from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_variant(
    variant: str,
    size: int,
    store: Store,
    tensors: dict[str, torch.Tensor | None],
    train_idx: np.ndarray,
    device: torch.device,
    *,
    amp: bool,
    warmup: int,
    steps: int,
    n_infer: int,
) -> Timing:
    """Time ``steps`` training steps of the trainer's batch path, then inference."""
    config = TrainConfig(
        variant=variant,
        batch_size=BATCH,
        stem_maxpool=stem_maxpool_for(variant, size),
        device=device.type,
        amp=amp,
    )
    use_amp = amp and device.type == "cuda"
    torch.manual_seed(0)
    model = trainer._make_model(config, store).to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    # As the trainer: climate is dropped for variants without it (prediction then skips it).
    tensors = {**tensors, "climate": tensors["climate"] if model.spec.uses_climate else None}
    images, climate = tensors["image"], tensors["climate"]
    gen = torch.Generator().manual_seed(0)
    order = torch.as_tensor(train_idx, dtype=torch.long)
    order = order[torch.randperm(len(order), generator=gen)]

    model.train()
    prep, total = [], []
    for step in range(warmup + steps):
        lo = (step * BATCH) % (len(order) - BATCH)
        _sync(device)
        t0 = time.perf_counter()
        # --- the trainer's batch preparation (soilnet.trainer.train) ---
        idx = order[lo : lo + BATCH]
        img, clim, y = prepare_batch(tensors, idx, model, config, gen, device, use_amp)
        _sync(device)
        t1 = time.perf_counter()
        # --- forward, loss, backward, step ---
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = model(img, clim)
        loss = torch.sqrt(torch.mean((pred.float() - y) ** 2))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        t2 = time.perf_counter()
        if step >= warmup:
            prep.append(t1 - t0)
            total.append(t2 - t0)

    # Inference: predict() in chunks of its default batch (256); median rate over the chunks.
    idx = np.arange(min(n_infer, len(store)))
    scale = TARGET.scale_g_per_kg
    predict(model, images, climate, idx[:BATCH], scale_g_per_kg=scale, amp=use_amp)  # warm-up
    rates = []
    for lo in range(0, len(idx), INFER_BATCH):
        chunk = idx[lo : lo + INFER_BATCH]
        _sync(device)
        t0 = time.perf_counter()
        predict(
            model, images, climate, chunk, scale_g_per_kg=scale, batch_size=INFER_BATCH,
            amp=use_amp,
        )  # fmt: skip
        _sync(device)
        rates.append(len(chunk) / (time.perf_counter() - t0))
    step_s = float(np.median(total))
    return Timing(
        variant=variant,
        size=size,
        stem_maxpool=config.stem_maxpool,
        params_m=count_parameters(model)["total"] / 1e6,
        ms_step=1000 * step_s,
        ms_sample=1000 * step_s / BATCH,
        prep_share=float(np.median(np.array(prep) / np.array(total))),
        infer_per_s=float(np.median(rates)),
        steps=steps,
    )


def timing_table(rows: list[Timing]) -> str:
    lines = [
        "| variant | input | stem max-pool | params (M) | steps timed | ms/step (median) "
        "| ms/sample | batch prep (% of step, median) | inference (samples/s, median) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        image = VARIANTS[r.variant].uses_image
        stem = ("yes" if r.stem_maxpool else "no") if image else "-"
        size = f"{r.size}x{r.size}" + ("" if image else " (unused)")
        lines.append(
            f"| {r.variant} | {size} | {stem} | {r.params_m:.2f} | {r.steps} | {r.ms_step:.1f} "
            f"| {r.ms_sample:.2f} | {100 * r.prep_share:.1f} | {r.infer_per_s:,.0f} |"
        )
    return "\n".join(lines)


def run_table(
    stores: dict[int, Store],
    splits: dict[int, Split],
    device: torch.device,
    *,
    amp: bool,
    steps: int,
    steps_large: int,
    warmup: int,
    n_infer: int,
    n_infer_large: int,
) -> str:
    rows = []
    for size in SIZES:
        store, split = stores[size], splits[size]
        norm = Normalization.fit(store.images, store.climate, split.train)
        tensors = load_tensors(store, norm, TARGET, device if device.type == "cuda" else "cpu")
        for variant in BENCH_VARIANTS:
            large = variant.startswith("resnet101")
            t0 = time.perf_counter()
            row = time_variant(
                variant,
                size,
                store,
                tensors,
                split.train,
                device,
                amp=amp,
                warmup=warmup,
                steps=steps_large if large else steps,
                n_infer=n_infer_large if large else n_infer,
            )
            rows.append(row)
            print(
                f"  {device.type} amp={amp} {variant} {size}px: {row.ms_step:.1f} ms/step "
                f"({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
        del tensors
    return timing_table(rows)


#: The study whose cost section 5 projects, and the network it compares precisions on.
PAPER: StudyConfig = PROFILES["paper"]
RESIDENT_VARIANT = "resnet101_glam_lstm"
RESIDENT_SIZE = 64


@dataclass
class Rate:
    label: str
    variant: str
    train_per_s: float
    infer_per_s: float


def resident_rate(
    variant: str,
    store: Store,
    split: Split,
    device: torch.device,
    *,
    amp: bool,
    compile_model: bool,
    warmup: int,
    steps: int,
    n_infer: int,
) -> tuple[float, float]:
    """(training samples/s, inference samples/s) of the trainer's device-resident path.

    Training runs :func:`soilnet.trainer.train_epoch` (the trainer's own loop) over ``steps``
    batches of the paper's batch size after ``warmup`` batches (which include compilation).
    """
    config = replace_config(PAPER.train, variant=variant, device=device.type, amp=amp)
    use_amp = amp and device.type == "cuda"
    norm = Normalization.fit(store.images, store.climate, split.train)
    tensors = load_tensors(
        store, norm, TARGET, device if device.type == "cuda" else "cpu",
        image_dtype=torch.float16 if use_amp else torch.float32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = trainer._make_model(config, store).to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    if not model.spec.uses_climate:
        tensors["climate"] = None
    net = torch.compile(model) if compile_model else model
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator(device=device).manual_seed(0)
    batch = config.batch_size
    rows = torch.as_tensor(split.train, dtype=torch.long)
    rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))]
    need = (warmup + steps) * batch
    rows = rows.repeat(-(-need // len(rows)))[:need].to(tensors["target"].device)
    bounds = [(i * batch, (i + 1) * batch) for i in range(warmup + steps)]

    def run(part: list[tuple[int, int]]) -> None:
        trainer.train_epoch(
            model, opt, tensors, rows, part, config, gen, device, use_amp, net=net
        )  # ends with a host read of the loss: the timing includes the queued GPU work

    run(bounds[:warmup])
    _sync(device)
    t0 = time.perf_counter()
    run(bounds[warmup:])
    _sync(device)
    train_per_s = steps * batch / (time.perf_counter() - t0)

    idx = np.arange(min(n_infer, len(store)))
    scale = TARGET.scale_g_per_kg
    predict(model, tensors["image"], tensors["climate"], idx[:batch], scale_g_per_kg=scale,
            amp=use_amp)  # fmt: skip
    _sync(device)
    t0 = time.perf_counter()
    predict(model, tensors["image"], tensors["climate"], idx, scale_g_per_kg=scale,
            batch_size=INFER_BATCH, amp=use_amp)  # fmt: skip
    _sync(device)
    return train_per_s, len(idx) / (time.perf_counter() - t0)


def replace_config(config: TrainConfig, **changes) -> TrainConfig:
    return dataclasses.replace(config, **changes)


def paper_runs(study: StudyConfig) -> list[tuple[str, int, int, int]]:
    """Every network run of ``study``: (variant, epochs, training points, validation points).

    Point counts follow the split design: the random split's fractions, and under spatial CV
    (k folds) the non-test share ``1 - 1/k`` of which ``val_fraction`` validates.
    """
    n, sp, exp = study.twin.n_points, study.split, study.experiment
    random = (round(n * sp.fractions[0]), round(n * sp.fractions[1]))
    non_test = n * (1 - 1 / sp.k_folds)
    spatial = (round(non_test * (1 - sp.val_fraction)), round(non_test * sp.val_fraction))
    runs = []
    for protocol, variants, folds, (n_train, n_val) in (
        ("random", exp.variants, 1, random),
        ("spatial", exp.spatial_variants, sp.k_folds, spatial),
    ):
        for variant in variants:
            for seed in exp.seeds:
                epochs = study.run_config(variant, seed, protocol).epochs
                runs += [(variant, epochs, n_train, n_val)] * folds
    return runs


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


def resident_section(
    stores: dict[int, Store],
    splits: dict[int, Split],
    device: torch.device,
    *,
    warmup: int,
    steps: int,
    n_infer: int,
    try_compile: bool,
) -> str:
    """Section 5 as markdown: the precision table and the paper profile's projected cost."""
    store, split = stores[RESIDENT_SIZE], splits[RESIDENT_SIZE]
    cuda = device.type == "cuda"
    settings = [("float32 eager", False, False)]
    if cuda:
        settings.append(("bfloat16 autocast + channels_last (default)", True, False))
        if try_compile:
            settings.append(("bfloat16 autocast + channels_last + torch.compile", True, True))
    rates: list[Rate] = []
    for label, amp, comp in settings:
        try:
            train_s, infer_s = resident_rate(
                RESIDENT_VARIANT, store, split, device, amp=amp, compile_model=comp,
                warmup=warmup, steps=steps, n_infer=n_infer,
            )  # fmt: skip
        except Exception as err:  # torch.compile is optional: report why it is missing
            if not comp:
                raise
            print(f"  torch.compile failed: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        rates.append(Rate(label, RESIDENT_VARIANT, train_s, infer_s))
        print(f"  resident {device.type} {label}: {train_s:,.0f} samples/s", file=sys.stderr)
    default = rates[1] if cuda else rates[0]  # what the trainer runs on this device

    runs = paper_runs(PAPER)
    per_variant = {RESIDENT_VARIANT: default}
    for variant in sorted({v for v, *_ in runs} - {RESIDENT_VARIANT}):
        train_s, infer_s = resident_rate(
            variant, store, split, device, amp=cuda, compile_model=False,
            warmup=warmup, steps=steps, n_infer=n_infer,
        )  # fmt: skip
        per_variant[variant] = Rate(default.label, variant, train_s, infer_s)
    n_points = PAPER.twin.n_points

    def epoch_s(variant: str, n_train: int, n_val: int) -> float:
        r = per_variant[variant]
        return n_train / r.train_per_s + n_val / r.infer_per_s

    total_s = sum(
        epochs * epoch_s(v, n_train, n_val) + n_points / per_variant[v].infer_per_s
        for v, epochs, n_train, n_val in runs
    )
    _, _, n_train, n_val = runs[0]
    lines = [
        f"{RESIDENT_VARIANT} at {RESIDENT_SIZE}x{RESIDENT_SIZE} px, batch "
        f"{PAPER.train.batch_size}, {steps} timed steps after {warmup} warm-up steps, on "
        f"{device}:\n",
        "| setting | training (samples/s) | inference (samples/s) | paper epoch "
        f"({n_train:,} training + {n_val:,} validation points) |",
        "|---|---:|---:|---:|",
    ]
    for r in rates:
        seconds = n_train / r.train_per_s + n_val / r.infer_per_s
        lines.append(
            f"| {r.label} | {r.train_per_s:,.1f} | {r.infer_per_s:,.0f} | {seconds:,.1f} s |"
        )
    epochs_total = sum(e for _, e, *_ in runs)
    lines += [
        "",
        f"Paper profile ({n_points:,} points; {len(runs)} network runs: "
        f"{len(PAPER.experiment.variants)} variants x {len(PAPER.experiment.seeds)} seeds random, "
        f"{len(PAPER.experiment.spatial_variants)} x {len(PAPER.experiment.seeds)} x "
        f"{PAPER.split.k_folds} folds spatial; {epochs_total:,} epochs), at the default "
        f"setting ({default.label}) on one {device.type.upper()} device: projected "
        f"**{_duration(total_s)}** of training, validation and prediction.",
        "",
        "| variant | training (samples/s) | inference (samples/s) |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {r.variant} | {r.train_per_s:,.1f} | {r.infer_per_s:,.0f} |"
        for r in per_variant.values()
    ]
    return "\n".join(lines)


def rf_table(store: Store, split: Split, n_jobs: int | None) -> str:
    # Rows in ascending order, as before; targets clipped at 87 g/kg (the networks' target).
    train = point_arrays(store, np.sort(split.train), TARGET)
    test = point_arrays(store, np.sort(split.test), TARGET)
    first_month = int(store.months[0][4:6]) if store.months else 1
    result = fit_predict_baselines(
        train,
        test,
        names=("rf_paper", "rf_strong"),
        band_names=store.band_names,
        climate_variables=store.climate_variables,
        random_state=0,
        n_jobs=n_jobs,
        first_month=first_month,
    )
    lines = [
        "| baseline | trees | features | training points | n_jobs | fit (s) | test RMSE (g/kg) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("rf_paper", "rf_strong"):
        model = result.models[name]
        rmse = float(np.sqrt(np.mean((result[name] - test["target"]) ** 2)))
        lines.append(
            f"| {name} | {model.n_estimators} | {len(result.feature_names[name])} "
            f"| {len(split.train):,} | {n_jobs} | {result.fit_seconds[name]:.1f} | {rmse:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"twin folder, only read once written (default: {DEFAULT_DATA}; "
        f"{QUICK_DATA} with --quick)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="folder for the stores and splits (default: <data>-work beside the twin)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=None, help="timed CPU steps (small models)")
    parser.add_argument(
        "--steps-large", type=int, default=None, help="timed CPU steps (ResNet-101)"
    )
    parser.add_argument("--gpu-steps", type=int, default=None, help="timed GPU steps")
    parser.add_argument("--rf-jobs", type=int, default=-1, help="n_jobs of the forests")
    parser.add_argument("--skip-rf", action="store_true")
    parser.add_argument(
        "--no-compile", action="store_true", help="leave out the torch.compile row (CUDA)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="check that the script works: a 300-point twin, 2 steps (1 for ResNet-101), "
        "64 inference samples, 1 thread; not a benchmark",
    )
    args = parser.parse_args(argv)
    if args.threads or args.quick:
        # One thread in a quick check: on a shared machine two spinning threads can be far slower.
        torch.set_num_threads(args.threads or 1)
    twin_name, twin = ("quick", QUICK_TWIN) if args.quick else ("default", TWINS["default"])
    data = args.data or (QUICK_DATA if args.quick else DEFAULT_DATA)
    work = args.work_dir or data.with_name(data.name + "-work")

    def pick(value: int | None, quick: int, full: int) -> int:
        return value if value is not None else (quick if args.quick else full)

    steps = pick(args.steps, 2, 20)
    steps_large = pick(args.steps_large, 1, 6)
    gpu_steps = pick(args.gpu_steps, 3, 30)
    warmup_cpu, warmup_gpu = (1, 2) if args.quick else (2, 5)
    n_infer, n_infer_large = (64, 64) if args.quick else (1024, 512)

    t_start = time.perf_counter()
    stores = ensure_data(data, work, twin)
    splits = {size: split_of(work, store) for size, store in stores.items()}
    split = splits[32]
    load0 = os.getloadavg()
    print("# SoilNet training benchmark\n")
    if args.quick:
        print("_Quick check (--quick): a small twin and few steps; the numbers mean little._\n")
    print(f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"- arguments: `{' '.join(argv if argv is not None else sys.argv[1:]) or '(defaults)'}`")
    print(
        f"- machine: {os.cpu_count()} CPU cores ({cpu_name()}, {platform.machine()}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
        f"Python {platform.python_version()}"
    )
    print(
        f"- data: {twin_name} twin at {data} ({len(stores[32]):,} points, "
        f"{len(split.train):,} training), batch {BATCH}; stores and splits in {work}"
    )
    print(f"- load average at start: {load0[0]:.2f} (1 min)")
    if torch.cuda.is_available():
        print(f"- GPU: {torch.cuda.get_device_name(0)}")
    else:
        print("- GPU: none")

    print("\n## CPU training step and inference\n")
    print(
        run_table(
            stores,
            splits,
            torch.device("cpu"),
            amp=False,
            steps=steps,
            steps_large=steps_large,
            warmup=warmup_cpu,
            n_infer=n_infer,
            n_infer_large=n_infer_large,
        )
    )

    if not args.skip_rf:
        print(f"\n## Random Forest fit time ({twin_name} twin, 32 px store, random split)\n")
        print(rf_table(stores[32], split, args.rf_jobs))

    if torch.cuda.is_available():
        for amp in (True, False):
            label = "on (bfloat16 autocast, channels_last)" if amp else "off (float32)"
            print(f"\n## GPU ({torch.cuda.get_device_name(0)}), mixed precision {label}\n")
            print(
                run_table(
                    stores,
                    splits,
                    torch.device("cuda"),
                    amp=amp,
                    steps=gpu_steps,
                    steps_large=gpu_steps,
                    warmup=warmup_gpu,
                    n_infer=len(stores[32]),
                    n_infer_large=len(stores[32]),
                )
            )
    else:
        print("\n## GPU\n\nGPU: none (torch.cuda.is_available() is False); no GPU table.")

    print("\n## Device-resident training path and the paper profile's cost\n")
    if torch.cuda.is_available():
        print(
            resident_section(
                stores, splits, torch.device("cuda"), warmup=warmup_gpu, steps=gpu_steps,
                n_infer=len(stores[RESIDENT_SIZE]), try_compile=not args.no_compile,
            )
        )  # fmt: skip
    else:
        print(
            "GPU: none, so no GPU rows; these are the CPU's (float32: bfloat16 autocast and "
            "channels_last are CUDA-only).\n"
        )
        print(
            resident_section(
                stores, splits, torch.device("cpu"), warmup=warmup_cpu, steps=steps_large,
                n_infer=n_infer_large, try_compile=False,
            )
        )  # fmt: skip

    load1 = os.getloadavg()
    print(
        f"\nLoad average at end: {load1[0]:.2f} (1 min). "
        f"Total wall time {time.perf_counter() - t_start:.0f} s."
    )


if __name__ == "__main__":
    main()
