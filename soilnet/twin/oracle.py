"""The twin's references: closed-form conditional means of min(SOC, 87), named by what they
condition on.

In the twin (:mod:`soilnet.twin.world`)::

    log SOC = mu + sigma * (sqrt(s1) c1 + sqrt(s2) c2 + sqrt(s3) c3 + sqrt(s4) c4 + sqrt(s5) eps)
    c1 = (effect[centre land cover] + 0.7 d - m1) / v1

with ``eps`` and the soil darkness ``d`` standard normal draws of their own, independent of each
other, of the land cover, of ``c2``, ``c3`` and ``c4`` (``m1``, ``v1``: the world's fitted
standardisation of ``c1``). Whenever log SOC given some information is normal with mean ``a``
and SD ``b``, the prediction with the lowest expected squared error against min(SOC, C) is
:func:`clipped_lognormal_mean` of ``a`` and ``b``. Three such conditional means are written to
``truth.csv``:

- **The noise floor**, ``E[min(SOC, 87) | c1, c2, c3, c4]`` (:func:`noise_floor_lognormal`,
  column ``noise_floor_clipped``): ``a = mu + sigma * sum_k sqrt(s_k) c_k``,
  ``b = sigma * sqrt(s5)``. Only ``eps`` remains unknown, and ``eps`` is independent of
  everything a model can see, so no model beats it in expectation (up to the rounding of OC to
  0.1 g/kg, which moves the target by at most 0.05 g/kg). It needs no assumption about how
  ``c4`` relates to ``c1..c3``, because it conditions on all four.
- **The observable reference** (:func:`observable_lognormal`, column
  ``observable_reference_clipped``): the conditional mean given what the inputs can carry: the
  centre pixel's land cover, ``c2``, ``c3``, ``c4``, and ``d`` only where the patch shows soil.
  The rule (:data:`soilnet.twin.world.SOIL_CLASSES`, column ``soil_visible``): soil is visible
  when at least one pixel of the patch is cropland or bare land, because
  :func:`soilnet.twin.surface.reflectance` darkens exactly those pixels with ``d`` (anywhere in
  the patch) and no other class, band or climate series depends on ``d``. Clouds are ignored.
  Where ``d`` is hidden it is integrated out exactly: given the land cover,
  ``c1 = m_LC + t d`` with ``m_LC = (effect[LC] - m1) / v1`` and ``t = 0.7 / v1``, so
  ``sqrt(s1) c1 + sqrt(s5) eps`` is normal with mean ``sqrt(s1) m_LC`` and variance
  ``s1 t^2 + s5`` (a sum of independent normals). Hence, per point::

      soil visible:  a = mu + sigma * (sqrt(s1) c1   + sqrt(s2) c2 + sqrt(s3) c3 + sqrt(s4) c4)
                     b = sigma * sqrt(s5)                     (the noise floor)
      soil hidden:   a = mu + sigma * (sqrt(s1) m_LC + sqrt(s2) c2 + sqrt(s3) c3 + sqrt(s4) c4)
                     b = sigma * sqrt(s1 t^2 + s5)

  Given this information, the inputs say nothing more about ``d`` or ``eps`` (the visibility
  rule depends on the land cover alone, which is independent of ``d``), so this is also a
  lower bound on a model's expected squared error, tighter than the noise floor. It is not a
  target a finite model can be expected to reach: it reads ``d``, ``c2``, ``c3`` and ``c4``
  exactly, where the patches show ``d`` only through illumination, soil texture and sensor
  noise and ``c4`` must be learnt from neighbouring training points.
- **The c1-c3 decomposition** (:func:`conditional_lognormal`, columns ``oracle_clipped`` and
  ``oracle_unclipped``): ``E[min(SOC, 87) | c1, c2, c3]`` and ``E[SOC | c1, c2, c3]``. Neither
  a bound (models recover part of ``c4`` from location and may beat it) nor a target (it knows
  ``d`` under vegetation); kept for the decomposition of the variance, not in the results table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtr

from soilnet.bands import PAPER_CLIP_G_PER_KG


def clipped_lognormal_mean(a, b, clip=PAPER_CLIP_G_PER_KG):
    """E[min(exp(a + b W), clip)] for W ~ N(0, 1); ``clip=None`` gives E[exp(a + b W)].

    Args:
        a: float or float (N,) location of the log, log g/kg.
        b: float or float (N,) SD of the log (>= 0; 0 gives ``min(exp(a), clip)``).
        clip: clip value in g/kg, or None for no clipping.

    Returns:
        float64, the broadcast shape of ``a`` and ``b``, g/kg.

    Raises:
        ValueError: a negative ``b``.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if np.any(b < 0):
        raise ValueError("b, the SD of the log, must be >= 0.")
    exact = np.exp(a) if clip is None else np.minimum(np.exp(a), clip)
    if not np.any(b > 0):
        return np.broadcast_to(exact, np.broadcast(a, b).shape).copy()[()]
    full = np.exp(a + 0.5 * b * b)
    if clip is None:
        return full[()]
    lc = math.log(clip)
    bs = np.where(b > 0, b, 1.0)
    value = full * ndtr((lc - a - b * b) / bs) + clip * (1.0 - ndtr((lc - a) / bs))
    return np.where(b > 0, value, exact)[()]


def conditional_lognormal(
    mu: float, sigma: float, shares: Sequence[float], c1, c2, c3
) -> tuple[np.ndarray, float]:
    """(a, b) with log SOC | c1, c2, c3 ~ N(a, b^2): the c1-c3 decomposition (not a bound).

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares of :class:`~soilnet.twin.TwinConfig`.
        c1, c2, c3: float (N,) standardised pixel, context and climate components.

    Returns:
        (a float64 (N,), b float).
    """
    sh = np.sqrt(shares)
    a = mu + sigma * (sh[0] * np.asarray(c1) + sh[1] * np.asarray(c2) + sh[2] * np.asarray(c3))
    return a, sigma * math.sqrt(shares[3] + shares[4])


def noise_floor_lognormal(
    mu: float, sigma: float, shares: Sequence[float], c1, c2, c3, c4
) -> tuple[np.ndarray, float]:
    """(a, b) with log SOC | c1..c4 ~ N(a, b^2): only the noise eps remains (the noise floor).

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares.
        c1, c2, c3, c4: float (N,) standardised components.

    Returns:
        (a float64 (N,), b = sigma * sqrt(s5) float).
    """
    a, _ = conditional_lognormal(mu, sigma, shares, c1, c2, c3)
    return a + sigma * math.sqrt(shares[3]) * np.asarray(c4, float), sigma * math.sqrt(shares[4])


def component_withheld_lognormal(
    mu: float, sigma: float, shares: Sequence[float], components, withheld: int
) -> tuple[np.ndarray, float]:
    """(a, b) of log SOC given every component c1..c4 but one: the noise floor without it.

    The withheld component is taken as a standard normal independent of the others, so its
    share moves from the mean into the spread: ``a = mu + sigma * sum_(k != j) sqrt(s_k) c_k``,
    ``b = sigma * sqrt(s_j + s5)``. This is exact for c4 (a Gaussian field) and an
    approximation for c1 (which correlates with c2 through the land cover) and c3 (a drought
    count, not normal). :func:`clipped_lognormal_mean` of (a, b), compared with the noise floor,
    gives what knowing the component is worth on given points (:mod:`soilnet.falsification`).

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares.
        components: float (N, 4) standardised c1..c4.
        withheld: 0..3, the column of ``components`` left out.

    Returns:
        (a float64 (N,), b float).

    Raises:
        ValueError: ``components`` is not (N, 4) or ``withheld`` is not 0..3.
    """
    c = np.asarray(components, float)
    if c.ndim != 2 or c.shape[1] != 4:
        raise ValueError(f"components must be (N, 4) c1..c4; got shape {c.shape}.")
    if withheld not in range(4):
        raise ValueError(f"withheld must be 0..3 (c1..c4); got {withheld!r}.")
    sh = np.sqrt(np.asarray(shares, float))
    keep = [k for k in range(4) if k != withheld]
    a = mu + sigma * (c[:, keep] @ sh[keep])
    return a, sigma * math.sqrt(shares[withheld] + shares[4])


def observable_lognormal(
    mu: float,
    sigma: float,
    shares: Sequence[float],
    c1,
    c2,
    c3,
    c4,
    *,
    c1_given_cover,
    c1_d_sd: float,
    soil_visible,
) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with log SOC | land cover, d where soil is visible, c2, c3, c4 ~ N(a, b^2).

    See the module docstring for the derivation: where ``soil_visible`` this is the noise floor;
    elsewhere ``d`` is integrated out, ``c1`` replaced by its mean given the land cover and its
    variance ``c1_d_sd**2`` added to the noise's.

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares.
        c1, c2, c3, c4: float (N,) standardised components.
        c1_given_cover: float (N,) ``E[c1 | centre land cover]``, i.e. ``c1`` at ``d = 0``.
        c1_d_sd: SD of ``c1`` given the land cover (``0.7`` over the SD that standardises c1).
        soil_visible: bool (N,) the patch shows soil (a cropland or bare pixel).

    Returns:
        (a float64 (N,), b float64 (N,)).
    """
    visible = np.asarray(soil_visible, bool)
    c1_seen = np.where(visible, np.asarray(c1, float), np.asarray(c1_given_cover, float))
    a, b_floor = noise_floor_lognormal(mu, sigma, shares, c1_seen, c2, c3, c4)
    b_hidden = sigma * math.sqrt(shares[0] * c1_d_sd**2 + shares[4])
    return a, np.where(visible, b_floor, b_hidden)


def oracle_columns(
    mu: float,
    sigma: float,
    shares: Sequence[float],
    c1,
    c2,
    c3,
    c4,
    *,
    c1_given_cover,
    c1_d_sd: float,
    soil_visible,
) -> dict[str, np.ndarray]:
    """The reference columns of ``truth.csv``, g/kg, float64 (N,) each.

    - ``noise_floor_clipped``: E[min(SOC, 87) | c1..c4], the noise floor.
    - ``observable_reference_clipped``: E[min(SOC, 87) | land cover, d where soil is visible,
      c2, c3, c4], the observable reference.
    - ``oracle_clipped``: E[min(SOC, 87) | c1, c2, c3], the c1-c3 decomposition (not a bound;
      the old name is kept for readers of earlier twins).
    - ``oracle_unclipped``: E[SOC | c1, c2, c3].

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares.
        c1, c2, c3, c4: float (N,) standardised components.
        c1_given_cover, c1_d_sd, soil_visible: see :func:`observable_lognormal`.
    """
    a, b = conditional_lognormal(mu, sigma, shares, c1, c2, c3)
    af, bf = noise_floor_lognormal(mu, sigma, shares, c1, c2, c3, c4)
    ao, bo = observable_lognormal(
        mu, sigma, shares, c1, c2, c3, c4,
        c1_given_cover=c1_given_cover, c1_d_sd=c1_d_sd, soil_visible=soil_visible,
    )  # fmt: skip
    return {
        "noise_floor_clipped": clipped_lognormal_mean(af, bf),
        "observable_reference_clipped": clipped_lognormal_mean(ao, bo),
        "oracle_clipped": clipped_lognormal_mean(a, b),
        "oracle_unclipped": clipped_lognormal_mean(a, b, clip=None),
    }
