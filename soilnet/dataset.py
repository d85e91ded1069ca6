"""Torch datasets over a consolidated :class:`~soilnet.store.Store`.

Every item is a dict with the same keys for every model variant (unused keys are ignored):

=========  ========================  ==================================================
key        dtype, shape              meaning
=========  ========================  ==================================================
image      float32 (C, H, W)         bands in ``store.band_names`` order (normalised
                                     when a :class:`Normalization` is given)
climate    float32 (T, F)            monthly, oldest first (normalised likewise);
                                     (0, 0) when the store has no climate
target     float32 ()                SOC in g/kg, unscaled, clipped when ``clip_g_per_kg``
point_id   int64 ()                  LUCAS Point_ID
lonlat     float64 (2,)              EPSG:4326 degrees
=========  ========================  ==================================================
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from soilnet.store import Store
from soilnet.transforms import Normalization


class SoilDataset(Dataset):
    """Points of a store, optionally a subset, as sample dicts.

    Args:
        store: the consolidated data.
        indices: store rows to expose (default all).
        normalization: z-score statistics fitted on the training split, or None for physical units.
        clip_g_per_kg: clip the target at this value (the paper: 87); None keeps it as observed.

    Features:
        * input size: (len(store.band_names), S, S) patches, S = ``store.size_px``
        * regression target: soil organic carbon, g/kg (LUCAS ``OC``)

    Citation:
        Kakhani et al. (2023), SoilNet, arXiv:2308.03722.
    """

    def __init__(
        self,
        store: Store,
        indices: np.ndarray | None = None,
        normalization: Normalization | None = None,
        clip_g_per_kg: float | None = None,
    ):
        self.store = store
        self.indices = np.arange(len(store)) if indices is None else np.asarray(indices, np.int64)
        self.normalization = normalization
        self.clip_g_per_kg = clip_g_per_kg
        oc = store.index["oc_g_per_kg"].to_numpy(np.float32)
        self._target = np.minimum(oc, clip_g_per_kg) if clip_g_per_kg else oc

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = int(self.indices[i])
        image = torch.from_numpy(np.array(self.store.images[row], dtype=np.float32))
        if self.store.climate is not None:
            climate = torch.from_numpy(np.array(self.store.climate[row], dtype=np.float32))
        else:
            climate = torch.zeros((0, 0), dtype=torch.float32)
        if self.normalization is not None:
            image = self.normalization.image(image)
            if climate.numel():
                climate = self.normalization.climate(climate)
        idx = self.store.index
        return {
            "image": image,
            "climate": climate,
            "target": torch.tensor(self._target[row], dtype=torch.float32),
            "point_id": torch.tensor(int(idx["Point_ID"].iat[row]), dtype=torch.int64),
            "lonlat": torch.tensor(
                [idx["long"].iat[row], idx["lat"].iat[row]], dtype=torch.float64
            ),
        }


def load_tensors(
    store: Store, normalization: Normalization, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read and normalise the whole store once, as tensors on ``device``.

    Training indexes these tensors directly: a batch is a gather, not 32 file reads, so the
    GPU (or CPU) never waits for data. Memory: N x C x S x S x 4 bytes (default twin: 0.3 GB;
    paper: 21,859 x 14 x 64 x 64 x 4 = 5 GB).

    Returns:
        (images float32 (N, C, S, S), climate float32 (N, T, F) or None), normalised.
    """
    images = torch.empty(store.images.shape, dtype=torch.float32, device=device)
    chunk = 2048
    for lo in range(0, len(store), chunk):
        block = torch.from_numpy(np.array(store.images[lo : lo + chunk], dtype=np.float32))
        images[lo : lo + chunk] = normalization.image(block).to(device)
    climate = None
    if store.climate is not None and store.climate.shape[-1]:
        climate = normalization.climate(
            torch.from_numpy(np.array(store.climate, dtype=np.float32))
        ).to(device)
    return images, climate
