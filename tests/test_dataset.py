"""Tests for soilnet.dataset: sample dicts over a consolidated store."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checks import assert_sample
from torch.utils.data import DataLoader

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.dataset import SoilDataset, load_tensors
from soilnet.store import consolidate
from soilnet.transforms import Normalization


def test_items_follow_the_contract(twin_store):
    ds = SoilDataset(twin_store)
    assert len(ds) == 48
    for i in (0, 47):
        item = ds[i]
        assert_sample(item, n_bands=14, size_px=16, n_months=61, n_variables=14)
        assert item["point_id"].item() == twin_store.point_ids[i]
        np.testing.assert_array_equal(item["image"].numpy(), twin_store.images[i])  # physical units
        np.testing.assert_array_equal(item["climate"].numpy(), twin_store.climate[i])
        assert item["target"].item() == pytest.approx(twin_store.index["oc_g_per_kg"].iat[i])
        np.testing.assert_array_equal(
            item["lonlat"].numpy(), twin_store.index[["long", "lat"]].to_numpy()[i]
        )


def test_batches_follow_the_contract(twin_store, twin_split):
    norm = Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)
    ds = SoilDataset(
        twin_store, twin_split.test, normalization=norm, clip_g_per_kg=PAPER_CLIP_G_PER_KG
    )
    assert len(ds) == len(twin_split.test)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    assert_sample(batch, n_bands=14, size_px=16, n_months=61, n_variables=14, batch=4)
    rows = twin_split.test[:4]
    np.testing.assert_array_equal(batch["point_id"].numpy(), twin_store.point_ids[rows])
    expected = norm.image(torch.from_numpy(np.array(twin_store.images[rows])))
    torch.testing.assert_close(batch["image"], expected)


def test_clip_g_per_kg_applies(twin_store):
    oc = twin_store.index["oc_g_per_kg"].to_numpy()
    high = int(np.argmax(oc))
    assert oc[high] > 40
    raw = SoilDataset(twin_store)[high]["target"].item()
    clipped = SoilDataset(twin_store, clip_g_per_kg=40.0)[high]["target"].item()
    assert raw == pytest.approx(oc[high]) and clipped == 40.0
    low = int(np.argmin(oc))
    assert SoilDataset(twin_store, clip_g_per_kg=40.0)[low]["target"].item() == pytest.approx(
        oc[low]
    )
    targets = torch.stack(
        [it["target"] for it in SoilDataset(twin_store, clip_g_per_kg=PAPER_CLIP_G_PER_KG)]
    )
    assert targets.max().item() <= PAPER_CLIP_G_PER_KG


def test_store_without_climate(copy_twin):
    store = consolidate(copy_twin, size_px=8, variables=None)
    item = SoilDataset(store)[0]
    assert_sample(item, n_bands=14, size_px=8, n_months=0, n_variables=0)


def test_load_tensors_matches_items(twin_store, twin_split):
    norm = Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)
    images, climate = load_tensors(twin_store, norm)
    assert images.shape == (48, 14, 16, 16) and images.dtype == torch.float32
    assert climate.shape == (48, 61, 14)
    ds = SoilDataset(twin_store, normalization=norm)
    torch.testing.assert_close(images[5], ds[5]["image"])
    torch.testing.assert_close(climate[5], ds[5]["climate"])
