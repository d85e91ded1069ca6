"""Settings of a twin, the named twins, and variance-share edits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from soilnet.bands import CLIMATE_VARIABLES
from soilnet.errors import ConfigurationError

#: Accepted values of :attr:`TwinConfig.noise` (:mod:`soilnet.twin.fields`).
NOISE_SCHEMES = ("per-cell", "counter")
#: Revision of each scheme's values, recorded in ``twin.json``: a twin written at another
#: revision renders other values for its own places, so its map would not match its points.
#: ``"counter"`` 2: the climate's draws from the cell's streams, the sensor noise's filter and
#: the fields' SD by compiled loops (2026-12-02); twins written before carry no revision (1).
NOISE_REVISIONS = {"per-cell": 1, "counter": 2}
#: Names of the five variance shares of log SOC, in :attr:`TwinConfig.shares` order.
SHARE_NAMES = ("pixel", "context", "climate", "spatial", "noise")


@dataclass(frozen=True)
class TwinConfig:
    """Settings of a twin. Sizes: see :data:`TWINS`.

    Attributes:
        n_points: number of LUCAS-like points.
        patch_size_px: patch height and width in pixels (30 m ground pixels).
        seed: world seed; the same seed gives the same world, points and files.
        shares: variance shares in log space of (pixel, context, climate, spatial, noise);
            must sum to 1.
        cloud_fraction: share of patches with a cloud blob (NaN pixels in the optical bands).
        spatial_length_km: length scale of the spatial residual field c4.
        climate_variables: variables written under ``climate/``.
        noise: how the patches' random fields are drawn: ``"per-cell"`` (a seeded PCG64
            generator and Gaussian filtering per cell: every twin written before the setting
            existed) or ``"counter"`` (counter-based streams keyed by the location for the
            patches and the climate, batched exact spectral synthesis and compiled loops,
            :mod:`soilnet.twin.fields`: about 4 to 5 times faster to render at 64 px, the
            same distributions and field covariance, different values). Points and maps of a
            world both use its scheme.
    """

    n_points: int = 5000
    patch_size_px: int = 32
    seed: int = 0
    shares: tuple[float, float, float, float, float] = (0.35, 0.15, 0.15, 0.10, 0.25)
    cloud_fraction: float = 0.03
    spatial_length_km: float = 150.0
    climate_variables: tuple[str, ...] = CLIMATE_VARIABLES
    noise: str = "per-cell"

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
        if self.noise not in NOISE_SCHEMES:
            raise ConfigurationError(
                f"Unknown TwinConfig.noise {self.noise!r}; accepted: {', '.join(NOISE_SCHEMES)}."
            )


#: Named twin sizes: ``smoke`` for tests and quick looks, ``default`` for the CPU book,
#: ``paper`` for the paper's 21,859 points at 64 x 64 px. ``paper`` uses the ``"counter"`` noise
#: scheme, whose 1 km map renders about 4 to 5 times faster at 64 px (``benchmarks/README.md``);
#: ``smoke`` and ``default`` keep ``"per-cell"``, so their twins, and the book's results on
#: them, are unchanged.
TWINS: dict[str, TwinConfig] = {
    "smoke": TwinConfig(n_points=400, patch_size_px=32),
    "default": TwinConfig(n_points=5000, patch_size_px=32),
    "paper": TwinConfig(n_points=21859, patch_size_px=64, noise="counter"),
}


def resolve_twin(config: TwinConfig | str) -> TwinConfig:
    """A :class:`TwinConfig` as given, or the one :data:`TWINS` names.

    Raises:
        ConfigurationError: ``config`` is a name not in :data:`TWINS`.
    """
    if not isinstance(config, str):
        return config
    if config not in TWINS:
        raise ConfigurationError(f"Unknown twin profile {config!r}; accepted: {', '.join(TWINS)}.")
    return TWINS[config]


def with_shares(config: TwinConfig, **shares: float) -> TwinConfig:
    """A copy of ``config`` with some variance shares replaced, the rest rescaled to sum to 1.

    Example: ``with_shares(TWINS["default"], climate=0.0)`` moves the climate share into the
    others proportionally.

    Args:
        config: the twin to start from.
        **shares: new shares by name (:data:`SHARE_NAMES`), each in [0, 1].

    Raises:
        ConfigurationError: a share name is not in :data:`SHARE_NAMES`.
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


def share_grid(base: TwinConfig, component: str, levels: Sequence[float]) -> list[TwinConfig]:
    """Twins that differ from ``base`` only in the variance share of one component.

    One twin per level: ``component`` gets the level, the other four shares are rescaled in
    proportion to ``base``'s so the five still sum to 1 (:func:`with_shares`). Seed, points,
    patch size and every other setting stay ``base``'s, so every twin of the grid has the same
    points, patches and climate series; only SOC differs.

    What stays fixed is the sum of the shares, the variance of log SOC in units of the world's
    scale ``sigma`` when the components are uncorrelated. The world refits ``mu`` and ``sigma``
    to the LUCAS quartiles for each twin (:class:`~soilnet.twin.SyntheticWorld`), and c1 and c2
    are correlated (both read the land cover), so the realised variance of log SOC moves a
    little across a grid; :func:`soilnet.falsification.log_variance` measures it.

    Example: ``share_grid(TWINS["default"], "spatial", [0.0, 0.2, 0.4])``.

    Args:
        base: the twin to start from.
        component: a name of :data:`SHARE_NAMES`.
        levels: the component's shares, each in [0, 1).

    Returns:
        one :class:`TwinConfig` per level, in the order given.

    Raises:
        ConfigurationError: an unknown component, a level outside [0, 1), or a ``base`` whose
            other shares are all 0 (nothing to rescale).
    """
    if component not in SHARE_NAMES:
        raise ConfigurationError(
            f"Unknown share {component!r} for share_grid; accepted: {SHARE_NAMES}."
        )
    bad = [lv for lv in levels if not 0 <= lv < 1]
    if bad:
        raise ConfigurationError(
            f"share_grid levels must lie in [0, 1) (the other shares need room); got {bad}."
        )
    others = sum(s for k, s in zip(SHARE_NAMES, base.shares, strict=True) if k != component)
    if others <= 0:
        raise ConfigurationError(
            f"share_grid cannot vary {component!r}: the other shares of base are all 0, so "
            "there is nothing to rescale; start from a twin with other shares above 0."
        )
    return [with_shares(base, **{component: float(lv)}) for lv in levels]
