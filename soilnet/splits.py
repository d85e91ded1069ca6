"""Train/validation/test splits stored as files beside the data.

Two protocols, both keyed by Point_ID so every chapter and baseline uses the identical split:

- ``random``: the paper's protocol, a random 70/10/20 split with a fixed seed (the authors'
  split was unseeded and never saved).
- ``spatial``: spatial block cross-validation. Square blocks of ``block_km`` in EPSG:3035 are
  assigned to ``k`` folds (balanced by point count, seeded). For fold ``f`` the test set is
  fold ``f``; validation is a seeded random set of whole blocks from the other folds holding
  about ``val_fraction`` (12.5 %) of their points; the rest trains. Neither model selection
  nor testing sees a block that training sees.

A split file is a CSV with ``Point_ID`` and ``split`` (random) or ``Point_ID, block, fold``
(spatial); ``splits/<name>.json`` records how it was made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.errors import ConfigurationError, SplitMismatchError, first_ids

SPLIT_NAMES = ("train", "val", "test")


def random_split(
    point_ids: np.ndarray, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2), seed: int = 0
) -> pd.DataFrame:
    """Assign points to train/val/test at random.

    Args:
        point_ids: (N,) unique Point_IDs.
        fractions: train, validation and test fractions; must sum to 1.
        seed: seed of the permutation.

    Returns:
        DataFrame ``Point_ID, split`` in the input order. Sizes are
        ``int(f_train * N)``, ``int(f_val * N)`` and the rest (as the authors' counts imply:
        int(0.7 * 21,852) = 15,296 training points).
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ConfigurationError(
            f"Sum of split fractions must equal 1 (train, val, test); got {fractions}."
        )
    ids = np.asarray(point_ids)
    if len(np.unique(ids)) != len(ids):
        raise ConfigurationError("random_split: point_ids are not unique.")
    n = len(ids)
    n_train, n_val = int(fractions[0] * n), int(fractions[1] * n)
    order = np.random.default_rng(seed).permutation(n)
    split = np.empty(n, dtype=object)
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_val]] = "val"
    split[order[n_train + n_val :]] = "test"
    return pd.DataFrame({"Point_ID": ids, "split": split})


def spatial_block_folds(
    point_ids: np.ndarray, xy_m: np.ndarray, block_km: float = 100.0, k: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Assign square EPSG:3035 blocks to ``k`` folds of about equal point counts.

    Args:
        point_ids: (N,) unique Point_IDs.
        xy_m: float (N, 2) EPSG:3035 easting/northing in metres.
        block_km: block side in km.
        k: number of folds (>= 2).
        seed: seed of the block order.

    Returns:
        DataFrame ``Point_ID, block, fold``. Blocks are shuffled, then each goes to the fold
        with the fewest points so far (largest blocks first), which balances the folds.
    """
    if k < 2:
        raise ConfigurationError(f"spatial_block_folds needs k >= 2 folds; got {k}.")
    if block_km <= 0:
        raise ConfigurationError(f"block_km must be positive; got {block_km}.")
    xy = np.asarray(xy_m, float)
    if xy.shape != (len(point_ids), 2):
        raise ConfigurationError(f"xy_m must have shape ({len(point_ids)}, 2); got {xy.shape}.")
    size = block_km * 1000.0
    bx = np.floor(xy[:, 0] / size).astype(np.int64)
    by = np.floor(xy[:, 1] / size).astype(np.int64)
    block = bx * 100_000 + by
    blocks, counts = np.unique(block, return_counts=True)
    if len(blocks) < k:
        raise ConfigurationError(
            f"Only {len(blocks)} blocks of {block_km} km hold points, fewer than k={k} folds; use smaller blocks or fewer folds."
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(blocks))
    order = perm[np.argsort(-counts[perm], kind="stable")]
    load = np.zeros(k, np.int64)
    fold_of = {}
    for b in order:
        f = int(np.argmin(load))
        fold_of[blocks[b]] = f
        load[f] += counts[b]
    return pd.DataFrame(
        {"Point_ID": np.asarray(point_ids), "block": block, "fold": [fold_of[b] for b in block]}
    )


@dataclass
class Split:
    """Index arrays of one train/val/test assignment, aligned with a store's rows.

    Attributes:
        name: e.g. ``"random_seed0"`` or ``"spatial_100km_k5/fold2"``.
        train, val, test: int64 row indices into the store.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def indices(self, which: str) -> np.ndarray:
        if which not in SPLIT_NAMES:
            raise ConfigurationError(f"Unknown split part {which!r}; accepted: {SPLIT_NAMES}.")
        return getattr(self, which)

    def labels(self, n: int) -> np.ndarray:
        """(n,) array of ``train``/``val``/``test``/``""`` per store row."""
        out = np.full(n, "", dtype=object)
        for part in SPLIT_NAMES:
            out[self.indices(part)] = part
        return out


def _align(table: pd.DataFrame, store_ids: np.ndarray, path: Path) -> np.ndarray:
    """Row positions of the store's points in the split table; every point must be present."""
    pos = pd.Index(table["Point_ID"]).get_indexer(store_ids)
    missing = store_ids[pos < 0]
    extra = np.setdiff1d(table["Point_ID"].to_numpy(), store_ids)
    if len(missing) or len(extra):
        raise SplitMismatchError(
            f"{path} does not match the dataset: {len(missing)} store point(s) absent from the split "
            f"({first_ids(missing)}), {len(extra)} split point(s) absent from the store ({first_ids(extra)}). "
            "Re-create the split for this data (`python -m soilnet split DATA_DIR`)."
        )
    return pos


def write_splits(
    data_dir: str | Path,
    point_ids: np.ndarray,
    xy_m: np.ndarray,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    block_km: float = 100.0,
    k: int = 5,
) -> dict[str, Path]:
    """Write the random and spatial split files under ``<data_dir>/splits/`` (idempotent)."""
    out = Path(data_dir) / "splits"
    out.mkdir(parents=True, exist_ok=True)
    rnd = out / f"random_seed{seed}.csv"
    spa = out / f"spatial_{block_km:g}km_k{k}_seed{seed}.csv"
    random_split(point_ids, fractions, seed).to_csv(rnd, index=False)
    spatial_block_folds(point_ids, xy_m, block_km, k, seed).to_csv(spa, index=False)
    for path, info in (
        (rnd, {"protocol": "random", "fractions": fractions, "seed": seed}),
        (
            spa,
            {"protocol": "spatial", "block_km": block_km, "k": k, "seed": seed, "crs": "EPSG:3035"},
        ),
    ):
        path.with_suffix(".json").write_text(
            json.dumps({**info, "n_points": int(len(point_ids))}, indent=2)
        )
    return {"random": rnd, "spatial": spa}


def load_split(
    path: str | Path, store_ids: np.ndarray, fold: int | None = None, val_fraction: float = 0.125
) -> Split:
    """Read a split file and express it as row indices of a store.

    Args:
        path: a ``random_*.csv`` or ``spatial_*.csv`` split file.
        store_ids: (N,) Point_IDs of the store rows.
        fold: for spatial files, the test fold.
        val_fraction: for spatial files, share of the non-test points (taken as whole blocks,
            seeded by the fold number) used for validation.

    Raises:
        SplitMismatchError: the split's points differ from the store's.
    """
    path = Path(path)
    if not path.is_file():
        raise SplitMismatchError(
            f"Split file {path} does not exist; create it with `python -m soilnet split DATA_DIR`."
        )
    table = pd.read_csv(path)
    store_ids = np.asarray(store_ids, np.int64)
    pos = _align(table, store_ids, path)
    if "split" in table.columns:
        labels = table["split"].to_numpy()[pos]
        name = path.stem
    elif "fold" in table.columns:
        k = int(table["fold"].max()) + 1
        if fold is None or not 0 <= fold < k:
            raise ConfigurationError(
                f"{path} is a spatial {k}-fold split: pass fold in 0..{k - 1}; got {fold}."
            )
        folds = table["fold"].to_numpy()[pos]
        blocks = table["block"].to_numpy()[pos]
        rest = folds != fold
        cand, counts = np.unique(blocks[rest], return_counts=True)
        order = np.random.default_rng([fold, 12345]).permutation(len(cand))
        take = np.cumsum(counts[order]) <= max(val_fraction * rest.sum(), counts[order][0])
        val_blocks = cand[order][take]
        labels = np.where(~rest, "test", np.where(np.isin(blocks, val_blocks), "val", "train"))
        name = f"{path.stem}/fold{fold}"
    else:
        raise SplitMismatchError(f"{path} has neither a 'split' nor a 'fold' column.")
    parts = {p: np.flatnonzero(labels == p).astype(np.int64) for p in SPLIT_NAMES}
    empty = [p for p, idx in parts.items() if len(idx) == 0]
    if empty:
        raise SplitMismatchError(
            f"{path}: the {', '.join(empty)} part(s) are empty for this dataset."
        )
    return Split(name=name, **parts)


def n_folds(path: str | Path) -> int:
    """Number of folds of a spatial split file (1 for a random split)."""
    table = pd.read_csv(path, usecols=lambda c: c in ("fold", "split"))
    return int(table["fold"].max()) + 1 if "fold" in table.columns else 1
