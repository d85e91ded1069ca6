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
