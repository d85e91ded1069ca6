"""STAC catalog search over pystac-client, and the collections and asset keys it serves.

:class:`StacCatalog` runs ``pystac_client.Client`` on a retrying, byte-counting session
(:func:`soilnet.acquire.transport.http_session`): search with paging through ``next`` links, POST or
GET. :func:`asset_href` picks an asset's URL from a found item (signed by the search's
modifier where needed, see :mod:`soilnet.acquire.signing`).

Defaults need no account: the Planetary Computer STAC API and its ``landsat-c2-l2`` and
``cop-dem-glo-30`` collections.
"""

from __future__ import annotations

from collections.abc import Callable

from soilnet.acquire.transport import (
    RETRY_STATUS,
    RetryPolicy,
    _ByteCounter,
    _snippet,
    describe,
    http_session,
)
from soilnet.errors import AcquisitionError

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
