"""Compiled pixels of float32 patches (the ``"counter"`` noise scheme), one cell at a time.

:meth:`soilnet.twin.SyntheticWorld._render_pixels` builds a patch from its noise fields in
about 90 numpy passes over the pixels: the land-cover argmax, 7 reflectance bands of about 11
operations each, 5 indices, the elevation, Horn's slope and the cloud masks, each pass over a
chunk of cells. :func:`float32_pixels` does the same arithmetic row by row within a cell,
compiled by numba, so the intermediate values stay in cache and the GIL is released
(``benchmarks/twin_render.py`` times both paths; it was written because the numpy path had
been tuned to its limit and still cost a third of a 64 px cell).

The result is **bit-identical** to the numpy path (``tests/twin/test_kernels.py``), so either
path renders the same twin: each pixel goes through the same float32
operations in the same order as the numpy expressions, with the constants rounded to float32
as numpy rounds a Python float against a float32 array (numba would widen them to float64),
and no fused multiply-add (numba's default). What numpy computes with its own vectorised
transcendental functions (the soil darkening ``exp``) and what it sums pairwise (the patch's
elevation mean and SD) stays in numpy. The float64 ``"per-cell"`` scheme keeps the numpy path.

Two loops of the scheme's noise are compiled too, with their own fixed summation order rather
than numpy's (the scheme's revision 2, :data:`soilnet.twin.config.NOISE_REVISIONS`):
:func:`unit_sd_float32` scales each spectral field to SD 1 over its patch, and
:func:`smooth_unit_float32` filters the sensor noise as scipy's Gaussian filter does (tested
against it).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from soilnet.twin.surface import (
    BARE_SOIL_WEIGHT,
    BARE_VEG_SHARE,
    CLOUD_BLOB_Z,
    PIXEL_M,
    SENSOR_GAIN,
    SENSOR_OFFSET,
    STRAY_GAP_Z,
    VIGOUR_SCALE,
)

# surface's constants in float32, as numpy rounds them against float32 arrays.
F32 = np.float32
_ONE, _BARE_SOIL, _VEG_BARE = F32(1.0), F32(BARE_SOIL_WEIGHT), F32(BARE_VEG_SHARE)
_VIGOUR_SCALE, _GAIN, _OFFSET = F32(VIGOUR_SCALE), F32(SENSOR_GAIN), F32(SENSOR_OFFSET)
_CLOUD, _STRAY = F32(CLOUD_BLOB_Z), F32(STRAY_GAP_Z)
#: Horn's divisor ``8 * 30 m`` and the bounds of :func:`soilnet.terrain._percent_float32`.
_HORN_DIVISOR = 8 * PIXEL_M
_BELOW, _ABOVE = 1 - 2.0**-45, 1 + 2.0**-45


@njit(cache=True, nogil=True, error_model="numpy")
def float32_pixels(
    lc_noise,  # float32 (n, 6, S, S) land-cover fields
    level,  # float32 (n, 6) regional propensity + point jitter per class
    soil_dark,  # float32 (n, S, S) exp(-0.22 d_pix), from numpy
    aux,  # float32 (n, 5, S, S): soil texture, vigour, relief, cloud, stray-gap fields
    pix_noise,  # float32 (n, S, S)
    veg_frac,  # float32 (n,) cropland vegetation share
    illum,  # float32 (n,) illumination factor
    elev,  # float64 (n,) regional elevation, m
    amp,  # float64 (n,) relief amplitude, m
    cloudy,  # bool (n,)
    signatures,  # float32 (6, 7) class reflectance
    soil_refl,  # float32 (7,)
    veg_refl,  # float32 (7,)
    vigour_weight,  # float32 (7,) 0, 1 or another weight per band
    index_pairs,  # int64 (5, 2) reflectance bands (a, b) of ND(a, b)
    soil_classes,  # int64 (2,) cropland, bareland
    context_classes,  # int64 (2,) woodland, wetland
    carbonate_band,  # int: band blanked by stray gaps
    ndvi_band,  # int: band blanked by stray gaps
    n_optical,  # int: bands 0 .. n_optical - 1 blanked by a cloud
    image,  # float32 (n, 14, S, S), written: reflectance, indices, elevation, slope
    dem,  # float64 (n, S, S), written: elevation, m
    stats,  # float64 (n, 5), columns 0-2 written: centre class, soil visible, context cover
):
    """Render the patches of ``n`` cells from their fields, as the numpy path of
    :meth:`soilnet.twin.SyntheticWorld._render_pixels` does (argument order and meaning: see
    the comments; the tables come from :func:`soilnet.twin.surface.kernel_tables`)."""
    n, n_cls, s = lc_noise.shape[0], lc_noise.shape[1], lc_noise.shape[2]
    n_refl, n_index = soil_refl.shape[0], index_pairs.shape[0]
    elev_band = n_refl + n_index
    crop, bare = soil_classes[0], soil_classes[1]
    nan32 = np.float32(np.nan)
    c0 = s // 2
    # One row of pixels at a time, each step a loop over the row's columns that the compiler
    # can vectorise: branch-free selects instead of ifs, class values by a table look-up
    # (faster than a chain of selects over the classes).
    best = np.empty(s, np.float32)
    cover = np.empty(s, np.int64)
    weight, share = np.empty(s, np.float32), np.empty(s, np.float32)
    vb, gain, offset = np.empty(s, np.float32), np.empty(s, np.float32), np.empty(s, np.float32)
    is_soil = np.empty(s, np.bool_)
    refl = np.empty(s, np.float32)
    signatures_t = np.ascontiguousarray(signatures.T)  # a band's class values side by side
    col_sums, row_sums = np.empty((s, s + 2)), np.empty((s + 2, s))
    for i in range(n):
        soil_seen = False
        n_wood, n_wet = 0, 0
        vf, il = veg_frac[i], illum[i]
        crop_weight = _ONE - vf
        for r in range(s):
            # Land cover: first maximum of field + level over the classes (np.argmax).
            for c in range(s):
                best[c] = lc_noise[i, 0, r, c] + level[i, 0]
                cover[c] = 0
            for k in range(1, n_cls):
                lk = level[i, k]
                for c in range(s):
                    score = lc_noise[i, k, r, c] + lk
                    higher = score > best[c]
                    best[c] = score if higher else best[c]
                    cover[c] = k if higher else cover[c]
            for c in range(s):
                k = cover[c]
                crop_px = k == crop
                is_soil[c] = crop_px or k == bare
                weight[c] = crop_weight if crop_px else _BARE_SOIL
                share[c] = vf if crop_px else _VEG_BARE
                vb[c] = _VIGOUR_SCALE * aux[i, 1, r, c]
                gain[c] = _ONE + _GAIN * pix_noise[i, r, c]
                n_wood += k == context_classes[0]
                n_wet += k == context_classes[1]
            # The sensor offset reads the pixel to the left (np.roll by one column).
            offset[0] = _OFFSET * pix_noise[i, r, s - 1]
            for c in range(1, s):
                offset[c] = _OFFSET * pix_noise[i, r, c - 1]
            for c in range(s):
                soil_seen = soil_seen or is_soil[c]
            if r == c0:
                stats[i, 0] = cover[c0]
            for b in range(n_refl):
                sb, vr, w = soil_refl[b], veg_refl[b], vigour_weight[b]
                # Vegetated pixels: signature * (1 + 0.08 z w), skipped where w is 0.
                class_refl = signatures_t[b]
                for c in range(s):
                    refl[c] = class_refl[cover[c]]
                if w == _ONE:
                    for c in range(s):
                        refl[c] = refl[c] * (vb[c] + _ONE)
                elif w != 0:
                    for c in range(s):
                        refl[c] = refl[c] * (vb[c] * w + _ONE)
                for c in range(s):
                    v = refl[c]
                    soil = sb * soil_dark[i, r, c]
                    soil = soil * weight[c]
                    soil = soil + share[c] * vr
                    v = soil if is_soil[c] else v
                    v = v * il
                    v = v * gain[c]
                    v = v + offset[c]
                    v = np.float32(0.0) if v < 0 else v
                    v = _ONE if v > 1 else v
                    image[i, b, r, c] = v
            for j in range(n_index):
                a, b = index_pairs[j, 0], index_pairs[j, 1]
                for c in range(s):
                    ra, rb = image[i, a, r, c], image[i, b, r, c]
                    total = ra + rb
                    image[i, n_refl + j, r, c] = nan32 if total == 0 else (ra - rb) / total
            for c in range(s):
                z = elev[i] + amp[i] * np.float64(aux[i, 2, r, c])
                dem[i, r, c] = z
                image[i, elev_band, r, c] = np.float32(z)
            # Clouds (rare) after the bands they blank.
            cloud = cloudy[i]
            for c in range(s):
                blob = aux[i, 3, r, c] > _CLOUD
                if cloud and blob:
                    for b in range(n_optical):
                        image[i, b, r, c] = nan32
                elif aux[i, 4, r, c] > _STRAY and not blob:
                    image[i, carbonate_band, r, c] = nan32
                    image[i, ndvi_band, r, c] = nan32
        _slope_percent(dem[i], col_sums, row_sums, image[i, elev_band + 1])
        stats[i, 1] = 1.0 if soil_seen else 0.0
        pixels = float(s * s)
        stats[i, 2] = n_wood / pixels + 2 * (n_wet / pixels)


@njit(cache=True, nogil=True, error_model="numpy")
def _slope_percent(dem, col_sums, row_sums, out):
    """:func:`soilnet.terrain.slope_percent` of one (S, S) patch on 30 m pixels, into float32
    ``out``, with the same float64 operations in the same order (replicated edges, Horn's
    weighted sums, ``hypot`` next to a float32 rounding boundary). The replicated edge
    columns and rows are copies of their neighbours' sums, and the rare pixels next to a
    float32 rounding boundary are flagged and redone in a second loop over the row, so the
    main loops run without branches and vectorise (measured: the slope 2.5 times faster)."""
    s = dem.shape[0]
    for r in range(s):
        up, down = max(r - 1, 0), min(r + 1, s - 1)
        for c in range(s):
            t = 2 * dem[r, c]
            t = t + dem[up, c]
            col_sums[r, c + 1] = t + dem[down, c]
        col_sums[r, 0] = col_sums[r, 1]  # column -1 is column 0
        col_sums[r, s + 1] = col_sums[r, s]  # column S is column S - 1
    for r in range(s):
        for c in range(s):
            left, right = max(c - 1, 0), min(c + 1, s - 1)
            t = 2 * dem[r, c]
            t = t + dem[r, left]
            row_sums[r + 1, c] = t + dem[r, right]
    for c in range(s):
        row_sums[0, c] = row_sums[1, c]  # row -1 is row 0
        row_sums[s + 1, c] = row_sums[s, c]  # row S is row S - 1
    redo = np.empty(s, np.bool_)
    for r in range(s):
        for c in range(s):
            dzdx = (col_sums[r, c + 2] - col_sums[r, c]) / _HORN_DIVISOR
            dzdy = (row_sums[r + 2, c] - row_sums[r, c]) / _HORN_DIVISOR
            fast = dzdx * dzdx
            fast = fast + dzdy * dzdy
            fast = np.sqrt(fast) * 100.0
            out[r, c] = np.float32(fast)
            lo, hi = fast * _BELOW, fast * _ABOVE
            redo[c] = (np.float32(lo) != np.float32(hi)) | (not np.isfinite(fast))
        for c in range(s):
            if redo[c]:  # next to a float32 rounding boundary (rare): as terrain does
                dzdx = (col_sums[r, c + 2] - col_sums[r, c]) / _HORN_DIVISOR
                dzdy = (row_sums[r + 2, c] - row_sums[r, c]) / _HORN_DIVISOR
                out[r, c] = np.float32(100.0 * math.hypot(dzdx, dzdy))


@njit(cache=True, nogil=True, error_model="numpy")
def smooth_unit_float32(white, weights, out):
    """Gaussian-smooth each (S, S) field of float32 ``white`` (N, S, S) with the symmetric 1-D
    kernel ``weights`` (float64, odd length) along both axes, edges reflected as
    :func:`scipy.ndimage.gaussian_filter`'s ``"reflect"`` mode, and write it rescaled to SD 1
    over its patch into float32 ``out``: :func:`soilnet.twin.surface.smooth_unit` of the
    ``"counter"`` scheme's sensor noise. Sums run in float64 in a fixed order (per column,
    then over the columns), so a field is the same in any batch; the loops run along
    contiguous rows, which the compiler vectorises.
    """
    n, s = white.shape[0], white.shape[1]
    r = (weights.shape[0] - 1) // 2
    line = np.empty(s + 2 * r)
    rows = np.empty((s, s))
    field = np.empty((s, s))
    col = np.empty(s)
    for c in range(n):
        for i in range(s):  # along the last axis
            for j in range(s + 2 * r):
                line[j] = white[c, i, _reflect(j - r, s)]
            for j in range(s):
                rows[i, j] = 0.0
            for t in range(2 * r + 1):
                w = weights[t]
                for j in range(s):
                    rows[i, j] += w * line[j + t]
        for i in range(s):  # along the first axis
            for j in range(s):
                field[i, j] = 0.0
            for t in range(2 * r + 1):
                k, w = _reflect(i + t - r, s), weights[t]
                for j in range(s):
                    field[i, j] += w * rows[k, j]
        _to_unit_sd(field, out[c], col)
    return out


@njit(cache=True, nogil=True)
def _reflect(k, s):
    """Index ``k`` of a line of ``s`` pixels with reflected edges (``d c b a | a b c d``)."""
    return -k - 1 if k < 0 else (2 * s - k - 1 if k >= s else k)


@njit(cache=True, nogil=True, error_model="numpy")
def _to_unit_sd(field, out, col):
    """float32 ``out`` = float64 (S, S) ``field`` divided by its SD over the patch (float64
    sums in a fixed order: per column into ``col`` (S,), then over the columns)."""
    s = field.shape[0]
    col[:] = 0.0
    for i in range(s):
        for j in range(s):
            col[j] += field[i, j]
    mean = col.sum() / (s * s)
    col[:] = 0.0
    for i in range(s):
        for j in range(s):
            d = field[i, j] - mean
            col[j] += d * d
    scale = 1.0 / max(math.sqrt(col.sum() / (s * s)), 1e-9)
    for i in range(s):
        for j in range(s):
            out[i, j] = np.float32(field[i, j] * scale)


@njit(cache=True, nogil=True, error_model="numpy")
def unit_sd_float32(fields, out):
    """float32 ``out`` (F, S, S) = each float64 field of ``fields`` (F, S, S) divided by its SD
    over the patch, the sums in a fixed order (so a field is the same in any batch)."""
    col = np.empty(fields.shape[2])
    for f in range(fields.shape[0]):
        _to_unit_sd(fields[f], out[f], col)
    return out
