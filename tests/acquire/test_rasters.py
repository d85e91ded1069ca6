"""Tests for soilnet.acquire.rasters: target grids and COG window reads, against the loopback
server (127.0.0.1 only)."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.acquire.rasters import mercator_grid, raster_reader, read_to_grid, take_failed_reads

from . import server as srv
from .world import FAST


def test_failed_cog_read_is_retried_by_the_next_uncached_reader(world, server):
    """GDAL remembers a failed URL; the next run reads uncached and so reaches the server."""
    href = f"{server.url}/files/W_20150213_clear/W_20150213_clear_SR_B4.TIF"
    grid = mercator_grid(9.0, 50.0)
    take_failed_reads()
    server.fail("W_20150213_clear_SR_B4", 500)
    with raster_reader(FAST), pytest.raises(Exception, match="500"):
        read_to_grid(href, grid)
    server._faults.clear()

    before = len(server.log)
    with raster_reader(FAST), pytest.raises(Exception, match="500"):
        read_to_grid(href, grid)  # answered from GDAL's memory of the failure
    assert len(server.log) == before

    assert take_failed_reads() and not take_failed_reads()
    with raster_reader(FAST, uncached=True):
        dn, _ = read_to_grid(href, grid)
    assert len(server.log) > before
    assert np.all(dn == srv.reflectance_to_dn(srv.RED_REFLECTANCE))
    with raster_reader(FAST):  # the stale entry is gone for cached readers too
        read_to_grid(href, grid)
    assert not take_failed_reads()


def test_mercator_grid_matches_the_original_exports():
    grid = mercator_grid(6.072879, 51.088722)  # LUCAS 40463116, the sample export (103 px)
    assert grid.crs == "EPSG:3857" and grid.width == grid.height == 102
    assert grid.transform.a == 30 and grid.transform.c % 30 == 0
    w, s, e, n = grid.lonlat_bounds()
    assert w < 6.072879 < e and s < 51.088722 < n
