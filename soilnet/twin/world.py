"""The continuous synthetic Europe: regional fields, the causal SOC model, and rendering.

Covariates, patches, climate series and SOC can be rendered for any location in the EU-28 land
area (EPSG:3035), so training points and a wall-to-wall map grid come from the same world.
Everything is deterministic given ``seed``: per-location randomness is drawn from a generator
seeded by ``(seed, round(x), round(y))``, so a location renders the same alone or in a batch;
:attr:`TwinConfig.noise` chooses how (``"per-cell"``: :meth:`SyntheticWorld._point_draws` and
Gaussian filtering; ``"counter"``: :mod:`soilnet.twin.fields`).

Causal model (log space, variance shares settable; defaults 35/15/15/10/25 %)::

    log SOC = mu + sigma * (sqrt(s1) c1 + sqrt(s2) c2 + sqrt(s3) c3 + sqrt(s4) c4 + sqrt(s5) eps)

- c1, *pixel*: land cover of the point's own pixel plus soil darkness ``d`` (darker bare and
  cropland soil reflectance = more SOC): ``z(effect[LC] + 0.7 d)``.
- c2, *context*: visible only across the whole patch: ``z(0.6 z(woodland share + 2 wetland
  share) + 0.4 clip(z(-relative relief of the centre), +-3))``.
- c3, *climate dynamics*: the number K of summer droughts 2010-2014, visible in the monthly
  sequence but not in its 61-month mean (:mod:`soilnet.twin.climate`): ``(K - 2.4) / 1.2``
  with K ~ Binomial(6, 0.4).
- c4, *spatial residual*: a Gaussian random field over coordinates (length scale ~150 km).
- eps: independent noise.

``mu`` and ``sigma`` are fitted so the quartiles match LUCAS 2015 (12.5 / 20.4 / 38.6 g/kg).
The slope band is rendered but drives nothing: relief enters c2 through the elevation alone.
``d`` shows only in the reflectance of the patch's cropland and bare pixels
(:data:`SOIL_CLASSES`); ``soil_visible`` records whether the patch has one. The reference columns
(the noise floor, the observable reference and the c1-c3 decomposition) are the conditional
means of :mod:`soilnet.twin.oracle`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from soilnet.bands import BAND_NAMES, SPECTRAL_BANDS
from soilnet.geo import laea_to_lonlat, lonlat_to_laea
from soilnet.grid import grid_cells, sample_land_points
from soilnet.twin import kernels
from soilnet.twin.climate import DROUGHT_EVENTS, DROUGHT_P, monthly_climate
from soilnet.twin.config import TwinConfig
from soilnet.twin.fields import climate_draws, counter_noise
from soilnet.twin.oracle import oracle_columns
from soilnet.twin.surface import (
    CLOUD_BLOB_Z,
    LAND_COVER,
    STRAY_GAP_Z,
    add_clouds,
    kernel_tables,
    patch_elevation,
    patch_factors,
    patch_image,
    reflectance,
    relief_amplitude,
    smooth_unit,
    soil_darkening,
)

#: Target centre-pixel shares of the :data:`LAND_COVER` classes (LUCAS 2015).
LAND_COVER_SHARES = (0.41, 0.30, 0.215, 0.04, 0.03, 0.005)
#: Effect of the centre pixel's class on log SOC before standardisation (c1).
LAND_COVER_EFFECT = (-0.55, 0.55, 0.25, 0.20, -0.75, 2.6)
#: LUCAS quartiles of OC (g/kg) that mu and sigma are fitted to.
LUCAS_QUARTILES = (12.5, 20.4, 38.6)
#: Classes whose pixels show the soil darkness d (:func:`soilnet.twin.surface.reflectance`
#: darkens cropland and bare-land pixels with d, anywhere in the patch; no other class does).
SOIL_CLASSES = ("Cropland", "Bareland")
#: Weight of the soil darkness d in c1 before standardisation: ``effect[LC] + 0.7 d``.
SOIL_DARKNESS_WEIGHT = 0.7
#: Pixels (cells x S x S) rendered at once: chunks this small keep the float64 temporaries of
#: a chunk in cache (64 px: 8 cells). Results do not depend on it.
RENDER_CHUNK_PIXELS = 8 * 64 * 64
#: Threads rendering chunks of one batch (numpy and the generators release the GIL for part
#: of the work). Results do not depend on it.
RENDER_THREADS = min(2, os.cpu_count() or 1)
#: Render float32 ("counter" scheme) pixels with :func:`soilnet.twin.kernels.float32_pixels`,
#: bit-identical to the numpy path, which renders them when False (tests compare the two).
FUSED_PIXELS = True
#: Per-cell summaries of the rendered pixels: centre class, soil visible, context cover,
#: context relief, centre elevation.
_PIXEL_STATS = ("centre", "soil_visible", "context_cover", "context_relief", "elevation_m")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (inspected once: it walks them)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _rff(rng: np.random.Generator, n_features: int, length_m: float):
    """A random-Fourier-feature Gaussian field with unit variance and squared-exponential kernel.

    Returns:
        ``f(x, y) -> float64 (N,)`` for EPSG:3035 metres.
    """
    omega = rng.normal(0.0, 1.0 / length_m, size=(n_features, 2))
    phase = rng.uniform(0, 2 * np.pi, size=n_features)

    def field_(x, y):
        arg = np.outer(np.asarray(x, float), omega[:, 0]) + np.outer(
            np.asarray(y, float), omega[:, 1]
        )
        return np.sqrt(2.0 / n_features) * np.cos(arg + phase).sum(axis=1)

    return field_


@dataclass
class Rendered:
    """What the world shows at a batch of locations.

    Attributes:
        image: float32 (N, 14, S, S) in :data:`soilnet.bands.BAND_NAMES` order; reflectance 0-1,
            indices -1..1, elevation m, slope %; NaN under clouds.
        climate: float32 (N, 61, F) monthly 2010-01..2015-01, variables as configured.
        latent: per-point latent values (DataFrame): land cover, d, soil_visible, K, c1..c4,
            eps, OC and the reference columns of :func:`soilnet.twin.oracle.oracle_columns`.
    """

    image: np.ndarray
    climate: np.ndarray
    latent: pd.DataFrame


@dataclass
class SyntheticWorld:
    """The continuous synthetic Europe. Build with ``SyntheticWorld(TwinConfig(...))``.

    Attributes:
        config: the twin's settings.
        mu, sigma: fitted location and scale of log SOC (log g/kg), set on construction.
    """

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
        """(lon, lat, continentality 0 Atlantic .. 1 east, regional elevation m), each (N,)."""
        lon, lat = laea_to_lonlat(x, y)
        cont = np.clip((np.asarray(lon) + 10.0) / 45.0, 0, 1)
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

    def _point_draws(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Location-seeded draws: the same place always looks the same.

        Returns:
            white: float64 (N, 11, S, S) white noise: 6 land-cover fields, then soil texture,
                vigour, relief, cloud and sensor noise.
            per_point: float64 (N, 13): 6 class jitters, d, illumination, eps, u_veg, u_cloud,
                K, relief amplitude.
        """
        n, s, n_cls = len(x), self.config.patch_size_px, len(LAND_COVER)
        white = np.empty((n, n_cls + 5, s, s))
        per_point = np.empty((n, 13))
        for i in range(n):
            r = self._point_rng(x[i], y[i])
            r.standard_normal(out=white[i])
            # Same stream as drawing 6 class jitters, then (d, illumination, eps), separately.
            per_point[i, : n_cls + 3] = r.standard_normal(n_cls + 3)
            per_point[i, n_cls + 3 : n_cls + 5] = r.uniform(size=2)
            per_point[i, n_cls + 5] = r.binomial(DROUGHT_EVENTS, DROUGHT_P)
            # Relief amplitude (drawn last, so the earlier draws did not change).
            per_point[i, n_cls + 6] = r.standard_normal()
        return white, per_point

    def render(self, x, y, *, with_climate: bool = True, out: np.ndarray | None = None) -> Rendered:
        """Render patches, climate series and latent SOC components at EPSG:3035 locations.

        Args:
            x, y: (N,) EPSG:3035 easting and northing, metres.
            with_climate: also render the monthly climate (61 months x variables).
            out: optional float32 (N, 14, S, S) C-contiguous array to render the patches into
                (a worker's part of a shared buffer, :class:`soilnet.twin.pool.RenderPool`);
                it becomes the result's ``image``.

        Returns:
            a :class:`Rendered`; ``climate`` is empty (N, 0, 0) without ``with_climate``.

        Raises:
            ValueError: ``out`` has another shape or dtype, or is not C-contiguous.
        """
        x, y = np.atleast_1d(x), np.atleast_1d(y)
        if out is not None:
            s = self.config.patch_size_px
            shape = (len(x), len(BAND_NAMES), s, s)
            if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
                raise ValueError(
                    f"out must be a C-contiguous float32 array of shape {shape}; got "
                    f"{out.dtype} {out.shape}."
                )
        # ``out`` only when given: a renderer without it (the frozen original in the tests)
        # can stand in for ``_render``.
        given = {} if out is None else {"out": out}
        return self._render(x, y, with_climate=with_climate, standardised=True, **given)

    def _render(
        self, x, y, *, with_climate: bool, standardised: bool, out: np.ndarray | None = None
    ) -> Rendered:
        cfg = self.config
        n, s, n_cls = len(x), cfg.patch_size_px, len(LAND_COVER)
        lon, lat, cont, elev = self._geography(x, y)
        bias = self._lc_bias(x, y, lat, cont, elev) + self._lc_offset
        # Pixels are rendered in small chunks of cells (temporaries stay in cache); every cell
        # goes through the same operations whatever the chunk, so the result is the same.
        image = np.empty((n, len(BAND_NAMES), s, s), np.float32) if out is None else out
        per_point = np.empty((n, 13))
        stats = np.empty((n, len(_PIXEL_STATS)))
        step = max(1, RENDER_CHUNK_PIXELS // (s * s))
        chunks = [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]

        def job(sl: slice) -> None:
            self._render_pixels(
                x[sl], y[sl], bias[sl], elev[sl], image[sl], per_point[sl], stats[sl]
            )

        threads = min(RENDER_THREADS, len(chunks))
        # The counter scheme's matrix products are small, one per chunk on each render
        # thread: BLAS threads on top of those oversubscribe the cores (measured on 2 cores:
        # 5 times slower), so BLAS runs single-threaded while rendering.
        blas_limit = (
            _blas_controller().limit(limits=1, user_api="blas")
            if cfg.noise == "counter"
            else contextlib.nullcontext()
        )
        with blas_limit:
            if threads > 1:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(job, chunks))
            else:
                for sl in chunks:
                    job(sl)
        d, eps = per_point[:, n_cls], per_point[:, n_cls + 2]
        drought_k = per_point[:, n_cls + 5].astype(int)
        centre = stats[:, 0].astype(int)
        soil_visible = stats[:, 1].astype(bool)
        context_cover, context_relief, centre_elevation = stats[:, 2], stats[:, 3], stats[:, 4]

        # SOC components.
        effect = np.asarray(LAND_COVER_EFFECT)[centre]
        c1_raw = effect + SOIL_DARKNESS_WEIGHT * d
        spatial_raw = self._spatial_field(x, y)
        # The latent table is built once from all its columns (measured: adding columns to a
        # built frame cost 1.7 ms a call, a tenth of a 64 px render pool's part).
        columns = {
            "x_3035": x,
            "y_3035": y,
            "long": lon,
            "lat": lat,
            "land_cover": np.asarray(LAND_COVER)[centre],
            "soil_darkness_d": d,
            "soil_visible": soil_visible,
            "drought_count_K": drought_k,
            "c1_raw": c1_raw,
            "context_cover": context_cover,
            "context_relief": context_relief,
            "spatial_raw": spatial_raw,
            "elevation_m": centre_elevation,
        }
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
            # c1 given the land cover alone: its value at d = 0, and its SD from d.
            c1_given_cover = self._z("c1_raw", effect)
            c1_d_sd = SOIL_DARKNESS_WEIGHT / max(self._std["c1_raw"][1], 1e-12)
            columns.update(
                c1=c1, c2=c2, c3=c3, c4=c4, eps=eps, OC=soc,
                **oracle_columns(
                    self.mu, self.sigma, cfg.shares, c1, c2, c3, c4,
                    c1_given_cover=c1_given_cover, c1_d_sd=c1_d_sd, soil_visible=soil_visible,
                ),
            )  # fmt: skip
        latent = pd.DataFrame(columns)
        climate = (
            self._climate(x, y, lat, cont, elev, drought_k)
            if with_climate
            else np.empty((n, 0, 0), np.float32)
        )
        return Rendered(image=image, climate=climate, latent=latent)

    def _render_pixels(self, x, y, bias, elev, image, per_point, stats) -> None:
        """Render the patches of a chunk of cells into ``image``, ``per_point`` and ``stats``.

        Args:
            x, y: float (n,) EPSG:3035 metres; bias: (n, 6) land-cover propensities with the
                calibrated offsets; elev: (n,) regional elevation, metres.
            image: float32 (n, 14, S, S), written.
            per_point: float64 (n, 13), written with the draws of :meth:`_point_draws`, or
                of :func:`soilnet.twin.fields.per_point_values` under the counter scheme.
            stats: float64 (n, 5), written with :data:`_PIXEL_STATS`.
        """
        cfg = self.config
        s, n_cls = cfg.patch_size_px, len(LAND_COVER)
        if cfg.noise == "counter":
            per_point[:], lc_noise, aux, pix_noise = counter_noise(cfg.seed, x, y, s)
        else:
            white, per_point[:] = self._point_draws(x, y)
            lc_noise = smooth_unit(white[:, :n_cls], 3.0)
            # Soil texture, vigour, relief, cloud, stray gaps.
            aux = smooth_unit(white[:, n_cls:], 4.0)
            pix_noise = smooth_unit(white[:, n_cls + 4 : n_cls + 5], 0.5)[:, 0]
        jitter = 0.5 * per_point[:, :n_cls]
        d, illum_z = per_point[:, n_cls], per_point[:, n_cls + 1]
        u_veg, u_cloud = per_point[:, n_cls + 3], per_point[:, n_cls + 4]
        relief_z = per_point[:, n_cls + 6]

        # Land cover per pixel: argmax over classes of regional propensity + point jitter +
        # smooth pixel noise (first maximum, as np.argmax).
        # In the fields' dtype: float32 under the "counter" scheme, float64 (unchanged) else.
        level = (bias + jitter).astype(lc_noise.dtype, copy=False)  # (n, 6), C-contiguous
        d_pix = d.astype(aux.dtype, copy=False)[:, None, None] + 0.3 * aux[:, 0]
        if FUSED_PIXELS and aux.dtype == np.float32:
            dem = np.empty((len(x), s, s))
            veg_frac, illum = patch_factors(u_veg, illum_z, np.float32)
            kernels.float32_pixels(
                lc_noise, level, soil_darkening(d_pix, np.float32), aux, pix_noise, veg_frac, illum, elev,
                relief_amplitude(elev, relief_z), u_cloud < cfg.cloud_fraction,
                *kernel_tables(), image, dem, stats,
            )  # fmt: skip
            self._relief_stats(dem, stats)
            return
        level = level[:, :, None, None]
        best = lc_noise[:, 0] + level[:, 0]
        cover8 = np.zeros(best.shape, np.int8)  # 1-byte masked writes, indices after the loop
        score, higher = np.empty_like(best), np.empty(best.shape, bool)
        for k in range(1, n_cls):
            np.add(lc_noise[:, k], level[:, k], out=score)
            np.greater(score, best, out=higher)
            np.maximum(best, score, out=best)  # only compared with: ties need no care
            np.copyto(cover8, k, where=higher)
        cover = cover8.astype(np.intp)
        c0 = s // 2
        refl = reflectance(
            cover,
            d_pix,
            u_veg,
            aux[:, 1],
            illum_z,
            pix_noise,
            # float32 reflectance is rendered straight into the image's first bands.
            out=image[:, : len(SPECTRAL_BANDS)] if aux.dtype == np.float32 else None,
        )
        dem = patch_elevation(elev, relief_z, aux[:, 2])
        patch_image(refl, dem, out=image)
        blob = aux[:, 3] > CLOUD_BLOB_Z
        add_clouds(image, u_cloud < cfg.cloud_fraction, blob, (aux[:, 4] > STRAY_GAP_Z) & ~blob)

        stats[:, 0] = cover8[:, c0, c0]
        soil = np.isin(cover8, [LAND_COVER.index(c) for c in SOIL_CLASSES])
        stats[:, 1] = soil.any(axis=(1, 2))
        # Shares of woodland and wetland pixels: counts / pixels equal the boolean means.
        stats[:, 2] = np.count_nonzero(cover8 == 1, axis=(1, 2)) / (s * s)
        stats[:, 2] += 2 * (np.count_nonzero(cover8 == 5, axis=(1, 2)) / (s * s))
        self._relief_stats(dem, stats)

    @staticmethod
    def _relief_stats(dem: np.ndarray, stats: np.ndarray) -> None:
        """Write the context relief (minus the centre's z-score) and the centre elevation."""
        c0 = dem.shape[-1] // 2
        rel = (dem[:, c0, c0] - dem.mean(axis=(1, 2))) / np.maximum(dem.std(axis=(1, 2)), 1e-6)
        stats[:, 3] = -rel
        stats[:, 4] = dem[:, c0, c0]

    def _climate(self, x, y, lat, cont, elev, drought_k) -> np.ndarray:
        """(N, 61, F) float32 monthly climate of this world (:func:`monthly_climate`), its
        draws from the world's noise scheme."""
        cfg = self.config
        return monthly_climate(
            x,
            y,
            lat,
            cont,
            elev,
            drought_k,
            seed=cfg.seed,
            year_fields=self._year_fields,
            variables=cfg.climate_variables,
            draws=climate_draws(cfg.seed, x, y, drought_k) if cfg.noise == "counter" else None,
        )

    # ------------------------------------------------------------------ grids
    def grid(self, resolution_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Centres of the land cells of the map grid (:func:`soilnet.grid.grid_cells`).

        Args:
            resolution_m: cell size in metres.

        Returns:
            (x, y), float64 (N,) each, EPSG:3035 metres, row-major, north first.
        """
        return grid_cells(resolution_m)
