"""The ``"counter"`` noise scheme: counter-based random streams and spectral smooth fields.

A twin's patches are built from smooth unit-SD noise fields (:mod:`soilnet.twin.surface`). The
``"per-cell"`` scheme (:class:`~soilnet.twin.TwinConfig` default, every twin written before it)
draws 11 x S x S white normals per cell from a seeded PCG64 generator and smooths them with
:func:`scipy.ndimage.gaussian_filter`: per-cell draws and filtering that no batching removes
(``benchmarks/twin_render.py`` measures it). The ``"counter"`` scheme draws fields with the
same covariance with far less work, for all cells of a batch at once, and a cell's values
still depend on nothing but the seed and the cell's location:

- **Random streams**: value ``c`` of a cell is ``mix(key ^ mix((c + 1) * G))``, with ``mix``
  the SplitMix64 finaliser, ``G`` its odd increment and ``key`` a hash of ``(seed, round(x),
  round(y))`` (:func:`cell_keys`): a counter-based generator evaluated for every cell and
  counter at once with uint64 array arithmetic, no generator object per cell. Counters
  ``[0, 32)`` give the 13 per-point values (the same columns and distributions as the per-cell
  scheme, float64 Box-Muller normals from 53-bit uniforms), the next ones the spectral
  coefficients and the sensor noise (float32 Box-Muller normals from 24-bit uniforms, two per
  value, bounded by 5.9 SD).
- **Smooth fields by spectral synthesis**: a field with the covariance of Gaussian-smoothed
  white noise (SD ``sigma_px``) is a sum of cosines and sines with independent normal
  coefficients whose variances are the power spectrum of that smoothing
  (:func:`spectral_basis`); only the frequencies carrying all but 1e-4 of the variance are
  kept (27 x 27 coefficients at SD 3 px and 21 x 21 at 4 px for 64 px patches), instead of
  S x S normals, and the sum is two matrix products, batched over all fields (of all cells,
  then of each cell).
  The period is the patch plus 8 SD, so the covariance never wraps round inside a patch (the
  per-cell scheme's reflecting edges make its fields slightly non-stationary near the border;
  these are stationary). The sensor noise (SD 0.5 px, nearly white) is white noise filtered
  per pixel with the per-cell scheme's kernel and edges, by a compiled loop
  (:func:`soilnet.twin.kernels.smooth_unit_float32`).
- **Climate**: the monthly climate's noise and drought months come from a stream of the
  cell's own (:func:`climate_draws`), not from a seeded generator per cell.
- **Independent of the batch**: the basis and the coefficients are rounded to integers (basis
  times 2**12, coefficients times 2**10), so every product and partial sum of the matrix
  products is an integer below 2**53 and exact in float64: the result does not depend on the
  order BLAS sums in, hence not on the batch size, the cell's position in it, the threads or
  the device. The rounding moves a field by about 1e-4 of its SD.

Each field is then rescaled to unit SD over its patch, as the per-cell scheme does, and the
patches are rendered in float32 (the per-cell scheme's float64 path is unchanged).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from soilnet.errors import ConfigurationError
from soilnet.twin.climate import CLIMATE_MONTHS, DROUGHT_EVENTS, DROUGHT_P, SUMMER_MONTHS
from soilnet.twin.kernels import smooth_unit_float32, unit_sd_float32
from soilnet.twin.surface import LAND_COVER

#: Smoothing SD (pixels) of the land-cover fields and of the auxiliary fields (soil texture,
#: vigour, relief, cloud, stray gaps) and of the sensor noise; the per-cell scheme's values.
LAND_COVER_SIGMA_PX, AUX_SIGMA_PX, SENSOR_SIGMA_PX = 3.0, 4.0, 0.5
#: Auxiliary fields: soil texture, vigour, relief, cloud, stray gaps.
N_AUX_FIELDS = 5
#: Fixed-point scales of the basis and of the coefficients (see the module docstring).
BASIS_SCALE, COEF_SCALE = 2.0**12, 2.0**10
#: Largest coefficient magnitude: float32 Box-Muller normals from 24-bit uniforms stay below
#: sqrt(-2 ln 2**-24) = 5.77 SD, so quantised coefficients stay below 2**13.
_COEF_BOUND = 2.0**13
#: Share of the smoothed field's variance the kept frequencies must carry.
SPECTRAL_VARIANCE_KEPT = 1 - 1e-4
#: Counters of the per-point values; the fields' counters follow.
_PER_POINT_COUNTERS = 32
#: SplitMix64 constants (Steele, Lea and Flood 2014; Vigna's finaliser).
_G = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
#: Mixed into every key, so that the streams are this scheme's own.
_SCHEME_TAG = np.uint64(0xC0C0_5EED)
#: Mixed into a cell's key for its climate's stream, independent of its patch's.
_CLIMATE_TAG = np.uint64(0xC11_3A7E)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of uint64 values, in place (wrapping arithmetic); returned."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def cell_keys(seed: int, x, y) -> np.ndarray:
    """uint64 (N,) stream keys of cells: a hash of the seed and the rounded location (metres).

    Locations are rounded as :meth:`soilnet.twin.SyntheticWorld._point_rng` rounds them.
    """
    ix = np.round(np.asarray(x, float)).astype(np.int64) & 0xFFFFFFFF
    iy = np.round(np.asarray(y, float)).astype(np.int64) & 0xFFFFFFFF
    world = _mix(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], np.uint64) ^ _SCHEME_TAG)
    return _mix(((ix.astype(np.uint64) << np.uint64(32)) | iy.astype(np.uint64)) ^ world)


@functools.lru_cache(maxsize=64)
def _counter_hashes(start: int, count: int) -> np.ndarray:
    """uint64 (count,) ``mix((c + 1) * G)`` for counters ``start .. start + count - 1``."""
    c = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    out = _mix(c * _G)
    out.flags.writeable = False
    return out


def stream_bits(keys: np.ndarray, start: int, count: int) -> np.ndarray:
    """uint64 (N, count): values ``start .. start + count - 1`` of each cell's stream."""
    return _mix(keys[:, None] ^ _counter_hashes(start, count)[None, :])


@njit(cache=True, nogil=True)
def _uniform_pairs(keys, hashes, u1, u2):
    """float32 ``u1`` (N, C) in (0, 1] and ``u2`` (N, C) in [0, 2**24): the two 24-bit
    uniforms of stream values ``mix(key ^ hash)``, in one pass (numpy's 11 passes over the
    uint64 values took a third of the normals' time)."""
    for i in range(keys.shape[0]):
        key = keys[i]
        for c in range(hashes.shape[0]):
            z = key ^ hashes[c]
            z ^= z >> np.uint64(30)
            z *= _M1
            z ^= z >> np.uint64(27)
            z *= _M2
            z ^= z >> np.uint64(31)
            u1[i, c] = np.float32((z >> np.uint64(40)) + np.uint64(1)) * np.float32(2.0**-24)
            u2[i, c] = np.float32((z >> np.uint64(16)) & np.uint64(0xFFFFFF))


def normals_float32(keys: np.ndarray, start: int, count: int) -> np.ndarray:
    """float32 (N, count) standard normals from counters ``start .. start + ceil(count / 2)``.

    Box-Muller on two 24-bit uniforms per 64-bit value (exact in float32): ``u1`` in (0, 1]
    keeps the logarithm finite, and ``|z| <= sqrt(-2 ln 2**-24)``. The cosine normals fill
    the first ``ceil(count / 2)`` columns, the sine ones the rest.
    """
    n, half = len(keys), (count + 1) // 2
    u1, u2 = np.empty((n, half), np.float32), np.empty((n, half), np.float32)
    _uniform_pairs(keys, _counter_hashes(start, half), u1, u2)
    radius = np.sqrt(np.float32(-2.0) * np.log(u1))
    angle = u2 * np.float32(2 * np.pi * 2.0**-24)
    out = np.empty((n, 2 * half), np.float32)
    # numpy's transcendental loops on contiguous arrays, the products into the halves.
    np.multiply(radius, np.cos(angle), out=out[:, :half])
    np.multiply(radius, np.sin(angle), out=out[:, half:])
    return out[:, :count]


def uniforms53(bits: np.ndarray) -> np.ndarray:
    """float64 uniforms in [0, 1) from the top 53 bits of uint64 stream values."""
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _box_muller(u_radius: np.ndarray, u_angle: np.ndarray) -> np.ndarray:
    """float64 standard normals, cosine ones then sine ones, from uniforms in [0, 1)."""
    radius = np.sqrt(-2.0 * np.log1p(-u_radius))  # 1 - u in (0, 1]: a finite logarithm
    angle = 2 * np.pi * u_angle
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def per_point_values(keys: np.ndarray) -> np.ndarray:
    """float64 (N, 13) per-point draws, columns as :meth:`SyntheticWorld._point_draws`.

    6 class jitters, d, illumination, eps (standard normal, Box-Muller on 53-bit uniforms),
    u_veg, u_cloud (uniform), K (the count of 6 uniforms below 0.4: Binomial(6, 0.4)),
    relief amplitude (standard normal).
    """
    n_cls = len(LAND_COVER)
    u = uniforms53(stream_bits(keys, 0, 12 + DROUGHT_EVENTS))
    z = _box_muller(u[:, :5], u[:, 5:10])
    out = np.empty((len(keys), 13))
    out[:, : n_cls + 3] = z[:, : n_cls + 3]
    out[:, n_cls + 3 : n_cls + 5] = u[:, 10:12]
    out[:, n_cls + 5] = (u[:, 12 : 12 + DROUGHT_EVENTS] < DROUGHT_P).sum(axis=1)
    out[:, n_cls + 6] = z[:, n_cls + 3]
    return out


def climate_draws(seed: int, x, y, drought_k) -> tuple[np.ndarray, np.ndarray]:
    """The climate's per-location noise and drought months under the ``"counter"`` scheme.

    What :func:`soilnet.twin.climate.location_seeded_draws` gives the ``"per-cell"`` scheme,
    with the same distributions, from a stream of each cell's own (its key mixed with a tag,
    so independent of its patch's streams): 6 x 61 standard normals (Box-Muller on 53-bit
    uniforms), and K of the 15 summer months drawn without replacement as the K months with
    the smallest of 15 further uniforms (every K-subset equally likely). All cells at once,
    instead of a seeded generator per cell (measured: 58 of the 72 us a 64 px cell spent on
    its climate).

    Args:
        seed: the world seed.
        x, y: float (N,) EPSG:3035 metres.
        drought_k: int (N,) number of summer droughts K.

    Returns:
        (noise float64 (N, 6, 61), drought months bool (N, 61)).
    """
    keys = _mix(cell_keys(seed, x, y) ^ _CLIMATE_TAG)
    n, n_noise, n_summer = len(keys), 6 * CLIMATE_MONTHS, len(SUMMER_MONTHS)
    half = (n_noise + 1) // 2
    u = uniforms53(stream_bits(keys, 0, 2 * half + n_summer))
    noise = _box_muller(u[:, :half], u[:, half : 2 * half])[:, :n_noise]
    rank = np.argsort(np.argsort(u[:, 2 * half :], axis=1, kind="stable"), axis=1)
    drought = np.zeros((n, CLIMATE_MONTHS), bool)
    drought[:, SUMMER_MONTHS] = rank < np.asarray(drought_k)[:, None]
    return noise.reshape(n, 6, CLIMATE_MONTHS), drought


def gaussian_kernel(sigma_px: float) -> np.ndarray:
    """The 1-D kernel of :func:`scipy.ndimage.gaussian_filter` (truncated at 4 SD), float64."""
    radius = int(4.0 * sigma_px + 0.5)
    t = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (t / sigma_px) ** 2)
    return w / w.sum()


@functools.lru_cache(maxsize=16)
def spectral_basis(size_px: int, sigma_px: float) -> np.ndarray:
    """Integer-valued basis of the spectral fields: column p is ``a_k cos`` or ``a_k sin``.

    With ``P = size_px + ceil(8 sigma_px)`` the period and ``G(f)`` the frequency response of
    :func:`gaussian_kernel`, white noise smoothed by the kernel has, on a period-P lattice, the
    covariance ``sum_k lambda_k cos(2 pi k d / P)`` with ``lambda_0 = G(0)^2`` and
    ``lambda_k = 2 G(k / P)^2`` (k >= 1). A sum over k of ``sqrt(lambda_k) (c_k cos + s_k sin)``
    with independent standard normal ``c_k, s_k`` has exactly this covariance, and the 2-D
    product basis the separable 2-D one. Frequencies up to the first K carrying
    :data:`SPECTRAL_VARIANCE_KEPT` of the variance are kept.

    Returns:
        float64 (size_px, 2 K + 1), integers (amplitudes relative to ``lambda_0``, times
        :data:`BASIS_SCALE`); columns: the constant, then cos and sin of k = 1..K.
    """
    kernel = gaussian_kernel(sigma_px)
    radius = (len(kernel) - 1) // 2
    period = size_px + math.ceil(8 * sigma_px)
    k = np.arange((period - 1) // 2 + 1)
    gain = kernel @ np.cos(2 * np.pi * np.outer(np.arange(-radius, radius + 1), k) / period)
    power = gain**2 * np.where(k == 0, 1.0, 2.0)
    n_freq = int(np.searchsorted(np.cumsum(power) / power.sum(), SPECTRAL_VARIANCE_KEPT)) + 1
    amp = np.sqrt(power[:n_freq] / power[0])
    phase = 2 * np.pi * np.outer(np.arange(size_px), k[1:n_freq]) / period
    cols = [np.ones((size_px, 1))]
    cols += [np.stack([np.cos(phase), np.sin(phase)], axis=-1).reshape(size_px, -1)]
    basis = np.concatenate(cols, axis=1) * np.concatenate([[1.0], np.repeat(amp[1:], 2)])
    return np.round(basis * BASIS_SCALE)


def spectral_fields(coef: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Smooth unit-SD fields from standard normal coefficients, exactly (see the module docs).

    Args:
        coef: float (N, F, m, m) standard normal draws, one m x m block per field, each below
            5.77 in magnitude (:func:`normals_float32`).
        basis: float64 (S, m) from :func:`spectral_basis`.

    Returns:
        float32 (N, F, S, S), each field with SD 1 over its patch (the patches are rendered in
        float32 under this scheme).

    Raises:
        ConfigurationError: a patch so large that the integer sums could pass 2**53.
    """
    n, n_fields, m = coef.shape[:3]
    s = basis.shape[0]
    basis_t, big = _transposed_basis(basis)
    if big * _COEF_BOUND >= 2.0**53:
        raise ConfigurationError(f"Patches of {s} px are too large for the counter noise.")
    q = np.round(coef.astype(np.float64) * COEF_SCALE).reshape(-1, m)
    # First product over all fields at once: (field, p, q) x (q, j) -> (field, p, j).
    half = (q @ basis_t).reshape(n, n_fields, m, s)
    out = np.empty((n, n_fields, s, s), np.float32)
    # The second product cell by cell, (field, j, p) x (p, i) -> (field, j, i), into one
    # float64 buffer that stays in cache (BLAS reads the transposed first product in place);
    # each field is then divided by its SD over the patch and rounded to float32 by a compiled
    # loop in a fixed order (measured: 3 times faster than the pixel SD by numpy, and faster
    # than the SD from the coefficients' Gram matrix).
    field = np.empty((n_fields, s, s))
    for i in range(n):
        np.matmul(half[i].transpose(0, 2, 1), basis_t, out=field)
        unit_sd_float32(field, out[i])
    return out


@functools.lru_cache(maxsize=16)
def _transposed_basis_cached(key: bytes, s: int, m: int) -> tuple[np.ndarray, float]:
    basis = np.frombuffer(key).reshape(s, m)
    return np.ascontiguousarray(basis.T), m * m * float(np.abs(basis).max()) ** 2


def _transposed_basis(basis: np.ndarray) -> tuple[np.ndarray, float]:
    """(B^T contiguous, bound on the products' integers per unit coefficient) of an integer
    basis: every partial sum of ``B Q B^T`` stays below the bound times max |Q|."""
    return _transposed_basis_cached(basis.tobytes(), *basis.shape)


def counter_noise(seed: int, x, y, size_px: int):
    """The per-point draws and the smooth fields of cells under the ``"counter"`` scheme.

    Args:
        seed: the world seed.
        x, y: float (N,) EPSG:3035 metres.
        size_px: patch size S.

    Returns:
        (per_point float64 (N, 13) (:func:`per_point_values`), land-cover fields float32
        (N, 6, S, S), auxiliary fields float32 (N, 5, S, S), sensor noise float32 (N, S, S)),
        every field with SD 1 over its patch.
    """
    n, n_cls = len(x), len(LAND_COVER)
    keys = cell_keys(seed, x, y)
    lc_basis = spectral_basis(size_px, LAND_COVER_SIGMA_PX)
    aux_basis = spectral_basis(size_px, AUX_SIGMA_PX)
    blocks = [
        (n_cls, lc_basis.shape[1]),
        (N_AUX_FIELDS, aux_basis.shape[1]),
        (1, size_px),
    ]
    start, draws = _PER_POINT_COUNTERS, []
    for n_fields, side in blocks:
        count = n_fields * side * side
        draws.append(normals_float32(keys, start, count).reshape(n, n_fields, side, side))
        start += (count + 1) // 2
    sensor = np.empty((n, size_px, size_px), np.float32)
    sensor_white = draws[2].reshape(n, size_px, size_px)
    smooth_unit_float32(sensor_white, gaussian_kernel(SENSOR_SIGMA_PX), sensor)
    return (
        per_point_values(keys),
        spectral_fields(draws[0], lc_basis),
        spectral_fields(draws[1], aux_basis),
        sensor,
    )
