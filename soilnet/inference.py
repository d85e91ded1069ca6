"""Inference: predictions in g/kg from a trained model, for points and map cells alike."""

from __future__ import annotations

import numpy as np
import torch

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.errors import ConfigurationError
from soilnet.models import SoilNetModel


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            "device='cuda' was forced but no CUDA device is available; use 'auto' or 'cpu'."
        )
    return torch.device(device)


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
    """Predict SOC (g/kg) for rows ``indices`` of normalised tensors.

    Args:
        model: a trained model (put in eval mode here).
        images: normalised (N, C, S, S) float32 or float16 tensor (``image`` of
            :func:`soilnet.dataset.load_tensors`), or None for a climate-only variant.
        climate: normalised (N, T, F) tensor, or None.
        indices: rows to predict.
        scale_g_per_kg: the target scale the model was trained with
            (:attr:`soilnet.dataset.TargetTransform.scale_g_per_kg`).
        batch_size: samples per forward pass.
        amp: bfloat16 autocast and channels_last on CUDA.

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
        elif img is not None and img.dtype != torch.float32:
            img = img.float()  # float16 images of the GPU path, without autocast
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"
        ):
            pred = model(
                img if model.spec.uses_image else None, clim if model.spec.uses_climate else None
            )
        out.append(pred.float().cpu())
    return torch.cat(out).double().numpy() * scale_g_per_kg if out else np.zeros(0)


@torch.no_grad()
def embed_and_predict(
    model: SoilNetModel,
    images: torch.Tensor | None,
    climate: torch.Tensor | None,
    batch_size: int = 256,
    *,
    scale_g_per_kg: float = PAPER_CLIP_G_PER_KG,
) -> tuple[np.ndarray, np.ndarray]:
    """The vector the regressor head receives (:meth:`SoilNetModel.embed`) and the prediction
    (g/kg) for every row of normalised tensors, from one forward pass per batch on the model's
    device: the head is applied to the embedding, as :meth:`SoilNetModel.forward` does.

    Returns:
        float64 (N, embedding size) and float64 (N,) predictions in g/kg.
    """
    model.eval()
    device = next(model.parameters()).device
    n = len(images) if images is not None else len(climate)
    sizes = [p[0].in_features for p in model.head.projections]
    embeddings, preds = [], []
    for lo in range(0, n, batch_size):
        img = None if images is None or not model.spec.uses_image else images[lo : lo + batch_size]
        clim = (
            None
            if climate is None or not model.spec.uses_climate
            else climate[lo : lo + batch_size]
        )
        emb = model.embed(
            None if img is None else img.to(device), None if clim is None else clim.to(device)
        )
        preds.append(model.head(list(torch.split(emb, sizes, dim=1))).double().cpu().numpy())
        embeddings.append(emb.double().cpu().numpy())
    if not embeddings:
        return np.zeros((0, sum(sizes))), np.zeros(0)
    return np.concatenate(embeddings), np.concatenate(preds) * scale_g_per_kg


def embed(
    model: SoilNetModel,
    images: torch.Tensor | None,
    climate: torch.Tensor | None,
    batch_size: int = 256,
) -> np.ndarray:
    """The vector the regressor head receives (:meth:`SoilNetModel.embed`) for every row of
    normalised tensors, in batches on the model's device (:func:`embed_and_predict`).

    Returns:
        float64 (N, embedding size).
    """
    return embed_and_predict(model, images, climate, batch_size)[0]


@torch.no_grad()
def glam_maps(model: SoilNetModel, images: torch.Tensor) -> dict[str, np.ndarray]:
    """What GLAM looks at: its local spatial attention and fusion weights for some patches.

    Args:
        model: a trained variant with GLAM.
        images: normalised (B, C, S, S) patches (rows of ``image`` from
            :func:`soilnet.dataset.load_tensors`).

    Returns:
        ``local_spatial`` float (B, h, w) in 0..1 on GLAM's feature grid (h = S/4 without the
        stem max-pool), and ``fusion_weights`` float (3,): the weights of the local branch, the
        input and the global branch in GLAM's output.

    Raises:
        ConfigurationError: the model has no GLAM block.
    """
    cnn = getattr(model, "cnn", None)
    if cnn is None or cnn.glam is None:
        raise ConfigurationError(
            f"Variant {getattr(model, 'variant', '?')!r} has no GLAM block; pick a *_glam variant."
        )
    model.eval()
    device = next(model.parameters()).device
    maps = cnn.glam.attention_maps(cnn.layer2_features(images.to(device)))
    return {
        "local_spatial": maps["local_spatial"][:, 0].float().cpu().numpy(),
        "fusion_weights": maps["fusion_weights"].float().cpu().numpy(),
    }
