"""Checkpoints of a run folder: the resumable training state and the selected weights.

``last.pt`` (after every epoch) holds the model, optimizer, scheduler, epoch, random states,
history and best weights, together with the run's ``inputs`` (store fingerprint, split,
resolved configuration): a run resumes only when they are identical. ``best.pt`` holds the
weights of the selected epoch. Both are written atomically: a kill mid-write leaves the
previous file, and the temporary file is removed by the next write to the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from soilnet.errors import CheckpointError
from soilnet.io.atomic import atomic_path
from soilnet.models import SoilNetModel
from soilnet.transforms import Normalization

LAST, BEST = "last.pt", "best.pt"


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, renamed onto it when complete.

    Temporary files of earlier writers that were killed (``.tmp-<name>.*``) are removed first:
    a checkpoint is ~140 MB for ResNet-101 and must not pile up.
    """
    path = Path(path)
    for old in path.parent.glob(f".tmp-{path.name}.*"):
        old.unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_state(run_dir: Path, inputs: dict, device) -> dict | None:
    """The resumable state of ``run_dir/last.pt``, or None when there is none.

    Raises:
        CheckpointError: the checkpoint was written for other inputs (data, split or
            settings); the message names what differs.
    """
    path = Path(run_dir) / LAST
    if not path.is_file():
        return None
    ckpt = torch.load(path, map_location=device, weights_only=False)
    recorded = ckpt.get("inputs", {})
    if recorded != inputs:
        diff = _differences(recorded, inputs)
        raise CheckpointError(
            f"{path} was written for other inputs (differing: {', '.join(diff)}); a run is "
            "never resumed across data, splits or settings. Use another run folder (out_dir=; "
            "CLI: --out), or delete this one to start over."
        )
    return ckpt


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def load_model(
    run_dir: str | Path,
    variant: str | None = None,
    device: str = "cpu",
    *,
    allow_incomplete: bool = False,
) -> tuple[SoilNetModel, Normalization, dict]:
    """Load the selected weights of a run for inference.

    Args:
        run_dir: a folder written by :func:`soilnet.trainer.train`.
        variant: when given, the run must be of this variant.
        allow_incomplete: accept a run stopped before its last epoch (``run.json`` says
            ``complete: false``), e.g. to inspect a run in progress.

    Returns:
        (model in eval mode, its normalisation, the run record).

    Raises:
        CheckpointError: the run is of another variant, or incomplete.
    """
    run_dir = Path(run_dir)
    best = run_dir / BEST
    if not best.is_file():
        raise CheckpointError(
            f"{best} does not exist; the run in {run_dir} has not finished. Train it first."
        )
    ckpt = torch.load(best, map_location=device, weights_only=False)
    if variant is not None and ckpt["model_config"]["variant"] != variant:
        raise CheckpointError(
            f"{best} holds variant {ckpt['model_config']['variant']!r}, not {variant!r}; "
            "point to the right run folder."
        )
    model = SoilNetModel.from_config(ckpt["model_config"]).to(device)
    model.load_state_dict(ckpt["model"])
    model.eval()
    record_path = run_dir / "run.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if record.get("complete") is False and not allow_incomplete:
        raise CheckpointError(
            f"The run in {run_dir} stopped after {record.get('epochs_run')} of "
            f"{record.get('train_config', {}).get('epochs')} epochs; resume it with train(...) "
            "or pass allow_incomplete=True."
        )
    return model, Normalization.load(run_dir / "normalization.json"), record
