"""Tests for soilnet.plotting: every function returns a Figure with the expected artists."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import rasterio
from matplotlib.collections import PatchCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from rasterio.transform import from_origin

from soilnet import plotting as P
from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES
from soilnet.errors import PatchBandsError
from soilnet.metrics import regression_metrics

N = 300


@pytest.fixture(autouse=True)
def no_show_no_leak(monkeypatch):
    """Fail if a function calls plt.show or leaves a figure registered in pyplot."""

    def boom(*args, **kwargs):
        raise AssertionError("plotting functions must not call plt.show")

    monkeypatch.setattr(plt, "show", boom)
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before, "a plotting function left a pyplot figure open"


def _finish(fig):
    """Common checks: a Figure that renders to PNG and closes cleanly."""
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


@pytest.fixture(scope="module")
def points():
    """Seeded SOC-like points inside mainland Europe (lon, lat, observed, predictions)."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(-5, 25, N)
    lat = rng.uniform(40, 60, N)
    obs = np.round(np.exp(rng.normal(3.0, 0.8, N)), 1)
    soilnet = np.clip(obs * 0.7 + rng.normal(0, 6, N), 1, None)
    rf = 0.4 * obs + 15
    return lon, lat, obs, {"RF": rf, "SoilNet": soilnet}


def _point_collections(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


# ---------------------------------------------------------------------------------- maps
def test_plot_points_map(points):
    lon, lat, obs, _ = points
    fig = P.plot_points_map(lon, lat, obs, title="Observed")
    map_ax = fig.axes[0]
    (scatter,) = _point_collections(map_ax)
    assert len(scatter.get_offsets()) == N
    # Points are in EPSG:3035 metres, countries drawn under them (EU-28 and the rest).
    assert scatter.get_offsets()[:, 0].min() > 2e6
    assert sum(isinstance(c, PatchCollection) for c in map_ax.collections) == 2
    assert "km" in map_ax.get_xlabel() and "km" in map_ax.get_ylabel()
    assert scatter.get_cmap().name == "YlGnBu"
    assert scatter.norm.vmax == 87
    assert len(fig.axes) == 2  # map + colour bar
    assert fig.axes[1].get_ylabel() == "SOC (g/kg)"
    _finish(fig)


def test_plot_points_map_into_given_axes(points):
    lon, lat, obs, _ = points
    fig = P.SoilNetFigure()
    ax = fig.add_subplot()
    assert P.plot_points_map(lon, lat, obs, title="x", ax=ax, vmax=50) is fig
    assert _point_collections(ax)[0].norm.vmax == 50
    _finish(fig)


def test_plot_point_maps_figure7(points):
    lon, lat, obs, preds = points
    panels = {"Observed": obs, **preds}
    fig = P.plot_point_maps(lon, lat, panels)
    map_axes = [ax for ax in fig.axes if _point_collections(ax)]
    assert [ax.get_title() for ax in map_axes] == list(panels)
    for ax in map_axes:
        (sc,) = _point_collections(ax)
        assert len(sc.get_offsets()) == N
        assert any(t.get_text() == "1,000 km" for t in ax.texts)  # the scale bar
    assert len(fig.axes) == len(panels) + 1  # one shared colour bar
    _finish(fig)


def test_plot_point_maps_rejects_length_mismatch(points):
    lon, lat, obs, _ = points
    with pytest.raises(ValueError, match="values for"):
        P.plot_point_maps(lon, lat, {"Observed": obs[:-1]})


def test_plot_soc_map(tmp_path):
    from soilnet.mapping import grid_geometry

    g = grid_geometry(200_000)
    data = np.full(g.shape, np.nan, np.float32)
    data[5:15, 4:14] = np.linspace(5, 120, 100).reshape(10, 10)
    path = tmp_path / "map.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=g.width, height=g.height, count=1, dtype="float32",
        crs="EPSG:3035", transform=from_origin(g.west, g.north, g.resolution_m, g.resolution_m), nodata=np.nan,
    ) as dst:  # fmt: skip
        dst.write(data, 1)
    fig = P.plot_soc_map(path, title="Predicted SOC")
    ax = fig.axes[0]
    (im,) = ax.images
    shown = im.get_array()
    assert shown.shape == g.shape
    assert int(shown.count()) == 100  # NaN cells masked (transparent)
    assert "200 km grid, 100 cells" in ax.get_title()
    assert fig.axes[1].get_ylabel() == "SOC (g/kg)"
    _finish(fig)
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        P.plot_soc_map(tmp_path / "missing.tif")


# ---------------------------------------------------------------------------------- data
def test_plot_soc_histogram_marks_clip(points):
    _, _, obs, _ = points
    share = (obs > 87).mean()
    fig = P.plot_soc_histogram(obs)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.lines) == 1 and ax.lines[0].get_xdata()[0] == 87
    assert any(f"{share:.1%}" in t.get_text() for t in ax.texts)
    assert sum(p.get_height() for p in ax.patches) == (obs > 0).sum()
    _finish(fig)
    fig = P.plot_soc_histogram(obs, log=False)
    assert fig.axes[0].get_xscale() == "linear"
    assert any("linear" in t.get_text() for t in fig.axes[0].texts)
    _finish(fig)


def test_plot_patch_gallery_has_ten_titled_panels():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (14, 16, 16))
    image[:7, 3:6, 3:6] = np.nan  # a cloud
    fig = P.plot_patch_gallery(image, BAND_NAMES)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 + 5 + 2
    titles = [ax.get_title() for ax in panels]
    assert titles[0].startswith("True colour") and "SR_B4 / SR_B3 / SR_B2" in titles[0]
    assert titles[-2:] == ["Elevation (m)", "Slope (%)"]
    rgba = panels[0].images[0].get_array()
    assert rgba.shape == (16, 16, 4) and rgba[4, 4, 3] == 0  # cloud transparent
    _finish(fig)


def test_plot_patch_gallery_missing_band():
    names = list(BAND_NAMES)
    names[names.index("NDVI")] = "other"
    with pytest.raises(PatchBandsError, match="NDVI"):
        P.plot_patch_gallery(np.zeros((14, 8, 8)), names)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        P.plot_patch_gallery(np.zeros((13, 8, 8)), BAND_NAMES)


def test_plot_climate_series():
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
    _finish(fig)
    with pytest.raises(ValueError, match="nope"):
        P.plot_climate_series(
            climate, months, CLIMATE_VARIABLES, ["a", "b", "c"], variables_to_show=("nope",)
        )


def test_plot_land_cover_shares():
    labels = ["Cropland"] * 6 + ["Woodland"] * 3 + ["Wetlands"]
    fig = P.plot_land_cover_shares(labels)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Cropland", "Woodland", "Wetlands"]
    np.testing.assert_allclose([p.get_width() for p in ax.patches], [60, 30, 10])
    _finish(fig)
    fig = P.plot_land_cover_shares(labels, reference=P.LUCAS_2015_LAND_COVER)
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(P.LUCAS_2015_LAND_COVER)  # LUCAS-only classes added
    ref_cropland = 100 * 8972 / sum(P.LUCAS_2015_LAND_COVER.values())
    assert any(abs(p.get_width() - ref_cropland) < 1e-9 for p in ax.patches)
    _finish(fig)


def test_plot_loss_curves_mean_and_band():
    def hist(seed, epochs=5):
        e = np.arange(1, epochs + 1)
        return pd.DataFrame({"epoch": e, "train_loss": 1 / e + seed, "val_loss": 2 / e + seed})

    fig = P.plot_loss_curves({"resnet18": [hist(0), hist(1), hist(2)], "lstm": [hist(0, 3)]})
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_allclose(
        ax.lines[0].get_ydata(), 1 / np.arange(1, 6) + 1
    )  # mean of seeds 0..2
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # min-max bands
    assert "3 seeds" in ax.get_title()
    _finish(fig)
    with pytest.raises(ValueError, match="val_loss"):
        P.plot_loss_curves({"m": [pd.DataFrame({"epoch": [1], "train_loss": [1.0]})]})


# ---------------------------------------------------------------------------------- results
def _density_lines(fig):
    return [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "density"]


def _note(fig):
    return " ".join(t.get_text() for t in fig.texts)


def test_plot_ridgelines_rows_colours_and_exclusion(points):
    _, _, obs, preds = points
    three = {**preds, "resnet101": preds["SoilNet"] * 1.1}
    fig = P.plot_ridgelines(obs, three)
    lines = _density_lines(fig)
    assert len(lines) == 1 + len(three)
    assert [ln.get_color() for ln in lines[:3]] == ["#0079FF", "#FF0060", "#00DFA2"]
    n_below = int((obs < 87).sum())
    assert n_below < N
    assert (
        f"n = {n_below:,} points; {N - n_below:,} with observed SOC >= 87 g/kg excluded"
        in _note(fig)
    )
    x = lines[0].get_xdata()
    assert len(x) == 1000 and x[0] == 0 and x[-1] == 87
    # The observed row is the Scott KDE of the observed values below the clip.
    from scipy.stats import gaussian_kde

    np.testing.assert_allclose(lines[0].get_ydata(), gaussian_kde(obs[obs < 87])(x))
    _finish(fig)


def test_plot_ridgelines_keeps_clipped_when_asked(points):
    _, _, obs, preds = points
    fig = P.plot_ridgelines(
        obs, {"RF": preds["RF"], "null": np.full(N, 30.0)}, exclude_clipped=False
    )
    assert len(_density_lines(fig)) == 3  # the constant null model is a vertical line
    assert f"n = {N:,} points" in _note(fig) and "kept" in _note(fig)
    _finish(fig)


def test_plot_ridgelines_rejects_mismatch(points):
    _, _, obs, preds = points
    with pytest.raises(ValueError, match="RF"):
        P.plot_ridgelines(obs, {"RF": preds["RF"][:-3]})
    with pytest.raises(ValueError, match="non-finite"):
        P.plot_ridgelines(obs, {"RF": np.where(np.arange(N) == 0, np.nan, preds["RF"])})


def test_plot_observed_vs_predicted(points):
    _, _, obs, preds = points
    fig = P.plot_observed_vs_predicted(obs, preds)
    assert len(fig.axes) == 2
    for ax, (name, pred) in zip(fig.axes, preds.items(), strict=True):
        m = regression_metrics(obs, pred)
        assert ax.get_title().startswith(name)
        assert f"RMSE {m['rmse']:.2f} g/kg, R² {m['r2']:.2f}" in ax.get_title()
        (sc,) = _point_collections(ax)
        assert len(sc.get_offsets()) == N
        one_to_one = ax.lines[0]
        np.testing.assert_array_equal(one_to_one.get_xdata(), one_to_one.get_ydata())
    _finish(fig)


def test_plot_errors_by_land_cover(points):
    _, _, obs, preds = points
    lc = np.array(["Cropland", "Woodland", "Grassland"])[np.arange(N) % 3]
    table = pd.concat(
        pd.DataFrame({"land_cover": lc, "model": m, "error": p - obs}) for m, p in preds.items()
    )
    fig = P.plot_errors_by_land_cover(table)
    ax = fig.axes[0]
    boxes = ax.patches
    assert len(boxes) == 3 * 2  # one box per class and model
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[0] == "Cropland\nn = 100"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RF", "SoilNet"]
    _finish(fig)
    with pytest.raises(ValueError, match="error"):
        P.plot_errors_by_land_cover(table.drop(columns="error"))


def test_model_color_and_notebook_png():
    assert P.model_color("random forest") == "#FF0060"
    assert P.model_color("SoilNet") == "#00DFA2"
    assert P.model_color("Observed") == "#0079FF"
    assert P.model_color("resnet101", 0) != P.model_color("resnet101", 1)
    fig = P.plot_soc_histogram([5.0, 10.0, 100.0])
    assert fig._repr_png_()[:4] == b"\x89PNG"  # Jupyter shows it once, without pyplot
    plt.close(fig)
