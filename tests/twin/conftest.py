"""The statistical sample shared by the tests of soilnet.twin: one world per noise scheme, 1,500
land points."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from soilnet.grid import sample_land_points
from soilnet.twin import SyntheticWorld, TwinConfig
from soilnet.twin.config import NOISE_SCHEMES

#: Rendering config of the statistical tests: 16 px keeps ~1500 points well under a second.
STATS = TwinConfig(n_points=100, patch_size_px=16, seed=11)
N_STATS = 1500


@pytest.fixture(scope="session", params=NOISE_SCHEMES)
def world(request):
    """The :data:`STATS` world, once per noise scheme (every statistical test of the twin holds
    for both). Shared: do not modify."""
    return SyntheticWorld(replace(STATS, noise=request.param))


@pytest.fixture(scope="session")
def xy():
    """(x, y) float64 (1500,) EPSG:3035 land points."""
    return sample_land_points(N_STATS, np.random.default_rng(5))


@pytest.fixture(scope="session")
def rendered(world, xy):
    """``world.render(*xy)``. Shared: do not modify its arrays."""
    return world.render(*xy)
