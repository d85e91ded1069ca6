"""Wall-to-wall SOC maps on the map grid, written as Cloud-Optimized GeoTIFFs.

The grid is :mod:`soilnet.grid`'s: the EU-28 land area's bounding box in EPSG:3035 snapped
outward to the resolution, north up, with the land cells of :func:`soilnet.grid.grid_cells`
(the cells :meth:`soilnet.twin.SyntheticWorld.grid` returns). Cells are visited in row-major
order (north to south, west to east) and predicted in tiles of ``tile_cells`` cells, so the
rendered patches in memory never exceed one tile whatever the resolution; each tile goes to
:func:`soilnet.cog.write_cog` as it is predicted.

The inputs come from the one data path, :mod:`soilnet.dataset`: :class:`~soilnet.dataset.WorldGrid`
and :class:`~soilnet.dataset.StoreGrid` read the tiles as sample dicts in physical units (NaN
filled, resampled, unusable cells marked); here they are normalised with the run's
:class:`~soilnet.transforms.Normalization` and predicted by :func:`soilnet.inference.predict`.

Under an initialised ``torch.distributed`` group (``torchrun -m soilnet map``) the predicting
writers split the tiles over the ranks and rank 0 assembles the COG (see
:func:`predict_world_grid`).

Three writers share the grid:

- :func:`predict_world_grid`: render every land cell of a world (the synthetic twin, or any
  ``render(x, y)`` callable), normalise with the run's statistics, predict.
- :func:`predict_store_grid`: predict a consolidated store of grid points (real data without
  OC) and place each prediction in the cell holding its ``x_3035``/``y_3035``.
- :func:`truth_world_grid`: the twin's noise floor E[min(SOC, 87) | c1..c4] on the same grid,
  the true map but for the independent noise, beside the predicted one.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.cog import MAP_UNITS, write_cog
from soilnet.dataset import GridTile, StoreGrid, WorldGrid
from soilnet.errors import ConfigurationError
from soilnet.grid import grid_geometry
from soilnet.inference import predict, resolve_device
from soilnet.shards import Shard

__all__ = [
    "MapResult",
    "predict_store_grid",
    "predict_world_grid",
    "truth_world_grid",
]


# ---------------------------------------------------------------------------------- results
@dataclass
class MapResult:
    """What a map writer returns.

    Attributes:
        path: the COG written.
        n_cells: cells holding a finite value (equals the number of finite pixels).
        n_skipped: land cells left NaN because their inputs could not be used (a warning
            says why); 0 normally.
        shape: (rows, columns) of the raster.
        resolution_m: cell size, metres.
        seconds: wall time of the call.
        cells_per_second: ``(n_cells + n_skipped) / seconds``.
        peak_tile_bytes: bytes of the largest tile's model inputs (rendered image and climate
            plus their normalised tensors); the renderer's own temporaries are not counted.
        tile_cells: cells per tile.
        stats: ``min``, ``median``, ``mean``, ``max`` of the written values, g/kg.
        n_points: for :func:`predict_store_grid`, the store points placed (else None).
    """

    path: Path
    n_cells: int
    n_skipped: int
    shape: tuple[int, int]
    resolution_m: float
    seconds: float
    cells_per_second: float
    peak_tile_bytes: int
    tile_cells: int
    stats: dict[str, float]
    n_points: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the path as a string)."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["shape"] = list(self.shape)
        return out


def _stats(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"min": math.nan, "median": math.nan, "mean": math.nan, "max": math.nan}
    return {
        "min": float(finite.min()),
        "median": float(np.median(finite)),
        "mean": float(finite.mean(dtype=np.float64)),
        "max": float(finite.max()),
    }


# ---------------------------------------------------------------------------------- tiles
def _with_progress(items: Iterable, n_tiles: int, progress: bool, desc: str) -> Iterable:
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=n_tiles, desc=desc, unit="tile")


def _check_positive(**kwargs: int) -> None:
    for name, value in kwargs.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigurationError(f"{name} must be a positive integer; got {value!r}.")


# ---------------------------------------------------------------------------------- inputs
def _check_model_inputs(
    model, normalization, n_image_channels: int | None, n_climate: int | None, source: str
):
    """Check that the normalisation and the data fit the model, before any prediction."""
    spec = model.spec
    if spec.uses_image:
        if len(normalization.image_mean) != model.in_channels:
            raise ConfigurationError(
                f"The normalisation has {len(normalization.image_mean)} image channels but model "
                f"{model.variant!r} expects {model.in_channels}; load both from the same run folder."
            )
        if n_image_channels is not None and n_image_channels != model.in_channels:
            raise ConfigurationError(
                f"{source} gives {n_image_channels} image bands but model {model.variant!r} "
                f"expects {model.in_channels}."
            )
    if spec.uses_climate:
        if len(normalization.climate_mean) != model.n_climate_features:
            raise ConfigurationError(
                f"The normalisation has {len(normalization.climate_mean)} climate variables but "
                f"model {model.variant!r} expects {model.n_climate_features}; load both from the "
                "same run folder."
            )
        if n_climate is not None and n_climate != model.n_climate_features:
            raise ConfigurationError(
                f"{source} gives {n_climate} climate variables but model {model.variant!r} expects "
                f"{model.n_climate_features}; pass climate_variables=[...] in the trained order."
            )


@dataclass
class _TilePredictor:
    """Normalises a grid's tiles with the run's statistics and predicts them (g/kg, NaN where
    the inputs cannot be used), tallying the largest tile's bytes and the skip reasons."""

    model: Any
    normalization: Any
    scale_g_per_kg: float
    batch_size: int
    amp: bool
    peak: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def tiles(
        self,
        grid: WorldGrid | StoreGrid,
        tile_cells: int,
        progress: bool,
        desc: str,
        check: Callable[[GridTile], None] | None = None,
        shard: Shard | None = None,
    ) -> Iterator[tuple[GridTile, np.ndarray]]:
        """(tile, float64 (N,) predictions) over the grid (or a shard's share of its tiles),
        read with the inputs the model uses; ``check`` sees the first tile before it is
        predicted."""
        spec = self.model.spec
        tiles = grid.tiles(
            tile_cells, image=spec.uses_image, climate=spec.uses_climate, shard=shard
        )
        n_tiles = -(-len(grid) // tile_cells)
        if shard is not None:
            n_tiles = len(range(shard.index, n_tiles, shard.count))
        for tile in _with_progress(tiles, n_tiles, progress, desc):
            if check is not None:
                check(tile)
                check = None
            for k, v in tile.reasons.items():
                self.reasons[k] = self.reasons.get(k, 0) + v
            yield tile, self.predict(tile)

    def predict(self, tile: GridTile) -> np.ndarray:
        nbytes = tile.nbytes
        images = climate = None
        if self.model.spec.uses_image:
            images = self.normalization.image(torch.from_numpy(tile.sample["image"]))
            nbytes += images.element_size() * images.nelement()
        if self.model.spec.uses_climate:
            climate = self.normalization.climate(torch.from_numpy(tile.sample["climate"]))
            nbytes += climate.element_size() * climate.nelement()
        self.peak = max(self.peak, nbytes)
        pred = predict(
            self.model,
            images,
            climate,
            np.arange(len(tile.usable)),
            scale_g_per_kg=self.scale_g_per_kg,
            batch_size=self.batch_size,
            amp=self.amp,
        )
        pred = np.asarray(pred, np.float64)
        pred[~tile.usable] = np.nan
        return pred


# ---------------------------------------------------------------------------------- ranks
def _rank_shard() -> Shard | None:
    """This process's share of the tiles under an initialised torch.distributed group (e.g.
    ``torchrun -m soilnet map``); None in a single process."""
    import torch.distributed as dist

    from soilnet.distributed import is_distributed

    if not is_distributed():
        return None
    return Shard(dist.get_rank(), dist.get_world_size())


def _gather_tiles(shard: Shard, mine: list, predictor: _TilePredictor) -> list | None:
    """Every rank's ``(first cell, ...)`` tiles on rank 0, in grid order (None elsewhere), with
    the skip reasons and the largest tile merged into rank 0's ``predictor``.

    The tiles travel as pickled objects over the process group (gloo or NCCL), so ranks need no
    shared file system; a 1 km map is about 4.4 M float64 values in all.
    """
    import torch.distributed as dist

    parts = [None] * shard.count if shard.index == 0 else None
    dist.gather_object((mine, predictor.reasons, predictor.peak), parts, dst=0)
    if shard.index != 0:
        return None
    tiles, reasons, peak = [], {}, 0
    for part_tiles, part_reasons, part_peak in parts:
        tiles += part_tiles
        peak = max(peak, part_peak)
        for k, v in part_reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    predictor.reasons, predictor.peak = reasons, peak
    return sorted(tiles, key=lambda t: t[0])


def _warn_skipped(reasons: dict[str, int], total: int, what: str) -> None:
    n = sum(reasons.values())
    if n:
        detail = ", ".join(f"{v:,} {k}" for k, v in reasons.items())
        warnings.warn(
            f"{n:,} of {total:,} {what} were left NaN in the map because their inputs cannot be "
            f"used ({detail}).",
            UserWarning,
            stacklevel=3,
        )


def _move_model(model, device: str | torch.device):
    dev = resolve_device(str(device)) if isinstance(device, str) else device
    model.to(dev)
    model.eval()
    return dev


# ---------------------------------------------------------------------------------- writers
def predict_world_grid(
    model,
    normalization,
    world,
    resolution_m: float,
    out_path: str | Path,
    *,
    tile_cells: int = 1024,
    batch_size: int = 256,
    scale_g_per_kg: float = PAPER_CLIP_G_PER_KG,
    device: str = "cpu",
    size_px: int | None = None,
    climate_variables: Sequence[str] | None = None,
    amp: bool = False,
    progress: bool = False,
) -> MapResult:
    """Predict SOC for every land cell of a grid and write it as a COG.

    Each tile of ``tile_cells`` cells is read by :class:`soilnet.dataset.WorldGrid`: rendered
    with ``world.render(x, y)``, NaN pixels filled per patch by
    :func:`soilnet.io.patches.fill_nan` (the rule the store uses); the inputs are normalised
    with the run's statistics and predicted by :func:`soilnet.inference.predict`;
    ``model.spec.uses_image`` / ``uses_climate`` decide which inputs are rendered and used.
    The tile size changes memory and speed, not the values:
    with ``batch_size`` dividing ``tile_cells`` the rasters are bit-identical; otherwise the
    batches are composed differently and CPU kernels round differently (about 1e-5 g/kg).

    Args:
        model: a trained :class:`~soilnet.models.SoilNetModel` (e.g. from
            :func:`soilnet.checkpoint.load_model`); moved to ``device`` and put in eval mode.
        normalization: the run's :class:`~soilnet.transforms.Normalization`.
        world: a :class:`~soilnet.twin.SyntheticWorld`; or any object with
            ``render(x, y)`` (and optionally ``grid(resolution_m)``); or a plain
            ``render(x, y)`` callable. ``render`` takes float64 (N,) EPSG:3035 metres and
            returns an object with ``image`` float32 (N, C, S, S) in physical units (NaN
            allowed) and ``climate`` float32 (N, T, F). Without ``grid``, cells come from
            :func:`soilnet.grid.grid_cells`.
        resolution_m: cell size in metres (e.g. 200_000 for a quick CPU map, 1000 for the
            paper's 1 km).
        out_path: the COG to write (float32, EPSG:3035, NaN nodata off land; atomic).
        tile_cells: cells rendered and predicted at once (bounds memory).
        batch_size: samples per forward pass.
        scale_g_per_kg: the target scale the model was trained with (87 in the paper).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        size_px: resample rendered patches to this size when it differs (the store's size).
        climate_variables: rendered variables to keep, in the trained order (default: all, as
            rendered); needs ``world.config.climate_variables``.
        amp: bfloat16 autocast on CUDA.
        progress: show a tqdm bar over tiles.

    Returns:
        a :class:`MapResult`; under an initialised torch.distributed group every rank predicts
        its share of the tiles (tile k on rank ``k % world_size``) and rank 0 writes the COG
        and gets the result, the other ranks None. The values do not depend on the number of
        ranks (the tiles are the same).

    Raises:
        ConfigurationError: bad resolution/tile/batch size, or inputs that do not fit the
            model (channels, climate variables).
        TypeError: ``world`` has no ``render``.
    """
    start = time.perf_counter()
    _check_positive(tile_cells=tile_cells, batch_size=batch_size)
    grid = WorldGrid(world, resolution_m, climate_variables, size_px)
    geometry = grid.geometry
    _check_model_inputs(model, normalization, None, grid.n_climate, "climate_variables")
    _move_model(model, device)
    predictor = _TilePredictor(model, normalization, scale_g_per_kg, batch_size, amp)

    def check(tile: GridTile) -> None:
        image, climate = tile.sample["image"], tile.sample["climate"]
        _check_model_inputs(
            model,
            normalization,
            None if image is None else image.shape[1],
            None if climate is None else climate.shape[-1],
            f"{type(world).__name__}.render",
        )

    shard = _rank_shard()
    predicted = (
        (tile.cells.start, *np.divmod(tile.sample["point_id"], geometry.width), pred)
        for tile, pred in predictor.tiles(grid, tile_cells, progress, "map tiles", check, shard)
    )
    if shard is not None:
        predicted = _gather_tiles(shard, list(predicted), predictor)
        if predicted is None:
            return None  # rank 0 writes the map

    def tiles():
        for _, rows, cols, pred in predicted:
            yield rows, cols, pred

    tags = {
        "source": "soilnet.mapping.predict_world_grid",
        "variant": str(getattr(model, "variant", "")),
        "world": type(world).__name__,
        "resolution_m": f"{geometry.resolution_m:g}",
        "units": MAP_UNITS,
    }
    values = write_cog(geometry, out_path, tiles(), tags)
    _warn_skipped(predictor.reasons, len(grid), "land cells")
    return _result(out_path, values, geometry, start, predictor.peak, tile_cells)


def _result(out_path, values, geometry, start, peak, tile_cells, n_points=None) -> MapResult:
    seconds = time.perf_counter() - start
    n_cells = int(np.isfinite(values).sum())
    return MapResult(
        path=Path(out_path),
        n_cells=n_cells,
        n_skipped=int(len(values) - n_cells),
        shape=geometry.shape,
        resolution_m=geometry.resolution_m,
        seconds=round(seconds, 3),
        cells_per_second=round(len(values) / seconds, 1) if seconds > 0 else math.inf,
        peak_tile_bytes=int(peak),
        tile_cells=int(tile_cells),
        stats=_stats(values),
        n_points=n_points,
    )


def check_grid_points(store, resolution_m: float, source) -> None:
    """Refuse grid points that are not the cell centres of the map grid at ``resolution_m``.

    A grid folder made at another resolution would leave most cells empty or average several
    points per cell; the tolerance is 1 % of a cell (the coordinates are rounded to 1e-7°).

    Raises:
        ConfigurationError: naming the folder, the points and the fix.
    """
    from soilnet.errors import first_ids

    geometry = grid_geometry(resolution_m)
    x = store.index["x_3035"].to_numpy(float)
    y = store.index["y_3035"].to_numpy(float)
    rows, cols = geometry.rowcol(x, y)
    cx, cy = geometry.centres(rows, cols)
    off = np.hypot(x - cx, y - cy) > 0.01 * geometry.resolution_m
    if off.any():
        ids = store.index["Point_ID"].to_numpy()[off]
        raise ConfigurationError(
            f"{off.sum():,} of {len(x):,} points of the grid folder {source} are not centres of "
            f"the {geometry.resolution_m / 1000:g} km map grid (Point_ID {first_ids(ids)}). Make "
            "the grid at the map's resolution (python -m soilnet grid --resolution-km R), or set "
            "map.resolution_km to the grid's (--set map.resolution_km=R in chapter 1)."
        )


def predict_store_grid(
    model,
    normalization,
    store,
    resolution_m: float,
    out_path: str | Path,
    *,
    tile_cells: int = 4096,
    batch_size: int = 256,
    scale_g_per_kg: float = PAPER_CLIP_G_PER_KG,
    device: str = "cpu",
    amp: bool = False,
    progress: bool = False,
) -> MapResult:
    """Predict a consolidated store of grid points and write the predictions as a COG.

    Each point's prediction goes into the grid cell that contains its ``x_3035``/``y_3035``;
    when several points fall into one cell the cell holds their mean. Cells without a point
    stay NaN. Points outside the map raster are left out with a warning that counts them.
    The store's images are already NaN-filled and resampled (see :mod:`soilnet.store`); the
    rows are read by :class:`soilnet.dataset.StoreGrid`.

    Args:
        model: a trained model (moved to ``device``, eval mode).
        normalization: the run's normalisation.
        store: a :class:`~soilnet.store.Store` (OC may be NaN: a prediction set).
        resolution_m: cell size in metres; pick the spacing of the exported points.
        out_path: the COG to write.
        tile_cells: store rows read, normalised and predicted at once (bounds memory).
        batch_size: samples per forward pass.
        scale_g_per_kg: the target scale the model was trained with.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        amp: bfloat16 autocast on CUDA.
        progress: show a tqdm bar over row tiles.

    Returns:
        a :class:`MapResult` with ``n_points`` = points placed and ``n_cells`` = cells filled;
        under torch.distributed, on rank 0 only (None elsewhere), as :func:`predict_world_grid`.

    Raises:
        ConfigurationError: the store lacks inputs the model needs, or they do not fit it.
    """
    start = time.perf_counter()
    _check_positive(tile_cells=tile_cells, batch_size=batch_size)
    geometry = grid_geometry(resolution_m)
    if model.spec.uses_climate and store.climate is None:
        raise ConfigurationError(
            f"Model {model.variant!r} needs climate but the store at {store.path} has none; "
            "consolidate the grid points with the run's climate variables."
        )
    _check_model_inputs(
        model,
        normalization,
        store.images.shape[1],
        store.climate.shape[-1]
        if (model.spec.uses_climate and store.climate is not None)
        else None,
        f"The store at {store.path}",
    )
    _move_model(model, device)
    x = store.index["x_3035"].to_numpy(float)
    y = store.index["y_3035"].to_numpy(float)
    inside = geometry.contains(x, y)
    if not inside.all():
        from soilnet.errors import first_ids

        outside = store.index["Point_ID"].to_numpy()[~inside]
        warnings.warn(
            f"{len(outside):,} of {len(x):,} points of the store at {store.path} lie outside the map "
            f"raster {geometry.bounds} (EPSG:3035) and are left out (Point_ID {first_ids(outside)}).",
            UserWarning,
            stacklevel=2,
        )
    pred = np.full(len(x), np.nan)
    predictor = _TilePredictor(model, normalization, scale_g_per_kg, batch_size, amp)
    grid = StoreGrid(store, np.flatnonzero(inside))
    shard = _rank_shard()
    predicted = (
        (tile.cells.start, tile.cells, values)
        for tile, values in predictor.tiles(grid, tile_cells, progress, "store tiles", None, shard)
    )
    if shard is not None:
        predicted = _gather_tiles(shard, list(predicted), predictor)
        if predicted is None:
            return None  # rank 0 writes the map
    for _, cells, values in predicted:
        pred[grid.rows[cells]] = values
    _warn_skipped(predictor.reasons, len(grid), "store points")

    # Mean per cell over the points that have a prediction, in row-major cell order.
    rows, cols = geometry.rowcol(x[inside], y[inside])
    flat = rows * geometry.width + cols
    values = pred[inside]
    ok = np.isfinite(values)
    cells, inverse = np.unique(flat, return_inverse=True)
    sums = np.bincount(inverse[ok], weights=values[ok], minlength=len(cells))
    counts = np.bincount(inverse[ok], minlength=len(cells))
    with np.errstate(invalid="ignore", divide="ignore"):
        cell_values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    cell_rows, cell_cols = np.divmod(cells, geometry.width)

    def tiles():
        for lo in range(0, len(cells), tile_cells):
            sl = slice(lo, lo + tile_cells)
            yield cell_rows[sl], cell_cols[sl], cell_values[sl]

    tags = {
        "source": "soilnet.mapping.predict_store_grid",
        "variant": str(getattr(model, "variant", "")),
        "store": str(store.path),
        "resolution_m": f"{geometry.resolution_m:g}",
        "units": MAP_UNITS,
    }
    written = write_cog(geometry, out_path, tiles(), tags)
    return _result(
        out_path, written, geometry, start, predictor.peak, tile_cells, n_points=int(ok.sum())
    )


def truth_world_grid(
    world,
    resolution_m: float,
    out_path: str | Path,
    clip: float | None = PAPER_CLIP_G_PER_KG,
    *,
    tile_cells: int = 1024,
    progress: bool = False,
) -> MapResult:
    """Write the twin's noise floor (g/kg) on the map grid, the true map beside a prediction.

    The noise floor is the conditional mean of SOC given all four latent components,
    ``E[min(SOC, clip) | c1, c2, c3, c4]`` (:func:`soilnet.twin.oracle.noise_floor_lognormal`):
    the true SOC but for the independent noise eps, which no model can predict. It knows the
    soil darkness under vegetation and the spatial residual exactly, so it is not what a model
    of the inputs can draw (that is the observable reference of :mod:`soilnet.twin.oracle`,
    lower in contrast); with ``clip=87`` it is ``latent["noise_floor_clipped"]`` of
    :meth:`SyntheticWorld.render`.

    Args:
        world: a :class:`~soilnet.twin.SyntheticWorld`, or a
            :class:`~soilnet.twin.pool.RenderPool` rendering one.
        resolution_m: cell size in metres (use the predicted map's).
        out_path: the COG to write.
        clip: clip value in g/kg, or None for the unclipped conditional mean E[SOC | c1..c4].
        tile_cells: cells rendered at once.
        progress: show a tqdm bar over tiles.

    Returns:
        a :class:`MapResult`.

    Raises:
        TypeError: ``world`` is neither.
        ConfigurationError: ``clip`` is not positive.
    """
    from soilnet.twin import SyntheticWorld, clipped_lognormal_mean
    from soilnet.twin.oracle import noise_floor_lognormal
    from soilnet.twin.pool import RenderPool

    start = time.perf_counter()
    if not isinstance(world, SyntheticWorld | RenderPool):
        raise TypeError(
            f"truth_world_grid needs a SyntheticWorld (the only source with a truth); got {type(world).__name__}."
        )
    if clip is not None and not clip > 0:
        raise ConfigurationError(f"clip must be a positive value in g/kg or None; got {clip!r}.")
    _check_positive(tile_cells=tile_cells)
    grid = WorldGrid(world, resolution_m)
    geometry = grid.geometry
    x, y = np.ascontiguousarray(grid.xy.T)
    rows, cols = np.divmod(grid.point_ids, geometry.width)
    state = {"peak": 0}

    def tiles():
        starts = _with_progress(
            range(0, len(x), tile_cells), -(-len(x) // tile_cells), progress, "truth tiles"
        )
        for lo in starts:
            sl = slice(lo, lo + tile_cells)
            rendered = world.render(x[sl], y[sl], with_climate=False)
            state["peak"] = max(state["peak"], rendered.image.nbytes)
            lat = rendered.latent
            a, b = noise_floor_lognormal(
                world.mu, world.sigma, world.config.shares,
                *(lat[c].to_numpy() for c in ("c1", "c2", "c3", "c4")),
            )  # fmt: skip
            yield rows[sl], cols[sl], clipped_lognormal_mean(a, b, clip=clip)

    tags = {
        "source": "soilnet.mapping.truth_world_grid",
        "quantity": "noise floor SOC, E[min(SOC, clip) | c1, c2, c3, c4]",
        "clip_g_per_kg": "none" if clip is None else f"{clip:g}",
        "twin_seed": str(world.config.seed),
        "resolution_m": f"{geometry.resolution_m:g}",
        "units": MAP_UNITS,
    }
    values = write_cog(geometry, out_path, tiles(), tags)
    return _result(out_path, values, geometry, start, state["peak"], tile_cells)
