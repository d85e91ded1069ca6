"""Tests for soilnet.grid: the map grid shared by the twin and the map writers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY

from soilnet.errors import ConfigurationError
from soilnet.geo import lucas_land_laea, on_land
from soilnet.grid import grid_cells, grid_geometry, grid_transform, sample_land_points
from soilnet.twin import SyntheticWorld

RES = 200_000.0  # 200 km: 110 land cells, 20 x 19 raster


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(TINY)


# 12,345.6 m: a resolution whose cell centres are not whole metres; the world's own grid
# arithmetic used to differ from grid_cells there by ~1e-7 m.
@pytest.mark.parametrize("res", [RES, 73_000.0, 25_000.0, 12_345.6])
def test_grid_cells_match_world_grid(world, res):
    x, y = grid_cells(res)
    wx, wy = world.grid(res)
    np.testing.assert_array_equal(x, wx)
    np.testing.assert_array_equal(y, wy)
    g = grid_geometry(res)
    rows, cols = g.rowcol(x, y)
    assert g.contains(x, y).all()
    # Row-major, north first: flat index strictly increasing.
    assert np.all(np.diff(rows * g.width + cols) > 0)
    cx, cy = g.centres(rows, cols)
    np.testing.assert_allclose(cx, x)
    np.testing.assert_allclose(cy, y)


def test_grid_geometry_snapped_and_transform():
    g = grid_geometry(RES)
    assert g.shape == (20, 19)
    assert g.crs == "EPSG:3035"
    assert g.west % RES == 0 and g.north % RES == 0
    t = grid_transform(RES)
    assert t == g.transform
    assert (t.a, t.e, t.c, t.f) == (RES, -RES, g.west, g.north)
    west, south, east, north = g.bounds
    assert (east - west, north - south) == (19 * RES, 20 * RES)


@pytest.mark.parametrize("bad", [0, -1000, float("nan"), "1km"])
def test_bad_resolution_raises(bad):
    with pytest.raises(ConfigurationError, match="resolution_m"):
        grid_geometry(bad)


def test_grid_covers_the_land_area():
    g = grid_geometry(RES)
    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    west, south, east, north = g.bounds
    assert west <= xmin and north >= ymax
    # Every cell centre lies within the land bounding box (the last row/column may overhang).
    assert g.west + (g.width - 0.5) * RES < xmax and g.north - (g.height - 0.5) * RES > ymin
    assert east > xmax - RES / 2 and south < ymin + RES / 2
    rows, cols = np.divmod(np.arange(g.width * g.height), g.width)
    assert on_land(*g.centres(rows, cols)).sum() == len(grid_cells(RES)[0]) == 110


def test_sample_land_points_on_land_and_reproducible():
    x, y = sample_land_points(300, np.random.default_rng(1))
    assert x.shape == y.shape == (300,)
    assert on_land(x, y).all()
    again = sample_land_points(300, np.random.default_rng(1))
    np.testing.assert_array_equal(np.stack([x, y]), np.stack(again))
    other = sample_land_points(300, np.random.default_rng(2))
    assert not np.array_equal(x, other[0])
    # Uniform over land: points spread over the whole box, not one corner.
    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    assert x.max() - x.min() > 0.5 * (xmax - xmin) and y.max() - y.min() > 0.5 * (ymax - ymin)


def test_grid_point_table_lists_every_land_cell_with_a_stable_id():
    from soilnet.grid import grid_point_table

    table = grid_point_table(RES)
    x, y = grid_cells(RES)
    np.testing.assert_array_equal(table["x_3035"], x)
    np.testing.assert_array_equal(table["y_3035"], y)
    assert table["Point_ID"].is_unique and "OC" not in table
    g = grid_geometry(RES)
    rows, cols = g.rowcol(table["x_3035"], table["y_3035"])
    np.testing.assert_array_equal(table["Point_ID"], rows * g.width + cols)
    from soilnet.geo import LUCAS_COUNTRIES

    assert set(table["NUTS_0"]) <= set(LUCAS_COUNTRIES.values()) and table["NUTS_0"].all()


def test_grid_point_table_for_some_countries(tmp_path):
    from soilnet.cli import main
    from soilnet.grid import grid_point_table
    from soilnet.io.tables import read_points

    lux = grid_point_table(10_000.0, ["lu"])
    assert set(lux["NUTS_0"]) == {"LU"} and 10 < len(lux) < 50
    with pytest.raises(ConfigurationError, match=r"\['XX'\].*--countries"):
        grid_point_table(10_000.0, ["LU", "XX"])
    with pytest.raises(ConfigurationError, match="finer resolution"):
        grid_point_table(500_000.0, ["LU"])
    # The CLI writes a point table that the readers (and so acquire) take without OC.
    out = tmp_path / "grid.csv"
    assert main(["grid", "--resolution-km", "10", "--countries", "LU", "--out", str(out)]) == 0
    read = read_points(out, require_oc=False)
    np.testing.assert_array_equal(read["Point_ID"], lux["Point_ID"])
    np.testing.assert_allclose(read[["long", "lat"]], lux[["long", "lat"]])
