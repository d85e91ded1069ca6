"""Terrain derivatives: the one slope used by the synthetic twin and by real-data acquisition.

Both the twin's patches and the patches built by :mod:`soilnet.acquire` carry a percent-slope
band computed here, so a model sees the same quantity on either data.
"""

from __future__ import annotations

import math

import numpy as np

_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


def ellipsoid_radii(lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 meridional (M) and prime-vertical (N) radii of curvature in metres.

    One degree of latitude spans ``M * pi / 180`` ground metres and one degree of longitude
    ``N * cos(lat) * pi / 180``.
    """
    s2 = np.sin(np.radians(lat_deg)) ** 2
    w = np.sqrt(1.0 - _WGS84_E2 * s2)
    return _WGS84_A * (1.0 - _WGS84_E2) / w**3, _WGS84_A / w


def slope_percent(dem: np.ndarray, dx_m, dy_m) -> np.ndarray:
    """Percent slope (``tan(slope) * 100``) by Horn's (1981) 3x3 method.

    Args:
        dem: float (..., H, W) elevation in metres; leading axes are independent rasters
            (a batch of patches). NaN propagates to its neighbours.
        dx_m, dy_m: ground spacing of columns and rows in metres: scalars, or arrays that
            broadcast against (..., H, 1) (a spacing per row, as in a geographic DEM).

    Returns:
        float32 (..., H, W) percent slope; edges use replicated neighbours.

    Reference:
        Horn, B. K. P. (1981). Hill shading and the reflectance map. Proc. IEEE 69(1), 14-47.
    """
    dem = np.asarray(dem, dtype=np.float64)
    pad = [(0, 0)] * (dem.ndim - 2) + [(1, 1), (1, 1)]
    z = np.pad(dem, pad, mode="edge")
    # Horn's sums ``(c + 2 f + i) - (a + 2 d + g)`` (the 3x3 window a b c / d e f / g h i) are
    # differences of one weighted column sum ``top + 2 mid + bottom`` two columns apart, and
    # the row sums likewise: each is computed once, with the operations in the same order as
    # written out per window, so the result is the same to the bit in half the passes.
    cols = 2 * z[..., 1:-1, :]
    cols += z[..., :-2, :]  # (top + 2 mid), as a + 2 d
    cols += z[..., 2:, :]
    rows = 2 * z[..., :, 1:-1]
    rows += z[..., :, :-2]
    rows += z[..., :, 2:]
    dzdx = np.subtract(cols[..., 2:], cols[..., :-2])
    dzdx /= 8 * np.asarray(dx_m, dtype=np.float64)
    dzdy = np.subtract(rows[..., 2:, :], rows[..., :-2, :])
    dzdy /= 8 * np.asarray(dy_m, dtype=np.float64)
    return _percent_float32(dzdx, dzdy)


def _percent_float32(dzdx: np.ndarray, dzdy: np.ndarray) -> np.ndarray:
    """``float32(100 hypot(dzdx, dzdy))``, to the bit, mostly without ``hypot``.

    libm's ``hypot`` costs most of the slope (measured: 3 times ``sqrt(x x + y y)``). The two
    differ by a few float64 ulps, which rounding to float32 removes except next to a float32
    rounding boundary: pixels whose value could round differently (or is not finite) get
    ``hypot``.
    """
    fast = np.multiply(dzdx, dzdx)
    fast += dzdy * dzdy
    np.sqrt(fast, out=fast)
    fast *= 100.0
    out = fast.astype(np.float32)
    # 2**-45 is 256 float64 ulps, far above the few between the two formulas.
    lo, hi = fast * (1 - 2.0**-45), fast * (1 + 2.0**-45)
    unsure = lo.astype(np.float32) != hi.astype(np.float32)
    unsure |= ~np.isfinite(fast)
    if unsure.any():
        out[unsure] = (100.0 * np.hypot(dzdx[unsure], dzdy[unsure])).astype(np.float32)
    return out


def raster_spacing_m(transform, shape: tuple[int, int], geographic: bool):
    """Ground spacing (dx, dy) in metres of a north-up raster's columns and rows.

    Args:
        transform: the raster's affine transform (rasterio ``Affine``).
        shape: (rows, columns).
        geographic: the CRS is in degrees (EPSG:4326): spacing is converted to ground metres per
            row with the WGS84 radii of curvature. Otherwise CRS units are taken as metres.

    Returns:
        (dx, dy): floats, or float64 (H, 1) arrays for a geographic raster.
    """
    if not geographic:
        return abs(transform.a), abs(transform.e)
    lat = transform.f + (np.arange(shape[0]) + 0.5) * transform.e
    m_rad, n_rad = ellipsoid_radii(lat)
    dy = (m_rad * math.radians(abs(transform.e)))[:, None]
    dx = (n_rad * np.cos(np.radians(lat)) * math.radians(abs(transform.a)))[:, None]
    return dx, dy
