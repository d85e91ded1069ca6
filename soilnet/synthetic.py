"""A synthetic twin of Europe with known ground truth, written in the real on-disk layout.

The real inputs of SoilNet (LUCAS points, Landsat-8 patches, TerraClimate series) cannot be
fetched offline, so every default command, test, Binder and Colab session runs on this twin.
It is a *continuous world*: covariates, patches, climate series and SOC can be rendered for any
location in the EU-28 land area (EPSG:3035), so training points and a wall-to-wall map grid come
from the same world. Everything is deterministic given ``seed``: per-location randomness is drawn
from a generator seeded by ``(seed, round(x), round(y))``.

Causal model (log space, variance shares settable; defaults 35/15/15/10/25 %)::

    log SOC = mu + sigma * (sqrt(s1) c1 + sqrt(s2) c2 + sqrt(s3) c3 + sqrt(s4) c4 + sqrt(s5) eps)

- c1, *pixel*: land cover of the point's own pixel plus soil darkness ``d`` (darker bare and
  cropland soil reflectance = more SOC): ``z(effect[LC] + 0.7 d)``.
- c2, *context*: visible only across the whole patch: ``z(0.6 z(woodland share + 2 wetland
  share) + 0.4 clip(z(-relative relief of the centre), +-3))``.
- c3, *climate dynamics*: the number K of summer droughts 2010-2014, visible in the monthly
  sequence but not in its 61-month mean (each point's means are shifted back to their
  no-drought values): ``(K - 2.4) / 1.2`` with K ~ Binomial(6, 0.4).
- c4, *spatial residual*: a Gaussian random field over coordinates (length scale ~150 km).
- eps: independent noise.

``mu`` and ``sigma`` are fitted so the quartiles match LUCAS 2015 (12.5 / 20.4 / 38.6 g/kg).
The *oracle* is the conditional mean of SOC given c1..c3, in closed form, clipped or not; it is
written to ``truth.csv``, which no model reads, and is the noise floor every model is measured
against.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from scipy.special import ndtr

from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES, PAPER_CLIP_G_PER_KG, compute_indices
from soilnet.errors import ConfigurationError
from soilnet.geo import europe_countries, laea_to_lonlat, lucas_land_laea, on_land

#: LUCAS ``LC0_Desc`` classes rendered by the twin, with target centre-pixel shares.
LAND_COVER = ("Cropland", "Woodland", "Grassland", "Shrubland", "Bareland", "Wetlands")
LAND_COVER_SHARES = (0.41, 0.30, 0.215, 0.04, 0.03, 0.005)
#: Effect of the centre pixel's class on log SOC before standardisation (c1).
LAND_COVER_EFFECT = (-0.55, 0.55, 0.25, 0.20, -0.75, 2.6)

#: Winter surface reflectance (SR_B1..SR_B7) of the pure materials.
_SOIL = np.array([0.10, 0.12, 0.16, 0.22, 0.28, 0.36, 0.30])
_VEG = np.array([0.03, 0.04, 0.07, 0.05, 0.35, 0.20, 0.10])
_SIGNATURES = np.array(
    [
        _SOIL,  # cropland: soil mixed with crop residue/vegetation, see _render_reflectance
        [0.02, 0.03, 0.05, 0.04, 0.22, 0.12, 0.06],  # woodland
        [0.04, 0.05, 0.08, 0.07, 0.30, 0.22, 0.12],  # grassland
        [0.06, 0.07, 0.10, 0.12, 0.25, 0.28, 0.20],  # shrubland
        _SOIL,  # bareland
        [0.03, 0.04, 0.06, 0.05, 0.15, 0.07, 0.04],  # wetland
    ]
)
#: LUCAS quartiles of OC (g/kg) that mu and sigma are fitted to.
LUCAS_QUARTILES = (12.5, 20.4, 38.6)
#: First month of the climate series and its length (2010-01 .. 2015-01, as the paper).
CLIMATE_START = "2010-01"
CLIMATE_MONTHS = 61
DROUGHT_EVENTS, DROUGHT_P = 6, 0.4
SHARE_NAMES = ("pixel", "context", "climate", "spatial", "noise")


@dataclass(frozen=True)
class TwinConfig:
    """Settings of a twin. Sizes: see :data:`PROFILES`.

    Attributes:
        n_points: number of LUCAS-like points.
        patch_size_px: patch height and width in pixels (30 m ground pixels).
        seed: world seed; the same seed gives the same world, points and files.
        shares: variance shares in log space of (pixel, context, climate, spatial, noise);
            must sum to 1.
        cloud_fraction: share of patches with a cloud blob (NaN pixels in the optical bands).
        spatial_length_km: length scale of the spatial residual field c4.
        climate_variables: variables written under ``climate/``.
    """

    n_points: int = 5000
    patch_size_px: int = 32
    seed: int = 0
    shares: tuple[float, float, float, float, float] = (0.35, 0.15, 0.15, 0.10, 0.25)
    cloud_fraction: float = 0.03
    spatial_length_km: float = 150.0
    climate_variables: tuple[str, ...] = CLIMATE_VARIABLES

    def __post_init__(self):
        if self.n_points < 1:
            raise ConfigurationError(f"TwinConfig.n_points must be >= 1; got {self.n_points}.")
        if self.patch_size_px < 8:
            raise ConfigurationError(
                f"TwinConfig.patch_size_px must be >= 8; got {self.patch_size_px}."
            )
        if len(self.shares) != 5 or min(self.shares) < 0 or abs(sum(self.shares) - 1) > 1e-6:
            raise ConfigurationError(
                f"TwinConfig.shares must be 5 non-negative variance shares {SHARE_NAMES} summing to 1; got {self.shares}."
            )
        unknown = [v for v in self.climate_variables if v not in CLIMATE_VARIABLES]
        if unknown:
            raise ConfigurationError(
                f"Unknown climate variable(s) {unknown}; accepted: {CLIMATE_VARIABLES}."
            )


#: Named twin sizes: ``smoke`` for tests and quick looks, ``default`` for the CPU book,
#: ``paper`` for the paper's 21,859 points at 64 x 64 px.
PROFILES: dict[str, TwinConfig] = {
    "smoke": TwinConfig(n_points=400, patch_size_px=32),
    "default": TwinConfig(n_points=5000, patch_size_px=32),
    "paper": TwinConfig(n_points=21859, patch_size_px=64),
}


def _rff(rng: np.random.Generator, n_features: int, length_m: float):
    """A random-Fourier-feature Gaussian field with unit variance and squared-exponential kernel."""
    omega = rng.normal(0.0, 1.0 / length_m, size=(n_features, 2))
    phase = rng.uniform(0, 2 * np.pi, size=n_features)

    def field_(x, y):
        arg = np.outer(np.asarray(x, float), omega[:, 0]) + np.outer(
            np.asarray(y, float), omega[:, 1]
        )
        return np.sqrt(2.0 / n_features) * np.cos(arg + phase).sum(axis=1)

    return field_


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_px: float) -> np.ndarray:
    """Gaussian-smoothed white noise over the last two axes, rescaled to unit SD per field."""
    noise = gaussian_filter(
        rng.standard_normal(shape),
        sigma=(0,) * (len(shape) - 2) + (sigma_px, sigma_px),
        mode="wrap",
    )
    sd = noise.reshape(*shape[:-2], -1).std(axis=-1)[..., None, None]
    return noise / np.maximum(sd, 1e-9)


def _es_kpa(t_c):
    """Saturation vapour pressure (Tetens), kPa."""
    return 0.6108 * np.exp(17.27 * t_c / (t_c + 237.3))


def clipped_lognormal_mean(a, b, clip=PAPER_CLIP_G_PER_KG):
    """E[min(exp(a + b W), clip)] for W ~ N(0, 1); ``clip=None`` gives E[exp(a + b W)]."""
    a = np.asarray(a, float)
    if b <= 0:
        v = np.exp(a)
        return v if clip is None else np.minimum(v, clip)
    full = np.exp(a + 0.5 * b * b)
    if clip is None:
        return full
    lc = math.log(clip)
    return full * ndtr((lc - a - b * b) / b) + clip * (1.0 - ndtr((lc - a) / b))


@dataclass
class Rendered:
    """What the world shows at a batch of locations.

    Attributes:
        image: float32 (N, 14, S, S) in :data:`soilnet.bands.BAND_NAMES` order; reflectance 0-1,
            indices -1..1, elevation m, slope %; NaN under clouds.
        climate: float32 (N, 61, F) monthly 2010-01..2015-01, variables as configured.
        latent: per-point latent values (DataFrame): land cover, d, K, c1..c4, eps, ...
    """

    image: np.ndarray
    climate: np.ndarray
    latent: pd.DataFrame


@dataclass
class SyntheticWorld:
    """The continuous synthetic Europe. Build with ``SyntheticWorld(TwinConfig(...))``."""

    config: TwinConfig = field(default_factory=TwinConfig)

    def __post_init__(self):
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 7919])
        self._elev_field = _rff(rng, 256, 220e3)
        self._lc_fields = [_rff(rng, 128, 300e3) for _ in LAND_COVER]
        self._spatial_field = _rff(rng, 512, cfg.spatial_length_km * 1e3)
        self._year_fields = [_rff(rng, 64, 800e3) for _ in range(6)]
        # Mountain ranges (lon, lat, height m, radius km) so the relief looks like Europe's.
        ranges = [(10.5, 46.6, 1900, 170), (0.5, 42.7, 1500, 110), (24.5, 46.8, 1100, 180),
                  (13.5, 63.5, 900, 250), (-4.0, 40.5, 700, 300), (14.0, 42.5, 900, 140),
                  (22.0, 41.0, 900, 150), (-4.0, 57.0, 500, 130), (2.8, 45.3, 800, 90)]  # fmt: skip
        from soilnet.geo import lonlat_to_laea

        rx, ry = lonlat_to_laea([r[0] for r in ranges], [r[1] for r in ranges])
        self._ranges = np.column_stack(
            [rx, ry, [r[2] for r in ranges], [r[3] * 1e3 for r in ranges]]
        )
        self._lc_offset = np.zeros(len(LAND_COVER))
        self._calibrate()

    # ------------------------------------------------------------------ regional fields
    def elevation_m(self, x, y) -> np.ndarray:
        """Regional elevation (m) at EPSG:3035 locations, without the patch-scale relief."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        base = 180 + 220 * self._elev_field(x, y)
        d2 = (x[:, None] - self._ranges[:, 0]) ** 2 + (y[:, None] - self._ranges[:, 1]) ** 2
        bumps = (self._ranges[:, 2] * np.exp(-0.5 * d2 / self._ranges[:, 3] ** 2)).sum(axis=1)
        return np.maximum(base + bumps, 0.0)

    def _geography(self, x, y):
        lon, lat = laea_to_lonlat(x, y)
        cont = np.clip((np.asarray(lon) + 10.0) / 45.0, 0, 1)  # continentality 0 Atlantic .. 1 east
        return np.asarray(lon), np.asarray(lat), cont, self.elevation_m(x, y)

    def _lc_bias(self, x, y, lat, cont, elev) -> np.ndarray:
        """(N, 6) regional land-cover propensities, before the calibrated class offsets."""

        def sig(z):
            return 1.0 / (1.0 + np.exp(-z))

        e = elev / 1000.0
        fields = np.column_stack([f(x, y) for f in self._lc_fields])
        bias = np.column_stack(
            [
                0.8 * sig((55 - lat) / 3) - 0.9 * e,
                1.2 * sig((lat - 57) / 3) + 0.6 * e,
                0.3 + 0.6 * (1 - cont) + 0.3 * e,
                1.0 * sig((42 - lat) / 2),
                0.8 * sig((40 - lat) / 2) + 0.8 * (elev > 1500),
                1.2 * sig((lat - 58) / 3),
            ]
        )
        return 1.2 * (bias + 0.5 * fields)

    # ------------------------------------------------------------------ calibration
    def _calibrate(self):
        """Fit land-cover offsets, standardisation constants, mu and sigma on a fixed sample."""
        rng = np.random.default_rng([self.config.seed, 104729])
        x, y = sample_land_points(4000, rng)
        lon, lat, cont, elev = self._geography(x, y)
        # Centre-pixel class = argmax(bias + jitter + unit-variance smooth noise); simulate it.
        noise = rng.standard_normal((len(x), len(LAND_COVER))) * math.sqrt(1 + 0.5**2)
        target = np.asarray(LAND_COVER_SHARES)
        bias = self._lc_bias(x, y, lat, cont, elev) + noise
        for _ in range(60):
            cls = np.argmax(bias + self._lc_offset, axis=1)
            share = np.bincount(cls, minlength=len(LAND_COVER)) / len(cls)
            self._lc_offset = self._lc_offset + 0.7 * np.log(target / np.maximum(share, 1e-4))
        self._std = {}
        n_cal = 1500
        # Rendered in chunks: memory stays near one chunk's patches.
        lat_ = pd.concat(
            [
                self._render(
                    x[lo : lo + 250], y[lo : lo + 250], with_climate=False, standardised=False
                ).latent
                for lo in range(0, n_cal, 250)
            ],
            ignore_index=True,
        )
        for key in ("c1_raw", "context_cover", "context_relief", "spatial_raw"):
            self._std[key] = (float(lat_[key].mean()), float(lat_[key].std()))
        c2a = self._z("context_cover", lat_["context_cover"])
        c2b = np.clip(self._z("context_relief", lat_["context_relief"]), -3, 3)
        c2_raw = 0.6 * c2a + 0.4 * c2b
        self._std["c2_raw"] = (float(c2_raw.mean()), float(c2_raw.std()))
        # mu, sigma: least squares of log LUCAS quartiles on the quartiles of the latent Z.
        shares = np.sqrt(self.config.shares)
        z_rng = np.random.default_rng([self.config.seed, 15485863])
        c = np.column_stack(
            [
                self._z("c1_raw", lat_["c1_raw"]),
                self._z("c2_raw", c2_raw),
                (z_rng.binomial(DROUGHT_EVENTS, DROUGHT_P, n_cal) - 2.4) / 1.2,
                self._z("spatial_raw", lat_["spatial_raw"]),
                z_rng.standard_normal(n_cal),
            ]
        )
        zq = np.quantile(c @ shares, [0.25, 0.5, 0.75])
        slope, intercept = np.polyfit(zq, np.log(LUCAS_QUARTILES), 1)
        self.mu, self.sigma = float(intercept), float(slope)

    def _z(self, key, values):
        m, s = self._std[key]
        return (np.asarray(values, float) - m) / max(s, 1e-12)

    # ------------------------------------------------------------------ rendering
    def _point_rng(self, x: float, y: float) -> np.random.Generator:
        return np.random.default_rng(
            [self.config.seed, int(round(x)) & 0xFFFFFFFF, int(round(y)) & 0xFFFFFFFF]
        )

    def render(self, x, y, *, with_climate: bool = True) -> Rendered:
        """Render patches, climate series and latent SOC components at EPSG:3035 locations.

        Args:
            x, y: (N,) EPSG:3035 easting and northing, metres.
            with_climate: also render the monthly climate (61 months x variables).
        """
        return self._render(
            np.atleast_1d(x), np.atleast_1d(y), with_climate=with_climate, standardised=True
        )

    def _render(self, x, y, *, with_climate: bool, standardised: bool) -> Rendered:
        cfg = self.config
        n, s = len(x), cfg.patch_size_px
        lon, lat, cont, elev = self._geography(x, y)
        bias = self._lc_bias(x, y, lat, cont, elev) + self._lc_offset
        n_cls = len(LAND_COVER)
        # Per-point draws from location-seeded generators: the same place always looks the same.
        white = np.empty((n, n_cls + 5, s, s))
        per_point = np.empty((n, 13))
        for i in range(n):
            r = self._point_rng(x[i], y[i])
            white[i] = r.standard_normal((n_cls + 5, s, s))
            per_point[i] = np.concatenate(
                [
                    r.standard_normal(n_cls),
                    r.standard_normal(3),
                    r.uniform(size=2),
                    [r.binomial(DROUGHT_EVENTS, DROUGHT_P)],
                    r.standard_normal(1),  # relief amplitude (last: earlier draws unchanged)
                ]
            )
        jitter = 0.5 * per_point[:, :n_cls]
        d, illum_z, eps = per_point[:, n_cls], per_point[:, n_cls + 1], per_point[:, n_cls + 2]
        u_veg, u_cloud = per_point[:, n_cls + 3], per_point[:, n_cls + 4]
        drought_k = per_point[:, n_cls + 5].astype(int)
        relief_z = per_point[:, n_cls + 6]

        def smooth(block, sigma):
            out = gaussian_filter(block, sigma=(0, 0, sigma, sigma), mode="reflect")
            sd = out.reshape(n, block.shape[1], -1).std(axis=-1)[..., None, None]
            return out / np.maximum(sd, 1e-9)

        lc_noise = smooth(white[:, :n_cls], 3.0)
        scores = lc_noise + (bias + jitter)[:, :, None, None]
        cover = np.argmax(scores, axis=1)  # (N, S, S)
        c0 = s // 2
        centre = cover[:, c0, c0]
        aux = smooth(white[:, n_cls:], 4.0)  # soil texture, vigour, relief, cloud, spare
        d_pix = d[:, None, None] + 0.3 * aux[:, 0]
        # Reflectance: class signatures; soils darken with SOC driver d; vegetation vigour.
        refl = _SIGNATURES[cover].transpose(0, 3, 1, 2).copy()  # (N, 7, S, S)
        soil_dark = np.exp(-0.22 * d_pix)[:, None]
        soil = _SOIL[None, :, None, None] * soil_dark
        veg_frac = np.clip(0.15 + 0.12 * (2 * u_veg - 1) * 1.7, 0, 0.6)[:, None, None, None]
        is_crop = (cover == 0)[:, None]
        is_bare = (cover == 4)[:, None]
        refl = np.where(is_crop, (1 - veg_frac) * soil + veg_frac * _VEG[None, :, None, None], refl)
        refl = np.where(is_bare, 0.95 * soil + 0.05 * _VEG[None, :, None, None], refl)
        vegetated = np.isin(cover, (1, 2, 3, 5))[:, None]
        vigour = (
            1 + 0.08 * aux[:, 1][:, None] * np.array([0, 0, 0, 0, 1, 0.3, 0])[None, :, None, None]
        )
        refl = np.where(vegetated, refl * vigour, refl)
        # Sensor and illumination noise (reproducible from the point's generator draws).
        illum = np.exp(0.06 * illum_z)[:, None, None, None]
        pix_noise = smooth(white[:, n_cls + 4 : n_cls + 5], 0.5)[:, 0]
        refl = (
            refl * illum * (1 + 0.04 * pix_noise[:, None])
            + 0.004 * np.roll(pix_noise, 1, axis=-1)[:, None]
        )
        refl = np.clip(refl, 0.0, 1.0)
        indices = np.stack([compute_indices(r) for r in refl])
        # Topography: regional elevation plus patch-scale relief (amplitude grows with altitude).
        amp = 12.0 * np.exp(0.5 * relief_z) * (1 + elev / 400.0)
        relief = amp[:, None, None] * aux[:, 2]
        dem = elev[:, None, None] + relief
        gy, gx = np.gradient(dem, 30.0, axis=(1, 2))
        slope_pct = np.hypot(gx, gy) * 100.0
        image = np.concatenate([refl, indices, dem[:, None], slope_pct[:, None]], axis=1).astype(
            np.float32
        )
        # Clouds: a blob of NaN in the optical bands of a few patches; stray NaN in two indices.
        cloudy = u_cloud < self.config.cloud_fraction
        blob = aux[:, 3] > 1.0
        optical = slice(0, 12)
        img_opt = image[:, optical]
        img_opt[np.broadcast_to((cloudy[:, None, None] & blob)[:, None], img_opt.shape)] = np.nan
        stray = (aux[:, 4] > 2.9) & ~blob
        for band in (BAND_NAMES.index("carbonateIndex"), BAND_NAMES.index("NDVI")):
            image[:, band][stray] = np.nan
        # SOC components.
        effect = np.asarray(LAND_COVER_EFFECT)[centre]
        c1_raw = effect + 0.7 * d
        context_cover = (cover == 1).mean(axis=(1, 2)) + 2 * (cover == 5).mean(axis=(1, 2))
        rel = (dem[:, c0, c0] - dem.mean(axis=(1, 2))) / np.maximum(dem.std(axis=(1, 2)), 1e-6)
        context_relief = -rel
        spatial_raw = self._spatial_field(x, y)
        latent = pd.DataFrame(
            {
                "x_3035": x,
                "y_3035": y,
                "long": lon,
                "lat": lat,
                "land_cover": np.asarray(LAND_COVER)[centre],
                "soil_darkness_d": d,
                "drought_count_K": drought_k,
                "c1_raw": c1_raw,
                "context_cover": context_cover,
                "context_relief": context_relief,
                "spatial_raw": spatial_raw,
                "elevation_m": dem[:, c0, c0],
            }
        )
        if standardised:
            sh = np.sqrt(self.config.shares)
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
            a = self.mu + self.sigma * known
            b = self.sigma * math.sqrt(self.config.shares[3] + self.config.shares[4])
            a4 = a + self.sigma * sh[3] * c4
            b4 = self.sigma * sh[4]
            latent = latent.assign(
                c1=c1, c2=c2, c3=c3, c4=c4, eps=eps, OC=soc,
                oracle_clipped=clipped_lognormal_mean(a, b),
                oracle_unclipped=clipped_lognormal_mean(a, b, clip=None),
                oracle_spatial_clipped=clipped_lognormal_mean(a4, b4),
            )  # fmt: skip
        climate = (
            self._climate(x, y, lat, cont, elev, drought_k)
            if with_climate
            else np.empty((n, 0, 0), np.float32)
        )
        return Rendered(image=image, climate=climate, latent=latent)

    # ------------------------------------------------------------------ climate
    def _climate(self, x, y, lat, cont, elev, drought_k) -> np.ndarray:
        """(N, 61, F) monthly TerraClimate-like series with droughts hidden from the means."""
        n, t = len(x), CLIMATE_MONTHS
        moy = np.arange(t) % 12  # month of year, 0 = January
        year = np.arange(t) // 12
        noise = np.empty((n, 6, t))
        drought = np.zeros((n, t), bool)
        summer = np.flatnonzero((moy >= 5) & (moy <= 7) & (year < 5))  # Jun-Aug 2010-2014
        for i in range(n):
            r = np.random.default_rng(
                [self.config.seed, 31, int(round(x[i])) & 0xFFFFFFFF, int(round(y[i])) & 0xFFFFFFFF]
            )
            noise[i] = r.standard_normal((6, t))
            if drought_k[i]:
                drought[i, r.choice(summer, size=drought_k[i], replace=False)] = True
        year_anom = np.column_stack([f(x, y) for f in self._year_fields])[
            :, np.minimum(year, 5)
        ]  # (N, T)
        season = -np.cos(2 * np.pi * moy / 12)[None, :]  # -1 in January, +1 in July
        t_ann = 27.0 - 0.42 * lat - 6.5 * elev / 1000.0
        amp = 5.0 + 7.0 * cont + 0.08 * (lat - 40)
        dtr = 8.0 + 4.0 * cont
        med = np.clip((45.0 - lat) / 8.0, 0, 1)  # Mediterranean summer drought regime
        p_ann = np.maximum(950 - 450 * cont + 0.35 * elev - 300 * med, 250)
        srad_ann = 185 - 3.2 * (lat - 40)

        def series(with_drought: bool):
            dmask = drought if with_drought else np.zeros_like(drought)
            tmean = t_ann[:, None] + amp[:, None] * season + 0.8 * year_anom + 0.6 * noise[:, 0]
            tmmx = tmean + dtr[:, None] / 2 + 3.0 * dmask
            tmmn = tmean - dtr[:, None] / 2 + 1.5 * dmask
            pr = (
                p_ann[:, None]
                / 12
                * (1 - 0.8 * med[:, None] * np.maximum(season, 0))
                * np.exp(0.45 * noise[:, 1] + 0.15 * year_anom)
            )
            pr = np.where(dmask, pr * 0.08, pr)
            srad = np.maximum(
                srad_ann[:, None]
                + (70 + 1.2 * (lat[:, None] - 40)) * season
                + 10 * noise[:, 2]
                + 40 * dmask,
                5,
            )
            tm = (tmmx + tmmn) / 2
            pet = np.maximum(4.0 * (tm + 5) * srad / 200, 0)
            soil = np.empty_like(pr)
            aet = np.empty_like(pr)
            ro = np.empty_like(pr)
            swe = np.empty_like(pr)
            store = np.full(n, 100.0)
            snow = np.zeros(n)
            for k in range(t):
                snowfall = np.where(tm[:, k] < 0, pr[:, k], 0.0)
                melt = np.where(tm[:, k] > 0, np.minimum(snow, 25.0 * tm[:, k]), 0.0)
                snow = snow + snowfall - melt
                water_in = pr[:, k] - snowfall + melt
                aet[:, k] = np.minimum(pet[:, k], water_in + 0.5 * store)
                store = store + water_in - aet[:, k]
                ro[:, k] = np.maximum(store - 150.0, 0)
                store = np.clip(store, 0, 150.0)
                soil[:, k] = store
                swe[:, k] = snow
            aet = np.where(dmask, aet * 0.6, aet)
            deficit = np.maximum(pet - aet, 0)
            vap = 0.95 * _es_kpa(tmmn) * np.where(dmask, 0.7, 1.0)
            vpd = np.maximum(0.5 * (_es_kpa(tmmx) + _es_kpa(tmmn)) - vap, 0)
            balance = pr - pet
            anom = balance - balance.reshape(n, -1, 1)[:, :, 0].mean(axis=1, keepdims=True)
            pdsi = np.empty_like(pr)
            state = np.zeros(n)
            for k in range(t):
                state = 0.85 * state + 0.02 * anom[:, k]
                pdsi[:, k] = np.clip(state, -8, 8)
            vs = np.maximum(
                3
                + 2 * (1 - cont[:, None])
                + 0.5 * np.cos(2 * np.pi * moy / 12)[None]
                + 0.4 * noise[:, 3],
                0.3,
            )
            return {
                "aet": aet, "def": deficit, "pdsi": pdsi, "pet": pet, "pr": pr, "ro": ro,
                "soil": soil, "srad": srad, "swe": swe, "tmmn": tmmn, "tmmx": tmmx,
                "vap": vap, "vpd": vpd, "vs": vs,
            }  # fmt: skip

        plain, dry = series(False), series(True)
        out = np.empty((n, t, len(self.config.climate_variables)), np.float32)
        for j, var in enumerate(self.config.climate_variables):
            # Bring each point's 61-month mean back to its no-drought value, so K hides in the means.
            m_plain = plain[var].mean(axis=1, keepdims=True)
            m_dry = dry[var].mean(axis=1, keepdims=True)
            shifted = dry[var] + (m_plain - m_dry)
            if var in ("pr", "swe", "ro", "aet", "pet", "soil", "def", "vap", "vpd", "srad"):
                # Non-negative variables: where droughts raised the mean (def, pet), a downward
                # shift would go below zero and clipping it would leak K into the mean; rescale.
                ratio = np.divide(m_plain, m_dry, out=np.ones_like(m_dry), where=m_dry > 0)
                shifted = np.maximum(np.where(m_dry > m_plain, dry[var] * ratio, shifted), 0)
            out[:, :, j] = shifted
        return out

    # ------------------------------------------------------------------ grids
    def grid(self, resolution_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Centres of a regular EPSG:3035 grid over the EU-28 land area (row-major, north up)."""
        xmin, ymin, xmax, ymax = lucas_land_laea().bounds
        xs = np.arange(
            math.floor(xmin / resolution_m) * resolution_m + resolution_m / 2, xmax, resolution_m
        )
        ys = np.arange(
            math.ceil(ymax / resolution_m) * resolution_m - resolution_m / 2, ymin, -resolution_m
        )
        gx, gy = np.meshgrid(xs, ys)
        keep = on_land(gx.ravel(), gy.ravel())
        return gx.ravel()[keep], gy.ravel()[keep]


def sample_land_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random EPSG:3035 points over the EU-28 land area (rejection sampling)."""
    xmin, ymin, xmax, ymax = lucas_land_laea().bounds
    xs, ys = [], []
    have = 0
    while have < n:
        x = rng.uniform(xmin, xmax, 4 * n)
        y = rng.uniform(ymin, ymax, 4 * n)
        keep = on_land(x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _lucas_ids(x, y) -> np.ndarray:
    """LUCAS-style Point_ID: 4 digits of easting km then 4 of northing km (EPSG:3035)."""
    return (
        np.floor(x / 1000).astype(np.int64) * 10000 + np.floor(y / 1000).astype(np.int64)
    ) % 10**8


def _patch_transform(lon: float, lat: float, size_px: int):
    """Affine of a patch centred on (lon, lat) in EPSG:3857 with 30 m ground pixels."""
    from pyproj import Transformer
    from rasterio.transform import from_origin

    tr = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    mx, my = tr.transform(lon, lat)
    px = 30.0 / math.cos(math.radians(lat))  # Web-Mercator metres per 30 ground metres
    return from_origin(mx - size_px * px / 2, my + size_px * px / 2, px, px)


def write_twin(
    out_dir: str | Path, config: TwinConfig | str = "default", *, progress: bool = False
) -> dict:
    """Generate a twin and write it in the real layout.

    Writes ``points.csv`` (LUCAS columns Point_ID, long, lat, OC, LC0_Desc, NUTS_0),
    ``patches/<Point_ID>_<YYMMDD>.tif`` (14 bands, EPSG:3857, 30 m ground pixels, float32, NaN
    nodata), ``climate/<variable>.csv`` (months in shuffled column order, as the real exports),
    ``truth.csv`` (latent components and oracle predictions; no model reads it) and
    ``twin.json`` (configuration, fitted mu/sigma, timings).

    Args:
        out_dir: destination folder (created).
        config: a :class:`TwinConfig` or a profile name from :data:`PROFILES`.
        progress: show a tqdm bar.

    Returns:
        the summary written to ``twin.json``.
    """
    from soilnet.io.patches import write_patch
    from soilnet.io.tables import ClimateTable, write_climate

    if isinstance(config, str):
        if config not in PROFILES:
            raise ConfigurationError(
                f"Unknown twin profile {config!r}; accepted: {', '.join(PROFILES)}."
            )
        config = PROFILES[config]
    start = time.perf_counter()
    out_dir = Path(out_dir)
    (out_dir / "patches").mkdir(parents=True, exist_ok=True)
    world = SyntheticWorld(config)
    rng = np.random.default_rng([config.seed, 2015])
    x, y = sample_land_points(int(config.n_points * 1.05) + 10, rng)
    ids = _lucas_ids(x, y)
    _, first = np.unique(ids, return_index=True)
    first = np.sort(first)[: config.n_points]
    if len(first) < config.n_points:
        raise ConfigurationError("Too many points for distinct 1 km LUCAS IDs; lower n_points.")
    x, y, ids = x[first], y[first], ids[first]
    # Acquisition dates: winter 2015 (Jan, Feb, Nov, Dec), as the paper's first-choice scenes.
    month = rng.choice([1, 2, 11, 12], size=len(x))
    day = rng.integers(1, 29, size=len(x))
    dates = [f"15{m:02d}{d:02d}" for m, d in zip(month, day, strict=True)]
    countries = europe_countries()
    lucas = countries[countries["lucas"]].to_crs("EPSG:3035")
    import geopandas as gpd

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:3035")
    nuts0 = (
        gpd.sjoin_nearest(pts, lucas[["nuts0", "geometry"]], how="left")
        .groupby(level=0)["nuts0"]
        .first()
    )

    latents, climates = [], []
    chunk = 256
    iterator = range(0, len(x), chunk)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="twin", unit="chunk")
    for lo in iterator:
        sl = slice(lo, lo + chunk)
        r = world.render(x[sl], y[sl])
        for k in range(len(r.latent)):
            i = lo + k
            write_patch(
                out_dir / "patches" / f"{ids[i]}_{dates[i]}.tif",
                r.image[k],
                BAND_NAMES,
                "EPSG:3857",
                _patch_transform(
                    r.latent["long"].iat[k], r.latent["lat"].iat[k], config.patch_size_px
                ),
                tags={"source": "soilnet synthetic twin", "seed": str(config.seed)},
            )
        latents.append(r.latent)
        climates.append(r.climate)
    latent = pd.concat(latents, ignore_index=True)
    latent.insert(0, "Point_ID", ids)
    points = pd.DataFrame(
        {
            "Point_ID": ids,
            "long": latent["long"].round(7),
            "lat": latent["lat"].round(7),
            "OC": latent["OC"],
            "LC0_Desc": latent["land_cover"],
            "NUTS_0": nuts0.reindex(range(len(x))).to_numpy(),
        }
    )
    points.to_csv(out_dir / "points.csv", index=False, encoding="utf-8-sig")
    months = tuple(
        pd.date_range(CLIMATE_START, periods=CLIMATE_MONTHS, freq="MS").strftime("%Y%m%d")
    )
    write_climate(
        out_dir / "climate",
        ClimateTable(np.concatenate(climates), ids, months, config.climate_variables),
        shuffle_months_seed=config.seed,
    )
    truth_cols = ["Point_ID", "x_3035", "y_3035", "land_cover", "soil_darkness_d", "drought_count_K",
                  "c1", "c2", "c3", "c4", "eps", "OC", "oracle_clipped", "oracle_unclipped", "oracle_spatial_clipped"]  # fmt: skip
    latent[truth_cols].to_csv(out_dir / "truth.csv", index=False)
    oc = points["OC"].to_numpy()
    summary = {
        "config": asdict(config),
        "mu": world.mu,
        "sigma": world.sigma,
        "n_points": len(points),
        "oc_quartiles_g_per_kg": [float(q) for q in np.quantile(oc, [0.25, 0.5, 0.75])],
        "oc_share_above_clip": float((oc > PAPER_CLIP_G_PER_KG).mean()),
        "land_cover_shares": points["LC0_Desc"].value_counts(normalize=True).round(4).to_dict(),
        "generation_seconds": round(time.perf_counter() - start, 2),
    }
    (out_dir / "twin.json").write_text(json.dumps(summary, indent=2))
    return summary


def with_shares(config: TwinConfig, **shares: float) -> TwinConfig:
    """A copy of ``config`` with some variance shares replaced, the rest rescaled to sum to 1.

    Example: ``with_shares(PROFILES["default"], climate=0.0)`` moves the climate share into the
    others proportionally.
    """
    current = dict(zip(SHARE_NAMES, config.shares, strict=True))
    unknown = set(shares) - set(SHARE_NAMES)
    if unknown:
        raise ConfigurationError(f"Unknown share(s) {sorted(unknown)}; accepted: {SHARE_NAMES}.")
    fixed = sum(shares.values())
    rest = [k for k in SHARE_NAMES if k not in shares]
    scale = (1 - fixed) / max(sum(current[k] for k in rest), 1e-12)
    new = {k: shares.get(k, current[k] * scale) for k in SHARE_NAMES}
    return replace(config, shares=tuple(new[k] for k in SHARE_NAMES))
