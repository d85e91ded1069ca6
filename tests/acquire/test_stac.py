"""Tests for soilnet.acquire.stac: pystac-client search, planetary_computer signing, urllib3
retries and COG window reads, against the loopback server (127.0.0.1 only)."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from soilnet.acquire.stac import (
    HttpClient,
    HttpError,
    PlanetaryComputerSigner,
    RetryPolicy,
    StacCatalog,
    make_modifier,
    mercator_grid,
    raster_reader,
    read_to_grid,
    sas_endpoint,
    take_failed_reads,
)
from soilnet.errors import AcquisitionError

from . import server as srv
from .world import FAST, scenes

WINDOW = {
    "collections": ["landsat-c2-l2"],
    "intersects": {"type": "Point", "coordinates": [9.3, 50.1]},
    "datetime": "2015-01-01T00:00:00Z/2015-12-31T23:59:59Z",
}


def _dead_url(path: str = "") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


# --------------------------------------------------------------------------------------------
# STAC
# --------------------------------------------------------------------------------------------


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
    dead = _dead_url("/stac")
    start = time.perf_counter()
    with pytest.raises(AcquisitionError, match=f"Cannot reach the STAC API at {dead}"):
        StacCatalog(dead, RetryPolicy(retries=1, backoff_s=0.01, timeout_s=2))
    assert time.perf_counter() - start < 5


def test_non_stac_answer_is_named(server):
    with pytest.raises(AcquisitionError, match="did not answer as a STAC API"):
        StacCatalog(f"{server.url}/sas/token/x/y", FAST)  # JSON, but not a catalog


# --------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------


def _page(*hrefs: str) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": f"i{k}", "assets": {"data": {"href": h}}}
            for k, h in enumerate(hrefs)
        ],
    }


def test_planetary_computer_signs_blob_urls_with_the_configured_endpoint(server):
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
    dead = _dead_url("/sas/token")
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


# --------------------------------------------------------------------------------------------
# Plain HTTP
# --------------------------------------------------------------------------------------------


def test_http_client_retries_then_reports(server):
    client = HttpClient(FAST)
    server.fail("/files/tc/pr.nc", 503, times=1)
    r = client.request(
        "GET", f"{server.url}/files/tc/pr.nc", what="t", headers={"Range": "bytes=0-3"}
    )
    assert r.status_code == 206 and r.content[:3] == b"CDF"
    assert client.bytes_received == 4

    server.fail("/files/tc/swe.nc", 500)
    with pytest.raises(HttpError, match=r"HTTP 500 on all 3 attempt\(s\)") as err:
        client.request("GET", f"{server.url}/files/tc/swe.nc", what="t")
    assert err.value.status == 500
    with pytest.raises(HttpError, match="HTTP 404") as err:
        client.request("GET", f"{server.url}/files/nothing.nc", what="t")
    assert [r["path"] for r in server.log].count("/files/nothing.nc") == 1  # not retried

    dead = _dead_url("/x.nc")
    with pytest.raises(ConnectionError, match=f"cannot reach {dead}"):
        client.request("GET", dead, what="t")


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def test_failed_cog_read_is_retried_by_the_next_uncached_reader(world, server):
    """GDAL remembers a failed URL; the next run reads uncached and so reaches the server."""
    href = f"{server.url}/files/W_20150213_clear/W_20150213_clear_SR_B4.TIF"
    grid = mercator_grid(9.0, 50.0)
    take_failed_reads()
    server.fail("W_20150213_clear_SR_B4", 500)
    with raster_reader(FAST), pytest.raises(Exception, match="500"):
        read_to_grid(href, grid)
    server._faults.clear()

    before = len(server.log)
    with raster_reader(FAST), pytest.raises(Exception, match="500"):
        read_to_grid(href, grid)  # answered from GDAL's memory of the failure
    assert len(server.log) == before

    assert take_failed_reads() and not take_failed_reads()
    with raster_reader(FAST, uncached=True):
        dn, _ = read_to_grid(href, grid)
    assert len(server.log) > before
    assert np.all(dn == srv.reflectance_to_dn(srv.RED_REFLECTANCE))
    with raster_reader(FAST):  # the stale entry is gone for cached readers too
        read_to_grid(href, grid)
    assert not take_failed_reads()


def test_mercator_grid_matches_the_original_exports():
    grid = mercator_grid(6.072879, 51.088722)  # LUCAS 40463116, the sample export (103 px)
    assert grid.crs == "EPSG:3857" and grid.width == grid.height == 102
    assert grid.transform.a == 30 and grid.transform.c % 30 == 0
    w, s, e, n = grid.lonlat_bounds()
    assert w < 6.072879 < e and s < 51.088722 < n
