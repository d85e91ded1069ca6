"""What the twin's patches show: land-cover reflectance, spectral indices, terrain and clouds.

Pure pixel rendering: given each pixel's land-cover class and smooth unit-variance noise fields
(drawn by :class:`soilnet.twin.SyntheticWorld` from location-seeded generators), build the 14
bands of :data:`soilnet.bands.BAND_NAMES` in physical units. Nothing here touches SOC; the
world reads the SOC drivers (land cover, soil darkness, relief) from the same inputs.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.ndimage import gaussian_filter

from soilnet import terrain
from soilnet.bands import BAND_NAMES, INDEX_FORMULAS, SPECTRAL_BANDS, normalized_difference

#: LUCAS ``LC0_Desc`` classes rendered by the twin; class k of a cover raster is LAND_COVER[k].
LAND_COVER = ("Cropland", "Woodland", "Grassland", "Shrubland", "Bareland", "Wetlands")
_CROPLAND, _BARELAND = 0, 4
_VEGETATED = (1, 2, 3, 5)

#: Winter surface reflectance (SR_B1..SR_B7) of the pure materials.
_SOIL = np.array([0.10, 0.12, 0.16, 0.22, 0.28, 0.36, 0.30])
_VEG = np.array([0.03, 0.04, 0.07, 0.05, 0.35, 0.20, 0.10])
_SIGNATURES = np.array(
    [
        _SOIL,  # cropland: soil mixed with crop residue/vegetation, see reflectance()
        [0.02, 0.03, 0.05, 0.04, 0.22, 0.12, 0.06],  # woodland
        [0.04, 0.05, 0.08, 0.07, 0.30, 0.22, 0.12],  # grassland
        [0.06, 0.07, 0.10, 0.12, 0.25, 0.28, 0.20],  # shrubland
        _SOIL,  # bareland
        [0.03, 0.04, 0.06, 0.05, 0.15, 0.07, 0.04],  # wetland
    ]
)
#: NIR/SWIR vigour weight of each band for the vegetated classes (see reflectance()).
_VIGOUR = np.array([0, 0, 0, 0, 1, 0.3, 0])
#: Optical bands (reflectance and indices) that clouds blank; topography stays visible.
_OPTICAL = slice(0, 12)
#: Ground pixel size of every patch, metres.
PIXEL_M = 30.0
#: Bare-land pixels mix soil and vegetation reflectance in these shares (see reflectance()).
BARE_SOIL_WEIGHT, BARE_VEG_SHARE = 0.95, 0.05
#: Relative NIR/SWIR vigour per unit of the vigour field (scaled by the band's _VIGOUR).
VIGOUR_SCALE = 0.08
#: Sensor noise: relative gain per unit of the pixel noise, and an additive offset from the
#: pixel to the left.
SENSOR_GAIN, SENSOR_OFFSET = 0.04, 0.004
#: Cloud field above which a cloudy patch's pixel is cloud; stray-gap field above which a
#: clear pixel loses carbonateIndex and NDVI.
CLOUD_BLOB_Z, STRAY_GAP_Z = 1.0, 2.9


@functools.lru_cache(maxsize=1)
def kernel_tables() -> tuple:
    """This module's tables, as :func:`soilnet.twin.kernels.float32_pixels` takes them.

    Returns:
        (class signatures float32 (6, 7), soil and vegetation reflectance float32 (7,) each,
        vigour weights float32 (7,), index band pairs int64 (5, 2), the soil classes (cropland,
        bareland) and the context classes (woodland, wetland) int64 (2,) each, the two bands
        stray gaps blank, the number of optical bands a cloud blanks).
    """
    pairs = [(SPECTRAL_BANDS.index(a), SPECTRAL_BANDS.index(b)) for a, b in INDEX_FORMULAS.values()]
    return (
        _SIGNATURES.astype(np.float32),
        _SOIL.astype(np.float32),
        _VEG.astype(np.float32),
        _VIGOUR.astype(np.float32),
        np.array(pairs, np.int64),
        np.array([_CROPLAND, _BARELAND], np.int64),
        np.array([LAND_COVER.index("Woodland"), LAND_COVER.index("Wetlands")], np.int64),
        BAND_NAMES.index("carbonateIndex"),
        BAND_NAMES.index("NDVI"),
        _OPTICAL.stop,
    )


def smooth_unit(block: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian-smooth each field of a block and rescale it to unit SD.

    Args:
        block: float (N, C, S, S) white noise.
        sigma_px: smoothing SD in pixels (reflecting edges).

    Returns:
        float64 (N, C, S, S), each (n, c) field with SD 1.
    """
    out = gaussian_filter(block, sigma=(0, 0, sigma_px, sigma_px), mode="reflect")
    sd = out.reshape(block.shape[0], block.shape[1], -1).std(axis=-1)[..., None, None]
    return out / np.maximum(sd, 1e-9)


def reflectance(
    cover: np.ndarray,
    d_pix: np.ndarray,
    u_veg: np.ndarray,
    vigour_z: np.ndarray,
    illum_z: np.ndarray,
    pix_noise: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Winter surface reflectance of SR_B1..SR_B7.

    Each pixel takes its class signature; bare and cropland soil darkens with the soil
    darkness ``d`` (the SOC driver seen in the pixel), cropland mixes in a point-wide share of
    vegetation, vegetated classes vary in NIR/SWIR vigour; then per-point illumination and
    per-pixel sensor noise.

    Computed band by band on (N, S, S) planes (no (N, 7, S, S) temporaries); every pixel goes
    through the same floating-point operations, in the same order, as the whole-patch
    formulation ``where(crop, (1 - v) soil + v veg, where(bare, 0.95 soil + 0.05 veg,
    signature * vigour))``, so the result does not depend on how cells are batched.

    Computed in the dtype of ``d_pix`` (float32 or float64; float64 for other inputs): the
    ``"counter"`` noise scheme renders in float32, which halves the memory traffic; float64
    inputs go through exactly the operations they always did.

    Args:
        cover: int (N, S, S) land-cover class per pixel (index into :data:`LAND_COVER`).
        d_pix: float (N, S, S) soil darkness per pixel.
        u_veg: float (N,) uniform draw setting the cropland vegetation share.
        vigour_z: float (N, S, S) unit noise of vegetation vigour.
        illum_z: float (N,) standard normal illumination draw.
        pix_noise: float (N, S, S) unit sensor noise.
        out: optional (N, 7, S, S) array to write into (e.g. the first bands of a float32
            image), in the dtype below; returned.

    Returns:
        (N, 7, S, S) reflectance in 0..1, float32 for float32 ``d_pix``, else float64.
    """
    cover = np.asarray(cover)
    d_pix = np.asarray(d_pix)
    dtype = np.float32 if d_pix.dtype == np.float32 else np.float64
    if out is None:
        out = np.empty((cover.shape[0], len(_SOIL), *cover.shape[1:]), dtype)
    is_crop = cover == _CROPLAND
    is_soil = is_crop | (cover == _BARELAND)
    soil_dark = soil_darkening(d_pix, dtype)
    veg_frac, illum = patch_factors(u_veg, illum_z, dtype)
    veg_frac, illum = veg_frac[:, None, None], illum[:, None, None]
    # Soil pixels mix soil and vegetation, ``w soil + v veg``: cropland (1 - v, v) with its
    # patch's v, bare land (0.95, 0.05). Per-pixel weights give both classes in one pass, with
    # the same products and sum per pixel as a formula per class.
    soil_weight = np.where(is_crop, 1 - veg_frac, dtype(BARE_SOIL_WEIGHT))
    veg_share = np.where(is_crop, veg_frac, dtype(BARE_VEG_SHARE))
    vigour_base = VIGOUR_SCALE * np.asarray(vigour_z).astype(dtype, copy=False)
    gain = 1 + SENSOR_GAIN * pix_noise.astype(dtype, copy=False)
    offset = SENSOR_OFFSET * np.roll(pix_noise, 1, axis=-1).astype(dtype, copy=False)
    signatures, soil_refl, veg_refl = (t.astype(dtype) for t in (_SIGNATURES, _SOIL, _VEG))
    refl = np.empty(cover.shape, dtype)
    soil = np.empty(cover.shape, dtype)
    tmp = np.empty(cover.shape, dtype)
    for b in range(len(_SOIL)):
        # Classes are always in range: "clip" skips the bounds checks (measured 40 % faster).
        np.take(signatures[:, b], cover, out=refl, mode="clip")
        if _VIGOUR[b] != 0:
            # Vegetated pixels: signature * (1 + 0.08 z * weight); a zero weight multiplies by
            # exactly 1, so those bands are skipped, and so is a weight of 1. Crop and bare
            # pixels are replaced below.
            if _VIGOUR[b] == 1:
                np.add(vigour_base, 1, out=tmp)
            else:
                np.multiply(vigour_base, float(_VIGOUR[b]), out=tmp)
                tmp += 1
            refl *= tmp
        np.multiply(soil_refl[b], soil_dark, out=soil)
        soil *= soil_weight
        np.multiply(veg_share, veg_refl[b], out=tmp)
        soil += tmp
        np.copyto(refl, soil, where=is_soil)
        refl *= illum
        refl *= gain
        refl += offset
        np.clip(refl, 0.0, 1.0, out=out[:, b])
    return out


def soil_darkening(d_pix: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Factor ``exp(-0.22 d)`` by which the soil darkness ``d`` darkens soil reflectance.

    Args:
        d_pix: float (N, S, S) soil darkness per pixel.
        dtype: float32 or float64, the dtype the reflectance is computed in.
    """
    return np.exp(-0.22 * np.asarray(d_pix).astype(dtype, copy=False))


def patch_factors(u_veg, illum_z, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch factors of :func:`reflectance`: cropland vegetation share and illumination.

    Args:
        u_veg: float (N,) uniform draw setting the cropland vegetation share.
        illum_z: float (N,) standard normal illumination draw.
        dtype: float32 or float64, the dtype the reflectance is computed in.

    Returns:
        (vegetation share in 0..0.6, illumination factor), each (N,) in ``dtype``.
    """
    u_veg = np.asarray(u_veg, float)
    veg_frac = np.clip(0.15 + 0.12 * (2 * u_veg - 1) * 1.7, 0, 0.6).astype(dtype)
    return veg_frac, np.exp(0.06 * np.asarray(illum_z, float)).astype(dtype)


def relief_amplitude(elev: np.ndarray, relief_z: np.ndarray) -> np.ndarray:
    """float64 (N,) amplitude (m) of a patch's relief: it grows with the regional elevation."""
    return 12.0 * np.exp(0.5 * relief_z) * (1 + elev / 400.0)


def patch_elevation(elev: np.ndarray, relief_z: np.ndarray, relief_noise: np.ndarray) -> np.ndarray:
    """Patch elevation: the regional elevation plus relief whose amplitude grows with altitude.

    Args:
        elev: float (N,) regional elevation at the patch centre, metres.
        relief_z: float (N,) standard normal draw of the relief amplitude.
        relief_noise: float (N, S, S) unit-SD smooth relief shape.

    Returns:
        float64 (N, S, S) elevation, metres.
    """
    amp = relief_amplitude(elev, relief_z)
    return elev[:, None, None] + amp[:, None, None] * relief_noise


def slope_percent(dem: np.ndarray) -> np.ndarray:
    """Percent slope of patches on 30 m pixels, as acquisition computes it for real patches.

    Delegates to :func:`soilnet.terrain.slope_percent` (Horn's 3x3 method, replicated edges),
    so a model sees the same quantity on the twin and on real data.

    Args:
        dem: float (N, S, S) elevation, metres.

    Returns:
        float32 (N, S, S) percent slope (``tan(slope) * 100``).
    """
    return terrain.slope_percent(dem, PIXEL_M, PIXEL_M)


def patch_image(refl: np.ndarray, dem: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Stack the 14 bands in :data:`soilnet.bands.BAND_NAMES` order.

    Args:
        refl: float (N, 7, S, S) reflectance (float32 indices are computed in float32).
        dem: float (N, S, S) elevation, metres.
        out: optional float32 (N, 14, S, S) array to write into (e.g. a slice of a larger
            batch); returned.

    Returns:
        float32 (N, 14, S, S): reflectance, 5 indices, elevation (m), slope (%).
    """
    n, n_refl = refl.shape[:2]
    if out is None:
        out = np.empty((n, len(BAND_NAMES), *refl.shape[2:]), np.float32)
    if not np.may_share_memory(refl, out):  # else refl is out[:, :7], rendered in place
        out[:, :n_refl] = refl
    # The indices of soilnet.bands.compute_indices, for all patches at once; float32
    # reflectance (the "counter" scheme) is differenced in float32, without float64 copies.
    total = np.empty(refl[:, 0].shape, refl.dtype) if refl.dtype == np.float32 else None
    for k, (a, b) in enumerate(INDEX_FORMULAS.values()):
        ra, rb = refl[:, SPECTRAL_BANDS.index(a)], refl[:, SPECTRAL_BANDS.index(b)]
        if total is not None:
            index = out[:, n_refl + k]
            np.add(ra, rb, out=total)
            np.subtract(ra, rb, out=index)
            with np.errstate(divide="ignore", invalid="ignore"):
                index /= total
            np.copyto(index, np.nan, where=total == 0)
        else:
            out[:, n_refl + k] = normalized_difference(ra, rb)
    out[:, BAND_NAMES.index("elevation")] = dem
    out[:, BAND_NAMES.index("slopePCT")] = slope_percent(dem)
    return out


def add_clouds(image: np.ndarray, cloudy: np.ndarray, blob: np.ndarray, stray: np.ndarray):
    """Blank cloud pixels in place: a NaN blob in the optical bands, stray NaN in two indices.

    Args:
        image: float32 (N, 14, S, S) patches, modified in place.
        cloudy: bool (N,) patches with a cloud.
        blob: bool (N, S, S) the cloud's pixels (used where ``cloudy``): NaN in every optical
            band.
        stray: bool (N, S, S) pixels where only carbonateIndex and NDVI are NaN (stray gaps
            in two indices, in every patch).
    """
    # copyto broadcasts the masks instead of indexing with materialised ones.
    np.copyto(image[:, _OPTICAL], np.nan, where=(cloudy[:, None, None] & blob)[:, None])
    for band in (BAND_NAMES.index("carbonateIndex"), BAND_NAMES.index("NDVI")):
        np.copyto(image[:, band], np.nan, where=stray)
