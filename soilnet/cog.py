"""Cloud-Optimized GeoTIFFs of the map grid, written tile by tile.

:func:`write_cog` takes values for grid cells in any number of tiles, so the caller never holds
more than one tile: values go into an uncompressed tiled scratch GeoTIFF by windows, which GDAL
then copies into the final COG (deflate, float predictor, average overviews). The COG appears
under its final name only when complete (:func:`soilnet.io.atomic.atomic_path`).

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from soilnet.grid import grid_cells, grid_geometry
    >>> g = grid_geometry(200_000)
    >>> rows, cols = g.rowcol(*grid_cells(200_000))
    >>> out = f"{tempfile.mkdtemp()}/ones.tif"
    >>> values = write_cog(g, out, [(rows, cols, np.ones(len(rows)))], {"source": "doc"})
    >>> values.shape
    (110,)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from soilnet.grid import GridGeometry
from soilnet.io.atomic import atomic_path

__all__ = ["MAP_BAND_DESCRIPTION", "MAP_UNITS", "cog_layout", "write_cog"]

#: Band description and unit written into every map unless the caller names others.
MAP_BAND_DESCRIPTION = "soc_g_per_kg"
MAP_UNITS = "g/kg"


def cog_layout(shape: tuple[int, int]) -> tuple[int, int]:
    """(block size, overview levels) of the COG: 128-512 px blocks, halving down to ~128 px.

    Every map gets at least one overview level, so even a coarse CPU map is a complete COG.

    Args:
        shape: (rows, columns) of the raster.

    Returns:
        (block size in pixels, number of overview levels).
    """
    side = max(shape)
    blocksize = 512 if side > 1024 else 256 if side > 256 else 128
    levels = max(1, math.ceil(math.log2(max(side, 1) / 128)))
    return blocksize, levels


class _GridRaster:
    """A float32 scratch GeoTIFF filled by windows, then copied into a COG."""

    def __init__(
        self,
        geometry: GridGeometry,
        scratch: Path,
        tags: dict[str, str],
        description: str,
        units: str,
    ):
        import rasterio

        self.geometry = geometry
        self.scratch = scratch
        self.ds = rasterio.open(
            scratch,
            "w+",
            driver="GTiff",
            width=geometry.width,
            height=geometry.height,
            count=1,
            dtype="float32",
            crs=geometry.crs,
            transform=geometry.transform,
            nodata=np.nan,
            tiled=True,
            blockxsize=256,
            blockysize=256,
            BIGTIFF="IF_SAFER",
        )
        self.ds.set_band_description(1, description)
        self.ds.update_tags(**tags)
        self.ds.update_tags(1, units=units)
        self._fill_nan()

    def _fill_nan(self) -> None:
        from rasterio.windows import Window

        g = self.geometry
        step = max(1, (1 << 22) // max(g.width, 1))  # about 16 MB of rows at a time
        for r0 in range(0, g.height, step):
            h = min(step, g.height - r0)
            self.ds.write(
                np.full((h, g.width), np.nan, np.float32), 1, window=Window(0, r0, g.width, h)
            )

    def put(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        """Write values into cells (read-modify-write of their bounding window)."""
        from rasterio.windows import Window

        if len(rows) == 0:
            return
        r0, r1 = int(rows.min()), int(rows.max()) + 1
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        window = Window(c0, r0, c1 - c0, r1 - r0)
        block = self.ds.read(1, window=window)
        block[rows - r0, cols - c0] = values
        self.ds.write(block, 1, window=window)

    def finish(self, out_path: Path) -> None:
        """Close the scratch file and copy it into a COG at ``out_path``."""
        from rasterio.shutil import copy

        self.ds.close()
        out_path.unlink(missing_ok=True)
        blocksize, levels = cog_layout(self.geometry.shape)
        copy(
            self.scratch,
            out_path,
            driver="COG",
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            BLOCKSIZE=blocksize,
            OVERVIEWS="AUTO",
            OVERVIEW_COUNT=levels,
            OVERVIEW_RESAMPLING="AVERAGE",
            BIGTIFF="IF_SAFER",
        )

    def close(self) -> None:
        if not self.ds.closed:
            self.ds.close()


def write_cog(
    geometry: GridGeometry,
    out_path: str | Path,
    tiles: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    tags: dict[str, str],
    *,
    description: str = MAP_BAND_DESCRIPTION,
    units: str = MAP_UNITS,
) -> np.ndarray:
    """Write values for grid cells, tile by tile, into a one-band float32 COG.

    Cells that no tile names stay NaN (the nodata value). A cell named twice keeps the last
    value. Nothing appears at ``out_path`` unless every tile was written.

    Args:
        geometry: the grid (:func:`soilnet.grid.grid_geometry`); gives size, CRS and transform.
        out_path: the COG to write; replaced atomically when it exists.
        tiles: (rows, cols, values) per tile: int (K,) row and column indices inside
            ``geometry`` and (K,) values, cast to float32. Consumed once, lazily.
        tags: dataset tags (e.g. ``source``, ``resolution_m``).
        description: band description.
        units: the band's ``units`` tag.

    Returns:
        float32 (sum of K,): every value written, in tile order.
    """
    out_path = Path(out_path)
    written = []
    with atomic_path(out_path, suffix=".tif") as tmp:
        scratch = tmp.with_name(tmp.name + ".scratch.tif")
        raster = _GridRaster(geometry, scratch, tags, description, units)
        try:
            for rows, cols, values in tiles:
                values = np.asarray(values, np.float32)
                raster.put(rows, cols, values)
                written.append(values)
            raster.finish(tmp)
        finally:
            raster.close()
            scratch.unlink(missing_ok=True)
    return np.concatenate(written) if written else np.zeros(0, np.float32)
