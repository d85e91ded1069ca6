"""Tests for soilnet.acquire.signing: planetary_computer signing and its token endpoint,
against the loopback server (127.0.0.1 only)."""

from __future__ import annotations

import time

import pytest

from soilnet.acquire.signing import PlanetaryComputerSigner, make_modifier, sas_endpoint
from soilnet.acquire.transport import RetryPolicy
from soilnet.errors import AcquisitionError

from . import server as srv
from .world import FAST, dead_url


def _page(*hrefs: str) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": f"i{k}", "assets": {"data": {"href": h}}}
            for k, h in enumerate(hrefs)
        ],
    }


def test_planetary_computer_signs_blob_urls_with_the_configured_endpoint(server):
    from planetary_computer.sas import TOKEN_CACHE

    TOKEN_CACHE.clear()  # an earlier test may have cached this container's token
    blob = "https://soilnetunit.blob.core.windows.net/landsat-c2/LC08/a.TIF"
    other = f"{server.url}/files/a.TIF"
    page = _page(blob, other)
    with sas_endpoint(server.sas_url):
        PlanetaryComputerSigner(FAST)(page)
    hrefs = [f["assets"]["data"]["href"] for f in page["features"]]
    assert hrefs == [f"{blob}?{srv.SAS_TOKEN}", other]
    assert [r["path"] for r in server.log] == ["/sas/token/soilnetunit/landsat-c2"]


def test_sas_endpoint_is_restored():
    from planetary_computer.settings import Settings

    before = Settings.get().sas_url
    with sas_endpoint("http://127.0.0.1:9/sas/"):
        assert Settings.get().sas_url == "http://127.0.0.1:9/sas"
    assert Settings.get().sas_url == before
    with sas_endpoint(None):
        assert Settings.get().sas_url == before


def test_unreachable_token_endpoint_fails_fast_and_named():
    dead = dead_url("/sas/token")
    page = _page("https://soilnetdead.blob.core.windows.net/c/a.TIF")
    start = time.perf_counter()
    with sas_endpoint(dead), pytest.raises(AcquisitionError, match=f"{dead}/soilnetdead/c"):
        PlanetaryComputerSigner(RetryPolicy(retries=1, backoff_s=0.01))(page)
    assert time.perf_counter() - start < 5  # planetary_computer's defaults retry for minutes
    assert "sig=" not in page["features"][0]["assets"]["data"]["href"]


def test_make_modifier():
    pc = "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert isinstance(make_modifier("auto", pc, FAST), PlanetaryComputerSigner)
    assert make_modifier("auto", "http://127.0.0.1:1/stac", FAST) is None
    assert make_modifier("none", pc, FAST) is None
    assert isinstance(
        make_modifier("planetary-computer", "http://x/stac", FAST), PlanetaryComputerSigner
    )

    def mine(obj):
        return None

    assert make_modifier(mine, pc, FAST) is mine
    with pytest.raises(ValueError, match="planetary-computer"):
        make_modifier("http://x/{collection}", pc, FAST)
