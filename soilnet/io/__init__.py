"""Readers and writers for the on-disk layout shared by real and synthetic data.

See ``data/README.md`` for the layout: ``points.csv``, ``patches/<Point_ID>_<YYMMDD>.tif``
and ``climate/<variable>.csv``.
"""

from soilnet.io.folder import DataFolder, ValidationReport, open_folder
from soilnet.io.patches import Patch, find_patches, read_patch, resample_patch, write_patch
from soilnet.io.tables import ClimateTable, read_climate, read_points, write_climate

__all__ = [
    "ClimateTable",
    "DataFolder",
    "Patch",
    "ValidationReport",
    "find_patches",
    "open_folder",
    "read_climate",
    "read_patch",
    "read_points",
    "resample_patch",
    "write_climate",
    "write_patch",
]
