"""Tests for soilnet.acquire.scenes: the QA_PIXEL rule and the paper's scene choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soilnet.acquire import SceneLimits, decode_qa
from soilnet.acquire.scenes import (
    Candidate,
    WindowShares,
    choose_scene,
    dn_to_reflectance,
    landsat_candidates,
    window_shares,
)

from . import server as srv


def test_qa_rule_counts_high_confidence_only():
    qa = np.array(
        [
            [srv.QA_CLEAR, srv.QA_CLEAR_MEDIUM_CLOUD_CONF, srv.QA_CLOUD, 1 << 1],
            [srv.QA_SHADOW, srv.QA_SNOW, srv.QA_FILL, (1 << 3) | (1 << 8)],
        ],
        dtype=np.uint16,
    )
    m = decode_qa(qa)
    assert m.cloud.tolist() == [[False, False, True, True], [False, False, False, False]]
    assert m.shadow.tolist() == [[False] * 4, [True, False, False, False]]
    assert m.snow.tolist() == [[False] * 4, [False, True, False, False]]
    assert m.fill.tolist() == [[False] * 4, [False, False, True, False]]
    shares = window_shares(m)
    assert shares.valid == pytest.approx(7 / 8)
    assert shares.cloud == pytest.approx(2 / 7) and shares.shadow == pytest.approx(1 / 7)
    assert SceneLimits().failure(shares).startswith("cloud+shadow")


def test_window_without_valid_pixels_fails_the_limits():
    shares = window_shares(decode_qa(np.full((3, 3), srv.QA_FILL, dtype=np.uint16)))
    assert shares.valid == 0 and SceneLimits().failure(shares).startswith("valid 0%")


def _cand(day: str) -> Candidate:
    return Candidate(item={}, id=day, datetime=pd.Timestamp(day, tz="UTC"))


def test_choose_scene_rule():
    clear, cloudy = WindowShares(1, 0, 0, 0), WindowShares(1, 0.5, 0, 0)
    days = ("2015-01-05", "2015-02-01", "2015-05-01", "2015-08-01", "2015-11-01")
    cands = [_cand(d) for d in days]
    shares = dict.fromkeys(days, clear) | {"2015-01-05": cloudy}
    ndvi = {"2015-05-01": 0.5, "2015-08-01": 0.2}
    d = choose_scene(cands, lambda c: shares[c.id], lambda c: ndvi[c.id])
    assert (d.choice.id, d.rule, len(d.evaluations)) == ("2015-02-01", "winter-earliest", 2)
    shares.update({"2015-02-01": cloudy, "2015-11-01": cloudy})
    d = choose_scene(cands, lambda c: shares[c.id], lambda c: ndvi[c.id])
    assert (d.choice.id, d.rule) == ("2015-08-01", "min-ndvi")
    shares.update(dict.fromkeys(ndvi, WindowShares(0.5, 0, 0, 0)))
    d = choose_scene(cands, lambda c: shares[c.id], lambda c: ndvi[c.id])
    assert d.choice is None and d.failure_reason().startswith("no usable scene: 5")


def test_landsat_candidates_filter_platform_tier_year(world):
    items = [it for it in world.items if it["id"].startswith("W_")]
    assert [c.id for c in landsat_candidates(items, 2015)] == [
        "W_20150112_cloudy",
        "W_20150213_clear",
        "W_20150710_clear",
        "W_20151120_clear",
    ]


def test_reflectance_scaling_and_masking():
    dn = np.array([[0, srv.reflectance_to_dn(0.1)], [7273, 20000]], dtype=np.uint16)
    masked = np.array([[False, False], [True, False]])
    r = dn_to_reflectance(dn, masked)
    assert np.isnan(r[0, 0]) and np.isnan(r[1, 0])  # fill value, masked pixel
    assert r[0, 1] == pytest.approx(0.1, abs=3e-5)
    assert r[1, 1] == pytest.approx(20000 * 2.75e-5 - 0.2)
