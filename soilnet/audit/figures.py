"""The audit's two figures: OC distributions and nearest-training-point distances."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from soilnet.audit.geography import NEAR_KM
from soilnet.bands import PAPER_CLIP_G_PER_KG


def plot_distributions(
    lucas_oc: object, test_oc: object, clip: float = PAPER_CLIP_G_PER_KG
) -> Figure:
    """Histograms (densities) of OC in LUCAS 2015 and the published test set.

    Left: raw OC on a log axis with the clip marked; right: the clipped target min(OC, clip).
    """
    import seaborn as sns

    from soilnet.plotting._base import new_figure

    lucas = np.asarray(lucas_oc, dtype=np.float64)
    test = np.asarray(test_oc, dtype=np.float64)
    data = pd.concat(
        [
            pd.DataFrame({"OC": lucas, "set": f"LUCAS 2015 (n = {len(lucas):,})"}),
            pd.DataFrame({"OC": test, "set": f"published test set (n = {len(test):,})"}),
        ],
        ignore_index=True,
    )
    data["clipped"] = np.minimum(data["OC"], clip)
    fig = new_figure((10, 3.8))
    ax_raw, ax_clip = fig.subplots(1, 2)
    positive = data[data["OC"] > 0]
    common = dict(hue="set", stat="density", common_norm=False, element="step", fill=False)
    sns.histplot(positive, x="OC", log_scale=True, bins=60, ax=ax_raw, **common)
    ax_raw.axvline(clip, color="0.3", ls="--", lw=1)
    ax_raw.text(clip, 0.6, f" clip {clip:g}", transform=ax_raw.get_xaxis_transform(), fontsize=8)
    ax_raw.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax_raw.set(xlabel="OC (g/kg, log scale)", title="Observed OC")
    sns.move_legend(ax_raw, "upper left", title=None, fontsize=8, frameon=False)
    bins = np.linspace(0.0, clip, 30)
    sns.histplot(data, x="clipped", bins=bins, ax=ax_clip, legend=False, **common)
    ax_clip.set(xlabel=f"min(OC, {clip:g}) (g/kg)", title=f"Target as trained: clipped at {clip:g}")
    return fig


def plot_nn_distances(distances: Mapping[str, object], near_km: float = NEAR_KM) -> Figure:
    """Cumulative share of test points within a distance of their nearest training point."""
    import seaborn as sns

    from soilnet.plotting._base import new_figure, palette_color

    fig = new_figure((6.5, 4.0))
    ax = fig.add_subplot()
    for i, (name, d) in enumerate(distances.items()):
        sns.ecdfplot(x=np.asarray(d, dtype=np.float64), ax=ax, label=name, color=palette_color(i))
    ax.axvline(near_km, color="0.3", ls="--", lw=1)
    ax.text(near_km, 0.02, f" {near_km:g} km", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([1, 2, 3, 5, 10, 20, 50, 100]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set(
        xlabel="distance to the nearest training point (km, EPSG:3035, log scale)",
        ylabel="share of test points",
        title="Published test set: nearest training point",
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig
