"""soilnet.map_layers: the interval-width and applicability layers beside the SOC map."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from soilnet.experiment import make_map
from soilnet.map_layers import LAYERS, write_map_layers
from soilnet.workspace import Study


@pytest.fixture(scope="module")
def mapped(finished):
    prediction, _ = make_map(finished)
    return finished, prediction, write_map_layers(finished, prediction.path.parent)


def read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.descriptions[0], src.tags(1).get("units"), src.tags()


def test_layers_cover_the_map_cells_with_their_units(mapped):
    _, prediction, layers = mapped
    soc, *_ = read(prediction.path)
    for name, (file, description, unit) in LAYERS.items():
        values, desc, units, tags = read(layers.paths[name])
        assert layers.paths[name].name == file and desc == description and units == unit
        assert np.array_equal(np.isfinite(values), np.isfinite(soc)), name
        assert tags["seeds"] == "0,1" and tags["method"] == "split conformal"
    aoa, *_ = read(layers.paths["aoa"])
    assert set(np.unique(aoa[np.isfinite(aoa)])) <= {0.0, 1.0}
    width, *_ = read(layers.paths["interval_width"])
    assert (width[np.isfinite(width)] >= 0).all() and (width[np.isfinite(width)] <= 87).all()
    di, *_ = read(layers.paths["dissimilarity"])
    inside = di[np.isfinite(di)] <= layers.threshold + 1e-6
    np.testing.assert_array_equal(inside, aoa[np.isfinite(aoa)] == 1)
    assert layers.n_cells == prediction.n_cells
    assert layers.share_inside_aoa == pytest.approx(np.nanmean(aoa), abs=1e-6)


def test_real_data_without_a_grid_has_no_layers(mapped, monkeypatch):
    study, *_ = mapped
    monkeypatch.setattr(Study, "is_twin", lambda self: False)
    assert write_map_layers(study, study.work_dir) is None


def test_map_cells_are_read_as_the_store_read_the_points(tmp_path):
    """The default profile renders 32 px patches and trains on the store's 16 px: a map cell at a
    training point's place must give the networks what the store gave them for that point (read
    at 32 px, every map cell fell outside the area of applicability)."""
    from soilnet.dataset import WorldGrid, _read_rows
    from soilnet.experiment import _twin_world, prepare_data, world_grid_inputs
    from soilnet.twin import TwinConfig, write_twin

    write_twin(tmp_path / "twin", TwinConfig(n_points=12, patch_size_px=32, seed=5))
    study = Study.create(
        "smoke", str(tmp_path / "twin"), str(tmp_path / "work"), ["store.patch_size_px=16"], "cpu"
    )
    prepare_data(study)
    store = study.store()
    world = _twin_world(study)

    class AtThePoints:  # the twin's world, with the store's points as the grid's cells
        config = world.config
        render = staticmethod(world.render)

        def grid(self, resolution_m):
            return store.xy[:, 0], store.xy[:, 1]

    inputs = world_grid_inputs(store)
    assert inputs["size_px"] == 16
    tile = next(WorldGrid(AtThePoints(), 400_000.0, **inputs).tiles(len(store)))
    image, climate = _read_rows(store, np.arange(len(store)))
    assert tile.usable.all() and tile.sample["image"].shape == image.shape
    # The twin writes its files at 6 significant digits (relative error about 1e-5).
    np.testing.assert_allclose(tile.sample["image"], image, rtol=5e-5, atol=1e-5)
    np.testing.assert_allclose(tile.sample["climate"], climate, rtol=5e-5, atol=1e-5)
