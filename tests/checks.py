"""Shared assertions on sample dicts and consolidated stores (see STYLE.md, "Dataset item").

Import as ``from checks import assert_sample, assert_store`` (``tests/`` is on ``sys.path``
through ``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
import torch

#: Keys of every sample dict, for every model variant.
SAMPLE_KEYS = ("image", "climate", "target", "point_id", "lonlat")


def assert_sample(
    sample: dict,
    *,
    n_bands: int,
    size_px: int,
    n_months: int | None = None,
    n_variables: int | None = None,
    batch: int | None = None,
) -> None:
    """Assert that ``sample`` is a dataset item (or a batch of ``batch`` items).

    Args:
        sample: the dict returned by ``SoilDataset.__getitem__`` (or a collated batch).
        n_bands, size_px: expected image shape (C, S, S).
        n_months, n_variables: expected climate shape (T, F); ``0, 0`` for a store without
            climate; ``None`` skips the check of that axis.
        batch: leading batch size, or None for a single item.
    """
    assert set(sample) == set(SAMPLE_KEYS), f"keys {sorted(sample)} != {sorted(SAMPLE_KEYS)}"
    lead = () if batch is None else (batch,)
    expected = {
        "image": (torch.float32, lead + (n_bands, size_px, size_px)),
        "target": (torch.float32, lead),
        "point_id": (torch.int64, lead),
        "lonlat": (torch.float64, lead + (2,)),
    }
    for key, (dtype, shape) in expected.items():
        value = sample[key]
        assert isinstance(value, torch.Tensor), f"{key} is {type(value).__name__}, not a tensor"
        assert value.dtype == dtype, f"{key}: dtype {value.dtype} != {dtype}"
        assert tuple(value.shape) == shape, f"{key}: shape {tuple(value.shape)} != {shape}"
    climate = sample["climate"]
    assert isinstance(climate, torch.Tensor) and climate.dtype == torch.float32
    assert climate.ndim == len(lead) + 2, f"climate: {climate.ndim} dims, expected (T, F)"
    if n_months is not None:
        assert climate.shape[-2] == n_months, f"climate: {climate.shape[-2]} months != {n_months}"
    if n_variables is not None:
        assert climate.shape[-1] == n_variables, (
            f"climate: {climate.shape[-1]} vars != {n_variables}"
        )
    assert torch.isfinite(sample["image"]).all(), "image has NaN/inf"
    assert torch.isfinite(climate).all(), "climate has NaN/inf"
    assert torch.isfinite(sample["target"]).all(), "target has NaN/inf"
    lon, lat = sample["lonlat"][..., 0], sample["lonlat"][..., 1]
    assert ((lon >= -180) & (lon <= 180) & (lat >= -90) & (lat <= 90)).all(), "lonlat not degrees"


def assert_store(store, *, n_points: int | None = None) -> None:
    """Assert the arrays and index of a consolidated :class:`soilnet.store.Store` agree.

    Checks: ``images`` float32 (N, C, S, S) without NaN; ``climate`` float32 (N, T, F)
    without NaN (or None when no variables); ``index`` has one row per point with unique
    Point_IDs and the documented columns; ``meta`` matches the array shapes.
    """
    n = len(store)
    if n_points is not None:
        assert n == n_points, f"store has {n} points, expected {n_points}"
    images = store.images
    assert images.dtype == np.float32, f"images dtype {images.dtype}"
    assert images.shape == (n, len(store.band_names), store.size_px, store.size_px), images.shape
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
    assert (index["nan_pixels_filled"] >= 0).all() and (index["climate_cells_filled"] >= 0).all()
    assert store.meta["n_points"] == n
    assert store.meta["nan_pixels_filled"] == int(index["nan_pixels_filled"].sum())
