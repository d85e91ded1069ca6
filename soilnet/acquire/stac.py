"""STAC search, Planetary Computer signing, HTTP retries and COG window reads.

Everything that talks to the network for imagery lives here, mostly as configuration of
well-kept libraries:

- HTTP: ``requests`` sessions with urllib3's ``Retry`` mounted through ``HTTPAdapter``
  (exponential backoff, ``Retry-After``, :data:`RETRY_STATUS`), a timeout and a count of the
  bytes received (:func:`http_session`, :class:`HttpClient`).
- STAC: :class:`StacCatalog` runs ``pystac_client.Client`` on such a session (search with
  paging through ``next`` links, POST or GET).
- Signing: the Microsoft Planetary Computer hands out anonymous, short-lived SAS tokens;
  :class:`PlanetaryComputerSigner` applies ``planetary_computer.sign_inplace`` to search results
  as pystac-client's ``modifier``. :func:`sas_endpoint` points the package's token requests at
  another endpoint (its ``sas_url`` setting, ``PC_SDK_SAS_URL``).
- Reads: :func:`read_to_grid` resamples one band of a (remote) COG onto a target :class:`Grid`
  with rasterio's ``WarpedVRT``; GDAL's ``/vsicurl/`` fetches only the internal tiles the window
  touches, by HTTP range requests. :func:`read_mosaic` does the same for DEM tiles on their
  native grid.

Defaults need no account: the Planetary Computer STAC API and its ``landsat-c2-l2`` and
``cop-dem-glo-30`` collections.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np
import requests
from rasterio.transform import Affine
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from soilnet.errors import AcquisitionError, EndpointUnreachableError, HttpError

#: Microsoft Planetary Computer STAC API (anonymous access).
PLANETARY_COMPUTER_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"
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
#: Signer names accepted by :class:`Sources <soilnet.acquire.pipeline.Sources>`.
SIGNERS = ("auto", "none", "planetary-computer")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient HTTP failure.

    The same policy drives urllib3 (STAC, tokens, TerraClimate files) and GDAL (COG reads).

    Attributes:
        retries: extra attempts after the first (so ``retries + 1`` in all).
        backoff_s: urllib3's backoff factor: retry ``n`` (1-based) waits
            ``backoff_s * 2**(n - 1)`` s plus up to 25 % jitter, except that urllib3 retries
            once at once (no wait before the first retry); GDAL waits ``backoff_s`` and then
            doubles.
        max_backoff_s: upper bound of one wait, in seconds; also caps a server's
            ``Retry-After`` (urllib3 >= 2.6).
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

    def urllib3_retry(self) -> Retry:
        """The policy as urllib3's ``Retry`` (for ``HTTPAdapter(max_retries=...)``)."""
        extra = {}
        if "retry_after_max" in inspect.signature(Retry.__init__).parameters:  # urllib3 >= 2.6
            extra["retry_after_max"] = max(1, int(math.ceil(self.max_backoff_s)))
        return Retry(
            total=self.retries,
            backoff_factor=self.backoff_s,
            backoff_max=self.max_backoff_s,
            backoff_jitter=self.backoff_s / 4,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,  # a STAC search POST is a read: retry it like a GET
            raise_on_status=False,  # hand back the last answer so its status can be reported
            respect_retry_after_header=True,
            **extra,
        )

    def gdal_options(self) -> dict[str, str]:
        """The same policy as GDAL configuration options for ``/vsicurl/`` reads."""
        return {
            "GDAL_HTTP_MAX_RETRY": str(self.retries),
            "GDAL_HTTP_RETRY_DELAY": f"{self.backoff_s:g}",
            "GDAL_HTTP_TIMEOUT": str(max(1, int(math.ceil(self.timeout_s)))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, int(math.ceil(min(self.timeout_s, 30.0))))),
        }


class _ByteCounter:
    """A thread-safe running total, fed by a ``requests`` response hook."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, *args, **kwargs) -> None:
        n = len(response.content)
        with self._lock:
            self.total += n


def http_session(
    policy: RetryPolicy,
    counter: _ByteCounter | None = None,
    *,
    pool_size: int = 10,
    session: requests.Session | None = None,
    user_agent: str = "soilnet-acquire",
) -> requests.Session:
    """A ``requests`` session retrying by ``policy`` (urllib3 ``Retry`` on an ``HTTPAdapter``).

    Args:
        policy: the retry policy (the timeout is passed per request by the caller).
        counter: receives every final response, to count the bytes received.
        pool_size: connections kept per host; at least the number of threads sharing it, or
            urllib3 discards the surplus connections.
        session: configure this session instead of a new one.
        user_agent: the ``User-Agent`` header sent.
    """
    session = session or requests.Session()
    adapter = HTTPAdapter(max_retries=policy.urllib3_retry(), pool_maxsize=max(10, pool_size))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    if counter is not None:
        session.hooks["response"].append(counter)
    return session


class HttpClient:
    """Plain HTTP requests (TerraClimate files) on a retrying :func:`http_session`.

    Args:
        policy: the retry policy.
    """

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self._counter = _ByteCounter()
        self.session = http_session(self.policy, self._counter)

    @property
    def bytes_received(self) -> int:
        """Response body bytes received so far (final answers; retried ones are not counted)."""
        return self._counter.total

    def request(self, method: str, url: str, *, what: str, **kwargs) -> requests.Response:
        """Send a request; urllib3 retries transient failures with backoff.

        Args:
            method: ``"GET"``, ``"POST"``, ...
            url: the URL.
            what: a few words naming the purpose, used in error messages.
            **kwargs: passed to :meth:`requests.Session.request` (``headers=``, ...).

        Returns:
            The response, with a status below 400.

        Raises:
            HttpError: a non-retryable status (e.g. 404), or a retryable one on every attempt.
            EndpointUnreachableError: no connection could be made on any attempt.
        """
        attempts = self.policy.retries + 1
        try:
            response = self.session.request(method, url, timeout=self.policy.timeout_s, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            detail = describe(err)
            raise EndpointUnreachableError(
                f"{what}: cannot reach {url} ({detail}) after {attempts} attempt(s). Check the "
                "internet connection, any proxy (HTTPS_PROXY / HTTP_PROXY) and that the URL is "
                "right.",
                url,
                None,
                detail,
            ) from err
        status = response.status_code
        if status < 400:
            return response
        if status in RETRY_STATUS:
            raise HttpError(
                f"{what}: {method} {url} answered HTTP {status} on all {attempts} attempt(s); "
                "the service may be down or rate-limiting. Re-run later: finished points are kept.",
                url,
                status,
            )
        raise HttpError(
            f"{what}: {method} {url} answered HTTP {status} ({_snippet(response.text)}). Check "
            "the URL and the service's documentation.",
            url,
            status,
        )


def describe(exc: BaseException | None) -> str:
    """The innermost reason of a requests/urllib3 error, on one line."""
    reason = exc
    for _ in range(4):  # requests.ConnectionError -> urllib3 MaxRetryError -> the cause
        inner = getattr(reason, "reason", None) or (
            reason.args[0] if getattr(reason, "args", None) else None
        )
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return " ".join(f"{type(reason).__name__}: {reason}".split())


def _snippet(text: str, n: int = 160) -> str:
    return " ".join(text[:n].split()) or "no body"


# --------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------


@contextmanager
def sas_endpoint(url: str | None) -> Iterator[None]:
    """Send ``planetary_computer``'s token requests to ``url`` while the block runs.

    The package reads its endpoint once per process (``PC_SDK_SAS_URL``, else the public
    Planetary Computer endpoint) into a cached ``Settings`` object and asks
    ``{sas_url}/{storage account}/{container}``; ``None`` leaves that setting alone.
    """
    if url is None:
        yield
        return
    from planetary_computer.settings import Settings

    settings = Settings.get()
    before = settings.sas_url
    settings.sas_url = url.rstrip("/")
    try:
        yield
    finally:
        settings.sas_url = before


class PlanetaryComputerSigner:
    """pystac-client ``modifier`` signing search results with ``planetary_computer``.

    Only Azure Blob Storage hrefs are signed (``planetary_computer.sign_url``'s rule); others
    pass unchanged. Collections are left alone: their assets (thumbnails, GeoParquet) are
    never read here, and signing them would fetch tokens for other containers.

    Tokens are fetched under ``policy`` before ``sign_inplace`` runs, which then finds them in
    the package's cache: ``sign_inplace`` itself fetches a missing token with
    ``get_token``'s defaults (10 retries, backoff factor 0.8, no timeout). Against a refused
    127.0.0.1 port that call was still retrying after 90 s; with ``RetryPolicy(retries=2,
    backoff_s=0.01)`` it failed after 0.03 s.

    Args:
        policy: retries for token requests.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, obj) -> None:
        import planetary_computer

        if not isinstance(obj, dict):  # a pystac Collection from Client.get_collection
            return
        features = obj.get("features") if obj.get("type") == "FeatureCollection" else [obj]
        for account, container in {
            loc
            for feature in features or ()
            for asset in feature.get("assets", {}).values()
            if (loc := _blob_location(asset.get("href", ""))) is not None
        }:
            self.token(account, container)
        planetary_computer.sign_inplace(obj)

    def token(self, account: str, container: str) -> str:
        """The SAS token of a storage container (cached by ``planetary_computer``).

        Raises:
            AcquisitionError: the token endpoint failed; names its URL and what to do.
        """
        from planetary_computer.sas import get_token
        from planetary_computer.settings import Settings

        try:
            return get_token(
                account,
                container,
                retry_total=self.policy.retries,
                retry_backoff_factor=self.policy.backoff_s,
            ).token
        except (requests.RequestException, ValueError) as err:
            url = f"{Settings.get().sas_url}/{account}/{container}"
            raise AcquisitionError(
                f"Cannot get a SAS token from {url} ({describe(err)}). Check the internet "
                "connection and proxy, the token endpoint (--sas-url, PC_SDK_SAS_URL), or pass "
                "--signer none if the STAC API's assets are public."
            ) from err


def _blob_location(href: str) -> tuple[str, str] | None:
    """(storage account, container) of an Azure Blob Storage URL that needs a token."""
    from planetary_computer.sas import BLOB_STORAGE_DOMAIN
    from planetary_computer.utils import parse_blob_url

    parsed = urlparse(href)
    # sign_url leaves this public account unsigned, so no token is needed for it
    if not parsed.netloc.endswith(BLOB_STORAGE_DOMAIN) or parsed.netloc.startswith(
        "ai4edatasetspublicassets."
    ):
        return None
    return parse_blob_url(parsed)


def make_modifier(
    signer: str | Callable[[object], None], stac_url: str, policy: RetryPolicy
) -> Callable[[object], None] | None:
    """The pystac-client ``modifier`` named by ``signer``.

    Args:
        signer: ``"auto"`` (Planetary Computer tokens when ``stac_url`` is on
            ``planetarycomputer.microsoft.com``, else none), ``"none"``,
            ``"planetary-computer"``, or a ready modifier (called with each search page as a
            dict; it edits asset hrefs in place).
        stac_url: the STAC API root.
        policy: retries for token requests.
    """
    if callable(signer):
        return signer
    if signer == "auto":
        host = urlparse(stac_url).hostname or ""
        signer = (
            "planetary-computer" if host.endswith("planetarycomputer.microsoft.com") else "none"
        )
    if signer == "none":
        return None
    if signer == "planetary-computer":
        return PlanetaryComputerSigner(policy)
    raise ValueError(f"Unknown signer {signer!r}; use one of {', '.join(SIGNERS)}.")


# --------------------------------------------------------------------------------------------
# STAC
# --------------------------------------------------------------------------------------------


class StacCatalog:
    """A STAC API opened with ``pystac_client.Client`` on a retrying, byte-counting session.

    Args:
        url: the API root (``.../api/stac/v1``).
        policy: retries and timeout of every request.
        modifier: applied by pystac-client to every search page (e.g. signing).
        method: ``"POST"``, ``"GET"`` or ``"auto"`` (POST where the API advertises it; the STAC
            API spec requires only GET).
        pool_size: threads that will search at the same time.
        page_size: items asked per page.

    Raises:
        AcquisitionError: the API cannot be reached or does not answer as a STAC API.
    """

    def __init__(
        self,
        url: str,
        policy: RetryPolicy,
        *,
        modifier: Callable[[object], None] | None = None,
        method: str = "auto",
        pool_size: int = 10,
        page_size: int = 100,
    ) -> None:
        from pystac_client import Client
        from pystac_client.exceptions import APIError
        from pystac_client.stac_api_io import StacApiIO

        if method not in ("auto", "POST", "GET"):
            raise ValueError(f"method must be 'auto', 'POST' or 'GET'; got {method!r}.")
        self.url = url.rstrip("/")
        self.page_size = page_size
        self._counter = _ByteCounter()
        io = StacApiIO(max_retries=None)  # retries come from the adapter mounted next
        http_session(policy, self._counter, pool_size=pool_size, session=io.session)
        try:
            self.client = Client.open(
                self.url, stac_io=io, modifier=modifier, timeout=policy.timeout_s
            )
        except APIError as err:
            raise self._error(err, self.url, "open") from err
        except Exception as err:  # pystac's parser: an answer that is not a STAC catalog
            raise AcquisitionError(
                f"{self.url} did not answer as a STAC API ({type(err).__name__}: {err}). Pass "
                f"--stac-url with a STAC API root (default {PLANETARY_COMPUTER_STAC})."
            ) from err
        if method == "auto":
            advertised = {
                str(link.extra_fields.get("method", "GET")).upper()
                for link in self.client.get_links("search")
            }
            method = "POST" if "POST" in advertised else "GET"
        self.method = method

    @property
    def bytes_received(self) -> int:
        """Bytes of STAC answers received so far, all threads together."""
        return self._counter.total

    def _error(self, err, url: str, what: str) -> AcquisitionError:
        status = getattr(err, "status_code", None)
        if status is None:
            return AcquisitionError(
                f"Cannot reach the STAC API at {self.url} ({what} {url}: "
                f"{describe(err.__context__ or err)}). Check the internet connection and proxy "
                "settings, or pass --stac-url with a reachable STAC API."
            )
        todo = (
            "The service may be down or rate-limiting; re-run later, finished points are kept."
            if status in RETRY_STATUS
            else "Check --stac-url and that the API serves the Planetary Computer's collections."
        )
        return AcquisitionError(
            f"The STAC API at {self.url} answered HTTP {status} to {what} {url} "
            f"({_snippet(str(err))}). {todo}"
        )

    def collection(self, collection_id: str) -> dict:
        """The collection's JSON, checking that the API serves it.

        Raises:
            AcquisitionError: the API has no such collection, or failed to answer.
        """
        from pystac_client.exceptions import APIError

        try:
            found = self.client.get_collection(collection_id)
        except APIError as err:
            raise self._error(err, f"{self.url}/collections/{collection_id}", "GET") from err
        if found is None:
            raise AcquisitionError(
                f"The STAC API at {self.url} has no collection '{collection_id}'. Pass --stac-url "
                f"with an API serving it (default {PLANETARY_COMPUTER_STAC})."
            )
        return found.to_dict(include_self_link=False, transform_hrefs=False)

    def search(self, *, max_items: int = 5000, **params) -> list[dict]:
        """Run an item search and return every item of every page (as dicts, modifier applied).

        Args:
            max_items: stop after this many items.
            **params: ``pystac_client.Client.search`` arguments (``collections``, ``bbox`` or
                ``intersects``, ``datetime``, ``query``).

        Returns:
            The items (GeoJSON features as dicts), in the server's order.
        """
        from pystac_client.exceptions import APIError

        search = self.client.search(
            method=self.method, limit=self.page_size, max_items=max_items, **params
        )
        try:
            # items_as_dicts pages like items() but skips building pystac objects we'd not use
            return list(search.items_as_dicts())
        except APIError as err:
            raise self._error(err, search.url, f"{self.method} search") from err


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
        "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
        "VSI_CACHE": "TRUE",
        **policy.gdal_options(),
    }


# GDAL's /vsicurl/ remembers a URL whose read failed (HTTP 500, timeout) for the rest of the
# process and fails every later open of it from that memory, without a request (measured on the
# loopback server: 0 requests on the reopen), so a second run in the same process could never
# recover such a point. rasterio cannot clear that cache, and turning the cache off for every
# read (CPL_VSIL_CURL_NON_CACHED=/vsicurl/) doubled the requests per point in
# benchmarks/acquire_loopback.py (65.6 -> 131.4). So only a run that follows a failed remote
# read in this process reads uncached; an uncached open also drops the URL's stale entry.
_failed_read = threading.Event()


def take_failed_reads() -> bool:
    """Whether a remote raster read failed since the last call (the flag is then cleared)."""
    failed = _failed_read.is_set()
    _failed_read.clear()
    return failed


@contextmanager
def raster_reader(policy: RetryPolicy, *, uncached: bool = False) -> Iterator[None]:
    """A ``rasterio.Env`` with :func:`gdal_options` for the calling thread.

    Args:
        policy: retries and timeouts of the reads.
        uncached: keep ``/vsicurl/`` from caching across opens (see :func:`take_failed_reads`).
    """
    import rasterio

    options = gdal_options(policy)
    if uncached:
        options["CPL_VSIL_CURL_NON_CACHED"] = "/vsicurl/"
    with rasterio.Env(**options):
        yield


@contextmanager
def _noting_failure(hrefs: Sequence[str]) -> Iterator[None]:
    try:
        yield
    except Exception:
        if any(vsi_path(h) != h for h in hrefs):
            _failed_read.set()
        raise


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

    with _noting_failure([href]), rasterio.open(vsi_path(href)) as src:
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

    sources: list = []  # closed even when a later tile fails to open
    with _noting_failure(hrefs):
        try:
            sources.extend(rasterio.open(vsi_path(h)) for h in hrefs)
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
