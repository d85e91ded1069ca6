"""Real-data acquisition without an account: Landsat-8 patches, topography and TerraClimate.

``python -m soilnet acquire --points LUCAS_2015.csv --out DIR`` (or :func:`acquire`) writes
``DIR/points.csv``, ``DIR/patches/<Point_ID>_<YYMMDD>.tif``, ``DIR/climate/<variable>.csv`` and
``DIR/manifest.csv`` from open archives:

- Landsat-8 Collection 2 Level-2 surface reflectance and QA_PIXEL, and the Copernicus DEM
  GLO-30, from a STAC API (default: Microsoft Planetary Computer, anonymous signed URLs);
- TerraClimate monthly values from its public archive (default: the OPeNDAP server of the
  University of Idaho).

Modules: :mod:`~soilnet.acquire.transport` (requests sessions with urllib3 retries, the retry
policy), :mod:`~soilnet.acquire.signing` (Planetary Computer signing),
:mod:`~soilnet.acquire.stac` (catalog search over pystac-client, asset hrefs),
:mod:`~soilnet.acquire.rasters` (target grids, COG window reads),
:mod:`~soilnet.acquire.scenes` (QA decoding and the paper's scene choice),
:mod:`~soilnet.acquire.terraclimate` (lazy point extraction), :mod:`~soilnet.acquire.sources`
(where the data come from, checked before any point), :mod:`~soilnet.acquire.point` (one
point's patch: window, scene, DEM and slope), :mod:`~soilnet.acquire.manifest` (the manifest),
:mod:`~soilnet.acquire.outdir` (output-folder checks), :mod:`~soilnet.acquire.pipeline` (the
resumable parallel run) and :mod:`~soilnet.acquire.cli` (the command line). Slope comes from
:mod:`soilnet.terrain`, shared with the synthetic twin.
"""

from soilnet.acquire.manifest import MANIFEST_COLUMNS, STATUSES, read_manifest
from soilnet.acquire.pipeline import AcquisitionSummary, acquire
from soilnet.acquire.scenes import QA_RULE, SceneLimits, decode_qa
from soilnet.acquire.sources import Sources
from soilnet.acquire.terraclimate import DEFAULT_TERRACLIMATE_URL, extract_points, month_labels
from soilnet.acquire.transport import RetryPolicy

__all__ = [
    "DEFAULT_TERRACLIMATE_URL",
    "MANIFEST_COLUMNS",
    "QA_RULE",
    "STATUSES",
    "AcquisitionSummary",
    "RetryPolicy",
    "SceneLimits",
    "Sources",
    "acquire",
    "decode_qa",
    "extract_points",
    "month_labels",
    "read_manifest",
]
