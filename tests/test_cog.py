"""Tests for soilnet.cog: tile-by-tile Cloud-Optimized GeoTIFFs on the map grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from checks import assert_cog

from soilnet.cog import MAP_BAND_DESCRIPTION, MAP_UNITS, cog_layout, write_cog
from soilnet.grid import grid_cells, grid_geometry

RES = 200_000.0  # 200 km: 110 land cells, 20 x 19 raster


def _land_tiles(size: int):
    """(rows, cols, values) tiles over the land cells; value = 1000 * row + col."""
    g = grid_geometry(RES)
    rows, cols = g.rowcol(*grid_cells(RES))
    values = 1000.0 * rows + cols
    return [
        (rows[lo : lo + size], cols[lo : lo + size], values[lo : lo + size])
        for lo in range(0, len(rows), size)
    ]


def test_write_cog_places_tiles_and_is_a_cog(tmp_path):
    g = grid_geometry(RES)
    tiles = _land_tiles(17)
    out = tmp_path / "map.tif"
    written = write_cog(g, out, iter(tiles), {"source": "test", "resolution_m": "200000"})
    assert written.dtype == np.float32 and len(written) == 110
    np.testing.assert_array_equal(written, np.concatenate([t[2] for t in tiles]))
    with rasterio.open(out) as src:
        assert_cog(src, g.transform)
        assert src.descriptions == (MAP_BAND_DESCRIPTION,)
        assert src.tags(1)["units"] == MAP_UNITS
        assert src.tags()["source"] == "test" and src.tags()["resolution_m"] == "200000"
        data = src.read(1)
    assert data.shape == g.shape
    rows, cols = g.rowcol(*grid_cells(RES))
    np.testing.assert_array_equal(data[rows, cols], 1000.0 * rows + cols)
    off = np.ones(g.shape, bool)
    off[rows, cols] = False
    assert np.isnan(data[off]).all()  # cells no tile names stay nodata
    assert not list(tmp_path.glob("*scratch*"))


def test_write_cog_names_band_and_units(tmp_path):
    g = grid_geometry(RES)
    out = tmp_path / "se.tif"
    write_cog(g, out, _land_tiles(200), {}, description="soc_se", units="log g/kg")
    with rasterio.open(out) as src:
        assert src.descriptions == ("soc_se",)
        assert src.tags(1)["units"] == "log g/kg"


def test_no_tiles_gives_an_all_nan_cog(tmp_path):
    g = grid_geometry(RES)
    written = write_cog(g, tmp_path / "empty.tif", [], {})
    assert written.shape == (0,)
    with rasterio.open(tmp_path / "empty.tif") as src:
        assert np.isnan(src.read(1)).all()


def test_failed_tile_leaves_no_file(tmp_path):
    g = grid_geometry(RES)
    out = tmp_path / "broken.tif"
    out.write_bytes(b"previous map")

    def tiles():
        yield from _land_tiles(30)[:2]
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        write_cog(g, out, tiles(), {})
    assert out.read_bytes() == b"previous map"  # the old map survives a failed rewrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tif"]


@pytest.mark.parametrize(
    ("shape", "layout"),
    [((20, 19), (128, 1)), ((300, 200), (256, 2)), ((4000, 4600), (512, 6))],
)
def test_cog_layout(shape, layout):
    assert cog_layout(shape) == layout
