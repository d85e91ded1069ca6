"""Band, spectral-index and climate-variable names, their order, and the index formulas.

The order is the one of the authors' downloader (``BANDS`` in ``L8_dataset_downloader.ipynb``):
seven Landsat-8 Collection-2 Level-2 surface-reflectance bands, five normalized-difference
indices, then SRTM/Copernicus elevation (m) and percent slope (tan(slope) x 100).
"""

from __future__ import annotations

import numpy as np

#: Landsat-8 surface reflectance bands (reflectance 0-1 after ``DN * 2.75e-5 - 0.2``).
SPECTRAL_BANDS: tuple[str, ...] = ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7")

#: Normalized-difference indices: name -> (band a, band b) for (a - b) / (a + b).
INDEX_FORMULAS: dict[str, tuple[str, str]] = {
    "clayIndex": ("SR_B6", "SR_B7"),
    "ferrousIndex": ("SR_B6", "SR_B5"),
    "carbonateIndex": ("SR_B4", "SR_B3"),
    "rockOutcropIndex": ("SR_B6", "SR_B3"),
    "NDVI": ("SR_B5", "SR_B4"),
}
INDEX_BANDS: tuple[str, ...] = tuple(INDEX_FORMULAS)

#: Topography: elevation in metres, slope in percent.
TOPO_BANDS: tuple[str, ...] = ("elevation", "slopePCT")

#: The 14 patch bands in the order every array in soilnet uses.
BAND_NAMES: tuple[str, ...] = SPECTRAL_BANDS + INDEX_BANDS + TOPO_BANDS

#: The 12 bands of exports made with ``USE_SRTM=False`` (and of the paper's RF features).
OPTICAL_BANDS: tuple[str, ...] = SPECTRAL_BANDS + INDEX_BANDS

#: All 14 TerraClimate variables used by the published LSTM run (alphabetical).
CLIMATE_VARIABLES: tuple[str, ...] = (
    "aet", "def", "pdsi", "pet", "pr", "ro", "soil",
    "srad", "swe", "tmmn", "tmmx", "vap", "vpd", "vs",
)  # fmt: skip

#: The 12 variables of the poster's climate figure (without ``ro`` and ``swe``).
POSTER_CLIMATE_VARIABLES: tuple[str, ...] = tuple(
    v for v in CLIMATE_VARIABLES if v not in ("ro", "swe")
)

#: TerraClimate units, for axis labels and docstrings.
CLIMATE_UNITS: dict[str, str] = {
    "aet": "mm", "def": "mm", "pdsi": "-", "pet": "mm", "pr": "mm", "ro": "mm",
    "soil": "mm", "srad": "W/m²", "swe": "mm", "tmmn": "°C", "tmmx": "°C",
    "vap": "kPa", "vpd": "kPa", "vs": "m/s",
}  # fmt: skip

#: The paper clips SOC targets at this value (g/kg), about the 91st LUCAS percentile.
PAPER_CLIP_G_PER_KG: float = 87.0


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``(a - b) / (a + b)``, NaN where ``a + b == 0``.

    Args:
        a, b: arrays of equal shape (reflectance, any unit as long as both share it).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a - b) / denom
    out[denom == 0] = np.nan
    return out


def compute_indices(reflectance: np.ndarray) -> np.ndarray:
    """Compute the five indices from the seven reflectance bands.

    Args:
        reflectance: float array (7, H, W) in :data:`SPECTRAL_BANDS` order, reflectance 0-1.

    Returns:
        float64 array (5, H, W) in :data:`INDEX_BANDS` order, each in [-1, 1] (NaN where
        the denominator is zero or an input is NaN).
    """
    reflectance = np.asarray(reflectance)
    if reflectance.ndim != 3 or reflectance.shape[0] != len(SPECTRAL_BANDS):
        raise ValueError(
            f"compute_indices expects (7, H, W) reflectance in {SPECTRAL_BANDS} order; "
            f"got shape {reflectance.shape}."
        )
    pos = {name: i for i, name in enumerate(SPECTRAL_BANDS)}
    return np.stack(
        [
            normalized_difference(reflectance[pos[a]], reflectance[pos[b]])
            for a, b in INDEX_FORMULAS.values()
        ]
    )
