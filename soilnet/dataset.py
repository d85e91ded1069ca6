"""The one data path: every consumer reads points as sample dicts with the same keys.

=========  ========================  ==================================================
key        dtype, shape (one point)  meaning
=========  ========================  ==================================================
image      float32 (C, H, W)         bands in ``store.band_names`` order: reflectance 0-1,
                                     indices, elevation m, slope %; z-scored when a
                                     :class:`~soilnet.transforms.Normalization` is given
climate    float32 (T, F)            monthly, oldest first (z-scored likewise); absent
                                     (None) when the store has no climate
target     float32/64 ()             SOC in g/kg after :class:`TargetTransform` (clipped as
                                     trained); NaN for a prediction grid
point_id   int64 ()                  LUCAS Point_ID (or the grid cell's ID)
xy         float64 (2,)              EPSG:3035 easting, northing in metres
=========  ========================  ==================================================

Batches add a leading axis. Three readers share these keys:

- :func:`point_arrays`: numpy arrays of store rows in physical units (baselines, evaluation).
- :func:`load_tensors`: the whole store as normalised tensors in memory (training's fast path:
  a batch is a gather, not 32 file reads); :func:`gather` takes a batch from them.
- :func:`soilnet.mapping` grids: tiles of a synthetic world or of a consolidated prediction
  store, with the same keys (target NaN).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.store import Store
from soilnet.transforms import Normalization

SAMPLE_KEYS = ("image", "climate", "target", "point_id", "xy")


@dataclass(frozen=True)
class TargetTransform:
    """The target transform, defined once: clip SOC, then scale it for the network.

    The paper clipped SOC at 87 g/kg and trained on SOC / 87 (RMSE loss on that scale).

    Attributes:
        clip_g_per_kg: clip SOC here (g/kg); None keeps it as observed.
    """

    clip_g_per_kg: float | None = PAPER_CLIP_G_PER_KG

    @property
    def scale_g_per_kg(self) -> float:
        """Divisor of the network's target (the clip value, 87 without clipping)."""
        return self.clip_g_per_kg or PAPER_CLIP_G_PER_KG

    def target_g_per_kg(self, oc_g_per_kg) -> np.ndarray:
        """float64 SOC in g/kg as models are trained and scored on (clipped when set)."""
        oc = np.asarray(oc_g_per_kg, np.float64)
        return np.minimum(oc, self.clip_g_per_kg) if self.clip_g_per_kg else oc

    def to_network(self, oc_g_per_kg) -> np.ndarray:
        """The network's regression target: clipped SOC / scale (dimensionless)."""
        return self.target_g_per_kg(oc_g_per_kg) / self.scale_g_per_kg

    def to_g_per_kg(self, network_output) -> np.ndarray:
        """float64 g/kg from the network's output scale."""
        return np.asarray(network_output, np.float64) * self.scale_g_per_kg

    def to_dict(self) -> dict:
        return {**asdict(self), "scale_g_per_kg": self.scale_g_per_kg}


def point_arrays(
    store: Store, rows: np.ndarray, target: TargetTransform | None = TargetTransform()
) -> dict[str, np.ndarray | None]:
    """Store rows as a batch of sample dicts in physical units (numpy).

    Args:
        store: the consolidated data.
        rows: int (N,) store rows, in the order wanted.
        target: the target transform (None: SOC as observed).

    Returns:
        dict with :data:`SAMPLE_KEYS`; ``image`` float32 (N, C, S, S), ``climate`` float32
        (N, T, F) or None, ``target`` float64 (N,) g/kg, ``point_id`` int64 (N,), ``xy``
        float64 (N, 2).
    """
    rows = np.asarray(rows, np.int64)
    oc = store.index["oc_g_per_kg"].to_numpy(np.float64)[rows]
    # A memory map reads fastest in ascending order; put the rows back in the order asked.
    image = np.asarray(store.images[np.sort(rows)])[np.argsort(np.argsort(rows))]
    return {
        "image": image,
        "climate": None if store.climate is None else np.asarray(store.climate[rows]),
        "target": target.target_g_per_kg(oc) if target is not None else oc,
        "point_id": store.point_ids[rows],
        "xy": store.xy[rows],
    }


def load_tensors(
    store: Store,
    normalization: Normalization,
    target: TargetTransform = TargetTransform(),
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor | None]:
    """The whole store as normalised tensors on ``device`` (training and evaluation).

    Memory: N x C x S x S x 4 bytes (default twin: 0.3 GB; paper: 21,859 x 14 x 64 x 64 x 4 =
    5 GB).

    Returns:
        dict with :data:`SAMPLE_KEYS` over all N store rows: ``image`` float32 (N, C, S, S)
        and ``climate`` float32 (N, T, F) (or None) normalised, ``target`` float32 (N,) on the
        network's scale (:meth:`TargetTransform.to_network`), ``point_id`` int64 (N,), ``xy``
        float64 (N, 2).
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
    oc = store.index["oc_g_per_kg"].to_numpy(np.float64)
    return {
        "image": images,
        "climate": climate,
        "target": torch.as_tensor(target.to_network(oc), dtype=torch.float32, device=device),
        "point_id": torch.from_numpy(np.array(store.point_ids)),
        "xy": torch.from_numpy(np.array(store.xy)),
    }


def gather(tensors: dict[str, torch.Tensor | None], rows: torch.Tensor) -> dict:
    """A batch of rows from :func:`load_tensors` (or any dict of (N, ...) tensors)."""
    out = {}
    for key, value in tensors.items():
        out[key] = None if value is None else value[rows.to(value.device)]
    return out
