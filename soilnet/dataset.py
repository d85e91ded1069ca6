"""The one data path: every consumer reads points as sample dicts with the same keys.

=========  ========================  ==================================================
key        dtype, shape (one point)  meaning
=========  ========================  ==================================================
image      float32 (C, H, W)         bands in ``store.band_names`` order: reflectance 0-1,
                                     indices, elevation m, slope %; z-scored when a
                                     :class:`~soilnet.transforms.Normalization` is given
climate    float32 (T, F)            monthly, oldest first (z-scored likewise); absent
                                     (None) when the store has no climate
target     float32/64 ()             SOC in g/kg after :class:`TargetTransform` (clipped as
                                     trained); NaN for a prediction grid
point_id   int64 ()                  LUCAS Point_ID (or the grid cell's ID)
xy         float64 (2,)              EPSG:3035 easting, northing in metres
=========  ========================  ==================================================

Batches add a leading axis. Three readers share these keys:

- :func:`point_arrays`: numpy arrays of store rows in physical units (baselines, evaluation).
- :func:`load_tensors`: the whole store as normalised tensors in memory (training's fast path:
  a batch is a gather, not 32 file reads); :func:`gather` takes a batch from them.
- :class:`WorldGrid` and :class:`StoreGrid`: the map grids of :mod:`soilnet.mapping`, read in
  tiles (:class:`GridTile`) of a synthetic world rendered cell by cell or of a consolidated
  prediction store, with the same keys in physical units (``target`` NaN; a world cell's
  ``point_id`` is its row-major index in the raster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.errors import ConfigurationError, DataFormatError
from soilnet.grid import GridGeometry, grid_cells, grid_geometry
from soilnet.io.patches import fill_nan, resample_patch
from soilnet.store import Store
from soilnet.transforms import Normalization

SAMPLE_KEYS = ("image", "climate", "target", "point_id", "xy")


@dataclass(frozen=True)
class TargetTransform:
    """The target transform, defined once: clip SOC, then scale it for the network.

    The paper clipped SOC at 87 g/kg and trained on SOC / 87 (RMSE loss on that scale).

    Attributes:
        clip_g_per_kg: clip SOC here (g/kg); None keeps it as observed.
    """

    clip_g_per_kg: float | None = PAPER_CLIP_G_PER_KG

    @property
    def scale_g_per_kg(self) -> float:
        """Divisor of the network's target (the clip value, 87 without clipping)."""
        return self.clip_g_per_kg or PAPER_CLIP_G_PER_KG

    def target_g_per_kg(self, oc_g_per_kg) -> np.ndarray:
        """float64 SOC in g/kg as models are trained and scored on (clipped when set)."""
        oc = np.asarray(oc_g_per_kg, np.float64)
        return np.minimum(oc, self.clip_g_per_kg) if self.clip_g_per_kg else oc

    def to_network(self, oc_g_per_kg) -> np.ndarray:
        """The network's regression target: clipped SOC / scale (dimensionless)."""
        return self.target_g_per_kg(oc_g_per_kg) / self.scale_g_per_kg

    def to_g_per_kg(self, network_output) -> np.ndarray:
        """float64 g/kg from the network's output scale."""
        return np.asarray(network_output, np.float64) * self.scale_g_per_kg

    def to_dict(self) -> dict:
        return {**asdict(self), "scale_g_per_kg": self.scale_g_per_kg}


def point_arrays(
    store: Store, rows: np.ndarray, target: TargetTransform | None = TargetTransform()
) -> dict[str, np.ndarray | None]:
    """Store rows as a batch of sample dicts in physical units (numpy).

    Args:
        store: the consolidated data.
        rows: int (N,) store rows, in the order wanted.
        target: the target transform (None: SOC as observed).

    Returns:
        dict with :data:`SAMPLE_KEYS`; ``image`` float32 (N, C, S, S), ``climate`` float32
        (N, T, F) or None, ``target`` float64 (N,) g/kg, ``point_id`` int64 (N,), ``xy``
        float64 (N, 2).
    """
    rows = np.asarray(rows, np.int64)
    oc = store.index["oc_g_per_kg"].to_numpy(np.float64)[rows]
    image, climate = _read_rows(store, rows)
    return {
        "image": image,
        "climate": climate,
        "target": target.target_g_per_kg(oc) if target is not None else oc,
        "point_id": store.point_ids[rows],
        "xy": store.xy[rows],
    }


def _read_rows(
    store: Store, rows: np.ndarray, image: bool = True, climate: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(image, climate) of int64 store ``rows`` as stored (None where not asked or absent)."""
    # A memory map reads fastest in ascending order; put the rows back in the order asked.
    img = np.asarray(store.images[np.sort(rows)])[np.argsort(np.argsort(rows))] if image else None
    clim = np.asarray(store.climate[rows]) if climate and store.climate is not None else None
    return img, clim


def load_tensors(
    store: Store,
    normalization: Normalization,
    target: TargetTransform = TargetTransform(),
    device: torch.device | str = "cpu",
    image_dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor | None]:
    """The whole store as normalised tensors on ``device`` (training and evaluation).

    Memory: N x C x S x S x 4 bytes in float32 (default twin: 0.3 GB; paper: 21,859 x 14 x 64 x
    64 x 4 = 5 GB), half that with ``image_dtype=torch.float16`` (the GPU training path: z-scores
    keep 11 significant bits, finer than the bfloat16 the network computes in under autocast).

    Returns:
        dict with :data:`SAMPLE_KEYS` over all N store rows: ``image`` ``image_dtype``
        (N, C, S, S) normalised in float32 before the cast, ``climate`` float32 (N, T, F) (or
        None) normalised, ``target`` float32 (N,) on the network's scale
        (:meth:`TargetTransform.to_network`), ``point_id`` int64 (N,), ``xy`` float64 (N, 2).
    """
    images = torch.empty(store.images.shape, dtype=image_dtype, device=device)
    chunk = 2048
    for lo in range(0, len(store), chunk):
        block = torch.from_numpy(np.array(store.images[lo : lo + chunk], dtype=np.float32))
        images[lo : lo + chunk] = normalization.image(block).to(device, image_dtype)
    climate = None
    if store.climate is not None and store.climate.shape[-1]:
        climate = normalization.climate(
            torch.from_numpy(np.array(store.climate, dtype=np.float32))
        ).to(device)
    oc = store.index["oc_g_per_kg"].to_numpy(np.float64)
    return {
        "image": images,
        "climate": climate,
        "target": torch.as_tensor(target.to_network(oc), dtype=torch.float32, device=device),
        "point_id": torch.from_numpy(np.array(store.point_ids)),
        "xy": torch.from_numpy(np.array(store.xy)),
    }


def gather(tensors: dict[str, torch.Tensor | None], rows: torch.Tensor) -> dict:
    """A batch of rows from :func:`load_tensors` (or any dict of (N, ...) tensors)."""
    out = {}
    for key, value in tensors.items():
        out[key] = None if value is None else value[rows.to(value.device)]
    return out


# ---------------------------------------------------------------------------------- grids
#: Why a grid cell's inputs cannot be used (the keys of :attr:`GridTile.reasons`).
SKIP_ALL_NAN_BAND = "patch band all NaN"
SKIP_NON_FINITE_IMAGE = "non-finite image"
SKIP_NON_FINITE_CLIMATE = "non-finite climate"


@dataclass
class GridTile:
    """One tile of a map grid (:class:`WorldGrid`, :class:`StoreGrid`).

    Attributes:
        sample: a batch of sample dicts (numpy, :data:`SAMPLE_KEYS`) in physical units:
            ``image`` float32 (N, C, S, S), NaN pixels filled and resampled (None when not
            asked for); ``climate`` float32 (N, T, F) (None when not asked for or absent);
            ``target`` float64 (N,) all NaN; ``point_id`` int64 (N,); ``xy`` float64 (N, 2).
            An unusable cell's image (or climate) that cannot be used holds zeros, so every
            array is finite.
        usable: bool (N,): False where the cell's inputs cannot be used (leave it NaN).
        reasons: ``{reason: cells}`` for the unusable cells, each counted once under the first
            reason found: :data:`SKIP_ALL_NAN_BAND` (a patch band without a valid pixel, so
            :func:`~soilnet.io.patches.fill_nan` cannot fill it), :data:`SKIP_NON_FINITE_IMAGE`
            (NaN or inf left after filling), :data:`SKIP_NON_FINITE_CLIMATE`.
        cells: the tile's positions in the grid's cell order (``grid.xy[cells]``).
        nbytes: bytes of the image and climate as rendered or read, before resampling.
    """

    sample: dict[str, np.ndarray | None]
    usable: np.ndarray
    reasons: dict[str, int]
    cells: slice
    nbytes: int


def _cell_slices(n: int, tile_cells: int, shard=None) -> Iterator[slice]:
    """The tiles' cell ranges in grid order; with a :class:`~soilnet.shards.Shard`, only its
    share (tile k belongs to shard ``k % count``), so ranks never read another rank's tiles."""
    if not isinstance(tile_cells, (int, np.integer)) or tile_cells < 1:
        raise ConfigurationError(f"tile_cells must be a positive integer; got {tile_cells!r}.")
    for k, lo in enumerate(range(0, n, tile_cells)):
        if shard is None or k % shard.count == shard.index:
            yield slice(lo, min(lo + tile_cells, n))


def _grid_tile(
    image: np.ndarray | None,
    climate: np.ndarray | None,
    point_id: np.ndarray,
    xy: np.ndarray,
    cells: slice,
    *,
    size_px: int | None = None,
    fill: bool = True,
) -> GridTile:
    """Fill NaN per patch, resample, and zero and mark the cells whose inputs cannot be used."""
    n = len(xy)
    usable = np.ones(n, bool)
    reasons: dict[str, int] = {}
    nbytes = 0
    if image is not None:
        img = np.asarray(image, np.float32)
        nbytes += img.nbytes
        out = []
        for k in range(n):
            patch = img[k]
            if fill and np.isnan(patch).any():
                try:
                    patch, _ = fill_nan(
                        patch, f"cell at x={xy[k, 0]:.0f}, y={xy[k, 1]:.0f} (EPSG:3035)"
                    )
                except DataFormatError:
                    usable[k] = False
                    reasons[SKIP_ALL_NAN_BAND] = reasons.get(SKIP_ALL_NAN_BAND, 0) + 1
                    patch = np.zeros_like(patch)
            if size_px is not None and patch.shape[-1] != size_px:
                patch = resample_patch(patch, size_px)
            out.append(patch)
        size = size_px or img.shape[-1]
        image = np.stack(out) if out else np.zeros((0, img.shape[1], size, size), np.float32)
        bad = ~np.isfinite(image).all(axis=(1, 2, 3))
        if bad.any():
            reasons[SKIP_NON_FINITE_IMAGE] = int((bad & usable).sum())
            usable &= ~bad
            image[bad] = 0.0
        image = np.ascontiguousarray(image, np.float32)
    if climate is not None:
        clim = np.asarray(climate, np.float32)
        nbytes += clim.nbytes
        bad = ~np.isfinite(clim).all(axis=(1, 2))
        if bad.any():
            reasons[SKIP_NON_FINITE_CLIMATE] = int((bad & usable).sum())
            usable &= ~bad
            clim = np.where(bad[:, None, None], 0.0, clim).astype(np.float32)
        climate = np.ascontiguousarray(clim)
    sample = {
        "image": image,
        "climate": climate,
        "target": np.full(n, np.nan),
        "point_id": np.asarray(point_id, np.int64),
        "xy": np.asarray(xy, np.float64),
    }
    return GridTile(sample, usable, reasons, cells, nbytes)


class WorldGrid:
    """The land cells of the map grid, rendered by a world tile by tile.

    Cells are those of ``world.grid(resolution_m)``, or :func:`soilnet.grid.grid_cells` (land
    cells, row-major, north first) when the world has no ``grid``; each must fall inside the
    raster of :func:`soilnet.grid.grid_geometry`. A cell's ``point_id`` is its row-major index in
    that raster, ``row * geometry.width + col``.

    Args:
        world: a :class:`~soilnet.twin.SyntheticWorld`; or any object with ``render(x, y)``
            (and optionally ``grid(resolution_m)``); or a plain ``render(x, y)`` callable.
            ``render`` takes float64 (N,) EPSG:3035 metres and returns an object with
            ``image`` float32 (N, C, S, S) in physical units (NaN allowed) and ``climate``
            float32 (N, T, F).
        resolution_m: cell size in metres.
        climate_variables: rendered variables to keep, in this order (default: all, as
            rendered); needs ``world.config.climate_variables``.
        size_px: resample rendered patches to this size when it differs (after NaN filling).

    Raises:
        ConfigurationError: bad resolution, or ``climate_variables`` the world does not render.
        TypeError: ``world`` has no ``render``.
    """

    def __init__(
        self,
        world,
        resolution_m: float,
        climate_variables: Sequence[str] | None = None,
        size_px: int | None = None,
    ):
        self.world = world
        self.resolution_m = resolution_m
        self.geometry = grid_geometry(resolution_m)
        self.size_px = size_px
        self._render, self._accepts_climate_flag = _render_fn(world)
        #: indices of ``climate_variables`` among the rendered variables (None: keep all).
        self.climate_index = _climate_selector(world, climate_variables)
        self._cells: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_climate(self) -> int | None:
        """Climate variables chosen with ``climate_variables`` (None: as rendered)."""
        return None if self.climate_index is None else len(self.climate_index)

    def _xy_cells(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cells is None:  # on first use: at 1 km the land mask takes a while
            self._cells = _world_cells(self.world, self.resolution_m, self.geometry)
        return self._cells

    @property
    def xy(self) -> np.ndarray:
        """float64 (N, 2) EPSG:3035 cell centres, in cell order."""
        return np.column_stack(self._xy_cells())

    @property
    def point_ids(self) -> np.ndarray:
        """int64 (N,) row-major raster index of each cell (``row * geometry.width + col``)."""
        rows, cols = self.geometry.rowcol(*self._xy_cells())
        return rows * self.geometry.width + cols

    def __len__(self) -> int:
        return len(self._xy_cells()[0])

    def tiles(
        self, tile_cells: int, image: bool = True, climate: bool = True, shard=None
    ) -> Iterator[GridTile]:
        """Render the cells ``tile_cells`` at a time, in cell order.

        Args:
            tile_cells: cells per tile (bounds memory: one tile is rendered at a time).
            shard: a :class:`~soilnet.shards.Shard`: render only its share of the tiles.
            image, climate: read these inputs (False leaves the key None and skips its checks;
                ``climate=False`` renders a :class:`~soilnet.twin.SyntheticWorld` without it).

        Yields:
            :class:`GridTile`.
        """
        (x_all, y_all), xy, ids = self._xy_cells(), self.xy, self.point_ids
        for sl in _cell_slices(len(xy), tile_cells, shard):
            x, y = x_all[sl], y_all[sl]
            rendered = (
                self._render(x, y, with_climate=climate)
                if self._accepts_climate_flag
                else self._render(x, y)
            )
            img = getattr(rendered, "image", None) if image else None
            clim = getattr(rendered, "climate", None) if climate else None
            if clim is not None and self.climate_index is not None:
                clim = np.asarray(clim)[..., self.climate_index]
            yield _grid_tile(img, clim, ids[sl], xy[sl], sl, size_px=self.size_px)


class StoreGrid:
    """Rows of a consolidated store (e.g. grid points without OC), read tile by tile.

    The store's images were NaN-filled and resampled at consolidation, so they are read as
    stored; a row with NaN or inf left is marked unusable (:data:`SKIP_NON_FINITE_IMAGE`).
    ``point_id`` is the row's ``Point_ID``, ``xy`` its ``x_3035``/``y_3035``.

    Args:
        store: the consolidated data.
        rows: int (N,) store rows, in the order wanted (default: all).
    """

    def __init__(self, store: Store, rows: np.ndarray | None = None):
        self.store = store
        self.rows = np.arange(len(store)) if rows is None else np.asarray(rows, np.int64)

    @property
    def xy(self) -> np.ndarray:
        """float64 (N, 2) EPSG:3035 easting, northing of the rows."""
        return self.store.xy[self.rows]

    @property
    def point_ids(self) -> np.ndarray:
        """int64 (N,) Point_ID of the rows."""
        return self.store.point_ids[self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def tiles(
        self, tile_cells: int, image: bool = True, climate: bool = True, shard=None
    ) -> Iterator[GridTile]:
        """Read the rows ``tile_cells`` at a time, in the order given.

        Args:
            tile_cells: rows per tile (bounds memory).
            shard: a :class:`~soilnet.shards.Shard`: read only its share of the tiles.
            image, climate: read these inputs (False leaves the key None); ``climate`` is None
                for a store without climate.

        Yields:
            :class:`GridTile`.
        """
        xy, ids = self.xy, self.point_ids
        for sl in _cell_slices(len(self.rows), tile_cells, shard):
            img, clim = _read_rows(self.store, self.rows[sl], image, climate)
            yield _grid_tile(img, clim, ids[sl], xy[sl], sl, fill=False)


def _render_fn(world) -> tuple[Callable[..., Any], bool]:
    """(render callable, whether it accepts ``with_climate=``)."""
    from soilnet.twin import SyntheticWorld
    from soilnet.twin.pool import RenderPool

    if isinstance(world, SyntheticWorld | RenderPool):
        return world.render, True
    if hasattr(world, "render") and callable(world.render):
        return world.render, False
    if callable(world):
        return world, False
    raise TypeError(
        f"world must be a SyntheticWorld, an object with render(x, y), or a render(x, y) callable; "
        f"got {type(world).__name__}."
    )


def _world_cells(
    world, resolution_m: float, geometry: GridGeometry
) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(world, "grid") and callable(world.grid):
        x, y = world.grid(resolution_m)
    else:
        x, y = grid_cells(resolution_m)
    x, y = np.asarray(x, float), np.asarray(y, float)
    inside = geometry.contains(x, y)
    if not inside.all():
        raise ConfigurationError(
            f"{int((~inside).sum()):,} of {len(x):,} grid cells of {type(world).__name__}.grid("
            f"{resolution_m!r}) fall outside the map raster {geometry.bounds}; the world's grid must "
            "be soilnet.grid.grid_cells."
        )
    return x, y


def _climate_selector(world, climate_variables: Sequence[str] | None) -> np.ndarray | None:
    if climate_variables is None:
        return None
    rendered = getattr(getattr(world, "config", None), "climate_variables", None)
    if rendered is None:
        raise ConfigurationError(
            "climate_variables can only be chosen for a world whose config names the rendered "
            "variables (world.config.climate_variables); have the render callable return them in "
            "the trained order instead."
        )
    missing = [v for v in climate_variables if v not in rendered]
    if missing:
        raise ConfigurationError(
            f"climate_variables {missing} are not rendered by the world (it renders {tuple(rendered)})."
        )
    return np.array([list(rendered).index(v) for v in climate_variables])
