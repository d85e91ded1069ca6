"""soilnet.plotting.attention: patches above GLAM's local spatial attention."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet import plotting as P
from soilnet.bands import BAND_NAMES


def test_plot_attention_draws_each_patch_above_its_map(finish):
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 0.3, size=(3, len(BAND_NAMES), 16, 16))
    maps = rng.uniform(size=(3, 4, 4))
    fig = P.plot_attention(
        images, BAND_NAMES, maps, [0.2, 0.5, 0.3], labels=["Cropland", "Woodland", "Grassland"]
    )
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 6  # 2 rows x 3 patches
    assert [ax.get_title() for ax in image_axes[:3]] == ["Cropland", "Woodland", "Grassland"]
    bottom = image_axes[3].images[0]
    np.testing.assert_array_equal(bottom.get_array(), maps[0])
    assert bottom.get_clim() == (0.0, 1.0) and bottom.get_extent() == [0, 16, 16, 0]
    assert "local 0.20, input 0.50, global 0.30" in fig.get_suptitle()
    finish(fig)


def test_plot_attention_rejects_bad_input():
    images = np.zeros((2, len(BAND_NAMES), 8, 8))
    with pytest.raises(ValueError, match="same n"):
        P.plot_attention(images, BAND_NAMES, np.zeros((3, 2, 2)), [1, 0, 0])
    with pytest.raises(ValueError, match="3 values"):
        P.plot_attention(images, BAND_NAMES, np.zeros((2, 2, 2)), [1, 0])
    with pytest.raises(ValueError, match="SR_B4"):
        P.plot_attention(images[:, 7:], BAND_NAMES[7:], np.zeros((2, 2, 2)), [1, 0, 0])
