"""The map's uncertainty layers (chapter 7): how wide the interval is and where the model applies.

Beside the SOC map of :func:`soilnet.experiment.make_map`, for the same grid cells:

- **interval width** (g/kg): the width of the 90 % split-conformal interval of the SoilNet
  hybrid's seed ensemble (random split, :func:`soilnet.intervals.conformal_intervals`),
  calibrated on the validation points only, as in chapter 5, and clipped to the range a target
  can take (0 to the clip), so it narrows where the prediction is near 0 or the clip. The
  spread-scaled variant is not mapped: with two seeds the spread is too noisy a scale, and most
  of its 90 % intervals span the whole range (chapter 5 gives both methods' widths).
- **dissimilarity index** and **area of applicability** (1 inside, 0 outside): the DI of
  each cell's embedding (the vector the first seed's regressor head receives) against the
  training points' embeddings, with the threshold of chapter 5's networks
  (:func:`soilnet.uncertainty.network_embedding`, :func:`soilnet.applicability.train_dissimilarity`).

Each layer is a sibling COG of the SOC map (``interval_width_90.tif``, ``dissimilarity.tif``,
``aoa.tif``) with its band description and unit. A cell holds the value of the last point
placed in it (a grid made by ``python -m soilnet grid`` has one point per cell).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soilnet.applicability import train_dissimilarity
from soilnet.cog import write_cog
from soilnet.experiment import (
    RunKey,
    _run_record,
    hybrid_variant,
    map_world,
    world_grid_inputs,
)
from soilnet.inference import embed_and_predict
from soilnet.intervals import conformal_intervals, level_columns
from soilnet.uncertainty import (
    DI_MAX_PAIRS,
    DI_MAX_TRAIN_POINTS,
    _bounds,
    _ensemble,
    _varying,
    di_folds,
    network_embedding,
    normalized_inputs,
)
from soilnet.workspace import Study

#: Nominal coverage of the interval-width layer.
INTERVAL_LEVEL = 0.9
#: Layer -> (file name, band description, unit).
LAYERS: dict[str, tuple[str, str, str]] = {
    "interval_width": ("interval_width_90.tif", "soc_interval_width_90_g_per_kg", "g/kg"),
    "dissimilarity": ("dissimilarity.tif", "dissimilarity_index", "1"),
    "aoa": ("aoa.tif", "inside_area_of_applicability", "1 inside, 0 outside"),
}


@dataclass(frozen=True)
class MapLayers:
    """The layers written beside a SOC map and what they hold.

    Attributes:
        paths: layer name (:data:`LAYERS`) -> COG path.
        n_cells: cells with a value.
        method: how the interval was made.
        threshold: the DI threshold of the area of applicability.
        share_inside_aoa: share of the cells inside it.
        median_width_g_per_kg: median width of the 90 % interval over the cells.
        seconds: time taken.
    """

    paths: dict[str, Path]
    n_cells: int
    method: str
    threshold: float
    share_inside_aoa: float
    median_width_g_per_kg: float
    seconds: float


def _tile_outputs(members, tile, scale_g_per_kg: float, batch_size: int):
    """(n, seeds) predictions (g/kg) and the first member's embedding of a tile's cells, from
    one forward pass per member."""
    preds, embedding = [], None
    for model, norm, _ in members:
        image, climate = normalized_inputs(model, norm, tile.sample)
        member_embedding, member_preds = embed_and_predict(
            model, image, climate, batch_size, scale_g_per_kg=scale_g_per_kg
        )
        preds.append(member_preds)
        if embedding is None:
            embedding = member_embedding
    return np.column_stack(preds), embedding


def _grid(study: Study, grid_dir, world, store):
    """The cells of the map: the grid folder's store, or the twin's world read as ``store`` (the
    study's) read its points."""
    from soilnet.dataset import StoreGrid, WorldGrid
    from soilnet.store import consolidate

    resolution_m = float(study.config.map.resolution_km) * 1000.0
    if grid_dir is not None:
        grid_store = consolidate(
            grid_dir, study.config.store, stores_dir=study.work_dir / "stores",
            require_target=False,
        )  # fmt: skip
        return StoreGrid(grid_store)
    return WorldGrid(world, resolution_m, **world_grid_inputs(store))


def write_map_layers(study: Study, out_dir: str | Path, grid_dir=None) -> MapLayers | None:
    """Write the uncertainty layers of the map in ``out_dir`` (the SOC map's folder).

    Args:
        study: a study whose chapter 2 finished.
        out_dir: where the COGs go.
        grid_dir: the prediction-grid folder the SOC map was made from (None on the twin).

    Returns:
        the :class:`MapLayers`, or None on real data without a grid (there is no map).
    """
    from soilnet.checkpoint import load_model
    from soilnet.grid import grid_geometry

    if grid_dir is None and not study.is_twin():
        return None
    start = time.perf_counter()
    exp, settings = study.config.experiment, study.config.map
    variant, seeds = hybrid_variant(exp.variants), list(exp.seeds)
    store = study.store()
    members = [
        load_model(_run_record(study, RunKey("network", "random", None, variant, s), store)[0])
        for s in seeds
    ]
    scale = members[0][2]["inputs"]["target_transform"]["scale_g_per_kg"]

    # Calibration: the ensemble's validation predictions (never the test points).
    val, _ = _ensemble(study, "random", None, variant, store)
    method = "split conformal"
    lower, upper = level_columns(INTERVAL_LEVEL)

    # The applicability reference: the first seed's embedding of (a sample of) its training set.
    train = study.split("random", None, store).train
    if train.size > DI_MAX_TRAIN_POINTS:
        rng = np.random.default_rng(seeds[0])
        train = np.sort(rng.choice(train, DI_MAX_TRAIN_POINTS, replace=False))
    model0, norm0, _ = members[0]
    x_train, keep = _varying(network_embedding(model0, norm0, store, train))
    folds, _ = di_folds(study, train, store, seeds[0])
    reference = train_dissimilarity(x_train, None, folds, max_pairs=DI_MAX_PAIRS)

    geometry = grid_geometry(float(settings.resolution_km) * 1000.0)
    spec = model0.spec
    parts = {name: [] for name in LAYERS}
    cells_rc = []
    with contextlib.nullcontext() if grid_dir is not None else map_world(study) as world:
        grid = _grid(study, grid_dir, world, store)
        tiles = grid.tiles(settings.tile_cells, image=spec.uses_image, climate=spec.uses_climate)
        for tile in tiles:
            preds, embedding = _tile_outputs(members, tile, scale, settings.batch_size)
            frame = conformal_intervals(
                val[seeds], val["target_g_per_kg"], preds, (INTERVAL_LEVEL,),
                bounds_g_per_kg=_bounds(study),
            )  # fmt: skip
            width = (frame[upper] - frame[lower]).to_numpy()
            di, inside = reference.applicability(embedding[:, keep])
            bad = ~tile.usable
            parts["interval_width"].append(np.where(bad, np.nan, width))
            parts["dissimilarity"].append(np.where(bad, np.nan, di))
            parts["aoa"].append(np.where(bad, np.nan, inside.astype(float)))
            xy = tile.sample["xy"]
            cells_rc.append(geometry.rowcol(xy[:, 0], xy[:, 1]))
    rows = np.concatenate([r for r, _ in cells_rc])
    cols = np.concatenate([c for _, c in cells_rc])
    out_dir = Path(out_dir)
    paths = {}
    for name, (file, description, unit) in LAYERS.items():
        values = np.concatenate(parts[name])
        tags = {"source": "soilnet.map_layers", "variant": variant, "method": method,
                "seeds": ",".join(map(str, seeds)), "level": f"{INTERVAL_LEVEL:g}"}  # fmt: skip
        paths[name] = out_dir / file
        write_cog(geometry, paths[name], [(rows, cols, values)], tags, description=description,
                  units=unit)  # fmt: skip
    width, aoa = np.concatenate(parts["interval_width"]), np.concatenate(parts["aoa"])
    ok = np.isfinite(width)
    return MapLayers(
        paths=paths,
        n_cells=int(ok.sum()),
        method=method,
        threshold=float(reference.threshold),
        share_inside_aoa=float(np.nanmean(aoa)) if ok.any() else float("nan"),
        median_width_g_per_kg=float(np.nanmedian(width)) if ok.any() else float("nan"),
        seconds=time.perf_counter() - start,
    )
