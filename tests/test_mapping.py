"""Tests for soilnet.mapping: tiled prediction to COG, store grids, the truth map.

The grid and the COG writer are tested in test_grid.py and test_cog.py.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import rasterio
import torch
from checks import assert_cog

import soilnet.mapping
from soilnet.dataset import load_tensors, point_arrays
from soilnet.errors import ConfigurationError
from soilnet.geo import on_land
from soilnet.grid import grid_geometry, grid_transform
from soilnet.inference import predict
from soilnet.io.patches import fill_nan
from soilnet.mapping import (
    MapResult,
    predict_store_grid,
    predict_world_grid,
    truth_world_grid,
)
from soilnet.models import build_model
from soilnet.transforms import Normalization
from soilnet.twin import SyntheticWorld, TwinConfig, clipped_lognormal_mean
from soilnet.twin.oracle import noise_floor_lognormal

RES = 200_000.0  # 200 km: 110 land cells, 20 x 19 raster


@pytest.fixture(scope="module")
def world(twin_dir):
    """The world the tiny twin (and so the normalisation) was drawn from."""
    cfg = json.loads((twin_dir / "twin.json").read_text())["config"]
    return SyntheticWorld(
        TwinConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    )


@pytest.fixture(scope="module")
def norm(twin_store, twin_split):
    return Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model("resnet18_glam_lstm", 14, 14, stem_maxpool=False)
    return m.eval()


@pytest.fixture(scope="module")
def world_map(tmp_path_factory, model, norm, world):
    out = tmp_path_factory.mktemp("map") / "soc.tif"
    return predict_world_grid(model, norm, world, RES, out, tile_cells=10_000, batch_size=7)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


# ---------------------------------------------------------------------------------- world map
def test_predict_world_grid_writes_valid_cog(world_map, world):
    res: MapResult = world_map
    x, _ = world.grid(RES)
    assert res.n_cells == len(x) == 110
    assert res.n_skipped == 0
    assert res.shape == (20, 19)
    with rasterio.open(res.path) as src:
        assert_cog(src, grid_transform(RES))
        assert src.tags(1)["units"] == "g/kg"
        data = src.read(1)
    assert data.shape == (20, 19)
    assert int(np.isfinite(data).sum()) == res.n_cells
    g = grid_geometry(RES)
    rows, cols = np.divmod(np.arange(data.size), g.width)
    cx, cy = g.centres(rows, cols)
    land = on_land(cx, cy).reshape(data.shape)
    assert np.isfinite(data[land]).all()
    assert np.isnan(data[~land]).all()
    finite = data[np.isfinite(data)]
    assert res.stats["min"] == pytest.approx(float(finite.min()), rel=1e-6)
    assert res.stats["max"] == pytest.approx(float(finite.max()), rel=1e-6)
    assert res.stats["min"] <= res.stats["median"] <= res.stats["max"]
    assert res.peak_tile_bytes > 110 * 14 * 16 * 16 * 4
    assert res.cells_per_second > 0
    json.dumps(res.to_dict())


def test_world_map_values_equal_direct_prediction(world_map, world, model, norm):
    """Rendering, NaN filling, normalisation and placement give the values predicted directly."""
    x, y = world.grid(RES)
    pick = np.array([0, 17, 55, 109])
    r = world.render(x[pick], y[pick])
    img = np.stack([fill_nan(p)[0] for p in r.image])
    t_img = norm.image(torch.from_numpy(img))
    t_clim = norm.climate(torch.from_numpy(r.climate))
    expected = predict(model, t_img, t_clim, np.arange(len(pick)))
    rows, cols = grid_geometry(RES).rowcol(x[pick], y[pick])
    got = _read(world_map.path)[rows, cols]
    np.testing.assert_allclose(got, expected.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_world_map_is_bit_identical_to_per_cell_predictions(world_map, world, model, norm):
    """Every cell rendered, filled and normalised outside the map code, predicted in the same
    batches (7 cells) by soilnet.inference.predict: the raster holds exactly these values."""
    x, y = world.grid(RES)
    r = world.render(x, y)
    img = np.stack([fill_nan(p)[0] for p in r.image])
    expected = predict(
        model,
        norm.image(torch.from_numpy(img)),
        norm.climate(torch.from_numpy(r.climate)),
        np.arange(len(x)),
        batch_size=7,
    )
    rows, cols = grid_geometry(RES).rowcol(x, y)
    np.testing.assert_array_equal(_read(world_map.path)[rows, cols], expected.astype(np.float32))


def test_maps_do_not_import_the_trainer():
    assert "soilnet.trainer" not in inspect.getsource(soilnet.mapping)


def test_tiling_does_not_change_the_map(world_map, tmp_path, model, norm, world):
    """Same batches, 16 tiles of 7 cells instead of one of 110: bit-identical rasters."""
    small = predict_world_grid(
        model, norm, world, RES, tmp_path / "tiles7.tif", tile_cells=7, batch_size=7
    )
    assert small.n_cells == world_map.n_cells
    assert small.peak_tile_bytes < world_map.peak_tile_bytes / 10
    np.testing.assert_array_equal(_read(small.path), _read(world_map.path))


def test_render_callable_source(world_map, tmp_path, model, norm, world):
    """Any render(x, y) callable plugs in; cells then come from grid_cells.

    Other batch sizes change only float32 rounding in the CPU kernels (about 1e-5 g/kg).
    """
    res = predict_world_grid(
        model, norm, lambda x, y: world.render(x, y), RES, tmp_path / "callable.tif"
    )
    np.testing.assert_allclose(
        _read(res.path), _read(world_map.path), rtol=1e-5, atol=1e-4, equal_nan=True
    )


def test_unusable_patches_are_counted_and_warned(tmp_path, model, norm, world):
    def render(x, y):
        r = world.render(x, y)
        r.image[::10, 3] = np.nan  # an all-NaN band in every 10th cell of each tile
        return r

    with pytest.warns(UserWarning, match="left NaN"):
        res = predict_world_grid(model, norm, render, RES, tmp_path / "holes.tif", tile_cells=50)
    n_bad = sum(len(range(0, min(50, 110 - lo), 10)) for lo in range(0, 110, 50))
    assert res.n_skipped == n_bad
    assert res.n_cells == 110 - n_bad
    assert int(np.isfinite(_read(res.path)).sum()) == res.n_cells


def test_mismatched_inputs_raise_before_writing(tmp_path, norm, world):
    torch.manual_seed(0)
    wrong = build_model("resnet18_glam_lstm", 14, 3, stem_maxpool=False)
    out = tmp_path / "never.tif"
    with pytest.raises(ConfigurationError, match="climate"):
        predict_world_grid(wrong, norm, world, RES, out)
    assert not out.exists()
    with pytest.raises(ConfigurationError, match="tile_cells"):
        predict_world_grid(wrong, norm, world, RES, out, tile_cells=0)
    with pytest.raises(TypeError, match="render"):
        predict_world_grid(wrong, norm, object(), RES, out)


def test_image_only_model_and_climate_selection(tmp_path, twin_store, twin_split, world):
    """A CNN-only variant skips climate; climate_variables selects the trained subset."""
    torch.manual_seed(1)
    cnn = build_model("resnet18", 14, stem_maxpool=False).eval()
    norm = Normalization.fit(twin_store.images, None, twin_split.train)
    res = predict_world_grid(cnn, norm, world, 400_000, tmp_path / "cnn.tif")
    assert res.n_cells == len(world.grid(400_000)[0])

    torch.manual_seed(2)
    lstm = build_model("lstm", 14, 2).eval()
    two = ("pr", "tmmx")
    cols = [twin_store.climate_variables.index(v) for v in two]
    norm2 = Normalization.fit(
        twin_store.images, np.asarray(twin_store.climate)[..., cols], twin_split.train
    )
    res2 = predict_world_grid(
        lstm, norm2, world, 400_000, tmp_path / "lstm.tif", climate_variables=two
    )
    assert res2.n_cells == res.n_cells
    with pytest.raises(ConfigurationError, match="not rendered"):
        predict_world_grid(
            lstm, norm2, world, 400_000, tmp_path / "x.tif", climate_variables=("pr", "nope")
        )


# ---------------------------------------------------------------------------------- store map
def test_predict_store_grid_places_points_in_their_cells(tmp_path, model, norm, twin_store):
    res_m = 100_000.0
    res = predict_store_grid(model, norm, twin_store, res_m, tmp_path / "store.tif", tile_cells=5)
    tensors = load_tensors(twin_store, norm)
    pred = predict(model, tensors["image"], tensors["climate"], np.arange(len(twin_store)))
    g = grid_geometry(res_m)
    x = twin_store.index["x_3035"].to_numpy()
    y = twin_store.index["y_3035"].to_numpy()
    rows, cols = g.rowcol(x, y)
    flat = rows * g.width + cols
    data = _read(res.path)
    for cell in np.unique(flat):
        members = flat == cell
        r, c = divmod(int(cell), g.width)
        assert data[r, c] == pytest.approx(pred[members].mean(), rel=1e-5, abs=1e-5)
    assert res.n_points == len(twin_store)
    assert res.n_cells == len(np.unique(flat)) == int(np.isfinite(data).sum())
    with rasterio.open(res.path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_store_map_is_bit_identical_to_point_predictions(tmp_path, model, norm, twin_store):
    """At 10 km each point has a cell of its own; the map holds the predictions of the store
    rows read by point_arrays and predicted by soilnet.inference.predict in the same batches."""
    res_m = 10_000.0
    res = predict_store_grid(
        model, norm, twin_store, res_m, tmp_path / "points.tif", tile_cells=16, batch_size=8
    )
    rows = np.arange(len(twin_store))
    arrays = point_arrays(twin_store, rows, target=None)
    expected = predict(
        model,
        norm.image(torch.from_numpy(arrays["image"])),
        norm.climate(torch.from_numpy(arrays["climate"])),
        rows,
        batch_size=8,
    )
    g = grid_geometry(res_m)
    r, c = g.rowcol(arrays["xy"][:, 0], arrays["xy"][:, 1])
    assert len(np.unique(r * g.width + c)) == len(rows)  # one point per cell
    np.testing.assert_array_equal(_read(res.path)[r, c], expected.astype(np.float32))
    assert res.n_points == res.n_cells == len(rows)


# ---------------------------------------------------------------------------------- truth map
def test_truth_world_grid_is_the_noise_floor(tmp_path, world):
    """The twin's map is E[min(SOC, clip) | c1..c4], the stored noise floor at clip 87."""
    res = truth_world_grid(world, RES, tmp_path / "truth.tif", tile_cells=33)
    data = _read(res.path)
    x, y = world.grid(RES)
    pick = np.array([3, 40, 88])
    lat = world.render(x[pick], y[pick], with_climate=False).latent
    rows, cols = grid_geometry(RES).rowcol(x[pick], y[pick])
    np.testing.assert_allclose(data[rows, cols], lat["noise_floor_clipped"].to_numpy(), rtol=1e-6)
    assert res.n_cells == len(x)
    assert res.stats["max"] <= 87.0
    a, b = noise_floor_lognormal(
        world.mu,
        world.sigma,
        world.config.shares,
        *(lat[c].to_numpy() for c in ("c1", "c2", "c3", "c4")),
    )
    unclipped = _read(truth_world_grid(world, RES, tmp_path / "u.tif", clip=None).path)
    np.testing.assert_allclose(
        unclipped[rows, cols], clipped_lognormal_mean(a, b, clip=None), rtol=1e-6
    )
    fifty = _read(truth_world_grid(world, RES, tmp_path / "c50.tif", clip=50.0).path)
    np.testing.assert_allclose(
        fifty[rows, cols], clipped_lognormal_mean(a, b, clip=50.0), rtol=1e-6
    )
    assert np.nanmax(fifty) <= 50.0
    # A cross-check of the closed form: at clip 87 it reproduces the stored noise floor.
    np.testing.assert_allclose(clipped_lognormal_mean(a, b), lat["noise_floor_clipped"], rtol=1e-9)


def test_truth_needs_a_synthetic_world(tmp_path):
    with pytest.raises(TypeError, match="SyntheticWorld"):
        truth_world_grid(lambda x, y: None, RES, tmp_path / "t.tif")


def test_a_render_pool_draws_the_same_map(world_map, tmp_path, model, norm, world):
    """map.render_processes: the cells rendered by 2 worker processes give the same raster."""
    from soilnet.twin.pool import RenderPool

    with RenderPool(world, 2) as pool:
        pooled = predict_world_grid(
            model, norm, pool, RES, tmp_path / "pool.tif", tile_cells=10_000, batch_size=7
        )
        truth = truth_world_grid(pool, RES, tmp_path / "truth_pool.tif", clip=87.0)
    np.testing.assert_array_equal(_read(pooled.path), _read(world_map.path))
    alone = truth_world_grid(world, RES, tmp_path / "truth.tif", clip=87.0)
    np.testing.assert_array_equal(_read(truth.path), _read(alone.path))
