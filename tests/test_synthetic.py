"""Tests for soilnet.synthetic: a deterministic, continuous twin of Europe with known truth."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import TINY

from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES, PAPER_CLIP_G_PER_KG, compute_indices
from soilnet.errors import ConfigurationError
from soilnet.geo import on_land
from soilnet.synthetic import (
    LAND_COVER,
    LAND_COVER_SHARES,
    LUCAS_QUARTILES,
    PROFILES,
    SyntheticWorld,
    TwinConfig,
    clipped_lognormal_mean,
    sample_land_points,
    with_shares,
    write_twin,
)

#: Rendering config of the statistical tests: 16 px keeps ~1500 points well under a second.
STATS = TwinConfig(n_points=100, patch_size_px=16, seed=11)
N_STATS = 1500


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(STATS)


@pytest.fixture(scope="module")
def xy():
    return sample_land_points(N_STATS, np.random.default_rng(5))


@pytest.fixture(scope="module")
def rendered(world, xy):
    return world.render(*xy)


def read_bands(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


# ---------------------------------------------------------------- determinism and layout


def test_same_seed_same_files(twin_dir, tmp_path):
    again = tmp_path / "again"
    write_twin(again, TINY)
    for name in ("points.csv", "truth.csv", "climate/pr.csv", "climate/vs.csv"):
        assert (again / name).read_bytes() == (twin_dir / name).read_bytes(), name
    first = sorted(p.name for p in (twin_dir / "patches").glob("*.tif"))
    assert first == sorted(p.name for p in (again / "patches").glob("*.tif"))
    for name in first:
        np.testing.assert_array_equal(
            read_bands(again / "patches" / name), read_bands(twin_dir / "patches" / name)
        )
    a, b = (json.loads((d / "twin.json").read_text()) for d in (twin_dir, again))
    a.pop("generation_seconds"), b.pop("generation_seconds")
    assert a == b


def test_different_seeds_differ(tmp_path, world, xy):
    write_twin(tmp_path / "s4", TwinConfig(n_points=12, patch_size_px=8, seed=4))
    write_twin(tmp_path / "s5", TwinConfig(n_points=12, patch_size_px=8, seed=5))
    p4, p5 = (pd.read_csv(tmp_path / s / "points.csv", encoding="utf-8-sig") for s in ("s4", "s5"))
    assert not set(p4["Point_ID"]) & set(p5["Point_ID"])
    other = SyntheticWorld(TwinConfig(n_points=100, patch_size_px=16, seed=12))
    x, y = xy[0][:3], xy[1][:3]
    assert not np.allclose(other.render(x, y).image, world.render(x, y).image, equal_nan=True)


def test_written_layout(twin_dir):
    points = pd.read_csv(twin_dir / "points.csv", encoding="utf-8-sig")
    assert (twin_dir / "points.csv").read_bytes()[:3] == b"\xef\xbb\xbf"  # BOM, as LUCAS
    assert list(points.columns) == ["Point_ID", "long", "lat", "OC", "LC0_Desc", "NUTS_0"]
    assert len(points) == TINY.n_points and points["Point_ID"].is_unique
    assert points["Point_ID"].between(10**6, 10**8 - 1).all()
    assert (
        set(points["LC0_Desc"]) <= set(LAND_COVER)
        and points["NUTS_0"].str.fullmatch(r"[A-Z]{2}").all()
    )
    assert (points["OC"] >= 0.1).all()
    names = sorted(p.name for p in (twin_dir / "patches").glob("*.tif"))
    assert len(names) == TINY.n_points
    dates = [re.fullmatch(r"(\d+)_(\d{6})\.tif", n).group(2) for n in names]
    assert all(
        d.startswith("15") and d[2:4] in ("01", "02", "11", "12") for d in dates
    )  # winter 2015
    with rasterio.open(twin_dir / "patches" / names[0]) as src:
        assert src.descriptions == BAND_NAMES
        assert (
            src.crs.to_string() == "EPSG:3857"
            and src.dtypes[0] == "float32"
            and np.isnan(src.nodata)
        )
        assert (src.height, src.width) == (16, 16)
    assert sorted(p.stem for p in (twin_dir / "climate").glob("*.csv")) == sorted(CLIMATE_VARIABLES)
    header = (twin_dir / "climate" / "pr.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "Point_ID" and len(header) == 62 and header[1:] != sorted(header[1:])
    truth = pd.read_csv(twin_dir / "truth.csv")
    for col in (
        "Point_ID",
        "c1",
        "c2",
        "c3",
        "c4",
        "eps",
        "OC",
        "oracle_clipped",
        "oracle_unclipped",
    ):
        assert col in truth.columns
    np.testing.assert_array_equal(truth["Point_ID"], points["Point_ID"])
    summary = json.loads((twin_dir / "twin.json").read_text())
    assert summary["n_points"] == TINY.n_points and summary["config"]["seed"] == TINY.seed


def test_config_validation_and_profiles(tmp_path):
    assert (
        PROFILES["smoke"].n_points
        < PROFILES["default"].n_points
        < PROFILES["paper"].n_points
        == 21859
    )
    assert PROFILES["paper"].patch_size_px == 64
    with pytest.raises(ConfigurationError, match="shares"):
        TwinConfig(shares=(0.5, 0.5, 0.5, 0.0, 0.0))
    with pytest.raises(ConfigurationError, match="patch_size_px"):
        TwinConfig(patch_size_px=4)
    with pytest.raises(ConfigurationError, match="Unknown climate variable"):
        TwinConfig(climate_variables=("rain",))
    with pytest.raises(
        ConfigurationError, match="Unknown twin profile 'huge'; accepted: smoke, default, paper"
    ):
        write_twin(tmp_path, "huge")
    with pytest.raises(ConfigurationError, match="Unknown share"):
        with_shares(STATS, drought=0.1)


# ---------------------------------------------------------------- continuous world


def test_location_renders_the_same_alone_or_in_a_batch(world, xy, rendered):
    for i in (0, 7, 1234):
        alone = world.render(xy[0][i : i + 1], xy[1][i : i + 1])
        np.testing.assert_array_equal(alone.image[0], rendered.image[i])
        np.testing.assert_array_equal(alone.climate[0], rendered.climate[i])
        pd.testing.assert_series_equal(
            alone.latent.iloc[0], rendered.latent.iloc[i], check_names=False, rtol=1e-12
        )


def test_patches_follow_the_band_formulas(rendered):
    image = rendered.image[:50].astype(np.float64)
    assert image.shape == (50, 14, 16, 16)
    refl = image[:, :7]
    assert np.nanmin(refl) >= 0 and np.nanmax(refl) <= 1  # reflectance 0-1
    for k in range(50):
        expected = compute_indices(refl[k])
        ok = np.isfinite(image[k, 7:12]) & np.isfinite(expected)
        np.testing.assert_allclose(image[k, 7:12][ok], expected[ok], atol=1e-5)
    assert (image[:, BAND_NAMES.index("slopePCT")] >= 0).all()
    assert np.isfinite(image[:, 12:]).all()  # no clouds over topography


def test_soil_darkens_with_soc_on_cropland_and_bare(rendered):
    lat = rendered.latent
    soil = lat["land_cover"].isin(["Cropland", "Bareland"]).to_numpy()
    c = rendered.image.shape[-1] // 2
    red = rendered.image[soil, BAND_NAMES.index("SR_B4"), c, c]
    ok = np.isfinite(red)
    assert np.corrcoef(np.log(lat["OC"].to_numpy()[soil][ok]), red[ok])[0, 1] < -0.2


# ---------------------------------------------------------------- distributions


def test_land_cover_shares_close_to_lucas(rendered):
    shares = rendered.latent["land_cover"].value_counts(normalize=True)
    tolerance = {
        "Cropland": 0.05,
        "Woodland": 0.05,
        "Grassland": 0.05,
        "Shrubland": 0.025,
        "Bareland": 0.02,
    }
    for name, target in zip(LAND_COVER, LAND_COVER_SHARES, strict=True):
        if name == "Wetlands":
            assert shares.get(name, 0.0) < 0.015
        else:
            assert shares.get(name, 0.0) == pytest.approx(target, abs=tolerance[name]), name


def test_oc_quartiles_close_to_lucas(rendered):
    oc = rendered.latent["OC"].to_numpy()
    assert LUCAS_QUARTILES == (12.5, 20.4, 38.6)
    np.testing.assert_allclose(np.quantile(oc, [0.25, 0.5, 0.75]), LUCAS_QUARTILES, rtol=0.15)
    assert 0.03 < (oc > PAPER_CLIP_G_PER_KG).mean() < 0.2  # heavy right tail, as LUCAS (9 %)
    assert oc.mean() > np.median(oc)


# ---------------------------------------------------------------- oracle


@pytest.mark.parametrize(("a", "b"), [(3.0, 0.7), (4.2, 0.5), (2.0, 1.2), (4.6, 0.3)])
def test_clipped_lognormal_mean_matches_monte_carlo(a, b):
    w = np.random.default_rng(0).standard_normal(400_000)
    sample = np.exp(a + b * w)
    assert clipped_lognormal_mean(a, b) == pytest.approx(np.minimum(sample, 87).mean(), rel=0.005)
    assert clipped_lognormal_mean(a, b, clip=None) == pytest.approx(sample.mean(), rel=0.01)
    assert clipped_lognormal_mean(a, 0.0) == pytest.approx(min(np.exp(a), 87))


def test_oracle_is_the_conditional_mean(world, rendered):
    lat = rendered.latent
    sh = np.sqrt(STATS.shares)
    a = world.mu + world.sigma * (sh[0] * lat["c1"] + sh[1] * lat["c2"] + sh[2] * lat["c3"])
    b = world.sigma * np.sqrt(STATS.shares[3] + STATS.shares[4])
    np.testing.assert_allclose(lat["oracle_clipped"], clipped_lognormal_mean(a.to_numpy(), b))
    np.testing.assert_allclose(
        lat["oracle_unclipped"], clipped_lognormal_mean(a.to_numpy(), b, clip=None)
    )
    # Averaged over points, the clipped observations agree with their conditional means.
    clipped = np.minimum(lat["OC"], PAPER_CLIP_G_PER_KG)
    assert clipped.mean() == pytest.approx(lat["oracle_clipped"].mean(), rel=0.04)
    # The oracle beats every constant and leaves the residual noise.
    mse_oracle = ((clipped - lat["oracle_clipped"]) ** 2).mean()
    assert mse_oracle < clipped.var()
    for c in ("c1", "c2", "c3", "c4", "eps"):
        assert abs(lat[c].mean()) < 0.15 and lat[c].std() == pytest.approx(1.0, abs=0.15), c


# ---------------------------------------------------------------- climate dynamics


def test_droughts_hidden_in_the_means(world, xy, rendered):
    k = rendered.latent["drought_count_K"].to_numpy()
    x, y = xy
    _, lat, cont, elev = world._geography(x, y)
    dry = world._climate(x, y, lat, cont, elev, k)
    plain = world._climate(x, y, lat, cont, elev, np.zeros_like(k))
    np.testing.assert_array_equal(dry, rendered.climate)
    assert not np.array_equal(dry, plain)
    # Per point and variable, the 61-month mean is the no-drought mean.
    np.testing.assert_allclose(dry.astype(np.float64).mean(axis=1), plain.astype(np.float64).mean(axis=1),
                               rtol=1e-5, atol=1e-4)  # fmt: skip
    for j, var in enumerate(STATS.climate_variables):
        assert abs(np.corrcoef(k, dry[:, :, j].mean(axis=1))[0, 1]) < 0.1, var
    pr = rendered.climate[:, :, STATS.climate_variables.index("pr")]
    assert np.corrcoef(k, pr.min(axis=1))[0, 1] < -0.15
    dry_months = (pr < 0.25 * np.median(pr, axis=1, keepdims=True)).sum(axis=1)
    assert np.corrcoef(k, dry_months)[0, 1] > 0.7


def test_climate_share_zero_makes_soc_independent_of_droughts(world, xy, rendered):
    k = rendered.latent["drought_count_K"].to_numpy()
    assert np.corrcoef(k, np.log(rendered.latent["OC"]))[0, 1] > 0.25  # default: share 0.15
    no_climate = with_shares(STATS, climate=0.0)
    assert no_climate.shares[2] == 0.0 and sum(no_climate.shares) == pytest.approx(1.0)
    ratio = np.array(no_climate.shares)[[0, 1, 3, 4]] / np.array(STATS.shares)[[0, 1, 3, 4]]
    np.testing.assert_allclose(ratio, ratio[0])  # the rest rescaled proportionally
    other_world = SyntheticWorld(no_climate)
    other = other_world.render(*xy, with_climate=False).latent
    np.testing.assert_array_equal(other["drought_count_K"], k)  # same world, same K
    assert abs(np.corrcoef(k, np.log(other["OC"]))[0, 1]) < 0.08
    # c3 plays no role: the oracle is a function of c1 and c2 alone.
    sh = np.sqrt(no_climate.shares)
    a = other_world.mu + other_world.sigma * (sh[0] * other["c1"] + sh[1] * other["c2"])
    b = other_world.sigma * np.sqrt(no_climate.shares[3] + no_climate.shares[4])
    np.testing.assert_allclose(other["oracle_clipped"], clipped_lognormal_mean(a.to_numpy(), b))


def test_grid_is_on_land(world):
    gx, gy = world.grid(200_000.0)
    assert 50 < len(gx) < 200
    assert on_land(gx, gy).all()
    assert len(np.unique(np.round(gy))) > 5  # several rows, north up
