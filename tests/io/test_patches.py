"""Tests for soilnet.io.patches: GeoTIFF patches read by band description, NaN fill, resampling."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from soilnet.bands import BAND_NAMES, OPTICAL_BANDS
from soilnet.errors import (
    DataFormatError,
    InconsistentDataError,
    PatchBandsError,
    PatchNotFoundError,
)
from soilnet.io.patches import (
    NAN_FILL_RULE,
    RESAMPLING,
    fill_nan,
    find_patches,
    read_patch,
    resample_patch,
    write_patch,
)

#: Upper-left corner of the authors' sample patch 40463116_150107.tif (EPSG:3857, 30 m).
REAL_ORIGIN = (674490.0, 6638550.0)


def from_origin(west, north, xsize, ysize):
    """North-up affine transform (rasterio's helper of that name warns under affine 3)."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def real_like_patch(path, size=103, bands=OPTICAL_BANDS, nan_at=(), seed=0):
    """Write a patch shaped like the authors' exports: float64, EPSG:3857, 30 m, NaN nodata.

    ``nan_at`` is a list of (band name, row, col) set to NaN, as the 6 NaN pixels in the
    sample's carbonateIndex and NDVI. Returns the float64 data written.
    """
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.0, 0.3, size=(len(bands), size, size))
    for name, row, col in nan_at:
        data[bands.index(name), row, col] = np.nan
    write_patch(
        path,
        data,
        bands,
        "EPSG:3857",
        from_origin(*REAL_ORIGIN, 30.0, 30.0),
        dtype="float64",
        tags={"LANDSAT_PRODUCT_ID": "LC08_L2SP_198024_20150107_20200910_02_T1"},
    )
    return data


def test_round_trip_float32(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.uniform(-1, 1, size=(14, 16, 16)).astype(np.float32)
    path = write_patch(
        tmp_path / "1_150101.tif", data, BAND_NAMES, "EPSG:3857", from_origin(0, 0, 30, 30)
    )
    patch = read_patch(path)
    assert patch.data.dtype == np.float32 and patch.data.shape == (14, 16, 16)
    np.testing.assert_array_equal(patch.data, data)
    assert patch.band_names == BAND_NAMES
    assert patch.crs == "EPSG:3857"
    assert patch.nan_count == 0
    assert not list(tmp_path.glob(".tmp-*")), "atomic write left a temporary file"


def test_bands_matched_by_description_not_position(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.uniform(size=(14, 8, 8)).astype(np.float32)
    order = rng.permutation(14)
    shuffled_names = [BAND_NAMES[i] for i in order]
    write_patch(
        tmp_path / "a_ordered.tif", data, BAND_NAMES, "EPSG:3857", from_origin(0, 0, 30, 30)
    )
    write_patch(
        tmp_path / "b_shuffled.tif",
        data[order],
        shuffled_names,
        "EPSG:3857",
        from_origin(0, 0, 30, 30),
    )
    a = read_patch(tmp_path / "a_ordered.tif")
    b = read_patch(tmp_path / "b_shuffled.tif")
    np.testing.assert_array_equal(a.data, b.data)
    # A subset in any requested order comes back in that order.
    sub = read_patch(tmp_path / "b_shuffled.tif", bands=("NDVI", "SR_B4"))
    np.testing.assert_array_equal(sub.data, data[[BAND_NAMES.index("NDVI"), 3]])


def test_real_format_12_band_float64_nan_patch(tmp_path):
    """The authors' export: 12 bands, 103 x 103, float64, NaN nodata, EPSG:3857, 30 m."""
    nan_at = [("carbonateIndex", r, r) for r in range(6)] + [("NDVI", 50, c) for c in range(6)]
    path = tmp_path / "40463116_150107.tif"
    written = real_like_patch(path, nan_at=nan_at)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "float64" and np.isnan(src.nodata) and src.count == 12
    patch = read_patch(path, bands=OPTICAL_BANDS)
    assert patch.data.shape == (12, 103, 103) and patch.data.dtype == np.float32
    assert patch.crs == "EPSG:3857"
    assert patch.transform.a == 30.0 and patch.transform.e == -30.0
    assert patch.nan_count == 12
    np.testing.assert_allclose(patch.data, written.astype(np.float32), equal_nan=True)

    filled, n = fill_nan(patch.data, path)
    assert n == 12 and not np.isnan(filled).any()
    ndvi = OPTICAL_BANDS.index("NDVI")
    assert filled[ndvi, 50, 0] == pytest.approx(np.nanmedian(patch.data[ndvi]))
    out = resample_patch(filled, 32)
    assert out.shape == (12, 32, 32) and out.dtype == np.float32 and np.isfinite(out).all()


def test_12_band_patch_read_with_all_bands_names_file_and_missing_bands(tmp_path):
    path = tmp_path / "40463116_150107.tif"
    real_like_patch(path, size=9)
    with pytest.raises(PatchBandsError, match="40463116_150107.tif") as info:
        read_patch(path)  # default: all 14 bands
    assert "elevation" in str(info.value) and "slopePCT" in str(info.value)
    assert "OPTICAL_BANDS" in str(info.value)  # says what to do
    assert isinstance(info.value, DataFormatError)


def test_unexpected_dtype_uint16(tmp_path):
    path = tmp_path / "7_150101.tif"
    profile = dict(driver="GTiff", height=8, width=8, count=14, dtype="uint16", crs="EPSG:3857",
                   transform=from_origin(0, 0, 30, 30))  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((14, 8, 8), np.uint16))
        for i, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(i, name)
    with pytest.raises(DataFormatError, match=r"7_150101\.tif.*uint16"):
        read_patch(path)


def test_no_band_descriptions(tmp_path):
    path = tmp_path / "8_150101.tif"
    profile = dict(driver="GTiff", height=4, width=4, count=14, dtype="float32", crs="EPSG:3857",
                   transform=from_origin(0, 0, 30, 30))  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.zeros((14, 4, 4), np.float32))
    with pytest.raises(DataFormatError, match=r"8_150101\.tif.*no descriptions"):
        read_patch(path)


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "9_150101.tif"
    bad.write_text("not a tiff")
    with pytest.raises(DataFormatError, match=r"9_150101\.tif"):
        read_patch(bad)
    with pytest.raises(PatchNotFoundError, match=r"10_150101\.tif"):
        read_patch(tmp_path / "10_150101.tif")


def test_numeric_nodata_becomes_nan(tmp_path):
    path = tmp_path / "11_150101.tif"
    data = np.full((14, 4, 4), 0.2, np.float32)
    data[0, 0, 0] = -9999.0
    profile = dict(driver="GTiff", height=4, width=4, count=14, dtype="float32", crs="EPSG:3857",
                   transform=from_origin(0, 0, 30, 30), nodata=-9999.0)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(i, name)
    patch = read_patch(path)
    assert patch.nan_count == 1 and np.isnan(patch.data[0, 0, 0])


def test_fill_nan_rule_and_count():
    assert "median" in NAN_FILL_RULE
    data = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    data[0, 0, 0] = data[0, 2, 2] = data[1, 1, 1] = np.nan
    filled, n = fill_nan(data)
    assert n == 3
    assert filled[0, 0, 0] == filled[0, 2, 2] == pytest.approx(np.nanmedian(data[0]))
    assert filled[1, 1, 1] == pytest.approx(np.nanmedian(data[1]))
    assert np.isnan(data).sum() == 3, "fill_nan must not modify its input"
    same, zero = fill_nan(filled)
    assert zero == 0
    np.testing.assert_array_equal(same, filled)


def test_all_nan_patch_and_band_name_the_file():
    data = np.full((3, 4, 4), np.nan, np.float32)
    with pytest.raises(DataFormatError, match=r"42_150101\.tif: every band is all NaN"):
        fill_nan(data, "patches/42_150101.tif")
    data[0] = 1.0
    data[2] = 2.0
    with pytest.raises(DataFormatError, match=r"42_150101\.tif: band\(s\) at position \[1\]"):
        fill_nan(data, "patches/42_150101.tif")


def test_resample_patch():
    assert "bilinear" in RESAMPLING
    rng = np.random.default_rng(3)
    data = rng.uniform(size=(2, 103, 103)).astype(np.float32)
    native = resample_patch(data, 103)
    np.testing.assert_array_equal(native, data)  # native size: values unchanged
    small = resample_patch(data, 32)
    assert small.shape == (2, 32, 32) and small.dtype == np.float32
    assert small.mean() == pytest.approx(data.mean(), abs=0.01)
    assert small.std() < data.std()  # antialiasing averages the white noise down
    const = resample_patch(np.full((1, 103, 103), 0.25, np.float32), 64)
    np.testing.assert_allclose(const, 0.25, rtol=1e-6)


def test_find_patches(tmp_path):
    for name in ("1_150101.tif", "2_151231.tif", "readme.tif", "3_2015.tif"):
        (tmp_path / name).write_bytes(b"")
    found, unnamed = find_patches(tmp_path)
    assert sorted(found) == [1, 2]
    assert sorted(p.name for p in unnamed) == ["3_2015.tif", "readme.tif"]
    (tmp_path / "2_150301.tif").write_bytes(b"")
    with pytest.raises(InconsistentDataError, match=r"more than one patch \(2;.*2_150301\.tif"):
        find_patches(tmp_path)


def test_write_patch_rejects_shape_mismatch(tmp_path):
    with pytest.raises(ValueError, match="does not match 14 band names"):
        write_patch(
            tmp_path / "1_150101.tif",
            np.zeros((12, 4, 4)),
            BAND_NAMES,
            "EPSG:3857",
            from_origin(0, 0, 30, 30),
        )
