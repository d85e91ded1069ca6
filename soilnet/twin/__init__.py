"""A synthetic twin of Europe with known ground truth, written in the real on-disk layout.

The real inputs of SoilNet (LUCAS points, Landsat-8 patches, TerraClimate series) cannot be
fetched offline, so every default command, test, Binder and Colab session runs on this twin.

- :mod:`~soilnet.twin.config`: :class:`TwinConfig`, the named twins :data:`TWINS`,
  :func:`with_shares`, :func:`share_grid`.
- :mod:`~soilnet.twin.world`: :class:`SyntheticWorld`, the continuous world and its causal SOC
  model; renders any EPSG:3035 location.
- :mod:`~soilnet.twin.surface`: the patch pixels (reflectance, indices, terrain, clouds).
- :mod:`~soilnet.twin.climate`: the monthly climate with hidden droughts.
- :mod:`~soilnet.twin.oracle`: the closed-form conditional means (the noise floor).
- :mod:`~soilnet.twin.writer`: :func:`write_twin`, the on-disk layout.

Example::

    from soilnet.twin import TwinConfig, write_twin
    write_twin("twin-smoke", "smoke")  # or a TwinConfig(n_points=48, patch_size_px=16, seed=3)
"""

from soilnet.twin.climate import CLIMATE_MONTHS, CLIMATE_START, monthly_climate
from soilnet.twin.config import (
    SHARE_NAMES,
    TWINS,
    TwinConfig,
    resolve_twin,
    share_grid,
    with_shares,
)
from soilnet.twin.oracle import (
    clipped_lognormal_mean,
    component_withheld_lognormal,
    conditional_lognormal,
    noise_floor_lognormal,
    observable_lognormal,
    oracle_columns,
)
from soilnet.twin.surface import LAND_COVER
from soilnet.twin.world import (
    LAND_COVER_EFFECT,
    LAND_COVER_SHARES,
    LUCAS_QUARTILES,
    Rendered,
    SyntheticWorld,
)
from soilnet.twin.writer import TRUTH_COLUMNS, lucas_point_ids, patch_transform, write_twin

__all__ = [
    "CLIMATE_MONTHS",
    "CLIMATE_START",
    "LAND_COVER",
    "LAND_COVER_EFFECT",
    "LAND_COVER_SHARES",
    "LUCAS_QUARTILES",
    "SHARE_NAMES",
    "TRUTH_COLUMNS",
    "TWINS",
    "Rendered",
    "SyntheticWorld",
    "TwinConfig",
    "clipped_lognormal_mean",
    "component_withheld_lognormal",
    "conditional_lognormal",
    "lucas_point_ids",
    "monthly_climate",
    "noise_floor_lognormal",
    "observable_lognormal",
    "oracle_columns",
    "patch_transform",
    "resolve_twin",
    "share_grid",
    "with_shares",
    "write_twin",
]
