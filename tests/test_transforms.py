"""Tests for soilnet.transforms: z-score normalisation and dihedral augmentation."""

from __future__ import annotations

import numpy as np
import torch

from soilnet.transforms import Normalization, dihedral, random_dihedral


def dihedral_group(image: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips/rotations of a (..., H, W) tensor."""
    out = []
    for flip in (False, True):
        base = image.flip(-1) if flip else image
        out += [torch.rot90(base, k, dims=(-2, -1)) for k in range(4)]
    return out


def test_random_dihedral_permutes_pixels_per_sample():
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(16, 3, 8, 8, generator=gen)
    before = images.clone()
    out = random_dihedral(images, generator=gen)
    assert out.shape == images.shape and out.dtype == images.dtype
    torch.testing.assert_close(images, before)  # input untouched
    for b in range(16):
        for c in range(3):
            torch.testing.assert_close(
                out[b, c].flatten().sort().values, images[b, c].flatten().sort().values
            )
        # One group element per sample, the same for every channel.
        assert any(torch.equal(out[b], g) for g in dihedral_group(images[b]))


def test_random_dihedral_covers_all_8_elements():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)  # no symmetry: the 8 images are distinct
    group = dihedral_group(image[0])
    assert len({tuple(g.flatten().tolist()) for g in group}) == 8
    out = random_dihedral(
        image.expand(400, 1, 4, 4).contiguous(), generator=torch.Generator().manual_seed(1)
    )
    seen = {next(i for i, g in enumerate(group) if torch.equal(o, g)) for o in out}
    assert seen == set(range(8))


def test_random_dihedral_is_seeded():
    images = torch.randn(32, 2, 6, 6)
    a = random_dihedral(images, generator=torch.Generator().manual_seed(5))
    b = random_dihedral(images, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)


def test_normalization_fit_apply_save_load(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.normal(
        loc=[[[5.0]], [[-2.0]], [[0.0]]], scale=[[[3.0]], [[0.5]], [[0.0]]], size=(40, 3, 8, 8)
    )
    climate = rng.normal(loc=[10.0, 200.0], scale=[2.0, 50.0], size=(40, 61, 2))
    train = np.arange(0, 40, 2)
    norm = Normalization.fit(images.astype(np.float32), climate.astype(np.float32), train, chunk=7)
    assert norm.n_train == 20
    np.testing.assert_allclose(
        norm.image_mean, images[train].mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(norm.image_std[:2], images[train].std(axis=(0, 2, 3))[:2], rtol=1e-4)
    assert norm.image_std[2] == 1e-6  # a constant channel does not divide by zero
    np.testing.assert_allclose(norm.climate_mean, climate[train].mean(axis=(0, 1)), rtol=1e-5)

    x = norm.image(torch.from_numpy(images[train].astype(np.float32)))
    torch.testing.assert_close(x.mean(dim=(0, 2, 3))[:2], torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(
        x.std(dim=(0, 2, 3), correction=0)[:2], torch.ones(2), atol=1e-4, rtol=0
    )
    single = norm.image(torch.from_numpy(images[0].astype(np.float32)))  # (C, H, W) works too
    torch.testing.assert_close(single, x[0])
    z = norm.climate(torch.from_numpy(climate[train].astype(np.float32)))
    torch.testing.assert_close(z.mean(dim=(0, 1)), torch.zeros(2), atol=1e-4, rtol=0)

    path = norm.save(tmp_path / "deep" / "normalization.json")
    back = Normalization.load(path)
    assert back == norm
    torch.testing.assert_close(back.image(torch.ones(3, 2, 2)), norm.image(torch.ones(3, 2, 2)))


def test_normalization_without_climate():
    images = np.ones((4, 2, 3, 3), np.float32)
    norm = Normalization.fit(images, None, np.arange(4))
    assert norm.climate_mean == [] and norm.climate_std == []
    assert norm.image_mean == [1.0, 1.0]


def _dihedral_by_selection(images, generator):
    """The per-element loop random_dihedral used before it became branch-free (the reference)."""
    choice = torch.randint(0, 8, (images.shape[0],), generator=generator, device="cpu")
    out = images.clone()
    for k in range(8):
        sel = torch.nonzero(choice == k).flatten()
        block = images.index_select(0, sel)
        block = torch.rot90(block.flip(-1) if k >= 4 else block, k % 4, dims=(-2, -1))
        out.index_copy_(0, sel, block)
    return out


def test_branch_free_dihedral_equals_the_selection_loop():
    """The same generator gives the same images as before: CPU training results are unchanged."""
    images = torch.randn(64, 3, 8, 8)
    a = random_dihedral(images, generator=torch.Generator().manual_seed(11))
    b = _dihedral_by_selection(images, torch.Generator().manual_seed(11))
    assert torch.equal(a, b)
    half = random_dihedral(images.half(), generator=torch.Generator().manual_seed(11))
    assert half.dtype == torch.float16 and torch.equal(half, b.half())


def test_dihedral_applies_the_given_elements():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    group = dihedral_group(image[0])
    out = dihedral(image.expand(8, 1, 4, 4), torch.arange(8))
    for k in range(8):
        assert torch.equal(out[k], group[k]), k
