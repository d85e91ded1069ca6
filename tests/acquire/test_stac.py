"""Tests for soilnet.acquire.stac: pystac-client search with urllib3 retries, against the
loopback server (127.0.0.1 only)."""

from __future__ import annotations

import time

import pytest

from soilnet.acquire.stac import StacCatalog
from soilnet.acquire.transport import RetryPolicy
from soilnet.errors import AcquisitionError

from .world import FAST, dead_url, scenes

WINDOW = {
    "collections": ["landsat-c2-l2"],
    "intersects": {"type": "Point", "coordinates": [9.3, 50.1]},
    "datetime": "2015-01-01T00:00:00Z/2015-12-31T23:59:59Z",
}


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_search_follows_next_links(server, method):
    stac = StacCatalog(server.stac_url, FAST, method=method, page_size=2)
    items = stac.search(**WINDOW)
    assert sorted(it["id"] for it in items) == sorted(
        s.scene_id for s in scenes() if s.scene_id.startswith("F_")
    )
    assert all(it["assets"]["red"]["href"].startswith(server.url) for it in items)
    searches = [r for r in server.log if r["path"].startswith("/stac/search")]
    assert len(searches) == 3  # 6 items, 2 per page
    assert {r["method"] for r in searches} == {method}
    assert stac.bytes_received == sum(r["bytes"] for r in server.log)


def test_search_method_follows_the_advertised_links(server, monkeypatch):
    assert StacCatalog(server.stac_url, FAST).method == "POST"
    page = server.landing_page()
    page["links"] = [ln for ln in page["links"] if ln.get("method") != "POST"]
    monkeypatch.setattr(server, "landing_page", lambda: page)
    stac = StacCatalog(server.stac_url, FAST)
    assert stac.method == "GET"  # the STAC API spec requires GET only
    assert len(stac.search(**WINDOW)) == 6
    assert {r["method"] for r in server.log if r["path"].startswith("/stac/search")} == {"GET"}


def test_search_stops_at_max_items(server):
    items = StacCatalog(server.stac_url, FAST, page_size=2).search(max_items=3, **WINDOW)
    assert len(items) == 3
    assert len([r for r in server.log if r["path"].startswith("/stac/search")]) == 2


def test_search_query_filters_by_platform(server):
    items = StacCatalog(server.stac_url, FAST).search(
        collections=["landsat-c2-l2"],
        intersects={"type": "Point", "coordinates": [9.0, 50.0]},
        datetime="2015-01-01/2015-12-31",
        query={"platform": {"in": ["landsat-8"]}},
    )
    assert "W_20150105_l7" not in {it["id"] for it in items}
    assert "W_20150213_clear" in {it["id"] for it in items}


def test_transient_search_errors_are_retried_with_urllib3(server):
    server.fail("/stac/search", 503, times=2)
    items = StacCatalog(server.stac_url, FAST).search(**WINDOW)
    assert len(items) == 6
    assert [r["status"] for r in server.log if r["path"] == "/stac/search"] == [503, 503, 200]


def test_persistent_search_errors_name_status_and_api(server):
    server.fail("/stac/search", 502)
    stac = StacCatalog(server.stac_url, FAST)
    with pytest.raises(AcquisitionError, match=f"{server.stac_url} answered HTTP 502"):
        stac.search(**WINDOW)
    assert [r["status"] for r in server.log].count(502) == FAST.retries + 1


def test_client_errors_are_not_retried(server):
    server.fail("/stac/search", 400)
    with pytest.raises(AcquisitionError, match="HTTP 400"):
        StacCatalog(server.stac_url, FAST).search(**WINDOW)
    assert [r["status"] for r in server.log].count(400) == 1


def test_collections_are_checked(server):
    stac = StacCatalog(server.stac_url, FAST)
    assert stac.collection("cop-dem-glo-30")["id"] == "cop-dem-glo-30"
    with pytest.raises(AcquisitionError, match="no collection 'no-such-thing'"):
        stac.collection("no-such-thing")


def test_unreachable_api_is_named():
    dead = dead_url("/stac")
    start = time.perf_counter()
    with pytest.raises(AcquisitionError, match=f"Cannot reach the STAC API at {dead}"):
        StacCatalog(dead, RetryPolicy(retries=1, backoff_s=0.01, timeout_s=2))
    assert time.perf_counter() - start < 5


def test_non_stac_answer_is_named(server):
    with pytest.raises(AcquisitionError, match="did not answer as a STAC API"):
        StacCatalog(f"{server.url}/sas/token/x/y", FAST)  # JSON, but not a catalog
