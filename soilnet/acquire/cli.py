"""The ``acquire`` sub-command of ``python -m soilnet``.

Wiring (in ``soilnet/cli.py``)::

    from soilnet.acquire.cli import add_acquire_parser

    subparsers = parser.add_subparsers(dest="command", required=True)
    add_acquire_parser(subparsers)          # sets func=run_acquire
    args = parser.parse_args(argv)
    return args.func(args)

``run_acquire`` returns the process exit code: 0 when the run completed (points without a
scene are listed in the manifest and the summary, not treated as a failure).
:class:`soilnet.errors.AcquisitionError` (unreachable endpoint, output folder holding another
dataset) and ``ValueError`` (bad arguments) propagate for the caller to print.
"""

from __future__ import annotations

import argparse
import re

from soilnet.acquire.pipeline import acquire
from soilnet.acquire.signing import SIGNERS
from soilnet.acquire.sources import Sources
from soilnet.acquire.stac import DEM_COLLECTION, LANDSAT_COLLECTION, PLANETARY_COMPUTER_STAC
from soilnet.acquire.terraclimate import DEFAULT_TERRACLIMATE_URL
from soilnet.acquire.transport import RetryPolicy
from soilnet.bands import CLIMATE_VARIABLES


def _variables(text: str) -> list[str]:
    """Parse ``--variables``: comma/space separated names, ``all`` or ``none``."""
    text = text.strip()
    if text.lower() == "all":
        return list(CLIMATE_VARIABLES)
    if text.lower() in ("none", ""):
        return []
    names = [v for v in text.replace(",", " ").split() if v]
    unknown = [v for v in names if v not in CLIMATE_VARIABLES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown variable(s) {', '.join(unknown)}; choose from "
            f"{', '.join(CLIMATE_VARIABLES)}, 'all' or 'none'"
        )
    return names


def _month(text: str) -> str:
    """Parse ``--start`` / ``--end``: ``YYYY-MM``."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"expected a month YYYY-MM (e.g. 2010-01); got {text!r}")
    return text


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value

    return parse


def add_acquire_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``acquire`` sub-command to an ``argparse`` sub-parser collection.

    Args:
        subparsers: the object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The new sub-parser (its ``func`` default is :func:`run_acquire`).
    """
    p = subparsers.add_parser(
        "acquire",
        help="build a real data folder from a LUCAS table and open archives (no account needed)",
        description=(
            "Write DIR/points.csv, DIR/patches/<Point_ID>_<YYMMDD>.tif, DIR/climate/<variable>.csv "
            "and DIR/manifest.csv for the points of a LUCAS 2015 table: Landsat-8 Collection 2 "
            "Level-2 patches (paper's scene rule, cloud/shadow/snow masked), Copernicus DEM "
            "elevation and slope, and TerraClimate monthly values. Re-running resumes."
        ),
    )
    p.add_argument(
        "--points", required=True, help="LUCAS 2015 topsoil CSV (Point_ID, long, lat, ...)"
    )
    p.add_argument(
        "--out", required=True, help="data folder to write (new, or an earlier run to resume)"
    )
    p.add_argument(
        "--start",
        type=_month,
        default="2010-01",
        help="first climate month YYYY-MM (default 2010-01)",
    )
    p.add_argument(
        "--end", type=_month, default="2015-01", help="last climate month YYYY-MM (default 2015-01)"
    )
    p.add_argument(
        "--variables",
        type=_variables,
        default=list(CLIMATE_VARIABLES),
        help="TerraClimate variables, comma separated, 'all' (default, 14) or 'none'",
    )
    p.add_argument(
        "--workers", type=_count(1), default=8, help="points processed at once (default 8)"
    )
    p.add_argument(
        "--stac-url",
        default=PLANETARY_COMPUTER_STAC,
        help=f"STAC API root (default {PLANETARY_COMPUTER_STAC})",
    )
    p.add_argument(
        "--signer",
        choices=SIGNERS,
        default="auto",
        help="asset URL signing: auto (Planetary Computer tokens on its API, none elsewhere), "
        "none, or planetary-computer",
    )
    p.add_argument(
        "--sas-url",
        default=None,
        help="Planetary Computer SAS token endpoint (default: $PC_SDK_SAS_URL, else the "
        "public one)",
    )
    p.add_argument(
        "--terraclimate-url",
        default=DEFAULT_TERRACLIMATE_URL,
        help="TerraClimate source template with {var} (and optionally {year}): OPeNDAP URL, "
        "http(s) NetCDF URL or local path",
    )
    p.add_argument("--landsat-collection", default=LANDSAT_COLLECTION, help=argparse.SUPPRESS)
    p.add_argument("--dem-collection", default=DEM_COLLECTION, help=argparse.SUPPRESS)
    p.add_argument(
        "--crs",
        choices=("EPSG:3857", "utm"),
        default="EPSG:3857",
        help="patch grid: EPSG:3857 at 30 Web-Mercator m as the original exports (default), "
        "or the scene's UTM grid",
    )
    p.add_argument(
        "--limit", type=_count(1), default=None, help="only the first N points (trial run)"
    )
    p.add_argument(
        "--year", type=int, default=2015, help="year of the Landsat-8 scenes (default 2015)"
    )
    p.add_argument(
        "--retries", type=_count(0), default=4, help="HTTP retries per request (default 4)"
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="also retry points recorded as no_scene / no_coverage",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_acquire)
    return p


def run_acquire(args: argparse.Namespace) -> int:
    """Run :func:`soilnet.acquire.acquire` from parsed arguments and print the summary.

    Returns:
        0 when the run completed (see the module docstring).
    """
    sources = Sources(
        stac_url=args.stac_url,
        terraclimate_url=args.terraclimate_url,
        signer=args.signer,
        sas_url=args.sas_url,
        landsat_collection=args.landsat_collection,
        dem_collection=args.dem_collection,
    )
    summary = acquire(
        args.points,
        args.out,
        start=args.start,
        end=args.end,
        variables=args.variables,
        workers=args.workers,
        sources=sources,
        crs=args.crs,
        limit=args.limit,
        year=args.year,
        retry=RetryPolicy(retries=args.retries),
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
    )
    print(summary)
    return 0
