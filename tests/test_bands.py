"""soilnet.bands: the band order every array uses and the index formulas."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.bands import (
    BAND_NAMES,
    CLIMATE_UNITS,
    CLIMATE_VARIABLES,
    INDEX_BANDS,
    OPTICAL_BANDS,
    compute_indices,
    normalized_difference,
)


def test_band_order_is_the_exports():
    assert BAND_NAMES[:7] == ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7")
    assert INDEX_BANDS == (
        "clayIndex",
        "ferrousIndex",
        "carbonateIndex",
        "rockOutcropIndex",
        "NDVI",
    )
    assert BAND_NAMES[-2:] == ("elevation", "slopePCT") and OPTICAL_BANDS == BAND_NAMES[:12]
    assert len(CLIMATE_VARIABLES) == 14 and set(CLIMATE_UNITS) == set(CLIMATE_VARIABLES)


def test_indices_by_hand():
    refl = np.full((7, 1, 2), 0.1)
    refl[4] = 0.5  # SR_B5 (near infrared)
    refl[3] = 0.1  # SR_B4 (red)
    refl[5, 0, 1] = 0.3  # SR_B6 in the second pixel
    out = compute_indices(refl)
    assert out.shape == (5, 1, 2)
    np.testing.assert_allclose(out[4], (0.5 - 0.1) / (0.5 + 0.1))  # NDVI
    np.testing.assert_allclose(out[0, 0], [0.0, (0.3 - 0.1) / 0.4])  # clay: (B6 - B7)/(B6 + B7)
    np.testing.assert_allclose(out[1, 0], [(0.1 - 0.5) / 0.6, (0.3 - 0.5) / 0.8])  # ferrous


def test_zero_denominator_is_nan_and_shape_is_checked():
    assert np.isnan(normalized_difference(np.array([0.0]), np.array([0.0])))[0]
    with pytest.raises(ValueError, match=r"\(7, H, W\)"):
        compute_indices(np.zeros((6, 2, 2)))
