"""Batched rendering of soilnet.twin.world: the same cells as the original per-point renderer.

``_reference_render`` is the renderer as it was before rendering went chunked and vectorised
(one generator and one ``concatenate`` per point, whole-batch ``(N, 7, S, S)`` reflectance,
per-patch spectral indices). The world must render bit-identical patches, climate and latent
values, so that training points and maps still come from one world and written twins do not
change.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rasterio

import soilnet.twin.world as world_module
from soilnet.bands import compute_indices
from soilnet.grid import grid_cells, sample_land_points
from soilnet.twin import SyntheticWorld, TwinConfig, write_twin
from soilnet.twin.climate import DROUGHT_EVENTS, DROUGHT_P
from soilnet.twin.oracle import oracle_columns
from soilnet.twin.surface import (
    _BARELAND,
    _CROPLAND,
    _SIGNATURES,
    _SOIL,
    _VEG,
    _VEGETATED,
    LAND_COVER,
    add_clouds,
    patch_elevation,
    slope_percent,
    smooth_unit,
)
from soilnet.twin.world import LAND_COVER_EFFECT, SOIL_CLASSES, SOIL_DARKNESS_WEIGHT, Rendered

# ---------------------------------------------------------------- the original renderer


def _reference_point_draws(world, x, y):
    n, s, n_cls = len(x), world.config.patch_size_px, len(LAND_COVER)
    white = np.empty((n, n_cls + 5, s, s))
    per_point = np.empty((n, 13))
    for i in range(n):
        r = world._point_rng(x[i], y[i])
        white[i] = r.standard_normal((n_cls + 5, s, s))
        per_point[i] = np.concatenate(
            [
                r.standard_normal(n_cls),
                r.standard_normal(3),
                r.uniform(size=2),
                [r.binomial(DROUGHT_EVENTS, DROUGHT_P)],
                r.standard_normal(1),
            ]
        )
    return white, per_point


def _reference_reflectance(cover, d_pix, u_veg, vigour_z, illum_z, pix_noise):
    refl = _SIGNATURES[cover].transpose(0, 3, 1, 2).copy()
    soil_dark = np.exp(-0.22 * d_pix)[:, None]
    soil = _SOIL[None, :, None, None] * soil_dark
    veg_frac = np.clip(0.15 + 0.12 * (2 * u_veg - 1) * 1.7, 0, 0.6)[:, None, None, None]
    is_crop = (cover == _CROPLAND)[:, None]
    is_bare = (cover == _BARELAND)[:, None]
    refl = np.where(is_crop, (1 - veg_frac) * soil + veg_frac * _VEG[None, :, None, None], refl)
    refl = np.where(is_bare, 0.95 * soil + 0.05 * _VEG[None, :, None, None], refl)
    vegetated = np.isin(cover, _VEGETATED)[:, None]
    vigour = 1 + 0.08 * vigour_z[:, None] * np.array([0, 0, 0, 0, 1, 0.3, 0])[None, :, None, None]
    refl = np.where(vegetated, refl * vigour, refl)
    illum = np.exp(0.06 * illum_z)[:, None, None, None]
    refl = (
        refl * illum * (1 + 0.04 * pix_noise[:, None])
        + 0.004 * np.roll(pix_noise, 1, axis=-1)[:, None]
    )
    return np.clip(refl, 0.0, 1.0)


def _reference_patch_image(refl, dem):
    indices = np.stack([compute_indices(r) for r in refl])
    image = np.concatenate([refl, indices, dem[:, None], slope_percent(dem)[:, None]], axis=1)
    return image.astype(np.float32)


def _reference_render(self, x, y, *, with_climate, standardised):
    """``SyntheticWorld._render`` before batching (a drop-in replacement for it)."""
    cfg = self.config
    n, s, n_cls = len(x), cfg.patch_size_px, len(LAND_COVER)
    lon, lat, cont, elev = self._geography(x, y)
    bias = self._lc_bias(x, y, lat, cont, elev) + self._lc_offset
    white, per_point = _reference_point_draws(self, x, y)
    jitter = 0.5 * per_point[:, :n_cls]
    d, illum_z, eps = per_point[:, n_cls], per_point[:, n_cls + 1], per_point[:, n_cls + 2]
    u_veg, u_cloud = per_point[:, n_cls + 3], per_point[:, n_cls + 4]
    drought_k = per_point[:, n_cls + 5].astype(int)
    relief_z = per_point[:, n_cls + 6]
    lc_noise = smooth_unit(white[:, :n_cls], 3.0)
    cover = np.argmax(lc_noise + (bias + jitter)[:, :, None, None], axis=1)
    c0 = s // 2
    centre = cover[:, c0, c0]
    aux = smooth_unit(white[:, n_cls:], 4.0)
    refl = _reference_reflectance(
        cover,
        d[:, None, None] + 0.3 * aux[:, 0],
        u_veg,
        aux[:, 1],
        illum_z,
        smooth_unit(white[:, n_cls + 4 : n_cls + 5], 0.5)[:, 0],
    )
    dem = patch_elevation(elev, relief_z, aux[:, 2])
    image = _reference_patch_image(refl, dem)
    blob = aux[:, 3] > 1.0
    add_clouds(image, u_cloud < cfg.cloud_fraction, blob, (aux[:, 4] > 2.9) & ~blob)
    effect = np.asarray(LAND_COVER_EFFECT)[centre]
    c1_raw = effect + SOIL_DARKNESS_WEIGHT * d
    soil_visible = np.isin(cover, [LAND_COVER.index(c) for c in SOIL_CLASSES]).any(axis=(1, 2))
    context_cover = (cover == 1).mean(axis=(1, 2)) + 2 * (cover == 5).mean(axis=(1, 2))
    rel = (dem[:, c0, c0] - dem.mean(axis=(1, 2))) / np.maximum(dem.std(axis=(1, 2)), 1e-6)
    context_relief = -rel
    spatial_raw = self._spatial_field(x, y)
    latent = pd.DataFrame(
        {
            "x_3035": x, "y_3035": y, "long": lon, "lat": lat,
            "land_cover": np.asarray(LAND_COVER)[centre], "soil_darkness_d": d,
            "soil_visible": soil_visible, "drought_count_K": drought_k, "c1_raw": c1_raw,
            "context_cover": context_cover, "context_relief": context_relief,
            "spatial_raw": spatial_raw, "elevation_m": dem[:, c0, c0],
        }
    )  # fmt: skip
    if standardised:
        sh = np.sqrt(cfg.shares)
        c1 = self._z("c1_raw", c1_raw)
        c2_raw = 0.6 * self._z("context_cover", context_cover) + 0.4 * np.clip(
            self._z("context_relief", context_relief), -3, 3
        )
        c2 = self._z("c2_raw", c2_raw)
        c3 = (drought_k - DROUGHT_EVENTS * DROUGHT_P) / math.sqrt(
            DROUGHT_EVENTS * DROUGHT_P * (1 - DROUGHT_P)
        )
        c4 = self._z("spatial_raw", spatial_raw)
        known = sh[0] * c1 + sh[1] * c2 + sh[2] * c3
        log_soc = self.mu + self.sigma * (known + sh[3] * c4 + sh[4] * eps)
        soc = np.maximum(np.round(np.exp(log_soc), 1), 0.1)
        c1_given_cover = self._z("c1_raw", effect)
        c1_d_sd = SOIL_DARKNESS_WEIGHT / max(self._std["c1_raw"][1], 1e-12)
        latent = latent.assign(
            c1=c1, c2=c2, c3=c3, c4=c4, eps=eps, OC=soc,
            **oracle_columns(
                self.mu, self.sigma, cfg.shares, c1, c2, c3, c4,
                c1_given_cover=c1_given_cover, c1_d_sd=c1_d_sd, soil_visible=soil_visible,
            ),
        )  # fmt: skip
    climate = (
        self._climate(x, y, lat, cont, elev, drought_k)
        if with_climate
        else np.empty((n, 0, 0), np.float32)
    )
    return Rendered(image=image, climate=climate, latent=latent)


# ---------------------------------------------------------------- helpers


def assert_same_render(a: Rendered, b: Rendered) -> None:
    """Bit-identical patches (NaN where NaN) and climate, exactly equal latent columns."""
    assert a.image.dtype == b.image.dtype == np.float32
    np.testing.assert_array_equal(a.image.view(np.uint32), b.image.view(np.uint32))
    np.testing.assert_array_equal(a.climate, b.climate)
    pd.testing.assert_frame_equal(a.latent, b.latent, check_exact=True)


def one_at_a_time(world: SyntheticWorld, x, y) -> Rendered:
    """Render each location alone and stack the results."""
    parts = [world.render(x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
    return Rendered(
        image=np.concatenate([p.image for p in parts]),
        climate=np.concatenate([p.climate for p in parts]),
        latent=pd.concat([p.latent for p in parts], ignore_index=True),
    )


@pytest.fixture(scope="module")
def world64():
    """A 64 px world (the paper's patch size), calibrated by the batched renderer."""
    return SyntheticWorld(TwinConfig(n_points=10, patch_size_px=64, seed=5))


@pytest.fixture(scope="module")
def grid_sample():
    """(x, y) of 24 cells of the 10 km map grid, spread over it."""
    x, y = grid_cells(10_000)
    idx = np.random.default_rng(3).choice(len(x), 24, replace=False)
    return x[idx], y[idx]


# ---------------------------------------------------------------- tests


def test_batched_grid_cells_equal_per_point_rendering(world64, grid_sample):
    x, y = grid_sample
    assert_same_render(world64.render(x, y), one_at_a_time(world64, x, y))


def test_batched_rendering_equals_original_renderer(world64, grid_sample):
    x, y = grid_sample
    assert_same_render(
        world64.render(x, y), _reference_render(world64, x, y, with_climate=True, standardised=True)
    )


@pytest.mark.parametrize("chunk_cells, threads", [(1, 1), (5, 1), (5, 3)])
def test_chunking_and_threads_do_not_change_cells(
    world, xy, rendered, monkeypatch, chunk_cells, threads
):
    s = world.config.patch_size_px
    monkeypatch.setattr(world_module, "RENDER_CHUNK_PIXELS", chunk_cells * s * s)
    monkeypatch.setattr(world_module, "RENDER_THREADS", threads)
    x, y = xy[0][:23], xy[1][:23]
    again = world.render(x, y)
    np.testing.assert_array_equal(again.image.view(np.uint32), rendered.image[:23].view(np.uint32))
    pd.testing.assert_frame_equal(again.latent, rendered.latent.iloc[:23], check_exact=True)


@pytest.mark.parametrize("size_px", [8, 33])
def test_odd_and_small_patches_equal_original_renderer(size_px):
    w = SyntheticWorld(TwinConfig(n_points=10, patch_size_px=size_px, seed=7))
    x, y = sample_land_points(40, np.random.default_rng(9))
    assert_same_render(
        w.render(x, y), _reference_render(w, x, y, with_climate=True, standardised=True)
    )


def test_calibration_unchanged(monkeypatch):
    """mu, sigma and the standardisation constants come out as with the original renderer."""
    cfg = TwinConfig(n_points=10, patch_size_px=16, seed=13)
    new = SyntheticWorld(cfg)
    monkeypatch.setattr(SyntheticWorld, "_render", _reference_render)
    old = SyntheticWorld(cfg)
    assert (old.mu, old.sigma) == (new.mu, new.sigma)
    assert old._std == new._std
    np.testing.assert_array_equal(old._lc_offset, new._lc_offset)


def test_written_twin_files_unchanged(tmp_path, monkeypatch):
    """write_twin writes the same files with the batched renderer as with the original."""
    cfg = TwinConfig(n_points=24, patch_size_px=16, seed=3)
    write_twin(tmp_path / "new", cfg)
    monkeypatch.setattr(SyntheticWorld, "_render", _reference_render)
    write_twin(tmp_path / "old", cfg)
    names = sorted(p.relative_to(tmp_path / "old") for p in (tmp_path / "old").rglob("*.csv"))
    assert len(names) > 3
    for name in names:
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()
    tifs = sorted(p.name for p in (tmp_path / "old" / "patches").glob("*.tif"))
    assert len(tifs) == cfg.n_points
    for name in tifs:
        with rasterio.open(tmp_path / "old" / "patches" / name) as a:
            with rasterio.open(tmp_path / "new" / "patches" / name) as b:
                assert a.read().tobytes() == b.read().tobytes(), name
