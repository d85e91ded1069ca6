"""Normalisation and augmentation of sample tensors.

Normalisation statistics are fitted on the training split only (the authors fitted the climate
min-max scaling on all points, test included) and stored as JSON with each run
(``normalization.json`` in its run folder).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class Normalization:
    """Per-channel and per-variable z-score statistics.

    Attributes:
        image_mean, image_std: (C,) over training points and pixels, physical units.
        climate_mean, climate_std: (F,) over training points and months (empty without climate).
        n_train: number of training points the statistics come from.
    """

    image_mean: list[float]
    image_std: list[float]
    climate_mean: list[float]
    climate_std: list[float]
    n_train: int

    @classmethod
    def fit(
        cls,
        images: np.ndarray,
        climate: np.ndarray | None,
        train_idx: np.ndarray,
        chunk: int = 1024,
    ) -> Normalization:
        """Fit on the training rows of a store.

        Args:
            images: (N, C, H, W) array or memmap, physical units.
            climate: (N, T, F) or None.
            train_idx: row indices of the training split.
        """
        train_idx = np.sort(np.asarray(train_idx))
        c = images.shape[1]
        s1, s2, count = np.zeros(c), np.zeros(c), 0
        for lo in range(0, len(train_idx), chunk):
            block = np.asarray(images[train_idx[lo : lo + chunk]], dtype=np.float64)
            s1 += block.sum(axis=(0, 2, 3))
            s2 += (block**2).sum(axis=(0, 2, 3))
            count += block.shape[0] * block.shape[2] * block.shape[3]
        mean = s1 / count
        std = np.sqrt(np.maximum(s2 / count - mean**2, 0))
        if climate is not None and climate.shape[-1]:
            clim = np.asarray(climate[train_idx], dtype=np.float64)
            cmean, cstd = clim.mean(axis=(0, 1)), clim.std(axis=(0, 1))
        else:
            cmean, cstd = np.zeros(0), np.zeros(0)
        return cls(
            image_mean=mean.tolist(),
            image_std=np.maximum(std, 1e-6).tolist(),
            climate_mean=cmean.tolist(),
            climate_std=np.maximum(cstd, 1e-6).tolist(),
            n_train=len(train_idx),
        )

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a (B, C, H, W) or (C, H, W) image tensor."""
        mean = torch.tensor(self.image_mean, dtype=x.dtype, device=x.device)[:, None, None]
        std = torch.tensor(self.image_std, dtype=x.dtype, device=x.device)[:, None, None]
        return (x - mean) / std

    def climate(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise a (B, T, F) or (T, F) climate tensor."""
        mean = torch.tensor(self.climate_mean, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.climate_std, dtype=x.dtype, device=x.device)
        return (x - mean) / std

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Normalization:
        return cls(**json.loads(Path(path).read_text()))


def random_dihedral(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply an independent random flip and 90-degree rotation to each image of a batch.

    The 8 elements of the dihedral group keep north-south/east-west structure intact up to
    symmetry and need no interpolation (the authors' arbitrary-angle rotation with nearest
    neighbour and reflect padding does). ``images``: (B, C, H, W) with H == W.

    The choices are drawn on the generator's device (the CPU without one), so a CUDA generator
    keeps the whole augmentation on the GPU, without a host round trip.
    """
    where = generator.device if generator is not None else torch.device("cpu")
    choice = torch.randint(0, 8, (images.shape[0],), generator=generator, device=where)
    return dihedral(images, choice)


def dihedral(images: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Element ``choice[b]`` of the dihedral group applied to image ``b``: a flip of the last
    axis when ``choice >= 4``, then ``choice % 4`` counter-clockwise quarter turns.

    Branch-free (selects among the 8 transformed batches), so on a GPU it needs no
    synchronisation with the host. ``images``: (B, C, H, W) with H == W; ``choice``: int (B,).
    """
    choice = choice.to(images.device)
    flip = (choice >= 4).view(-1, 1, 1, 1)
    base = torch.where(flip, images.flip(-1), images)
    turns = (choice % 4).view(-1, 1, 1, 1)
    out = base
    for k in (1, 2, 3):
        out = torch.where(turns == k, torch.rot90(base, k, dims=(-2, -1)), out)
    return out
