"""Figures of the SoilNet study. Every function returns a :class:`matplotlib.figure.Figure`.

Figures are built without pyplot's global state (no ``plt.show``, no ``matplotlib.use``, no
figure left open in ``pyplot``), so a notebook shows each one exactly once: as the last
expression of a cell, or with ``display(fig)``; save with ``fig.savefig(path)``.

One module per figure family, all re-exported here (``from soilnet import plotting``):

- :mod:`~soilnet.plotting.europe`: SOC maps over Europe in EPSG:3035 (points and rasters),
  among them :func:`plot_point_maps`, the paper's Figure 7.
- :mod:`~soilnet.plotting.data`: the input data (SOC histogram, patch bands, climate series,
  land-cover shares beside :data:`LUCAS_2015_LAND_COVER`).
- :mod:`~soilnet.plotting.training`: loss curves.
- :mod:`~soilnet.plotting.distributions`: predicted against observed SOC, among them
  :func:`plot_ridgelines`, the paper's Figure 6 (seaborn KDEs), and seaborn box plots of the
  error by land cover.
- :mod:`~soilnet.plotting.uncertainty`: interval calibration, PIT histograms and the error
  against the dissimilarity index of the area of applicability.
- :mod:`~soilnet.plotting.attention`: GLAM's local spatial attention beside the patches.
- :mod:`~soilnet.plotting.falsification`: planted share against measured gain on the twin grids.
- :mod:`~soilnet.plotting._base`: the figure class, colours and input checks they share.
"""

from soilnet.plotting._base import (
    PAPER_COLORS,
    SOC_CMAP,
    SOC_LABEL,
    SoilNetFigure,
    model_color,
)
from soilnet.plotting.attention import plot_attention
from soilnet.plotting.data import (
    CLIMATE_LONG_NAMES,
    LUCAS_2015_LAND_COVER,
    plot_climate_series,
    plot_land_cover_shares,
    plot_patch_gallery,
    plot_soc_histogram,
)
from soilnet.plotting.distributions import (
    plot_errors_by_land_cover,
    plot_observed_vs_predicted,
    plot_ridgelines,
)
from soilnet.plotting.europe import (
    plot_map_layer,
    plot_point_errors,
    plot_point_maps,
    plot_points_map,
    plot_soc_map,
)
from soilnet.plotting.falsification import plot_planted_gains
from soilnet.plotting.training import plot_loss_curves
from soilnet.plotting.uncertainty import plot_calibration, plot_di_error, plot_pit_histograms

__all__ = [
    "CLIMATE_LONG_NAMES",
    "LUCAS_2015_LAND_COVER",
    "PAPER_COLORS",
    "SOC_CMAP",
    "SOC_LABEL",
    "SoilNetFigure",
    "model_color",
    "plot_attention",
    "plot_calibration",
    "plot_climate_series",
    "plot_di_error",
    "plot_errors_by_land_cover",
    "plot_land_cover_shares",
    "plot_loss_curves",
    "plot_map_layer",
    "plot_observed_vs_predicted",
    "plot_planted_gains",
    "plot_patch_gallery",
    "plot_pit_histograms",
    "plot_point_errors",
    "plot_point_maps",
    "plot_points_map",
    "plot_ridgelines",
    "plot_soc_histogram",
    "plot_soc_map",
]
