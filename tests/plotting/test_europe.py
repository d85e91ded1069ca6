"""Tests for soilnet.plotting.europe: point maps and the raster map over Europe."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from matplotlib.collections import PatchCollection, PathCollection
from rasterio.transform import from_origin

from soilnet import plotting as P


def _point_collections(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def test_plot_points_map(points, finish):
    lon, lat, obs, _ = points
    fig = P.plot_points_map(lon, lat, obs, title="Observed")
    map_ax = fig.axes[0]
    (scatter,) = _point_collections(map_ax)
    assert len(scatter.get_offsets()) == len(obs)
    # Points are in EPSG:3035 metres, countries drawn under them (EU-28 and the rest).
    assert scatter.get_offsets()[:, 0].min() > 2e6
    assert sum(isinstance(c, PatchCollection) for c in map_ax.collections) == 2
    assert "km" in map_ax.get_xlabel() and "km" in map_ax.get_ylabel()
    assert scatter.get_cmap().name == "YlGnBu"
    assert scatter.norm.vmax == 87
    # Highest value drawn last, on top.
    assert scatter.get_array()[-1] == obs.max()
    assert map_ax.get_title() == f"Observed (n = {len(obs):,})"
    assert any(t.get_text() == "1,000 km" for t in map_ax.texts)  # the scale bar
    assert len(fig.axes) == 2  # map + colour bar
    assert fig.axes[1].get_ylabel() == "SOC (g/kg)"
    finish(fig)


def test_plot_points_map_into_given_axes_without_scale_bar(points, finish):
    lon, lat, obs, _ = points
    fig = P.SoilNetFigure()
    ax = fig.add_subplot()
    assert P.plot_points_map(lon, lat, obs, title="x", ax=ax, vmax=50, scale_bar=False) is fig
    assert _point_collections(ax)[0].norm.vmax == 50
    assert not ax.texts
    finish(fig)


def test_plot_points_map_rejects_length_mismatch(points):
    lon, lat, obs, _ = points
    with pytest.raises(ValueError, match=f"lon={len(lon)}, lat={len(lat)}, values={len(obs) - 1}"):
        P.plot_points_map(lon, lat, obs[:-1], title="x")


def test_plot_point_maps_figure7(points, finish):
    lon, lat, obs, preds = points
    panels = {"Observed": obs, **preds}
    fig = P.plot_point_maps(lon, lat, panels)
    map_axes = [ax for ax in fig.axes if _point_collections(ax)]
    assert [ax.get_title() for ax in map_axes] == list(panels)
    for ax in map_axes:
        (sc,) = _point_collections(ax)
        assert len(sc.get_offsets()) == len(obs)
        assert any(t.get_text() == "1,000 km" for t in ax.texts)  # the scale bar
    # Only the first map labels its y axis; one colour bar for all, with the arrow for > 87.
    assert map_axes[0].get_ylabel() and not map_axes[1].get_ylabel()
    assert len(fig.axes) == len(panels) + 1
    assert obs.max() > 87 and fig.axes[-1].get_ylabel() == "SOC (g/kg)"
    assert fig.get_suptitle().endswith(f"n = {len(obs):,} points")
    finish(fig)


def test_plot_point_errors_is_centred_at_zero_with_the_largest_on_top(points, finish):
    lon, lat, obs, preds = points
    error = next(iter(preds.values())) - obs
    fig = P.plot_point_errors(lon, lat, error, title="SoilNet error")
    (sc,) = _point_collections(fig.axes[0])
    assert sc.norm.vcenter == 0 and sc.norm.vmin == -sc.norm.vmax
    assert sc.norm.vmax == pytest.approx(np.quantile(np.abs(error), 0.98))
    assert abs(sc.get_array()[-1]) == np.abs(error).max()
    rmse = np.sqrt(np.mean(error**2))
    assert fig.axes[0].get_title() == f"SoilNet error (n = {len(obs):,}, RMSE {rmse:.2f} g/kg)"
    assert fig.axes[1].get_ylabel() == "predicted − observed SOC (g/kg)"
    finish(fig)
    with pytest.raises(ValueError, match="error_g_per_kg"):
        P.plot_point_errors(lon, lat, error[:-1])


def test_plot_point_maps_rejects_bad_panels(points):
    lon, lat, obs, _ = points
    with pytest.raises(ValueError, match=r"panels\['Observed'\] has 299 values for 300 points"):
        P.plot_point_maps(lon, lat, {"Observed": obs[:-1]})
    with pytest.raises(ValueError, match="panels is empty"):
        P.plot_point_maps(lon, lat, {})


def _write_raster(path, data, transform, crs="EPSG:3035"):
    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
        dtype="float32", crs=crs, transform=transform, nodata=np.nan,
    ) as dst:  # fmt: skip
        dst.write(data, 1)


def test_plot_soc_map(tmp_path, finish):
    from soilnet.mapping import grid_geometry

    g = grid_geometry(200_000)
    data = np.full(g.shape, np.nan, np.float32)
    data[5:15, 4:14] = np.linspace(5, 120, 100).reshape(10, 10)
    path = tmp_path / "map.tif"
    _write_raster(path, data, from_origin(g.west, g.north, g.resolution_m, g.resolution_m))
    fig = P.plot_soc_map(path, title="Predicted SOC")
    ax = fig.axes[0]
    (im,) = ax.images
    shown = im.get_array()
    assert shown.shape == g.shape
    assert int(shown.count()) == 100  # NaN cells masked (transparent)
    assert "200 km grid, 100 cells" in ax.get_title()
    # Countries under the raster and the EU-28 borders again above it.
    outlines = [c for c in ax.collections if isinstance(c, PatchCollection)]
    assert [c.get_zorder() for c in outlines] == [0, 1, 3]
    assert fig.axes[1].get_ylabel() == "SOC (g/kg)"
    finish(fig)


def test_plot_soc_map_rejects_missing_file_and_other_crs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        P.plot_soc_map(tmp_path / "missing.tif")
    path = tmp_path / "wgs84.tif"
    _write_raster(path, np.ones((4, 4), np.float32), from_origin(0, 50, 1, 1), crs="EPSG:4326")
    with pytest.raises(ValueError, match="wgs84.tif is in EPSG:4326, not EPSG:3035"):
        P.plot_soc_map(path)
