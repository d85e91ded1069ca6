"""Tests for soilnet.twin.config: twin settings, the named twins, variance-share edits."""

from __future__ import annotations

import pytest

from soilnet.errors import ConfigurationError
from soilnet.twin import SHARE_NAMES, TWINS, TwinConfig, resolve_twin, with_shares, write_twin

from .conftest import STATS


def test_config_validation_and_profiles(tmp_path):
    assert TWINS["smoke"].n_points < TWINS["default"].n_points < TWINS["paper"].n_points == 21859
    assert TWINS["paper"].patch_size_px == 64
    with pytest.raises(ConfigurationError, match="shares"):
        TwinConfig(shares=(0.5, 0.5, 0.5, 0.0, 0.0))
    with pytest.raises(ConfigurationError, match="patch_size_px"):
        TwinConfig(patch_size_px=4)
    with pytest.raises(ConfigurationError, match="Unknown climate variable"):
        TwinConfig(climate_variables=("rain",))
    with pytest.raises(
        ConfigurationError, match="Unknown twin profile 'huge'; accepted: smoke, default, paper"
    ):
        write_twin(tmp_path, "huge")
    with pytest.raises(ConfigurationError, match="Unknown share"):
        with_shares(STATS, drought=0.1)


def test_resolve_twin_by_name_or_config():
    assert resolve_twin("smoke") is TWINS["smoke"]
    assert resolve_twin(STATS) is STATS
    with pytest.raises(ConfigurationError, match="Unknown twin profile 'tiny'"):
        resolve_twin("tiny")


def test_with_shares_fixes_some_and_rescales_the_rest():
    new = with_shares(STATS, pixel=0.5, noise=0.2)
    shares = dict(zip(SHARE_NAMES, new.shares, strict=True))
    assert shares["pixel"] == 0.5 and shares["noise"] == 0.2
    assert sum(new.shares) == pytest.approx(1.0)
    old = dict(zip(SHARE_NAMES, STATS.shares, strict=True))
    # context, climate, spatial keep their ratios and share the remaining 0.3.
    rest = ("context", "climate", "spatial")
    for name in rest:
        assert shares[name] == pytest.approx(0.3 * old[name] / sum(old[k] for k in rest))
    assert (new.n_points, new.seed) == (STATS.n_points, STATS.seed)
