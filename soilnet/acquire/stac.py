"""STAC search, URL signing and Cloud-Optimized GeoTIFF window reads over HTTP.

Everything that talks to the network for imagery lives here:

- :class:`HttpClient`: ``requests`` with per-thread sessions, retries with exponential backoff
  on transient answers (:data:`RETRY_STATUS`, connection errors, timeouts) and a byte counter.
- :class:`StacClient`: the STAC API ``/search`` protocol (POST, or GET where a server refuses
  POST), following ``next`` links.
- Signers: the Microsoft Planetary Computer hands out anonymous, short-lived SAS tokens per
  collection (:class:`SasTokenSigner`); a generic STAC API needs none (:class:`NoSigner`).
- :func:`read_to_grid`: one band of a (remote) COG resampled onto a target :class:`Grid` with
  rasterio's ``WarpedVRT``; GDAL's ``/vsicurl/`` fetches only the internal tiles the window
  touches, by HTTP range requests. :func:`read_mosaic` does the same for DEM tiles on their
  native grid.

Defaults need no account: the Planetary Computer STAC API and its ``landsat-c2-l2`` and
``cop-dem-glo-30`` collections.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import numpy as np
import requests
from rasterio.transform import Affine

from soilnet.errors import AcquisitionError

#: Microsoft Planetary Computer STAC API (anonymous access).
PLANETARY_COMPUTER_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"
#: Planetary Computer anonymous SAS token endpoint; ``{collection}`` is filled in.
PLANETARY_COMPUTER_SAS = "https://planetarycomputer.microsoft.com/api/sas/v1/token/{collection}"
#: Landsat Collection 2 Level-2 (surface reflectance) collection id.
LANDSAT_COLLECTION = "landsat-c2-l2"
#: Copernicus DEM GLO-30 collection id (1-arcsecond tiles, EGM2008 heights in metres).
DEM_COLLECTION = "cop-dem-glo-30"
#: STAC asset key of each Landsat-8 OLI surface-reflectance band in ``landsat-c2-l2``.
LANDSAT_ASSETS: dict[str, str] = {
    "SR_B1": "coastal",
    "SR_B2": "blue",
    "SR_B3": "green",
    "SR_B4": "red",
    "SR_B5": "nir08",
    "SR_B6": "swir16",
    "SR_B7": "swir22",
}
#: STAC asset key of the Level-2 pixel quality band (``QA_PIXEL``).
QA_ASSET = "qa_pixel"
#: STAC asset key of the elevation raster in ``cop-dem-glo-30``.
DEM_ASSET = "data"
#: HTTP status codes retried with backoff (timeouts, rate limiting, server errors).
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.69437999014e-3


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient HTTP failure.

    Attributes:
        retries: extra attempts after the first (so ``retries + 1`` in all).
        backoff_s: delay before the first retry, in seconds; doubled for each further retry
            (with +-25 % jitter) up to ``max_backoff_s``.
        max_backoff_s: upper bound of one delay, in seconds.
        timeout_s: connect/read timeout of one request, in seconds.
    """

    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError(
                f"RetryPolicy needs retries >= 0, backoff_s >= 0 and timeout_s > 0; got {self!r}."
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        base = min(self.max_backoff_s, self.backoff_s * 2.0**attempt)
        return base * random.uniform(0.75, 1.25)

    def gdal_options(self) -> dict[str, str]:
        """The same policy as GDAL configuration options for ``/vsicurl/`` reads."""
        return {
            "GDAL_HTTP_MAX_RETRY": str(self.retries),
            "GDAL_HTTP_RETRY_DELAY": f"{self.backoff_s:g}",
            "GDAL_HTTP_TIMEOUT": str(max(1, int(math.ceil(self.timeout_s)))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, int(math.ceil(min(self.timeout_s, 30.0))))),
        }


class HttpError(AcquisitionError):
    """Raised when an HTTP request fails for good (a non-retryable status, or retries spent).

    Attributes:
        url: the URL requested.
        status: the last HTTP status, or None when no answer came (connection failure).
    """

    def __init__(self, message: str, url: str, status: int | None, detail: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.detail = detail


class EndpointUnreachableError(HttpError, ConnectionError):
    """Raised when a server cannot be reached at all (DNS, refused connection, timeouts)."""


class HttpClient:
    """``requests`` with retries, backoff, per-thread sessions and a byte counter.

    Args:
        policy: the retry policy.
        user_agent: the ``User-Agent`` header sent.
    """

    def __init__(
        self, policy: RetryPolicy | None = None, user_agent: str = "soilnet-acquire"
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.user_agent = user_agent
        self._local = threading.local()
        self._lock = threading.Lock()
        self._bytes = 0
        self._requests = 0

    @property
    def bytes_received(self) -> int:
        """Response body bytes received so far, all threads together."""
        return self._bytes

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (retries included)."""
        return self._requests

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.user_agent
            self._local.session = session
        return session

    def request(self, method: str, url: str, *, what: str, **kwargs) -> requests.Response:
        """Send a request, retrying transient failures with backoff.

        Args:
            method: ``"GET"``, ``"POST"``, ...
            url: the URL.
            what: a few words naming the purpose, used in error messages
                (e.g. ``"STAC search"``).
            **kwargs: passed to :meth:`requests.Session.request` (``json=``, ``params=``, ...).

        Returns:
            The response, with a status below 400.

        Raises:
            HttpError: a non-retryable status (e.g. 404), or a retryable one on every attempt.
            EndpointUnreachableError: no connection could be made on any attempt.
        """
        attempts = self.policy.retries + 1
        last_exc: Exception | None = None
        last_status: int | None = None
        for attempt in range(attempts):
            try:
                response = self._session().request(
                    method, url, timeout=self.policy.timeout_s, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as err:
                last_exc, last_status = err, None
            else:
                with self._lock:
                    self._bytes += len(response.content)
                    self._requests += 1
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUS:
                    raise HttpError(
                        f"{what}: {method} {url} answered HTTP {response.status_code} "
                        f"({_snippet(response)}). Check the URL and the service's documentation.",
                        url,
                        response.status_code,
                    )
                last_exc, last_status = None, response.status_code
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit() and attempt < attempts - 1:
                    time.sleep(min(float(retry_after), self.policy.max_backoff_s))
                    continue
            if attempt < attempts - 1:
                time.sleep(self.policy.delay(attempt))
        if last_status is None:
            detail = _describe(last_exc)
            raise EndpointUnreachableError(
                f"{what}: cannot reach {url} ({detail}) after {attempts} attempt(s). Check the "
                "internet connection, any proxy (HTTPS_PROXY / HTTP_PROXY) and that the URL is right.",
                url,
                None,
                detail,
            )
        raise HttpError(
            f"{what}: {method} {url} answered HTTP {last_status} on all {attempts} attempt(s); "
            "the service may be down or rate-limiting. Re-run later: finished points are kept.",
            url,
            last_status,
        )

    def get_json(self, url: str, *, what: str, **kwargs) -> dict:
        """GET ``url`` and decode its JSON body (see :meth:`request`)."""
        return _json(self.request("GET", url, what=what, **kwargs), url, what)

    def post_json(self, url: str, body: dict, *, what: str) -> dict:
        """POST ``body`` as JSON and decode the JSON answer (see :meth:`request`)."""
        return _json(self.request("POST", url, what=what, json=body), url, what)


def _describe(exc: Exception | None) -> str:
    """The innermost reason of a requests connection error, on one line."""
    reason = exc
    for _ in range(3):  # requests.ConnectionError -> urllib3 MaxRetryError -> the cause
        inner = getattr(reason, "reason", None) or (
            reason.args[0] if getattr(reason, "args", None) else None
        )
        if not isinstance(inner, Exception):
            break
        reason = inner
    return " ".join(f"{type(reason).__name__}: {reason}".split())


def _snippet(response: requests.Response, n: int = 160) -> str:
    text = " ".join(response.text[:n].split())
    return text or response.reason or "no body"


def _json(response: requests.Response, url: str, what: str) -> dict:
    try:
        return response.json()
    except ValueError as err:
        raise HttpError(
            f"{what}: {url} did not answer JSON ({_snippet(response)}); is this a STAC API URL?",
            url,
            response.status_code,
        ) from err


# --------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------


class Signer(Protocol):
    """Turns an asset ``href`` into a URL that can be read (e.g. by appending a token)."""

    name: str

    def sign(self, href: str, collection: str) -> str:
        """Return the readable URL for ``href`` of an item of ``collection``."""
        ...


class NoSigner:
    """For STAC APIs whose asset URLs are public as they are."""

    name = "none"

    def sign(self, href: str, collection: str) -> str:
        """Return ``href`` unchanged."""
        return href


class SasTokenSigner:
    """Appends a per-collection SAS token, as the Planetary Computer's anonymous access requires.

    The token endpoint answers ``{"token": "st=...&se=...&sig=...", "msft:expiry": ISO time}``;
    tokens are cached per collection and renewed five minutes before they expire.

    Args:
        client: the HTTP client used to fetch tokens.
        token_url: URL template with a ``{collection}`` field (default
            :data:`PLANETARY_COMPUTER_SAS`).
    """

    name = "sas"

    def __init__(self, client: HttpClient, token_url: str = PLANETARY_COMPUTER_SAS) -> None:
        if "{collection}" not in token_url:
            raise ValueError(
                f"The token URL must contain '{{collection}}'; got {token_url!r} "
                f"(e.g. {PLANETARY_COMPUTER_SAS!r})."
            )
        self.client = client
        self.token_url = token_url
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, collection: str) -> str:
        """The current token of ``collection`` (fetched or renewed when needed)."""
        with self._lock:
            cached = self._tokens.get(collection)
            if cached and cached[1] - time.time() > 300:
                return cached[0]
            url = self.token_url.format(collection=collection)
            answer = self.client.get_json(url, what=f"SAS token for {collection}")
            token = answer.get("token")
            if not token:
                raise AcquisitionError(
                    f"The token endpoint {url} answered without a 'token' field "
                    f"({str(answer)[:120]}); pass --signer none for a STAC API whose assets are public."
                )
            expiry = _parse_time(answer.get("msft:expiry")) or time.time() + 1800
            self._tokens[collection] = (token, expiry)
            return token

    def sign(self, href: str, collection: str) -> str:
        """Append the collection's token to an http(s) ``href`` that has no signature yet."""
        if not href.startswith(("http://", "https://")) or "sig=" in href:
            return href
        token = self.token(collection).lstrip("?")
        return f"{href}{'&' if '?' in href else '?'}{token}"


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def make_signer(signer: str | Signer, stac_url: str, client: HttpClient) -> Signer:
    """Build the signer named by ``signer``.

    Args:
        signer: ``"auto"`` (Planetary Computer tokens when ``stac_url`` is on
            ``planetarycomputer.microsoft.com``, else none), ``"none"``,
            ``"planetary-computer"``, a token URL template containing ``{collection}``, or a
            ready :class:`Signer`.
        stac_url: the STAC API root.
        client: HTTP client for token requests.
    """
    if not isinstance(signer, str):
        return signer
    if signer == "auto":
        host = urlparse(stac_url).hostname or ""
        return (
            SasTokenSigner(client)
            if host.endswith("planetarycomputer.microsoft.com")
            else NoSigner()
        )
    if signer == "none":
        return NoSigner()
    if signer == "planetary-computer":
        return SasTokenSigner(client)
    if "{collection}" in signer:
        return SasTokenSigner(client, signer)
    raise ValueError(
        f"Unknown signer {signer!r}; use 'auto', 'none', 'planetary-computer' or a token URL "
        "template containing '{collection}'."
    )


# --------------------------------------------------------------------------------------------
# STAC
# --------------------------------------------------------------------------------------------


class StacClient:
    """A minimal STAC API client: collection checks and ``/search`` with paging.

    Args:
        url: the API root (``.../api/stac/v1``).
        client: the HTTP client.
        method: ``"POST"`` (default; falls back to GET when the server answers 405) or ``"GET"``.
        page_size: items asked per page.
    """

    def __init__(
        self, url: str, client: HttpClient, *, method: str = "POST", page_size: int = 100
    ) -> None:
        if method not in ("POST", "GET"):
            raise ValueError(f"method must be 'POST' or 'GET'; got {method!r}.")
        self.url = url.rstrip("/")
        self.client = client
        self.method = method
        self.page_size = page_size

    def probe(self, collections: Sequence[str]) -> None:
        """Check that the API answers and serves ``collections``.

        Raises:
            AcquisitionError: naming the URL and what to check.
        """
        for collection in collections:
            url = f"{self.url}/collections/{collection}"
            try:
                self.client.get_json(url, what="STAC collection check")
            except EndpointUnreachableError as err:
                raise AcquisitionError(
                    f"Cannot reach the STAC API at {self.url} ({err.detail}). Check the internet "
                    "connection and proxy settings, or pass --stac-url with a reachable STAC API "
                    f"that serves the '{collection}' collection."
                ) from err
            except HttpError as err:
                hint = "it has no such collection" if err.status == 404 else f"HTTP {err.status}"
                raise AcquisitionError(
                    f"The STAC API at {self.url} cannot serve collection '{collection}' ({hint}; "
                    f"{url}). Pass --stac-url with an API serving it (default "
                    f"{PLANETARY_COMPUTER_STAC})."
                ) from err

    def search(self, body: dict, *, max_items: int = 5000) -> list[dict]:
        """Run a STAC item search and return every item of every page.

        Args:
            body: the search parameters as for ``POST /search`` (``collections``,
                ``intersects`` or ``bbox``, ``datetime``, optionally ``query``); ``limit``
                defaults to ``page_size``.
            max_items: stop after this many items.

        Returns:
            The items (GeoJSON features as dicts), in the server's order.
        """
        body = {"limit": self.page_size, **body}
        url = f"{self.url}/search"
        items: list[dict] = []
        page = self._first_page(url, body)
        while True:
            items.extend(page.get("features", []))
            nxt = next((ln for ln in page.get("links", []) if ln.get("rel") == "next"), None)
            if nxt is None or len(items) >= max_items or not page.get("features"):
                return items[:max_items]
            if nxt.get("method", "GET").upper() == "POST":
                next_body = (
                    {**body, **nxt.get("body", {})}
                    if nxt.get("merge", False)
                    else nxt.get("body", body)
                )
                page = self.client.post_json(nxt["href"], next_body, what="STAC search (next page)")
            else:
                page = self.client.get_json(nxt["href"], what="STAC search (next page)")

    def _first_page(self, url: str, body: dict) -> dict:
        if self.method == "POST":
            try:
                return self.client.post_json(url, body, what="STAC search")
            except HttpError as err:
                if err.status != 405:
                    raise
                self.method = "GET"
        return self.client.get_json(url, params=_get_params(body), what="STAC search")


def _get_params(body: dict) -> dict[str, str]:
    """Encode a POST search body as GET query parameters (STAC API item search)."""
    params: dict[str, str] = {}
    for key, value in body.items():
        if key in ("collections", "ids"):
            params[key] = ",".join(value)
        elif key == "bbox":
            params[key] = ",".join(f"{v:.8f}" for v in value)
        elif isinstance(value, dict | list):
            params[key] = json.dumps(value)
        else:
            params[key] = str(value)
    return params


def asset_href(item: dict, key: str) -> str:
    """The ``href`` of asset ``key`` of a STAC item.

    Raises:
        AcquisitionError: the item has no such asset (the message lists those it has).
    """
    try:
        return item["assets"][key]["href"]
    except KeyError:
        have = ", ".join(sorted(item.get("assets", {}))) or "none"
        raise AcquisitionError(
            f"STAC item {item.get('id', '?')} has no asset '{key}' (it has: {have}); the STAC API "
            "must serve the collection with the Planetary Computer's asset keys."
        ) from None


# --------------------------------------------------------------------------------------------
# Target grids and window reads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform and size.

    Attributes:
        crs: e.g. ``"EPSG:3857"`` or a UTM code such as ``"EPSG:32632"``.
        transform: pixel-to-CRS affine transform (north-up).
        width, height: size in pixels.
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return min(left, right), min(bottom, top), max(left, right), max(bottom, top)

    def lonlat_bounds(self, pad_deg: float = 0.0) -> tuple[float, float, float, float]:
        """(west, south, east, north) in EPSG:4326 degrees, widened by ``pad_deg``."""
        from rasterio.warp import transform_bounds

        w, s, e, n = transform_bounds(self.crs, "EPSG:4326", *self.bounds, densify_pts=21)
        return w - pad_deg, s - pad_deg, e + pad_deg, n + pad_deg


def mercator_grid(lon: float, lat: float, half_m: float = 960.0, pixel: float = 30.0) -> Grid:
    """The window of the original exports: EPSG:3857, ``pixel`` Web-Mercator metres.

    The window spans +-``half_m`` ground metres around the point. Web-Mercator stretches
    distances by ``1 / cos(lat)``, so the side is ``ceil(2 * half_m / cos(lat) / pixel)``
    pixels (102 at 51°N, 78 at 35°N), and a pixel covers ``pixel * cos(lat)`` ground metres.
    Pixel edges lie on multiples of ``pixel`` in EPSG:3857.

    Args:
        lon, lat: the point, EPSG:4326 degrees.
        half_m: half the window side in ground metres (960 = the original's 1,920 m box).
        pixel: pixel size in EPSG:3857 units.
    """
    from rasterio.warp import transform as warp_transform

    xs, ys = warp_transform("EPSG:4326", "EPSG:3857", [lon], [lat])
    half = half_m / math.cos(math.radians(lat))
    n = int(math.ceil(2 * half / pixel - 1e-9))
    col0 = round(xs[0] / pixel - n / 2)
    row_top = round(ys[0] / pixel + n / 2)
    return Grid("EPSG:3857", Affine(pixel, 0, col0 * pixel, 0, -pixel, row_top * pixel), n, n)


def scene_grid(
    x: float, y: float, crs: str, scene_transform: Affine, half_m: float = 960.0
) -> Grid:
    """A window on a scene's own grid (UTM, 30 m): ``2 * half_m / 30`` = 64 pixels a side.

    Args:
        x, y: the point in the scene's CRS (metres).
        crs: the scene's CRS.
        scene_transform: the scene's affine transform; the window's pixels coincide with the
            scene's, so no resampling happens.
        half_m: half the window side in metres.
    """
    res_x, res_y = scene_transform.a, -scene_transform.e
    n_x = int(round(2 * half_m / res_x))
    n_y = int(round(2 * half_m / res_y))
    col0 = round((x - scene_transform.c) / res_x - n_x / 2)
    row0 = round((scene_transform.f - y) / res_y - n_y / 2)
    left = scene_transform.c + col0 * res_x
    top = scene_transform.f - row0 * res_y
    return Grid(crs, Affine(res_x, 0, left, 0, -res_y, top), n_x, n_y)


def vsi_path(href: str) -> str:
    """GDAL path of ``href``: ``/vsicurl/`` for http(s) URLs, unchanged otherwise."""
    return f"/vsicurl/{href}" if href.startswith(("http://", "https://")) else href


def gdal_options(policy: RetryPolicy) -> dict[str, str]:
    """GDAL configuration for efficient, retried COG window reads over HTTP.

    ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` stops GDAL from listing the remote "folder" and
    probing side-car files; ``CPL_VSIL_CURL_USE_HEAD=NO`` saves the HEAD request per file.
    """
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF",
        "CPL_VSIL_CURL_USE_HEAD": "NO",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        "VSI_CACHE": "TRUE",
        "CPL_VSIL_NETWORK_STATS_ENABLED": "YES",
        **policy.gdal_options(),
    }


@contextmanager
def raster_reader(policy: RetryPolicy) -> Iterator[None]:
    """A ``rasterio.Env`` with :func:`gdal_options` for the calling thread."""
    import rasterio

    with rasterio.Env(**gdal_options(policy)):
        yield


def read_to_grid(
    href: str,
    grid: Grid | Callable[[object], Grid],
    *,
    resampling: str = "nearest",
    nodata: float = 0,
    band: int = 1,
) -> tuple[np.ndarray, Grid]:
    """Read one band of a (remote) raster onto a target grid.

    Only the internal tiles the window touches are fetched (HTTP range requests through
    ``/vsicurl/``). Pixels outside the source are set to ``nodata``.

    Args:
        href: URL (signed where needed) or local path.
        grid: the target grid, or a function of the opened rasterio dataset that returns it
            (used for the UTM option, whose grid is the scene's own).
        resampling: a :class:`rasterio.enums.Resampling` name (``"nearest"`` for Landsat
            bands and QA, ``"bilinear"`` for elevation).
        nodata: value for pixels without data; also the source's nodata when the file sets none.
        band: 1-based band index.

    Returns:
        (array (height, width) in the source dtype, the grid used).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    with rasterio.open(vsi_path(href)) as src:
        target = grid(src) if callable(grid) else grid
        src_nodata = src.nodata if src.nodata is not None else nodata
        with WarpedVRT(
            src,
            crs=target.crs,
            transform=target.transform,
            width=target.width,
            height=target.height,
            resampling=Resampling[resampling],
            src_nodata=src_nodata,
            nodata=nodata,
        ) as vrt:
            return vrt.read(band), target


def read_mosaic(
    hrefs: Sequence[str], bounds: tuple[float, float, float, float]
) -> tuple[np.ndarray, Affine, str]:
    """Mosaic tiles on their native grid over ``bounds`` (e.g. Copernicus DEM 1° tiles).

    Args:
        hrefs: URLs or paths of tiles sharing a CRS.
        bounds: (west, south, east, north) in EPSG:4326 degrees (transformed when the tiles
            are in a projected CRS).

    Returns:
        (float32 (H, W) with NaN where no tile has data, the mosaic's transform, its CRS).
    """
    import rasterio
    from rasterio.merge import merge
    from rasterio.warp import transform_bounds

    sources = [rasterio.open(vsi_path(h)) for h in hrefs]
    try:
        crs = sources[0].crs.to_string()
        if not sources[0].crs.is_geographic:
            bounds = transform_bounds("EPSG:4326", crs, *bounds, densify_pts=21)
        array, transform = merge(
            sources, bounds=bounds, nodata=np.nan, dtype="float32", use_highest_res=True
        )
    finally:
        for src in sources:
            src.close()
    return array[0].astype(np.float32), transform, crs


def ellipsoid_radii(lat_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 meridional (M) and prime-vertical (N) radii of curvature in metres.

    One degree of latitude spans ``M * pi / 180`` ground metres and one degree of longitude
    ``N * cos(lat) * pi / 180``.
    """
    s2 = np.sin(np.radians(lat_deg)) ** 2
    w = np.sqrt(1.0 - _WGS84_E2 * s2)
    return _WGS84_A * (1.0 - _WGS84_E2) / w**3, _WGS84_A / w


# --------------------------------------------------------------------------------------------
# Bytes downloaded by GDAL
# --------------------------------------------------------------------------------------------


class GdalNetworkStats:
    """Bytes that GDAL's ``/vsicurl/`` downloaded, from its network statistics (GDAL >= 3.2).

    rasterio does not expose ``VSINetworkStatsGetAsSerializedJSON``, so it is called with
    ``ctypes`` on the GDAL library rasterio loaded. Where that library cannot be found the
    count is unavailable (``None``) and acquisition goes on without it.
    """

    _lib = None
    _tried = False
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.lib = self._load()
        if self.lib is not None:
            # GDAL reads the switch once; a reset makes it read it again (and zeroes the counts).
            self.lib.CPLSetConfigOption(b"CPL_VSIL_NETWORK_STATS_ENABLED", b"YES")
            self.lib.VSINetworkStatsReset()

    @classmethod
    def _load(cls):
        with cls._guard:
            if cls._tried:
                return cls._lib
            cls._tried = True
            import rasterio
            from rasterio.env import set_gdal_config

            candidates = glob.glob(
                str(Path(rasterio.__file__).parent.parent / "rasterio.libs" / "libgdal*")
            )
            try:
                with open("/proc/self/maps") as maps:
                    candidates += sorted(
                        {ln.split()[-1] for ln in maps if "libgdal" in ln and "/" in ln}
                    )
            except OSError:
                pass
            found = ctypes.util.find_library("gdal")
            if found:
                candidates.append(found)
            # Other packages (e.g. pyogrio wheels) may load their own GDAL: keep the library in
            # which a value set through rasterio is visible.
            probe = f"SOILNET_PROBE_{os.getpid()}"
            set_gdal_config(probe, "rasterio")
            try:
                for path in dict.fromkeys(candidates):
                    try:
                        lib = ctypes.CDLL(path)
                        lib.CPLGetConfigOption.restype = ctypes.c_char_p
                        lib.CPLGetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
                        if lib.CPLGetConfigOption(probe.encode(), None) != b"rasterio":
                            continue
                        lib.VSINetworkStatsGetAsSerializedJSON.restype = ctypes.c_void_p
                        lib.VSINetworkStatsGetAsSerializedJSON.argtypes = [ctypes.c_void_p]
                        lib.VSIFree.argtypes = [ctypes.c_void_p]
                        lib.CPLSetConfigOption.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
                        lib.VSICurlClearCache.argtypes = []
                        lib.VSINetworkStatsReset.argtypes = []
                    except (OSError, AttributeError):
                        continue
                    cls._lib = lib
                    break
            finally:
                set_gdal_config(probe, None)
            return cls._lib

    def clear_cache(self) -> None:
        """Forget what ``/vsicurl/`` cached (file sizes, blocks, and URLs that failed).

        GDAL remembers a URL that failed for the rest of the process; clearing at the start of
        a run lets a second run in the same process retry it, as a new process would.
        """
        if self.lib is not None:
            self.lib.VSICurlClearCache()

    def downloaded_bytes(self) -> int | None:
        """Bytes downloaded by GDAL in this process so far, or None when unavailable."""
        if self.lib is None:
            return None
        ptr = self.lib.VSINetworkStatsGetAsSerializedJSON(None)
        if not ptr:
            return 0
        try:
            stats = json.loads(ctypes.string_at(ptr).decode("utf-8"))
        finally:
            self.lib.VSIFree(ptr)
        return int(stats.get("methods", {}).get("GET", {}).get("downloaded_bytes", 0))
