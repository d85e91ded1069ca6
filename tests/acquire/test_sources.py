"""Tests for soilnet.acquire.sources: the STAC API, its collections and the token endpoint are
checked before any point, against the loopback server (offline)."""

from __future__ import annotations

import pytest

from soilnet.acquire import RetryPolicy, Sources, acquire
from soilnet.errors import AcquisitionError

from .world import FAST, dead_url, run, sources


def test_unreachable_token_endpoint_stops_before_any_point(world, blob_server, tmp_path):
    dead = dead_url("/sas/token")
    src = sources(blob_server, world, signer="planetary-computer", sas_url=dead)
    with pytest.raises(AcquisitionError, match=f"{dead}/soilnetloopback/files"):
        run(world, blob_server, tmp_path / "out", ("winter",), sources=src)
    assert not [r for r in blob_server.log if r["path"].startswith(("/stac/search", "/files/"))]


def test_unreachable_endpoints_name_the_url(world, tmp_path):
    dead = dead_url("/stac")
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    src = Sources(stac_url=dead, terraclimate_url=world.tc, signer="none")
    with pytest.raises(AcquisitionError, match=f"Cannot reach the STAC API at {dead}"):
        acquire(
            points,
            tmp_path / "out",
            sources=src,
            retry=RetryPolicy(retries=0, timeout_s=2),
            progress=False,
        )


def test_unknown_collection_is_reported(world, server, tmp_path):
    points = world.points_csv(tmp_path / "p.csv", ("winter",))
    src = sources(server, world, dem_collection="no-such-dem")
    with pytest.raises(AcquisitionError, match="no collection 'no-such-dem'"):
        acquire(points, tmp_path / "out", sources=src, retry=FAST, progress=False)
