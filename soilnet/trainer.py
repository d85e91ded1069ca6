"""Training: one variant on one split with one seed, selected on validation only.

:func:`train` writes a run folder::

    <out>/last.pt            resumable state after every epoch (see soilnet.checkpoint)
    <out>/best.pt            weights of the epoch with the lowest validation RMSE
    <out>/history.csv        epoch, train_loss, val_loss, val_rmse_g_per_kg, lr, seconds
    <out>/predictions.csv    Point_ID, split, observed_g_per_kg, target_g_per_kg (clipped as
                             trained), predicted_g_per_kg
    <out>/normalization.json statistics fitted on the training split only
    <out>/run.json           inputs (store fingerprint, split and its hash, resolved settings,
                             target transform), device, library versions, wall time, best
                             epoch, metrics per split

A run is resumed only when its recorded inputs are identical; otherwise it is refused. Model
selection (best epoch, early stopping) uses the validation split only; the test split is
predicted once, with the selected weights.

**Data path.** The whole store is held as normalised tensors (:func:`load_tensors`) on the
training device: on CUDA the images go to GPU memory once, in float16 when mixed precision is
on (``train.amp``, the default; bfloat16 autocast and channels_last), so a step gathers its
rows, draws the flips and rotations with a generator on that device and never waits for the
host. The CPU runs the same code with CPU tensors and generators.

**Distributed training.** Inside a torchrun job (:mod:`soilnet.distributed`; ``WORLD_SIZE`` >
1) :func:`train` trains one run with DistributedDataParallel. It is the same experiment as one
process with the same ``batch_size``, so :func:`run_inputs` (the run's address) does not depend
on the world size; ``run.json`` records ``world_size`` and ``backend``.

- Sampler: every rank draws the same permutation of the training rows per epoch from the data
  generator (seeded with ``config.seed``) and the same global batches (:func:`_batch_bounds`,
  with at least 2 rows per rank in every batch); batch ``order[lo:hi]`` is split into
  ``world_size`` contiguous shards, one per rank. The loss is the RMSE of the whole global
  batch (the sum of squared errors is all-reduced), so the gradient is that of one process.
- Seeds: weights are initialised from ``config.seed`` on every rank (identical; DDP checks);
  the data order is identical on every rank; the augmentation generator and the global torch
  generator (dropout) of rank ``r`` are re-seeded at the start of epoch ``e`` from
  ``(seed, r, stream, e)`` (:func:`soilnet.distributed.rank_seed`). Streams seeded per epoch
  need no per-rank state in ``last.pt``: a run killed and resumed trains exactly as an
  uninterrupted one (with the same world size). On CUDA a single process seeds its device
  augmentation generator the same way (rank 0); on the CPU a single process draws the
  augmentation from the data generator, as before distributed training existed.
- BatchNorm: per-rank batch statistics (no SyncBatchNorm). SyncBatchNorm is CUDA-only in
  torch, and adds collectives to every BatchNorm layer in every step (104 layers in
  ResNet-101). Measured on the CPU (48-point test twin, tiny hybrid, 3 epochs, no augmentation
  or dropout): test RMSE 13.5 g/kg with 2 processes, 11.5 with one, inside the spread of one
  process over seeds 0-2 (8.4 to 27.4 g/kg); without BatchNorm (the ``lstm`` variant) the two
  agree to 5e-8 g/kg (tests/test_distributed_training.py). DDP broadcasts rank 0's running
  statistics at every forward, so the saved weights are rank 0's.
- Outputs: rank 0 alone validates (the others wait for its RMSE, so early stopping agrees),
  writes ``last.pt`` (every rank then passes a barrier), ``best.pt``, the tables and
  ``run.json``, and predicts the test split; every rank returns rank 0's :class:`RunResult`.
  On resume every rank loads the same ``last.pt``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from soilnet import distributed
from soilnet.checkpoint import BEST, LAST, load_state, save_atomic
from soilnet.config import TrainConfig
from soilnet.dataset import TargetTransform, gather, load_tensors
from soilnet.errors import ConfigurationError
from soilnet.inference import predict, resolve_device
from soilnet.metrics import regression_metrics
from soilnet.models import VARIANTS, SoilNetModel, build_model
from soilnet.splits import Split
from soilnet.store import Store
from soilnet.transforms import Normalization, random_dihedral

__all__ = ["RunResult", "TrainConfig", "prepare_batch", "run_inputs", "train"]


@dataclass
class RunResult:
    """What :func:`train` returns.

    Attributes:
        out_dir: the run folder.
        metrics: split name -> metric dict (g/kg), against the clipped targets the model was
            trained on (``test_unclipped`` too when clipping is on).
        history: per-epoch table.
        predictions: per-point table.
        best_epoch: epoch (1-based) whose weights were kept.
        seconds: wall time of this call.
        record: the content of ``run.json``.
    """

    out_dir: Path
    metrics: dict[str, dict[str, float]]
    history: pd.DataFrame
    predictions: pd.DataFrame
    best_epoch: int
    seconds: float = 0.0
    record: dict = field(default_factory=dict)


def _check_inputs(store: Store, split: Split, config: TrainConfig) -> None:
    spec = VARIANTS[config.variant]
    if spec.uses_climate and (store.climate is None or not store.climate_variables):
        raise ConfigurationError(
            f"Variant {config.variant!r} needs climate variables but the store at {store.path} "
            "has none; consolidate with climate (the 14 TerraClimate variables) or choose a "
            "variant without _lstm."
        )
    if not store.has_target:
        raise ConfigurationError(
            f"The store at {store.path} has no OC target (a prediction grid?); it cannot be "
            "trained on."
        )
    n = len(store)
    for part in ("train", "val", "test"):
        idx = split.indices(part)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise ConfigurationError(
                f"Split {split.name!r} has {part} indices outside the store's {n} rows."
            )


def split_hash(split: Split, point_ids: np.ndarray) -> str:
    """Hash of the Point_IDs in each part of a split."""
    h = hashlib.sha256()
    for part in ("train", "val", "test"):
        h.update(part.encode())
        h.update(np.sort(point_ids[split.indices(part)]).tobytes())
    return h.hexdigest()[:16]


def run_inputs(store: Store, split: Split, config: TrainConfig) -> dict:
    """Everything a run's result depends on: its identity, recorded and compared on resume.

    The device is left out (where a run executes, not what it computes).
    """
    settings = {k: v for k, v in asdict(config).items() if k != "device"}
    return {
        "store": store.fingerprint,
        "split": split.name,
        "split_hash": split_hash(split, store.point_ids),
        "train_config": settings,
        "target_transform": TargetTransform(config.clip_g_per_kg).to_dict(),
    }


def _make_model(config: TrainConfig, store: Store) -> SoilNetModel:
    spec = VARIANTS[config.variant]
    return build_model(
        config.variant,
        in_channels=len(store.band_names),
        n_climate_features=len(store.climate_variables) if spec.uses_climate else None,
        stem_maxpool=config.stem_maxpool,
        dropout=config.dropout,
        lstm_hidden=config.lstm_hidden,
        lstm_layers=config.lstm_layers,
        head_activation=config.head_activation,
        weights_path=config.weights_path,
    )


def _scheduler(opt: torch.optim.Optimizer, config: TrainConfig):
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(
            opt, step_size=config.lr_step_epochs, gamma=config.lr_gamma
        )
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=config.epochs, eta_min=config.lr / 20
    )


def prepare_batch(
    tensors: dict,
    rows: torch.Tensor,
    model: SoilNetModel,
    config: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
    use_amp: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    """One training batch from the in-memory tensors: gathered, augmented, on ``device``.

    With the tensors, ``rows`` and ``generator`` on ``device`` (the GPU path) nothing crosses
    to the host. float16 images are cast to float32 unless ``use_amp`` (autocast casts them).

    Returns:
        (image (B, C, S, S) or None for a climate-only variant, climate (B, T, F) or None,
        scaled target (B,)).
    """
    batch = gather(
        {
            "image": tensors["image"] if model.spec.uses_image else None,
            "climate": tensors["climate"] if model.spec.uses_climate else None,
            "target": tensors["target"],
        },
        rows,
    )
    img = batch["image"]
    if img is not None:
        if config.augment:
            img = random_dihedral(img, generator=generator)
        img = img.to(device, non_blocking=True)
        if use_amp:
            img = img.contiguous(memory_format=torch.channels_last)
        elif img.dtype != torch.float32:
            img = img.float()
    clim = batch["climate"]
    clim = clim.to(device, non_blocking=True) if clim is not None else None
    return img, clim, batch["target"].to(device)


def _batch_bounds(n: int, batch_size: int, min_rows: int = 2) -> list[tuple[int, int]]:
    # A trailing batch of fewer than ``min_rows`` samples joins the previous batch: BatchNorm
    # cannot train on one sample once a feature map is 1x1 (16 px patches; 32 px with the stem
    # max-pool). One process: min_rows=2; a job of W ranks: 2 W, at least 2 rows per rank.
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_rows:
        starts.pop()
    return list(zip(starts, starts[1:] + [n], strict=True))


def train_epoch(
    model,
    opt,
    tensors,
    order,
    bounds,
    config,
    generator,
    device,
    use_amp,
    bar=None,
    *,
    net=None,
    rank: int = 0,
    world_size: int = 1,
):
    """One pass over the training rows in ``order``; returns the mean RMSE loss (scaled).

    In a job of ``world_size`` ranks (``net``: ``model`` wrapped in DistributedDataParallel)
    each global batch ``order[lo:hi]`` is split into ``world_size`` contiguous shards and this
    rank trains on shard ``rank``; the loss and its gradient are those of the whole batch.
    The returned loss is the same on every rank.
    """
    net = model if net is None else net
    net.train()
    # float64 on the device: no host synchronisation per step, and the same sum as before.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for step, (lo, hi) in enumerate(bounds):
        rows = order[lo:hi]
        if world_size > 1:
            rows = torch.tensor_split(rows, world_size)[rank]
        img, clim, y = prepare_batch(tensors, rows, model, config, generator, device, use_amp)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = net(img, clim)
        squared = (pred.float() - y) ** 2
        if world_size > 1:
            sse_local = squared.sum()
            sse = sse_local.detach().clone()
            dist.all_reduce(sse)
            loss = torch.sqrt(sse / (hi - lo))  # RMSE of the global batch
            # d RMSE = sum over ranks of d SSE_r / (2 N RMSE); DDP averages the ranks'
            # gradients (divides by world_size), hence the factor world_size.
            objective = sse_local * (world_size / (2 * (hi - lo) * loss.clamp_min(1e-12)))
        else:
            loss = torch.sqrt(torch.mean(squared))  # RMSE on SOC/87, as the paper
            objective = loss
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        loss_sum += loss.detach().double() * (hi - lo)
        count += hi - lo
        if bar is not None:
            bar.update(1)
            if step % 20 == 19 or step == len(bounds) - 1:  # a host sync: not every step
                bar.set_postfix(loss=f"{float(loss_sum) / count:.4f}")
    return float(loss_sum) / max(count, 1)


def validate(model, tensors, rows, target_g_per_kg, scale, use_amp) -> float:
    """Validation RMSE in g/kg (against the transformed target)."""
    pred = predict(
        model, tensors["image"], tensors["climate"], rows, scale_g_per_kg=scale, amp=use_amp
    )
    return float(np.sqrt(np.mean((pred - target_g_per_kg[rows]) ** 2)))


def _versions() -> dict[str, str]:
    import sklearn
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
    }


def train(
    store: Store,
    split: Split,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool = True,
    stop_after_epochs: int | None = None,
) -> RunResult:
    """Train one variant on one split with one seed; select the epoch on validation only.

    Args:
        store: consolidated data.
        split: row indices of train / val / test.
        config: hyperparameters (see :class:`~soilnet.config.TrainConfig`).
        out_dir: run folder (see the module docstring); created.
        resume: continue from ``out_dir/last.pt`` when it exists; it must have been written
            for the same inputs (:func:`run_inputs`), else :class:`CheckpointError`.
        progress: tqdm bar per epoch with the running loss.
        stop_after_epochs: return after this many epochs in this call, leaving a resumable
            checkpoint (simulates an interruption; also useful to time-box a session).

    Returns:
        a :class:`RunResult`. When stopped early by ``stop_after_epochs`` the metrics are those
        of the best epoch so far.
    """
    t_start = time.perf_counter()
    if stop_after_epochs is not None and stop_after_epochs < 1:
        raise ConfigurationError(
            f"stop_after_epochs must be None or >= 1; got {stop_after_epochs!r}."
        )
    _check_inputs(store, split, config)
    out_dir = Path(out_dir)
    main = distributed.is_main()
    created = not out_dir.exists()
    try:
        return _train(store, split, config, out_dir, resume, progress, stop_after_epochs, t_start)
    except BaseException:
        if main and created and out_dir.is_dir() and not (out_dir / LAST).is_file():
            shutil.rmtree(out_dir)  # a run that failed before its first epoch leaves nothing
        raise


#: Stream numbers of :func:`soilnet.distributed.rank_seed` (augmentation, dropout).
_AUGMENT_STREAM, _DROPOUT_STREAM = 1, 2


def _run_device(config: TrainConfig, ctx: distributed.DistContext | None) -> torch.device:
    device = resolve_device(config.device)
    if ctx is None:
        return device
    if ctx.device.type != device.type:
        raise ConfigurationError(
            f"train.device={config.device!r} means {device.type}, but this process joined a "
            f"{ctx.backend} group on {ctx.device}; give soilnet.distributed.init_from_env the "
            "run's device (the CLI does)."
        )
    return ctx.device


def _check_world(n_train: int, batch_size: int, world_size: int, split_name: str) -> None:
    if world_size > 1 and min(n_train, batch_size) < 2 * world_size:
        raise ConfigurationError(
            f"{world_size} processes need at least 2 samples each per batch (BatchNorm), but "
            f"train.batch_size is {batch_size} and split {split_name!r} has {n_train} training "
            f"rows; use a batch size and a training split of at least {2 * world_size}, or "
            "fewer processes (--nproc-per-node)."
        )


def _train(store, split, config, out_dir, resume, progress, stop_after_epochs, t_start):
    ctx = distributed.current()
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    main = rank == 0
    progress = progress and main
    device = _run_device(config, ctx)
    _check_world(len(split.train), config.batch_size, world, split.name)
    use_amp = config.amp and device.type == "cuda"
    target = TargetTransform(config.clip_g_per_kg)
    scale = target.scale_g_per_kg
    inputs = run_inputs(store, split, config)

    torch.manual_seed(config.seed)  # before building: the seed controls weight initialisation
    model = _make_model(config, store).to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    net = model
    if world > 1:
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = _scheduler(opt, config)
    # The data order is drawn on the CPU (once per epoch), identical on every rank.
    data_gen = torch.Generator().manual_seed(config.seed)
    # The augmentation: from the data generator in one CPU process (as it always was);
    # otherwise a generator on the device, re-seeded per rank and epoch (module docstring).
    per_epoch_streams = world > 1 or device.type != "cpu"
    aug_gen = torch.Generator(device=device) if per_epoch_streams else data_gen

    ckpt = load_state(out_dir, inputs, device) if resume else None
    norm = Normalization.fit(store.images, store.climate, split.train)
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        norm.save(out_dir / "normalization.json")
    tensors = load_tensors(
        store, norm, target, device if device.type == "cuda" else "cpu",
        image_dtype=torch.float16 if use_amp else torch.float32,
    )  # fmt: skip
    if not model.spec.uses_climate:
        tensors["climate"] = None
    oc = store.index["oc_g_per_kg"].to_numpy(np.float64)
    target_g = target.target_g_per_kg(oc)

    history: list[dict] = []
    start_epoch, best_rmse, best_epoch, best_state, stale = 0, math.inf, 0, None, 0
    if ckpt is not None:
        model.check_config(ckpt["model_config"], source=str(out_dir / LAST))
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        # Generator states must be CPU byte tensors (load_state maps tensors to the device).
        data_gen.set_state(ckpt["data_generator"].cpu())
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu(), device)
        start_epoch, history = ckpt["epoch"], ckpt["history"]
        best_rmse, best_epoch, best_state, stale = (
            ckpt["best_rmse"], ckpt["best_epoch"], ckpt["best_state"], ckpt["stale"],
        )  # fmt: skip
        if start_epoch < config.epochs and progress:
            print(
                f"{out_dir}: resuming from epoch {start_epoch} of {config.epochs}",
                file=sys.stderr,
            )

    train_idx = torch.as_tensor(split.train, dtype=torch.long)
    bounds = _batch_bounds(len(train_idx), config.batch_size, min_rows=2 * world)
    stopped_early = False
    epochs_this_call = 0
    for epoch in range(start_epoch, config.epochs):
        if config.patience is not None and stale >= config.patience:
            stopped_early = True
            break
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
        t0 = time.perf_counter()
        if per_epoch_streams:
            aug_gen.manual_seed(distributed.rank_seed(config.seed, rank, _AUGMENT_STREAM, epoch))
        if world > 1:  # dropout masks: each rank its own, reproducible per epoch
            torch.manual_seed(distributed.rank_seed(config.seed, rank, _DROPOUT_STREAM, epoch))
        order = train_idx[torch.randperm(len(train_idx), generator=data_gen)]
        order = order.to(tensors["target"].device)  # one copy per epoch, none per step
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=len(bounds),
                desc=f"{config.variant} seed {config.seed} epoch {epoch + 1}/{config.epochs}",
                leave=False,
            )
        train_loss = train_epoch(
            model, opt, tensors, order, bounds, config, aug_gen, device, use_amp, bar,
            net=net, rank=rank, world_size=world,
        )  # fmt: skip
        if bar is not None:
            bar.close()
        lr = opt.param_groups[0]["lr"]
        sched.step()
        # Rank 0 validates with its own weights and BatchNorm statistics (those it saves).
        val_rmse = validate(model, tensors, split.val, target_g, scale, use_amp) if main else None
        val_rmse = distributed.broadcast_object(val_rmse)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "val_loss": val_rmse / scale,
                "val_rmse_g_per_kg": val_rmse,
                "lr": lr,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        if val_rmse < best_rmse:
            best_rmse, best_epoch, stale = val_rmse, epoch + 1, 0
            if main:
                best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        else:
            stale += 1
        epochs_this_call += 1
        if not main:
            distributed.barrier()  # while rank 0 writes last.pt
            continue
        save_atomic(
            {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "data_generator": data_gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                "history": history,
                "best_rmse": best_rmse,
                "best_epoch": best_epoch,
                "best_state": best_state,
                "stale": stale,
                "inputs": inputs,
                "model_config": model.config,
            },
            out_dir / LAST,
        )
        distributed.barrier()

    if not main:  # rank 0 predicts and writes; every rank returns its result
        return distributed.broadcast_object(None)
    model.load_state_dict(best_state)
    save_atomic(
        {"model": best_state, "model_config": model.config, "inputs": inputs,
         "epoch": best_epoch},
        out_dir / BEST,
    )  # fmt: skip
    pred_all = predict(
        model, tensors["image"], tensors["climate"], np.arange(len(store)),
        scale_g_per_kg=scale, amp=use_amp,
    )  # fmt: skip
    predictions = pd.DataFrame(
        {
            "Point_ID": store.point_ids,
            "split": split.labels(len(store)),
            "observed_g_per_kg": oc,
            "target_g_per_kg": target_g,
            "predicted_g_per_kg": pred_all,
        }
    )
    predictions = predictions[predictions["split"] != ""].reset_index(drop=True)
    predictions.to_csv(out_dir / "predictions.csv", index=False)
    hist = pd.DataFrame(history)
    hist.to_csv(out_dir / "history.csv", index=False)
    metrics = {
        part: regression_metrics(target_g[split.indices(part)], pred_all[split.indices(part)])
        for part in ("train", "val", "test")
    }
    if config.clip_g_per_kg:
        metrics["test_unclipped"] = regression_metrics(oc[split.test], pred_all[split.test])
    seconds = time.perf_counter() - t_start
    record = {
        "variant": config.variant,
        "inputs": inputs,
        "train_config": asdict(config),
        "model_config": model.config,
        "data_fingerprint": store.fingerprint,
        "store": str(store.path),
        "split": split.name,
        "split_hash": inputs["split_hash"],
        "n": {p: int(len(split.indices(p))) for p in ("train", "val", "test")},
        "seed": config.seed,
        "device": str(device)
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "world_size": world,
        "backend": ctx.backend if ctx is not None else None,
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "resumed_from_epoch": start_epoch if ckpt is not None else None,
        "stopped_early": stopped_early,
        "complete": len(history) >= config.epochs or stopped_early,
        "wall_seconds_this_call": round(seconds, 2),
        "train_seconds_total": round(float(hist["seconds"].sum()) if len(hist) else 0.0, 2),
        "metrics": metrics,
    }
    (out_dir / "run.json").write_text(json.dumps(record, indent=2, default=str))
    result = RunResult(out_dir, metrics, hist, predictions, best_epoch, seconds, record)
    return distributed.broadcast_object(result) if world > 1 else result
