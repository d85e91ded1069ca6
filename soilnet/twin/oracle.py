"""The twin's oracle: closed-form conditional means of SOC given latent components.

In the twin ``log SOC = mu + sigma * (sum_k sqrt(s_k) c_k + sqrt(s5) eps)`` with standard normal
``c4`` and ``eps`` independent of the rest (:mod:`soilnet.twin.world`). Given the components a
model can see (c1..c3), log SOC is normal with mean ``a`` and SD ``b``
(:func:`conditional_lognormal`), so the best possible prediction of min(SOC, clip) in squared
error is :func:`clipped_lognormal_mean` of ``a`` and ``b``: the noise floor written to
``truth.csv``.
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
        b: float SD of the log (>= 0; 0 gives ``min(exp(a), clip)``).
        clip: clip value in g/kg, or None for no clipping.

    Returns:
        float64, the shape of ``a``, g/kg.
    """
    a = np.asarray(a, float)
    if b <= 0:
        v = np.exp(a)
        return v if clip is None else np.minimum(v, clip)
    full = np.exp(a + 0.5 * b * b)
    if clip is None:
        return full
    lc = math.log(clip)
    return full * ndtr((lc - a - b * b) / b) + clip * (1.0 - ndtr((lc - a) / b))


def conditional_lognormal(
    mu: float, sigma: float, shares: Sequence[float], c1, c2, c3
) -> tuple[np.ndarray, float]:
    """(a, b) with log SOC | c1, c2, c3 ~ N(a, b^2): the spatial field and noise stay unknown.

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares of :class:`~soilnet.twin.TwinConfig`.
        c1, c2, c3: float (N,) standardised pixel, context and climate components.

    Returns:
        (a float64 (N,), b float).
    """
    sh = np.sqrt(shares)
    a = mu + sigma * (sh[0] * c1 + sh[1] * c2 + sh[2] * c3)
    return a, sigma * math.sqrt(shares[3] + shares[4])


def oracle_columns(
    mu: float, sigma: float, shares: Sequence[float], c1, c2, c3, c4
) -> dict[str, np.ndarray]:
    """The three oracle columns of ``truth.csv``, g/kg, float64 (N,) each.

    - ``oracle_clipped``: E[min(SOC, 87) | c1, c2, c3], what an ideal model of the inputs
      predicts.
    - ``oracle_unclipped``: E[SOC | c1, c2, c3].
    - ``oracle_spatial_clipped``: E[min(SOC, 87) | c1..c4], with the spatial field known too.

    Args:
        mu, sigma: the world's fitted log-SOC location and scale.
        shares: the five variance shares.
        c1, c2, c3, c4: float (N,) standardised components.
    """
    a, b = conditional_lognormal(mu, sigma, shares, c1, c2, c3)
    sh = np.sqrt(shares)
    a4 = a + sigma * sh[3] * c4
    b4 = sigma * sh[4]
    return {
        "oracle_clipped": clipped_lognormal_mean(a, b),
        "oracle_unclipped": clipped_lognormal_mean(a, b, clip=None),
        "oracle_spatial_clipped": clipped_lognormal_mean(a4, b4),
    }
