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
    clim = batch["climate"]
    clim = clim.to(device, non_blocking=True) if clim is not None else None
    return img, clim, batch["target"].to(device)


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    # A trailing batch of one sample joins the previous batch: BatchNorm cannot train on one
    # sample once a feature map is 1x1 (16 px patches; 32 px with the stem max-pool).
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n], strict=True))


def train_epoch(model, opt, tensors, order, bounds, config, generator, device, use_amp, bar=None):
    """One pass over the training rows in ``order``; returns the mean RMSE loss (scaled)."""
    model.train()
    loss_sum, count = 0.0, 0
    for lo, hi in bounds:
        rows = order[lo:hi]
        img, clim, y = prepare_batch(tensors, rows, model, config, generator, device, use_amp)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = model(img, clim)
        loss = torch.sqrt(torch.mean((pred.float() - y) ** 2))  # RMSE on SOC/87, as the paper
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += float(loss.detach()) * len(rows)
        count += len(rows)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / count:.4f}")
    return loss_sum / max(count, 1)


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
    created = not out_dir.exists()
    try:
        return _train(store, split, config, out_dir, resume, progress, stop_after_epochs, t_start)
    except BaseException:
        if created and out_dir.is_dir() and not (out_dir / LAST).is_file():
            shutil.rmtree(out_dir)  # a run that failed before its first epoch leaves nothing
        raise


def _train(store, split, config, out_dir, resume, progress, stop_after_epochs, t_start):
    device = resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    target = TargetTransform(config.clip_g_per_kg)
    scale = target.scale_g_per_kg
    inputs = run_inputs(store, split, config)

    torch.manual_seed(config.seed)  # before building: the seed controls weight initialisation
    model = _make_model(config, store).to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = _scheduler(opt, config)
    data_gen = torch.Generator().manual_seed(config.seed)

    ckpt = load_state(out_dir, inputs, device) if resume else None
    out_dir.mkdir(parents=True, exist_ok=True)
    norm = Normalization.fit(store.images, store.climate, split.train)
    norm.save(out_dir / "normalization.json")
    tensors = load_tensors(store, norm, target, device if device.type == "cuda" else "cpu")
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
        data_gen.set_state(ckpt["data_generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"])
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
    bounds = _batch_bounds(len(train_idx), config.batch_size)
    stopped_early = False
    epochs_this_call = 0
    for epoch in range(start_epoch, config.epochs):
        if config.patience is not None and stale >= config.patience:
            stopped_early = True
            break
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
        t0 = time.perf_counter()
        order = train_idx[torch.randperm(len(train_idx), generator=data_gen)]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=len(bounds),
                desc=f"{config.variant} seed {config.seed} epoch {epoch + 1}/{config.epochs}",
                leave=False,
            )
        train_loss = train_epoch(
            model, opt, tensors, order, bounds, config, data_gen, device, use_amp, bar
        )
        if bar is not None:
            bar.close()
        lr = opt.param_groups[0]["lr"]
        sched.step()
        val_rmse = validate(model, tensors, split.val, target_g, scale, use_amp)
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
            best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        else:
            stale += 1
        epochs_this_call += 1
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
    return RunResult(out_dir, metrics, hist, predictions, best_epoch, seconds, record)
