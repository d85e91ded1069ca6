"""Shared assertions on sample dicts and consolidated stores (see soilnet.dataset's table).

Import as ``from checks import assert_sample, assert_store`` (``tests/`` is on ``sys.path``
through ``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from soilnet.store import ADDRESS_CHARS

#: Keys of every sample dict, for every model variant and reader.
SAMPLE_KEYS = ("image", "climate", "target", "point_id", "xy")

#: EPSG:3035 extent of the study area, metres (generous: mainland Europe and islands).
X_RANGE_M, Y_RANGE_M = (1.0e6, 8.0e6), (0.5e6, 6.0e6)


def _dtype_name(value) -> str:
    return str(value.dtype).replace("torch.", "")


def assert_sample(
    sample: dict,
    *,
    n_bands: int,
    size_px: int,
    n_months: int | None = None,
    n_variables: int | None = None,
    batch: int | None = None,
) -> None:
    """Assert that ``sample`` is a batch of sample dicts (see :mod:`soilnet.dataset`).

    numpy dicts (:func:`~soilnet.dataset.point_arrays`) hold the target in g/kg as float64;
    tensor dicts (:func:`~soilnet.dataset.load_tensors`, :func:`~soilnet.dataset.gather`) hold
    it on the network's scale as float32.

    Args:
        sample: the dict to check.
        n_bands, size_px: expected image shape (C, S, S).
        n_months, n_variables: expected climate shape (T, F); ``0, 0`` for a store without
            climate (then ``climate`` must be None); ``None`` skips the check of that axis.
        batch: leading batch size, or None to skip its check.
    """
    assert set(sample) == set(SAMPLE_KEYS), f"keys {sorted(sample)} != {sorted(SAMPLE_KEYS)}"
    image = sample["image"]
    is_torch = isinstance(image, torch.Tensor)
    kind = torch.Tensor if is_torch else np.ndarray
    n = image.shape[0] if batch is None else batch
    expected = {
        "image": ("float32", (n, n_bands, size_px, size_px)),
        "target": ("float32" if is_torch else "float64", (n,)),
        "point_id": ("int64", (n,)),
        "xy": ("float64", (n, 2)),
    }
    for key, (dtype, shape) in expected.items():
        value = sample[key]
        assert isinstance(value, kind), f"{key} is {type(value).__name__}, not {kind.__name__}"
        assert _dtype_name(value) == dtype, f"{key}: dtype {value.dtype} != {dtype}"
        assert tuple(value.shape) == shape, f"{key}: shape {tuple(value.shape)} != {shape}"
    finite = torch.isfinite if is_torch else np.isfinite
    climate = sample["climate"]
    if n_months == 0 or n_variables == 0:
        assert climate is None, "a store without climate gives climate=None"
    else:
        assert isinstance(climate, kind) and _dtype_name(climate) == "float32", "climate dtype"
        assert tuple(climate.shape[:1]) == (n,) and climate.ndim == 3, "climate: (N, T, F)"
        if n_months is not None:
            assert climate.shape[1] == n_months, f"climate: {climate.shape[1]} months != {n_months}"
        if n_variables is not None:
            assert climate.shape[2] == n_variables, f"climate: {climate.shape[2]} != {n_variables}"
        assert finite(climate).all(), "climate has NaN/inf"
    assert finite(image).all(), "image has NaN/inf"
    assert finite(sample["target"]).all(), "target has NaN/inf"
    x, y = sample["xy"][:, 0], sample["xy"][:, 1]
    assert ((x > X_RANGE_M[0]) & (x < X_RANGE_M[1])).all(), "xy is not EPSG:3035 metres"
    assert ((y > Y_RANGE_M[0]) & (y < Y_RANGE_M[1])).all(), "xy is not EPSG:3035 metres"


def assert_store(store, *, n_points: int | None = None) -> None:
    """Assert the arrays, index and meta of a consolidated :class:`soilnet.store.Store` agree.

    Checks: the folder is named by the fingerprint; ``images`` float32 (N, C, S, S) without
    NaN; ``climate`` float32 (N, T, F) without NaN (or None when no variables); ``index`` has
    one row per point with unique Point_IDs and the documented columns; ``meta`` matches the
    array shapes and uses the documented keys.
    """
    n = len(store)
    if n_points is not None:
        assert n == n_points, f"store has {n} points, expected {n_points}"
    meta = store.meta
    assert store.path.name == store.fingerprint[:ADDRESS_CHARS], "folder is not its fingerprint"
    assert len(store.fingerprint) == 64 and int(store.fingerprint, 16) >= 0
    for key in ("patch_size_px", "climate_variables", "bands", "months", "n_points"):
        assert key in meta, f"meta.json lacks {key}"
    assert "size_px" not in meta and "variables" not in meta, "meta.json uses the old key names"
    images = store.images
    assert images.dtype == np.float32, f"images dtype {images.dtype}"
    assert images.shape == (n, len(store.band_names), store.size_px, store.size_px), images.shape
    assert store.size_px == meta["patch_size_px"]
    assert np.isfinite(np.asarray(images)).all(), "images hold NaN/inf after filling"
    if store.climate_variables:
        climate = store.climate
        assert climate is not None and climate.dtype == np.float32, "climate must be float32"
        assert climate.shape == (n, len(store.months), len(store.climate_variables)), climate.shape
        assert np.isfinite(np.asarray(climate)).all(), "climate holds NaN/inf after filling"
        assert list(store.months) == sorted(store.months), "months must ascend"
    else:
        assert store.climate is None
    index = store.index
    for col in (
        "Point_ID",
        "long",
        "lat",
        "x_3035",
        "y_3035",
        "oc_g_per_kg",
        "nan_pixels_filled",
        "climate_cells_filled",
    ):
        assert col in index.columns, f"index.csv lacks {col}"
    assert index["Point_ID"].is_unique, "duplicate Point_IDs in index.csv"
    assert store.point_ids.dtype == np.int64
    xy = store.xy
    assert xy.dtype == np.float64 and xy.shape == (n, 2)
    np.testing.assert_array_equal(xy, index[["x_3035", "y_3035"]].to_numpy())
    assert (index["nan_pixels_filled"] >= 0).all() and (index["climate_cells_filled"] >= 0).all()
    assert meta["n_points"] == n
    assert meta["nan_pixels_filled"] == int(index["nan_pixels_filled"].sum())
    assert meta["climate_cells_filled"] == int(index["climate_cells_filled"].sum())


def assert_cog(src, transform) -> None:
    """An open rasterio dataset is a float32 deflate COG in EPSG:3035 with NaN nodata."""
    import math

    assert src.driver == "GTiff"
    assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert src.profile["tiled"] is True
    assert src.overviews(1), "a COG should carry overviews"
    assert src.crs.to_epsg() == 3035
    assert src.dtypes[0] == "float32"
    assert math.isnan(src.nodata)
    assert src.compression.name.lower() == "deflate"
    assert src.transform == transform


def error_outputs(notebook_path) -> list:
    """The error outputs of an executed notebook (empty when every cell ran)."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    return [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
