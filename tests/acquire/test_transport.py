"""Tests for soilnet.acquire.transport: urllib3 retries of plain HTTP requests, against the loopback
server (127.0.0.1 only)."""

from __future__ import annotations

import pytest

from soilnet.acquire.transport import HttpClient
from soilnet.errors import HttpError

from .world import FAST, dead_url


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

    dead = dead_url("/x.nc")
    with pytest.raises(ConnectionError, match=f"cannot reach {dead}"):
        client.request("GET", dead, what="t")
