"""Tests for soilnet.acquire.terraclimate: point extraction from local and served NetCDF."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

from soilnet.acquire import extract_points, month_labels
from soilnet.errors import AcquisitionError, MissingValuesWarning
from soilnet.io import read_climate

from .world import run


def test_month_labels():
    assert len(month_labels("2010-01", "2015-01")) == 61
    assert month_labels("2014-11", "2015-02") == ["20141101", "20141201", "20150101", "20150201"]
    with pytest.raises(ValueError, match="before"):
        month_labels("2015-02", "2015-01")


def test_zero_climate_values_round_trip_as_zero(world, server, tmp_path):
    months = month_labels("2014-11", "2015-05")
    lon, lat = np.array([9.0, 9.6]), np.array([50.0, 50.2])
    local = extract_points(world.tc, ["swe", "pr"], lon, lat, months)
    swe = local.values[:, :, 0]
    assert (swe[:, months.index("20150501")] == 0).all()
    assert (swe[:, months.index("20150101")] > 0).all()

    # the same file over HTTP range requests gives the same values
    remote = extract_points(server.url + "/files/tc/{var}.nc", ["swe", "pr"], lon, lat, months)
    np.testing.assert_array_equal(remote.values, local.values)
    assert all(r["range"] for r in server.log)  # read by ranges, never whole

    out = tmp_path / "zeros"
    run(
        world,
        server,
        out,
        ("winter", "noscene"),
        variables=("swe",),
        start="2014-11",
        end="2015-05",
    )
    text = (out / "climate" / "swe.csv").read_text()
    assert "-999" not in text and ",0," in text
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingValuesWarning)
        table = read_climate(out / "climate", ("swe",))
    assert table.values[:, table.months.index("20150501"), 0].tolist() == [0.0, 0.0]


def test_points_outside_the_climate_grid_are_missing_not_invented(world):
    months = month_labels("2010-01", "2010-03")
    got = extract_points(world.tc, ["pr"], np.array([9.0, 20.0]), np.array([50.0, 60.0]), months)
    assert np.isfinite(got.values[0]).all() and np.isnan(got.values[1]).all()
    with pytest.raises(AcquisitionError, match="not in the file"):
        extract_points(
            world.tc, ["pr"], np.array([9.0]), np.array([50.0]), month_labels("2016-01", "2016-02")
        )


def test_missing_source_is_named(tmp_path):
    missing = str(tmp_path / "nowhere" / "{var}.nc")
    with pytest.raises(AcquisitionError, match="nowhere"):
        extract_points(
            missing, ["pr"], np.array([9.0]), np.array([50.0]), month_labels("2010-01", "2010-02")
        )


@pytest.mark.skipif(
    importlib.util.find_spec("netCDF4") is not None
    or importlib.util.find_spec("pydap") is not None,
    reason="an OPeNDAP engine is installed",
)
def test_opendap_without_engine_says_what_to_install():
    with pytest.raises(AcquisitionError, match="netCDF4"):
        extract_points(
            "http://127.0.0.1:9/thredds/dodsC/x_{var}.nc",
            ["pr"],
            np.array([9.0]),
            np.array([50.0]),
            ["20100101"],
        )
