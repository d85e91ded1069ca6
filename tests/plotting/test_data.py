"""Tests for soilnet.plotting.data: histogram, patch gallery, climate series, land cover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soilnet import plotting as P
from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES
from soilnet.errors import PatchBandsError


def test_plot_soc_histogram_marks_clip(points, finish):
    _, _, obs, _ = points
    share = (obs > 87).mean()
    fig = P.plot_soc_histogram(obs)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.lines) == 1 and ax.lines[0].get_xdata()[0] == 87
    assert any(f"{share:.1%}" in t.get_text() for t in ax.texts)
    assert sum(p.get_height() for p in ax.patches) == (obs > 0).sum()
    assert ax.get_title().startswith(f"SOC distribution (n = {len(obs):,};")
    finish(fig)
    fig = P.plot_soc_histogram(obs, log=False)
    assert fig.axes[0].get_xscale() == "linear"
    assert fig.axes[0].get_xlabel() == "SOC (g/kg)"
    assert any("linear" in t.get_text() for t in fig.axes[0].texts)
    finish(fig)


def test_plot_soc_histogram_counts_values_hidden_by_log_axis(finish):
    fig = P.plot_soc_histogram([0.0, 2.0, 5.0, 100.0], clip=None)
    ax = fig.axes[0]
    assert not ax.lines  # no clip line
    assert any("1 value(s) <= 0 not shown" in t.get_text() for t in ax.texts)
    finish(fig)
    with pytest.raises(ValueError, match="oc_g_per_kg is empty"):
        P.plot_soc_histogram([])


def test_plot_patch_gallery_has_ten_titled_panels(finish):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (14, 16, 16))
    image[:7, 3:6, 3:6] = np.nan  # a cloud
    fig = P.plot_patch_gallery(image, BAND_NAMES)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 + 5 + 2
    assert len(fig.axes) == 10 + 7  # a colour bar beside each single-band panel
    titles = [ax.get_title() for ax in panels]
    assert titles[0] == "True colour\nSR_B4 / SR_B3 / SR_B2"
    assert titles[2] == "Short-wave infrared\nSR_B7 / SR_B6 / SR_B4"
    assert titles[-2:] == ["Elevation (m)", "Slope (%)"]
    rgba = panels[0].images[0].get_array()
    assert rgba.shape == (16, 16, 4) and rgba[4, 4, 3] == 0  # cloud transparent
    assert rgba[0, 0, 3] == 1 and 0 <= rgba[..., :3].min() and rgba[..., :3].max() <= 1
    assert "14 bands, 16 x 16 px" in fig.get_suptitle()
    finish(fig)


def test_plot_patch_gallery_flat_and_empty_bands(finish):
    image = np.ones((14, 8, 8))
    image[BAND_NAMES.index("SR_B4")] = np.nan  # a fully clouded band
    fig = P.plot_patch_gallery(image, BAND_NAMES, title="flat")
    rgba = fig.axes[0].images[0].get_array()
    assert (rgba[..., 3] == 0).all()  # SR_B4 missing everywhere: the composite is transparent
    assert fig.get_suptitle() == "flat"
    finish(fig)


def test_plot_patch_gallery_of_a_12_band_export_has_no_topography(finish):
    image = np.random.default_rng(1).uniform(0, 1, (12, 8, 8))
    fig = P.plot_patch_gallery(image, BAND_NAMES[:12])
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 3 + 5 and not any("Elevation" in t or "Slope" in t for t in titles)
    finish(fig)


def test_plot_patch_gallery_missing_band():
    names = list(BAND_NAMES)
    names[names.index("NDVI")] = "other"
    with pytest.raises(PatchBandsError, match="NDVI"):
        P.plot_patch_gallery(np.zeros((14, 8, 8)), names)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        P.plot_patch_gallery(np.zeros((13, 8, 8)), BAND_NAMES)


def test_plot_climate_series(finish):
    rng = np.random.default_rng(1)
    climate = rng.normal(size=(3, 61, len(CLIMATE_VARIABLES)))
    months = pd.date_range("2010-01", periods=61, freq="MS").strftime("%Y%m%d")
    fig = P.plot_climate_series(climate, months, CLIMATE_VARIABLES, ["p1", "p2", "p3"])
    assert len(fig.axes) == 4
    for ax, var in zip(fig.axes, ("tmmx", "pr", "pdsi", "swe"), strict=True):
        assert len(ax.lines) == 3
        assert ax.get_ylabel().startswith(var)
        np.testing.assert_array_equal(
            ax.lines[1].get_ydata(), climate[1, :, CLIMATE_VARIABLES.index(var)]
        )
    assert fig.axes[0].get_ylabel() == "tmmx (°C)"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["p1", "p2", "p3"]
    assert fig.get_suptitle() == "Monthly climate, Jan 2010 to Jan 2015"
    finish(fig)
    fig = P.plot_climate_series(
        climate, months, CLIMATE_VARIABLES, ["a", "b", "c"], variables_to_show=("pr", "vpd", "ro")
    )
    assert len(fig.axes) == 3  # the empty fourth cell removed
    finish(fig)
    # Data with other variables (e.g. a real export of three): those of the preferred present.
    fig = P.plot_climate_series(climate[:, :, :3], months, ["pr", "swe", "vs"], ["a", "b", "c"])
    assert [ax.get_ylabel().split()[0] for ax in fig.axes] == ["pr", "swe"]
    finish(fig)


def test_plot_climate_series_rejects_bad_input():
    climate = np.zeros((3, 4, len(CLIMATE_VARIABLES)))
    months = ["20100101", "20100201", "20100301", "20100401"]
    with pytest.raises(ValueError, match="nope"):
        P.plot_climate_series(
            climate, months, CLIMATE_VARIABLES, ["a", "b", "c"], variables_to_show=("nope",)
        )
    with pytest.raises(ValueError, match="but got 2 labels"):
        P.plot_climate_series(climate, months, CLIMATE_VARIABLES, ["a", "b"])
    with pytest.raises(ValueError, match=r"must be \(n, T, F\)"):
        P.plot_climate_series(climate[0], months, CLIMATE_VARIABLES, ["a"])


def test_plot_land_cover_shares(finish):
    labels = ["Cropland"] * 6 + ["Woodland"] * 3 + ["Wetlands"]
    fig = P.plot_land_cover_shares(labels)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Cropland", "Woodland", "Wetlands"]
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [60, 30, 10])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["This dataset (n = 10)"]
    finish(fig)


def test_plot_land_cover_shares_beside_lucas(finish):
    labels = ["Cropland"] * 6 + ["Woodland"] * 3 + [None]
    fig = P.plot_land_cover_shares(labels, reference=P.LUCAS_2015_LAND_COVER)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    # The dataset's classes first (missing counted), then the LUCAS-only ones, largest first.
    assert ticks[:4] == ["Cropland", "Woodland", "(missing)", "Grassland"]
    assert len(ax.patches) == 2 * len(ticks) == 2 * (len(P.LUCAS_2015_LAND_COVER) + 1)
    ref_cropland = 100 * 8972 / 21859
    assert any(abs(p.get_width() - ref_cropland) < 1e-9 for p in ax.patches)
    assert [t.get_text() for t in ax.get_legend().get_texts()][1] == "LUCAS 2015"
    finish(fig)
    with pytest.raises(ValueError, match="non-negative"):
        P.plot_land_cover_shares(labels, reference={"Cropland": -1.0})
    with pytest.raises(ValueError, match="labels is empty"):
        P.plot_land_cover_shares([])


def test_lucas_2015_land_cover_counts_all_points():
    assert sum(P.LUCAS_2015_LAND_COVER.values()) == 21_859  # rows of LUCAS_2015_all.csv
    assert list(P.LUCAS_2015_LAND_COVER)[:3] == ["Cropland", "Woodland", "Grassland"]
