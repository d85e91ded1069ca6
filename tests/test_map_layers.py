"""soilnet.map_layers: the interval-width and applicability layers beside the SOC map."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from conftest import TINY_STUDY

from soilnet.experiment import make_map, prepare_data, run_baselines, train_networks
from soilnet.map_layers import LAYERS, write_map_layers
from soilnet.twin import TwinConfig, write_twin
from soilnet.workspace import Study

TINY = [
    *TINY_STUDY,
    "experiment.variants=[resnet18_glam_lstm]",
    "experiment.seeds=[0, 1]",
    "map.resolution_km=400",
]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    root = tmp_path_factory.mktemp("layers")
    write_twin(root / "twin", TwinConfig(n_points=48, patch_size_px=16, seed=21))
    study = Study.create("smoke", str(root / "twin"), str(root / "work"), TINY, "cpu")
    prepare_data(study)
    train_networks(study, "random")
    run_baselines(study, "random")
    prediction, _ = make_map(study)
    return study, prediction, write_map_layers(study, prediction.path.parent)


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
        assert tags["seeds"] == "0,1" and tags["method"] == "adaptive split conformal"
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
