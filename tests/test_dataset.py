"""Tests for soilnet.dataset: the one data path (sample dicts over a consolidated store)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checks import SAMPLE_KEYS, assert_sample

from soilnet import dataset
from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.config import StoreConfig
from soilnet.dataset import TargetTransform, gather, load_tensors, point_arrays
from soilnet.store import consolidate
from soilnet.transforms import Normalization


@pytest.fixture(scope="module")
def norm(twin_store, twin_split):
    return Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)


def test_sample_keys_are_the_documented_ones():
    assert dataset.SAMPLE_KEYS == SAMPLE_KEYS
    assert not hasattr(dataset, "SoilDataset")  # one data path


def test_point_arrays_follow_the_contract(twin_store):
    rows = np.array([47, 0, 5, 17])  # any order: the batch follows it
    batch = point_arrays(twin_store, rows, target=None)
    assert_sample(batch, n_bands=14, size_px=16, n_months=61, n_variables=14, batch=4)
    np.testing.assert_array_equal(batch["point_id"], twin_store.point_ids[rows])
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(batch["image"][i], twin_store.images[row])  # physical units
        np.testing.assert_array_equal(batch["climate"][i], twin_store.climate[row])
        assert batch["target"][i] == twin_store.index["oc_g_per_kg"].iat[row]  # as observed
        np.testing.assert_array_equal(
            batch["xy"][i], twin_store.index[["x_3035", "y_3035"]].to_numpy()[row]
        )
    single = point_arrays(twin_store, [5])
    assert_sample(single, n_bands=14, size_px=16, n_months=61, n_variables=14, batch=1)
    np.testing.assert_array_equal(single["image"][0], batch["image"][2])


def test_tensors_and_batches_follow_the_contract(twin_store, twin_split, norm):
    tensors = load_tensors(twin_store, norm)
    assert_sample(tensors, n_bands=14, size_px=16, n_months=61, n_variables=14, batch=48)
    rows = torch.as_tensor(twin_split.test[:4])
    batch = gather(tensors, rows)
    assert_sample(batch, n_bands=14, size_px=16, n_months=61, n_variables=14, batch=4)
    np.testing.assert_array_equal(batch["point_id"].numpy(), twin_store.point_ids[rows.numpy()])
    expected = norm.image(torch.from_numpy(np.array(twin_store.images[rows.numpy()])))
    torch.testing.assert_close(batch["image"], expected)


def test_clip_g_per_kg_applies(twin_store):
    oc = twin_store.index["oc_g_per_kg"].to_numpy()
    high, low = int(np.argmax(oc)), int(np.argmin(oc))
    assert oc[high] > 40
    raw = point_arrays(twin_store, [high], target=None)["target"][0]
    none = point_arrays(twin_store, [high], target=TargetTransform(None))["target"][0]
    clipped = point_arrays(twin_store, [high, low], target=TargetTransform(40.0))["target"]
    assert raw == none == pytest.approx(oc[high])
    assert clipped[0] == 40.0 and clipped[1] == pytest.approx(oc[low])
    paper = point_arrays(twin_store, np.arange(48))["target"]  # the default: the paper's clip
    assert paper.max() <= PAPER_CLIP_G_PER_KG and oc.max() > PAPER_CLIP_G_PER_KG


def test_target_transform_round_trip():
    oc = np.array([3.0, 50.0, 87.0, 200.0])
    paper = TargetTransform()
    assert paper.clip_g_per_kg == paper.scale_g_per_kg == PAPER_CLIP_G_PER_KG == 87
    np.testing.assert_allclose(paper.target_g_per_kg(oc), [3.0, 50.0, 87.0, 87.0])
    np.testing.assert_allclose(paper.to_network(oc), [3 / 87, 50 / 87, 1.0, 1.0])
    np.testing.assert_allclose(paper.to_g_per_kg(paper.to_network(oc)), [3.0, 50.0, 87.0, 87.0])
    unclipped = TargetTransform(None)
    assert unclipped.scale_g_per_kg == 87  # still scaled by 87
    np.testing.assert_allclose(unclipped.to_g_per_kg(unclipped.to_network(oc)), oc)
    forty = TargetTransform(40.0)
    assert forty.scale_g_per_kg == 40.0
    np.testing.assert_allclose(forty.to_network(oc), [3 / 40, 1.0, 1.0, 1.0])
    assert forty.to_dict() == {"clip_g_per_kg": 40.0, "scale_g_per_kg": 40.0}
    assert paper.to_g_per_kg([0.5]).dtype == np.float64


def test_store_without_climate(copy_twin, tmp_path):
    config = StoreConfig(patch_size_px=8, climate_variables=())
    store = consolidate(copy_twin, config, stores_dir=tmp_path / "stores")
    batch = point_arrays(store, [0, 1])
    assert_sample(batch, n_bands=14, size_px=8, n_months=0, n_variables=0, batch=2)
    norm = Normalization.fit(store.images, store.climate, np.arange(30))
    tensors = load_tensors(store, norm)
    assert_sample(tensors, n_bands=14, size_px=8, n_months=0, n_variables=0, batch=48)
    assert gather(tensors, torch.tensor([3]))["climate"] is None


def test_load_tensors_matches_point_arrays(twin_store, norm):
    target = TargetTransform(50.0)
    tensors = load_tensors(twin_store, norm, target)
    assert tensors["image"].shape == (48, 14, 16, 16) and tensors["image"].dtype == torch.float32
    assert tensors["climate"].shape == (48, 61, 14)
    rows = np.array([5, 40])
    arrays = point_arrays(twin_store, rows, target)
    torch.testing.assert_close(
        tensors["image"][rows], norm.image(torch.from_numpy(arrays["image"]))
    )
    torch.testing.assert_close(
        tensors["climate"][rows], norm.climate(torch.from_numpy(arrays["climate"]))
    )
    np.testing.assert_allclose(  # the network's scale: clipped SOC / scale
        tensors["target"][rows].numpy(), arrays["target"] / target.scale_g_per_kg, rtol=1e-6
    )
    np.testing.assert_array_equal(tensors["point_id"][rows].numpy(), arrays["point_id"])
    np.testing.assert_array_equal(tensors["xy"][rows].numpy(), arrays["xy"])


# ---------------------------------------------------------------------------------- grids
GRID_RES = 400_000.0  # 30 land cells


@pytest.fixture(scope="module")
def small_world():
    from soilnet.twin import SyntheticWorld, TwinConfig

    return SyntheticWorld(TwinConfig(n_points=48, patch_size_px=16, seed=3))


def _tiles_as_one(tiles):
    """The tiles' samples concatenated, plus the usable masks and the summed skip reasons."""
    tiles = list(tiles)
    sample = {
        k: None if tiles[0].sample[k] is None else np.concatenate([t.sample[k] for t in tiles])
        for k in SAMPLE_KEYS
    }
    reasons = {}
    for t in tiles:
        for k, v in t.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    return tiles, sample, np.concatenate([t.usable for t in tiles]), reasons


def _assert_grid_sample(sample, n, **shape):
    """The sample-dict contract, with the grid's all-NaN float64 target."""
    assert set(sample) == set(SAMPLE_KEYS)
    assert sample["target"].dtype == np.float64 and sample["target"].shape == (n,)
    assert np.isnan(sample["target"]).all()
    assert_sample({**sample, "target": np.zeros(n)}, batch=n, **shape)


def test_world_grid_tiles_follow_the_contract(small_world):
    from soilnet.io.patches import fill_nan, resample_patch

    grid = dataset.WorldGrid(small_world, GRID_RES)
    n = len(grid)
    assert n == 30
    tiles, sample, usable, reasons = _tiles_as_one(grid.tiles(7))
    assert [len(t.usable) for t in tiles] == [7, 7, 7, 7, 2]
    for t in tiles:
        _assert_grid_sample(t.sample, len(t.usable), n_bands=14, size_px=16, n_months=61)
        assert t.nbytes == len(t.usable) * (14 * 16 * 16 + 61 * 14) * 4
    assert usable.all() and reasons == {}
    # Physical units: the rendered patches, NaN filled per patch as the store fills them.
    x, y = grid.xy[:, 0], grid.xy[:, 1]
    rendered = small_world.render(x[:7], y[:7])
    np.testing.assert_array_equal(sample["image"][:7], [fill_nan(p)[0] for p in rendered.image])
    np.testing.assert_array_equal(sample["climate"][:7], rendered.climate)

    resampled = dataset.WorldGrid(small_world, GRID_RES, ("pr", "tmmx"), size_px=8)
    tile = next(resampled.tiles(5, climate=True))
    _assert_grid_sample(tile.sample, 5, n_bands=14, size_px=8, n_months=61, n_variables=2)
    picked = [small_world.config.climate_variables.index(v) for v in ("pr", "tmmx")]
    np.testing.assert_array_equal(tile.sample["climate"], rendered.climate[:5][..., picked])
    np.testing.assert_array_equal(
        tile.sample["image"][0], resample_patch(fill_nan(rendered.image[0])[0], 8)
    )
    only_image = next(grid.tiles(4, climate=False))
    assert only_image.sample["climate"] is None and only_image.sample["image"].shape[0] == 4
    only_climate = next(grid.tiles(4, image=False))
    assert only_climate.sample["image"] is None and only_climate.sample["climate"].shape[0] == 4


def test_world_grid_covers_every_land_cell_once_in_row_major_order(small_world):
    from soilnet.errors import ConfigurationError
    from soilnet.grid import grid_cells, grid_geometry

    grid = dataset.WorldGrid(lambda x, y: small_world.render(x, y), GRID_RES)  # no grid(): cells
    tiles, sample, _, _ = _tiles_as_one(grid.tiles(8, image=False))
    assert [t.cells for t in tiles] == [slice(0, 8), slice(8, 16), slice(16, 24), slice(24, 30)]
    x, y = grid_cells(GRID_RES)
    np.testing.assert_array_equal(sample["xy"], np.column_stack([x, y]))
    geometry = grid_geometry(GRID_RES)
    rows, cols = geometry.rowcol(x, y)
    ids = sample["point_id"]
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, rows * geometry.width + cols)  # row-major raster index
    assert (np.diff(ids) > 0).all()  # each cell once, north to south, west to east
    np.testing.assert_array_equal(ids, grid.point_ids)
    with pytest.raises(ConfigurationError, match="tile_cells"):
        next(grid.tiles(0))


def test_world_grid_marks_unusable_cells_with_their_reason(small_world):
    def render(x, y):
        r = small_world.render(x, y)
        r.image[::4, 3] = np.nan  # an all-NaN band: nothing to fill it from
        r.image[1, 0, :2, :2] = np.nan  # a few NaN pixels: filled
        r.image[2, 5, 0, 0] = np.inf  # left after filling
        r.climate[3, 0, 0] = np.nan
        return r

    grid = dataset.WorldGrid(render, GRID_RES)
    _, sample, usable, reasons = _tiles_as_one(grid.tiles(10))
    all_nan = np.zeros(30, bool)
    all_nan[[0, 4, 8, 10, 14, 18, 20, 24, 28]] = True  # every 4th cell of each 10-cell tile
    assert reasons == {
        dataset.SKIP_ALL_NAN_BAND: 9,
        dataset.SKIP_NON_FINITE_IMAGE: 3,
        dataset.SKIP_NON_FINITE_CLIMATE: 3,
    }
    unusable = all_nan.copy()
    unusable[[2, 12, 22, 3, 13, 23]] = True
    np.testing.assert_array_equal(usable, ~unusable)
    bad_image = all_nan.copy()
    bad_image[[2, 12, 22]] = True
    assert (sample["image"][bad_image] == 0).all() and np.isfinite(sample["image"]).all()
    assert (sample["climate"][[3, 13, 23]] == 0).all() and np.isfinite(sample["climate"]).all()
    assert usable[1] and (sample["image"][1] != 0).any()  # partly NaN: filled, kept


def test_store_grid_tiles_are_the_store_rows(twin_store):
    rows = np.array([3, 4, 10, 20, 47])
    grid = dataset.StoreGrid(twin_store, rows)
    tiles, sample, usable, reasons = _tiles_as_one(grid.tiles(2))
    assert [t.cells for t in tiles] == [slice(0, 2), slice(2, 4), slice(4, 5)]
    _assert_grid_sample(sample, 5, n_bands=14, size_px=16, n_months=61, n_variables=14)
    expected = point_arrays(twin_store, rows)
    for key in ("image", "climate", "point_id", "xy"):
        np.testing.assert_array_equal(sample[key], expected[key])
    assert usable.all() and reasons == {}
    assert len(dataset.StoreGrid(twin_store)) == len(twin_store)
    assert next(grid.tiles(5, image=False)).sample["image"] is None


def test_float16_images_of_the_gpu_path(twin_store, norm):
    """``image_dtype=float16`` (the CUDA path with mixed precision) rounds the float32 z-scores
    to float16 and leaves everything else as it is."""
    full = load_tensors(twin_store, norm, TargetTransform())
    half = load_tensors(twin_store, norm, TargetTransform(), image_dtype=torch.float16)
    assert half["image"].dtype == torch.float16 and half["image"].shape == full["image"].shape
    assert torch.equal(half["image"], full["image"].half())
    for key in ("climate", "target", "point_id", "xy"):
        assert torch.equal(half[key], full[key]), key
