"""Fixtures for the figure tests: no pyplot side effects, seeded SOC-like points, a PNG check."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

_N = 300


@pytest.fixture(autouse=True)
def no_show_no_leak(monkeypatch):
    """Fail if a function calls plt.show or leaves a figure registered in pyplot."""

    def boom(*args, **kwargs):
        raise AssertionError("plotting functions must not call plt.show")

    monkeypatch.setattr(plt, "show", boom)
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before, "a plotting function left a pyplot figure open"


@pytest.fixture
def finish():
    """Check that a figure is a Figure that renders to PNG, then close it."""

    def check(fig):
        assert isinstance(fig, Figure)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=40)
        assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
        plt.close(fig)

    return check


@pytest.fixture(scope="module")
def points():
    """Seeded SOC-like points inside mainland Europe: lon, lat (N,), observed (N,) g/kg and
    ``{"RF": (N,), "SoilNet": (N,)}`` predictions, g/kg."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(-5, 25, _N)
    lat = rng.uniform(40, 60, _N)
    obs = np.round(np.exp(rng.normal(3.0, 0.8, _N)), 1)
    soilnet = np.clip(obs * 0.7 + rng.normal(0, 6, _N), 1, None)
    rf = 0.4 * obs + 15
    return lon, lat, obs, {"RF": rf, "SoilNet": soilnet}
