"""The twin's monthly TerraClimate-like series, with summer droughts hidden from the means.

Each location gets 61 months (2010-01 .. 2015-01) of the 14 TerraClimate variables from its
latitude, continentality and elevation, a regional year-to-year anomaly, and its own noise. Its
K summer droughts (the climate component c3 of SOC) are placed in random Jun-Aug months of
2010-2014; then every series is shifted (or, for non-negative variables whose mean the droughts
raised, rescaled) back to its no-drought 61-month mean, so K is visible in the sequence only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numba import njit

#: First month of the climate series and its length (2010-01 .. 2015-01, as the paper).
CLIMATE_START = "2010-01"
CLIMATE_MONTHS = 61
#: Summer droughts per location: K ~ Binomial(DROUGHT_EVENTS, DROUGHT_P).
DROUGHT_EVENTS, DROUGHT_P = 6, 0.4
#: Months of the series (0 = 2010-01) that can hold a drought: June to August of 2010-2014.
SUMMER_MONTHS = np.flatnonzero(
    (np.arange(CLIMATE_MONTHS) % 12 >= 5)
    & (np.arange(CLIMATE_MONTHS) % 12 <= 7)
    & (np.arange(CLIMATE_MONTHS) // 12 < 5)
)
#: Variables that cannot go below zero: their drought shift is a rescaling where it would.
_NON_NEGATIVE = ("pr", "swe", "ro", "aet", "pet", "soil", "def", "vap", "vpd", "srad")


def _es_kpa(t_c):
    """Saturation vapour pressure (Tetens), kPa."""
    return 0.6108 * np.exp(17.27 * t_c / (t_c + 237.3))


@njit(cache=True, nogil=True)
def _water_balance(tm, pr, pet):
    """A one-bucket water balance with snow, month by month: (aet, ro, soil, swe), each float64
    (N, T) like the inputs (mean temperature, precipitation, potential evapotranspiration).
    Compiled: the same float64 operations per location and month as array operations over
    the locations, without 61 x 10 passes of numpy calls."""
    n, t = pr.shape
    aet, ro = np.empty((n, t)), np.empty((n, t))
    soil, swe = np.empty((n, t)), np.empty((n, t))
    for i in range(n):
        store, snow = 100.0, 0.0
        for k in range(t):
            snowfall = pr[i, k] if tm[i, k] < 0 else 0.0
            melt = min(snow, 25.0 * tm[i, k]) if tm[i, k] > 0 else 0.0
            snow = snow + snowfall - melt
            water_in = pr[i, k] - snowfall + melt
            aet[i, k] = min(pet[i, k], water_in + 0.5 * store)
            store = store + water_in - aet[i, k]
            ro[i, k] = max(store - 150.0, 0.0)
            store = min(max(store, 0.0), 150.0)
            soil[i, k] = store
            swe[i, k] = snow
    return aet, ro, soil, swe


@njit(cache=True, nogil=True)
def _drought_index(anom):
    """PDSI-like index: the water-balance anomaly ``anom`` (N, T) accumulated with a monthly
    persistence of 0.85, clipped to [-8, 8]."""
    n, t = anom.shape
    pdsi = np.empty((n, t))
    for i in range(n):
        state = 0.0
        for k in range(t):
            state = 0.85 * state + 0.02 * anom[i, k]
            pdsi[i, k] = min(max(state, -8.0), 8.0)
    return pdsi


def location_seeded_draws(
    seed: int, x: np.ndarray, y: np.ndarray, drought_k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-location noise (N, 6, T) and drought months (N, T) bool, from location-seeded draws.

    The generator is seeded by ``(seed, 31, round(x), round(y))``: a location's climate is the
    same alone or in any batch, and independent of the patch draws. The ``"per-cell"`` noise
    scheme's draws; the ``"counter"`` scheme's are :func:`soilnet.twin.fields.climate_draws`.
    """
    n, t = len(x), CLIMATE_MONTHS
    noise = np.empty((n, 6, t))
    drought = np.zeros((n, t), bool)
    for i in range(n):
        r = np.random.default_rng(
            [seed, 31, int(round(x[i])) & 0xFFFFFFFF, int(round(y[i])) & 0xFFFFFFFF]
        )
        noise[i] = r.standard_normal((6, t))
        if drought_k[i]:
            drought[i, r.choice(SUMMER_MONTHS, size=drought_k[i], replace=False)] = True
    return noise, drought


def monthly_climate(
    x: np.ndarray,
    y: np.ndarray,
    lat: np.ndarray,
    cont: np.ndarray,
    elev: np.ndarray,
    drought_k: np.ndarray,
    *,
    seed: int,
    year_fields: Sequence[Callable[[np.ndarray, np.ndarray], np.ndarray]],
    variables: Sequence[str],
    draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Monthly climate at locations, droughts in the sequence but not in the means.

    Args:
        x, y: float (N,) EPSG:3035 metres (seed the per-location draws).
        lat: float (N,) latitude, degrees.
        cont: float (N,) continentality, 0 (Atlantic) .. 1 (east).
        elev: float (N,) regional elevation, metres.
        drought_k: int (N,) number of summer droughts K.
        seed: the world seed.
        year_fields: six smooth fields ``f(x, y) -> (N,)``, one regional anomaly per year
            2010..2015.
        variables: TerraClimate variable names to return, in this order.
        draws: the locations' noise, float (N, 6, 61) standard normal, and drought months,
            bool (N, 61) with ``drought_k`` of :data:`SUMMER_MONTHS` set; by default
            :func:`location_seeded_draws`.

    Returns:
        float32 (N, 61, F): months 2010-01..2015-01, F = ``len(variables)``; units as
        TerraClimate (degC, mm, kPa, W/m2, m/s).
    """
    n, t = len(x), CLIMATE_MONTHS
    moy = np.arange(t) % 12  # month of year, 0 = January
    year = np.arange(t) // 12
    if draws is None:
        draws = location_seeded_draws(seed, x, y, drought_k)
    noise, drought = draws
    year_anom = np.column_stack([f(x, y) for f in year_fields])[:, np.minimum(year, 5)]  # (N, T)
    season = -np.cos(2 * np.pi * moy / 12)[None, :]  # -1 in January, +1 in July
    t_ann = 27.0 - 0.42 * lat - 6.5 * elev / 1000.0
    amp = 5.0 + 7.0 * cont + 0.08 * (lat - 40)
    dtr = 8.0 + 4.0 * cont
    med = np.clip((45.0 - lat) / 8.0, 0, 1)  # Mediterranean summer drought regime
    p_ann = np.maximum(950 - 450 * cont + 0.35 * elev - 300 * med, 250)
    srad_ann = 185 - 3.2 * (lat - 40)

    def series(with_drought: bool) -> dict[str, np.ndarray]:
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
        aet, ro, soil, swe = _water_balance(tm, pr, pet)
        aet = np.where(dmask, aet * 0.6, aet)
        deficit = np.maximum(pet - aet, 0)
        vap = 0.95 * _es_kpa(tmmn) * np.where(dmask, 0.7, 1.0)
        vpd = np.maximum(0.5 * (_es_kpa(tmmx) + _es_kpa(tmmn)) - vap, 0)
        balance = pr - pet
        anom = balance - balance.reshape(n, -1, 1)[:, :, 0].mean(axis=1, keepdims=True)
        pdsi = _drought_index(anom)
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
    out = np.empty((n, t, len(variables)), np.float32)
    for j, var in enumerate(variables):
        # Bring each point's 61-month mean back to its no-drought value, so K hides in the means.
        m_plain = plain[var].mean(axis=1, keepdims=True)
        m_dry = dry[var].mean(axis=1, keepdims=True)
        shifted = dry[var] + (m_plain - m_dry)
        if var in _NON_NEGATIVE:
            # Where droughts raised the mean (def, pet), a downward shift would go below zero
            # and clipping it would leak K into the mean; rescale instead.
            ratio = np.divide(m_plain, m_dry, out=np.ones_like(m_dry), where=m_dry > 0)
            shifted = np.maximum(np.where(m_dry > m_plain, dry[var] * ratio, shifted), 0)
        out[:, :, j] = shifted
    return out
