"""Fixtures of the acquisition tests: the loopback world and its server (127.0.0.1 only)."""

from __future__ import annotations

import pytest

from . import server as srv
from .world import World


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("loopback_world"))


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Keep requests and libcurl off any configured proxy: only 127.0.0.1 is contacted."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "GDAL_HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(world):
    with srv.LoopbackServer(world.root, world.items) as s:
        yield s


@pytest.fixture
def blob_server(world, monkeypatch):
    """The server in blob mode, demanding signatures, with GDAL routed through it."""
    with srv.LoopbackServer(
        world.root, world.items, require_signature=True, blob_account="soilnetloopback"
    ) as s:
        monkeypatch.setenv("GDAL_HTTP_PROXY", s.proxy)
        yield s
