"""Where the data come from (:class:`Sources`), opened and checked before any point.

:func:`_open_sources` opens the STAC API, checks that it serves both collections and (when
signing) that a token can be had, so an unreachable endpoint stops the run at once instead of
failing every point; it returns what every point is built with (:class:`_Context`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from soilnet.acquire import terraclimate
from soilnet.acquire.rasters import take_failed_reads
from soilnet.acquire.scenes import SceneLimits
from soilnet.acquire.signing import PlanetaryComputerSigner
from soilnet.acquire.stac import (
    DEM_COLLECTION,
    LANDSAT_COLLECTION,
    PLANETARY_COMPUTER_STAC,
    StacCatalog,
)
from soilnet.acquire.transport import RetryPolicy


@dataclass(frozen=True)
class Sources:
    """Where the data come from (every default needs no account).

    Attributes:
        stac_url: STAC API root serving ``landsat_collection`` and ``dem_collection``.
        terraclimate_url: TerraClimate source template with ``{var}`` (and optionally
            ``{year}``): an OPeNDAP URL, an http(s) NetCDF URL or a local path.
        signer: ``"auto"`` (Planetary Computer tokens on its API, none elsewhere), ``"none"``,
            ``"planetary-computer"``, or a pystac-client modifier (see
            :func:`soilnet.acquire.signing.make_modifier`).
        sas_url: the Planetary Computer SAS token endpoint (``planetary_computer``'s
            ``sas_url`` setting) for this run; None keeps the package's setting
            (``PC_SDK_SAS_URL``, else the public endpoint).
        landsat_collection: Landsat Collection 2 Level-2 collection id.
        dem_collection: DEM collection id (Copernicus GLO-30, 1° tiles in EPSG:4326).
        stac_method: ``"auto"`` (POST where the API advertises it, else GET), ``"POST"`` or
            ``"GET"`` for ``/search``.
    """

    stac_url: str = PLANETARY_COMPUTER_STAC
    terraclimate_url: str = terraclimate.DEFAULT_TERRACLIMATE_URL
    signer: str | Callable[[object], None] = "auto"
    sas_url: str | None = None
    landsat_collection: str = LANDSAT_COLLECTION
    dem_collection: str = DEM_COLLECTION
    stac_method: str = "auto"


@dataclass
class _Context:
    stac: StacCatalog
    sources: Sources
    policy: RetryPolicy
    limits: SceneLimits
    crs: str
    year: int
    patch_dir: Path
    uncached: bool = False  # GDAL must not answer from a failed read of an earlier run


def _open_sources(
    sources: Sources,
    modifier: Callable[[object], None] | None,
    policy: RetryPolicy,
    limits: SceneLimits,
    crs: str,
    year: int,
    patch_dir: Path,
    workers: int,
) -> _Context:
    """Open the STAC API, check its collections and (when signing) a token, before any point.

    Raises:
        AcquisitionError: naming the endpoint that failed and what to check.
    """
    stac = StacCatalog(
        sources.stac_url, policy, modifier=modifier, method=sources.stac_method, pool_size=workers
    )
    collections = [stac.collection(c) for c in (sources.landsat_collection, sources.dem_collection)]
    if isinstance(modifier, PlanetaryComputerSigner):
        # Planetary Computer collections name their storage container: fail here, not per point
        for found in collections:
            account, container = found.get("msft:storage_account"), found.get("msft:container")
            if account and container:
                modifier.token(account, container)
    return _Context(stac, sources, policy, limits, crs, year, patch_dir, take_failed_reads())
