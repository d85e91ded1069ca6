"""What GLAM looks at: patches beside their local spatial attention maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from soilnet.plotting._base import new_figure
from soilnet.plotting.data import _composite

__all__ = ["plot_attention"]

#: Fusion weights in the order GLAM stores them (see :meth:`soilnet.models.attention.GLAM`).
_FUSION = ("local", "input", "global")


def plot_attention(
    images,
    band_names: Sequence[str],
    local_spatial,
    fusion_weights,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Each patch (true colour) above GLAM's local spatial attention on it.

    The attention map lives on GLAM's feature grid (h x w, coarser than the patch); it is
    drawn over the patch's extent with nearest-neighbour cells, on a fixed 0-1 scale so maps of
    different patches compare.

    Args:
        images: float (n, C, S, S) patches in physical units (reflectance 0-1 for SR bands).
        band_names: (C,) band names; must hold SR_B4, SR_B3 and SR_B2.
        local_spatial: float (n, h, w) attention in 0..1 (:func:`soilnet.inference.glam_maps`).
        fusion_weights: float (3,) weights of GLAM's local branch, input and global branch.
        labels: (n,) one title per patch (e.g. land cover and Point_ID).
        title: figure title; the fusion weights are appended.

    Returns:
        a figure with 2 x n image axes and a colour bar.
    """
    images = np.asarray(images, dtype=np.float64)
    maps = np.asarray(local_spatial, dtype=np.float64)
    weights = np.asarray(fusion_weights, dtype=np.float64).ravel()
    if images.ndim != 4 or maps.ndim != 3 or len(images) != len(maps) or not len(images):
        raise ValueError(
            f"images must be (n, C, S, S) and local_spatial (n, h, w) with the same n >= 1; "
            f"got {images.shape} and {maps.shape}."
        )
    if weights.shape != (3,):
        raise ValueError(f"fusion_weights must hold 3 values; got shape {weights.shape}.")
    labels = list(labels) if labels is not None else [f"patch {i}" for i in range(len(images))]
    if len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} patches.")
    pos = {name: i for i, name in enumerate(band_names)}
    missing = [b for b in ("SR_B4", "SR_B3", "SR_B2") if b not in pos]
    if missing:
        raise ValueError(f"band_names lack {missing}; a true-colour view needs SR_B4/3/2.")
    n = len(images)
    fig = new_figure((1.55 * n + 1.2, 3.6))
    axes = fig.subplots(2, n, squeeze=False)
    size = images.shape[-1]
    im = None
    for k in range(n):
        top, bottom = axes[0, k], axes[1, k]
        top.imshow(_composite(images[k], pos, ("SR_B4", "SR_B3", "SR_B2")), interpolation="nearest")
        top.set_title(labels[k], fontsize=7)
        im = bottom.imshow(
            maps[k], cmap="magma", vmin=0.0, vmax=1.0, extent=(0, size, size, 0),
            interpolation="nearest",
        )  # fmt: skip
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("patch", fontsize=8)
    axes[1, 0].set_ylabel("local spatial\nattention", fontsize=8)
    fig.colorbar(im, ax=list(axes[1]), shrink=0.9, label="attention (0-1)")
    fusion = ", ".join(f"{name} {w:.2f}" for name, w in zip(_FUSION, weights, strict=True))
    fig.suptitle(f"{title or 'What GLAM looks at'} (fusion weights: {fusion})", fontsize=10)
    return fig
