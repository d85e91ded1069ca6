"""Training, evaluation and checkpoints for the SoilNet variants.

One function, :func:`train`, trains one variant on one split with one seed and writes a run
folder::

    <out>/last.pt            checkpoint after every epoch (model, optimizer, scheduler, epoch,
                             RNG states, best weights), written atomically; a killed run resumes
    <out>/best.pt            weights of the epoch with the lowest validation RMSE
    <out>/history.csv        epoch, train_loss, val_loss, val_rmse_g_per_kg, lr, seconds
    <out>/predictions.csv    Point_ID, split, observed_g_per_kg, target_g_per_kg (clipped as
                             trained), predicted_g_per_kg
    <out>/normalization.json statistics fitted on the training split only
    <out>/run.json           variant, hyperparameters, data and split hashes, seed, device,
                             library versions, wall time, best epoch, metrics per split

Model selection (best epoch, early stopping) uses the validation split only; the test split is
predicted once, with the selected weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.dataset import load_tensors
from soilnet.errors import CheckpointError, ConfigurationError
from soilnet.io.atomic import atomic_path
from soilnet.metrics import regression_metrics
from soilnet.models import VARIANTS, SoilNetModel, build_model
from soilnet.splits import Split
from soilnet.store import Store
from soilnet.transforms import Normalization, random_dihedral

SCHEDULES = ("step", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run. Defaults are the paper's (GPU) settings.

    Attributes:
        variant: a name from :data:`soilnet.models.VARIANTS`.
        epochs: maximum number of epochs (paper: 50 for the CNNs, 30 for +LSTM).
        batch_size: samples per step (paper: 32).
        lr: Adam learning rate (paper: 1e-4).
        schedule: ``"step"`` (x ``lr_gamma`` every ``lr_step_epochs``, the paper's StepLR) or
            ``"cosine"`` (to ``lr / 20``, for short CPU runs).
        lr_step_epochs, lr_gamma: StepLR settings (paper: 10, 0.2).
        weight_decay: Adam weight decay (paper: 0).
        clip_g_per_kg: targets are clipped here before training and scaled by it (the paper
            clipped at 87 g/kg); ``None`` trains on unclipped SOC, still scaled by 87.
        augment: random flips and 90-degree rotations of training patches.
        patience: stop after this many epochs without a better validation RMSE (None: never).
        dropout: head dropout.
        stem_maxpool: keep the ResNet stem's max-pool (paper: yes; off for 32 px CPU inputs).
        lstm_hidden, lstm_layers: climate LSTM size (paper: 128, 2).
        head_activation: ``"relu"`` or the paper's ``"sigmoid"``.
        seed: controls weight initialisation, data order, augmentation and dropout.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        amp: bfloat16 autocast and channels_last on CUDA (ignored on CPU).
        weights_path: optional local torchvision ResNet state dict (nothing is downloaded).
    """

    variant: str = "resnet101_glam_lstm"
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    schedule: str = "step"
    lr_step_epochs: int = 10
    lr_gamma: float = 0.2
    weight_decay: float = 0.0
    clip_g_per_kg: float | None = PAPER_CLIP_G_PER_KG
    augment: bool = True
    patience: int | None = None
    dropout: float = 0.2
    stem_maxpool: bool = True
    lstm_hidden: int = 128
    lstm_layers: int = 2
    head_activation: str = "relu"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    weights_path: str | None = None

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ConfigurationError(
                f"Unknown variant {self.variant!r}. Accepted: {', '.join(VARIANTS)}."
            )
        if self.schedule not in SCHEDULES:
            raise ConfigurationError(f"Unknown schedule {self.schedule!r}; accepted: {SCHEDULES}.")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigurationError(
                f"epochs, batch_size and lr must be positive; got {self.epochs}, {self.batch_size}, {self.lr}."
            )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigurationError(
                f"device must be 'auto', 'cpu' or 'cuda'; got {self.device!r}."
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigurationError(
                f"patience must be None (no early stopping) or >= 1 epoch; got {self.patience!r}."
            )


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
    """

    out_dir: Path
    metrics: dict[str, dict[str, float]]
    history: pd.DataFrame
    predictions: pd.DataFrame
    best_epoch: int
    seconds: float = 0.0
    record: dict = field(default_factory=dict)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            "device='cuda' was forced but no CUDA device is available; use 'auto' or 'cpu'."
        )
    return torch.device(device)


def _check_inputs(store: Store, split: Split, config: TrainConfig) -> None:
    spec = VARIANTS[config.variant]
    if spec.uses_climate and (store.climate is None or not store.climate_variables):
        raise ConfigurationError(
            f"Variant {config.variant!r} needs climate variables but the store at {store.path} has none; "
            "consolidate with variables (e.g. the 14 TerraClimate variables) or choose a variant without _lstm."
        )
    if not store.meta.get("has_target", True):
        raise ConfigurationError(
            f"The store at {store.path} has no OC target (a prediction grid?); it cannot be trained on."
        )
    n = len(store)
    for part in ("train", "val", "test"):
        idx = split.indices(part)
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise ConfigurationError(
                f"Split {split.name!r} has {part} indices outside the store's {n} rows."
            )


def _split_hash(split: Split, point_ids: np.ndarray) -> str:
    h = hashlib.sha256()
    for part in ("train", "val", "test"):
        h.update(part.encode())
        h.update(np.sort(point_ids[split.indices(part)]).tobytes())
    return h.hexdigest()[:16]


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


@torch.no_grad()
def predict(
    model: SoilNetModel,
    images: torch.Tensor | None,
    climate: torch.Tensor | None,
    indices: np.ndarray,
    *,
    scale_g_per_kg: float = PAPER_CLIP_G_PER_KG,
    batch_size: int = 256,
    amp: bool = False,
) -> np.ndarray:
    """Predict SOC (g/kg) for store rows ``indices`` from normalised tensors.

    Args:
        model: a trained model (put in eval mode here).
        images: normalised (N, C, S, S) tensor, or None for a climate-only variant.
        climate: normalised (N, T, F) tensor, or None.
        indices: rows to predict.
        scale_g_per_kg: the target scale the model was trained with.

    Returns:
        float64 (len(indices),) predictions in g/kg.
    """
    model.eval()
    device = next(model.parameters()).device
    out = []
    idx_all = torch.as_tensor(np.asarray(indices), dtype=torch.long)
    for lo in range(0, len(idx_all), batch_size):
        idx = idx_all[lo : lo + batch_size]
        img = (
            images[idx.to(images.device)].to(device, non_blocking=True)
            if images is not None and model.spec.uses_image
            else None
        )
        clim = (
            climate[idx.to(climate.device)].to(device, non_blocking=True)
            if climate is not None
            else None
        )
        if img is not None and device.type == "cuda" and amp:
            img = img.contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"
        ):
            pred = model(
                img if model.spec.uses_image else None, clim if model.spec.uses_climate else None
            )
        out.append(pred.float().cpu())
    return torch.cat(out).double().numpy() * scale_g_per_kg if out else np.zeros(0)


def prepare_batch(
    idx: torch.Tensor,
    images: torch.Tensor,
    climate: torch.Tensor | None,
    target: torch.Tensor,
    model: SoilNetModel,
    config: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
    use_amp: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    """Gather one training batch from the in-memory tensors, augment it and move it to ``device``.

    Returns:
        (image (B, C, S, S) or None for a climate-only variant, climate (B, T, F) or None,
        scaled target (B,)).
    """
    dev_idx = idx.to(images.device)
    img = None
    if model.spec.uses_image:  # the climate-only variant needs no patches
        img = images[dev_idx]
        if config.augment:
            img = random_dihedral(img, generator=generator)
        img = img.to(device, non_blocking=True)
        if use_amp:
            img = img.contiguous(memory_format=torch.channels_last)
    clim = climate[dev_idx].to(device, non_blocking=True) if climate is not None else None
    return img, clim, target[dev_idx].to(device)


def _save_atomic(obj, path: Path) -> None:
    # Temporary file beside ``path``, renamed onto it when complete, removed if writing fails.
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


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
        config: hyperparameters (see :class:`TrainConfig`).
        out_dir: run folder (see the module docstring); created.
        resume: continue from ``out_dir/last.pt`` when it exists and matches ``config``.
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
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    scale = config.clip_g_per_kg or PAPER_CLIP_G_PER_KG

    torch.manual_seed(config.seed)  # before building: the seed controls weight initialisation
    model = _make_model(config, store).to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = _scheduler(opt, config)
    data_gen = torch.Generator().manual_seed(config.seed)

    norm = Normalization.fit(store.images, store.climate, split.train)
    norm.save(out_dir / "normalization.json")
    # Stored with the split as well, so baselines and other tools reuse training-only statistics.
    data_dir = store.meta.get("data_dir")
    if data_dir and Path(data_dir).is_dir():
        norm.save(
            Path(data_dir)
            / "splits"
            / "normalization"
            / f"{split.name.replace('/', '_')}_{store.size_px}px.json"
        )
    images, climate = load_tensors(store, norm, device if device.type == "cuda" else "cpu")
    if not model.spec.uses_climate:
        climate = None
    oc = store.index["oc_g_per_kg"].to_numpy(np.float64)
    target_g = np.minimum(oc, config.clip_g_per_kg) if config.clip_g_per_kg else oc
    target = torch.as_tensor(target_g / scale, dtype=torch.float32, device=images.device)

    history: list[dict] = []
    start_epoch, best_rmse, best_epoch, best_state, stale = 0, math.inf, 0, None, 0
    ckpt_path = out_dir / "last.pt"
    config_dict = asdict(config)
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ckpt.get("train_config") != config_dict:
            diff = {k for k in config_dict if ckpt.get("train_config", {}).get(k) != config_dict[k]}
            raise CheckpointError(
                f"{ckpt_path} was written with other settings (differing: {', '.join(sorted(diff))}); "
                "use another out_dir or pass resume=False to start over."
            )
        model.check_config(ckpt["model_config"], source=str(ckpt_path))
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        data_gen.set_state(ckpt["data_generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"])
        start_epoch, history = ckpt["epoch"], ckpt["history"]
        best_rmse, best_epoch, best_state, stale = (
            ckpt["best_rmse"],
            ckpt["best_epoch"],
            ckpt["best_state"],
            ckpt["stale"],
        )

    train_idx = torch.as_tensor(split.train, dtype=torch.long)
    # A trailing batch of one sample joins the previous batch: BatchNorm cannot train on one
    # sample once a feature map is 1x1 (16 px patches; 32 px with the stem max-pool).
    starts = list(range(0, len(train_idx), config.batch_size))
    if len(starts) > 1 and len(train_idx) - starts[-1] == 1:
        starts.pop()
    bounds = list(zip(starts, starts[1:] + [len(train_idx)], strict=True))
    n_batches = len(bounds)
    stopped_early = False
    epochs_this_call = 0
    for epoch in range(start_epoch, config.epochs):
        if config.patience is not None and stale >= config.patience:
            stopped_early = True
            break
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
        t0 = time.perf_counter()
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=data_gen)]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=n_batches,
                desc=f"{config.variant} seed {config.seed} epoch {epoch + 1}/{config.epochs}",
                leave=False,
            )
        loss_sum, count = 0.0, 0
        for lo, hi in bounds:
            idx = order[lo:hi]
            img, clim, y = prepare_batch(
                idx, images, climate, target, model, config, data_gen, device, use_amp
            )
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                pred = model(img, clim)
            loss = torch.sqrt(
                torch.mean((pred.float() - y) ** 2)
            )  # RMSE on the scaled target, as the paper
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            count += len(idx)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / count:.4f}")
        if bar is not None:
            bar.close()
        lr = opt.param_groups[0]["lr"]
        sched.step()
        val_pred = predict(model, images, climate, split.val, scale_g_per_kg=scale, amp=use_amp)
        val_obs = target_g[split.val]
        val_rmse = float(np.sqrt(np.mean((val_pred - val_obs) ** 2)))
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": loss_sum / max(count, 1),
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
        _save_atomic(
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
                "train_config": config_dict,
                "model_config": model.config,
            },
            ckpt_path,
        )

    model.load_state_dict(best_state)
    _save_atomic(
        {
            "model": best_state,
            "model_config": model.config,
            "train_config": config_dict,
            "epoch": best_epoch,
        },
        out_dir / "best.pt",
    )
    all_idx = np.arange(len(store))
    pred_all = predict(model, images, climate, all_idx, scale_g_per_kg=scale, amp=use_amp)
    labels = split.labels(len(store))
    predictions = pd.DataFrame(
        {
            "Point_ID": store.point_ids,
            "split": labels,
            "observed_g_per_kg": oc,
            "target_g_per_kg": target_g,
            "predicted_g_per_kg": pred_all,
        }
    )
    predictions = predictions[predictions["split"] != ""].reset_index(drop=True)
    predictions.to_csv(out_dir / "predictions.csv", index=False)
    hist = pd.DataFrame(history)
    hist.to_csv(out_dir / "history.csv", index=False)
    metrics = {}
    for part in ("train", "val", "test"):
        idx = split.indices(part)
        metrics[part] = regression_metrics(target_g[idx], pred_all[idx])
    if config.clip_g_per_kg:
        metrics["test_unclipped"] = regression_metrics(oc[split.test], pred_all[split.test])
    seconds = time.perf_counter() - t_start
    record = {
        "variant": config.variant,
        "train_config": config_dict,
        "model_config": model.config,
        "data_fingerprint": store.fingerprint,
        "store": str(store.path),
        "split": split.name,
        "split_hash": _split_hash(split, store.point_ids),
        "n": {p: int(len(split.indices(p))) for p in ("train", "val", "test")},
        "seed": config.seed,
        "device": str(device)
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "stopped_early": stopped_early,
        "complete": len(history) >= config.epochs or stopped_early,
        "wall_seconds_this_call": round(seconds, 2),
        "train_seconds_total": round(float(hist["seconds"].sum()) if len(hist) else 0.0, 2),
        "metrics": metrics,
    }
    (out_dir / "run.json").write_text(json.dumps(record, indent=2, default=str))
    return RunResult(out_dir, metrics, hist, predictions, best_epoch, seconds, record)


def load_model(
    run_dir: str | Path,
    variant: str | None = None,
    device: str = "cpu",
    *,
    allow_incomplete: bool = False,
) -> tuple[SoilNetModel, Normalization, dict]:
    """Load the selected weights of a run for inference.

    Args:
        run_dir: a folder written by :func:`train`.
        variant: when given, the run must be of this variant.
        allow_incomplete: accept a run stopped before its last epoch (``run.json`` says
            ``complete: false``), e.g. to inspect a run in progress.

    Returns:
        (model in eval mode, its normalisation, the run record).

    Raises:
        CheckpointError: the run is of another variant, or incomplete.
    """
    run_dir = Path(run_dir)
    best = run_dir / "best.pt"
    if not best.is_file():
        raise CheckpointError(
            f"{best} does not exist; the run in {run_dir} has not finished. Train it first."
        )
    ckpt = torch.load(best, map_location=device, weights_only=False)
    if variant is not None and ckpt["model_config"]["variant"] != variant:
        raise CheckpointError(
            f"{best} holds variant {ckpt['model_config']['variant']!r}, not {variant!r}; point to the right run folder."
        )
    model = SoilNetModel.from_config(ckpt["model_config"]).to(device)
    model.load_state_dict(ckpt["model"])
    model.eval()
    record = (
        json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    )
    if record.get("complete") is False and not allow_incomplete:
        raise CheckpointError(
            f"The run in {run_dir} stopped after {record.get('epochs_run')} of "
            f"{record.get('train_config', {}).get('epochs')} epochs; resume it with train(...) "
            "or pass allow_incomplete=True."
        )
    return model, Normalization.load(run_dir / "normalization.json"), record


def train_seeds(
    store: Store,
    split: Split,
    config: TrainConfig,
    seeds: list[int] | tuple[int, ...],
    out_root: str | Path,
    *,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train ``config`` once per seed; return per-seed test metrics and their mean ± sd.

    Run folders are ``<out_root>/<variant>/seed<k>``; finished runs are resumed (no-op).

    Returns:
        (per-seed table: model, seed, metric columns; summary from
        :func:`soilnet.metrics.summarize_runs`).
    """
    from soilnet.metrics import summarize_runs

    rows = []
    for seed in seeds:
        res = train(
            store,
            split,
            replace(config, seed=int(seed)),
            Path(out_root) / config.variant / f"seed{seed}",
            progress=progress,
        )
        rows.append({"model": config.variant, "seed": int(seed), **res.metrics["test"]})
    per_seed = pd.DataFrame(rows)
    return per_seed, summarize_runs(per_seed, by=("model",))
