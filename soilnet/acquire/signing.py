"""Microsoft Planetary Computer signing of STAC search results.

The Planetary Computer hands out anonymous, short-lived SAS tokens;
:class:`PlanetaryComputerSigner` applies ``planetary_computer.sign_inplace`` to search results
as pystac-client's ``modifier``. :func:`sas_endpoint` points the package's token requests at
another endpoint (its ``sas_url`` setting, ``PC_SDK_SAS_URL``). :func:`make_modifier` turns a
signer name into such a modifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import requests

from soilnet.acquire.transport import RetryPolicy, describe
from soilnet.errors import AcquisitionError

#: Signer names accepted by :class:`Sources <soilnet.acquire.sources.Sources>`.
SIGNERS = ("auto", "none", "planetary-computer")


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
