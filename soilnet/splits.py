"""Train/validation/test splits stored as files in the workspace, addressed by their store.

Two protocols, both keyed by Point_ID so every chapter and baseline uses the identical split:

- ``random``: the paper's protocol, a random 70/10/20 split with a fixed seed (the authors'
  split was unseeded and never saved).
- ``spatial``: spatial block cross-validation. Square blocks of ``block_km`` in EPSG:3035 are
  assigned to ``k`` folds (balanced by point count, seeded). For fold ``f`` the test set is
  fold ``f``; validation is a seeded random set of whole blocks from the other folds holding
  about ``val_fraction`` (12.5 %) of their points; the rest trains. Neither model selection
  nor testing sees a block that training sees.

A split folder ``<work_dir>/splits/<address>/`` holds ``random.csv`` (``Point_ID, split``),
``spatial.csv`` (``Point_ID, block, fold``) and ``split.json`` (the design and the fingerprint of
the store it was made for); the address hashes both, and :func:`open_split` refuses a split
used with another store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.config import SplitConfig
from soilnet.errors import ConfigurationError, SplitMismatchError, StaleStoreError, first_ids
from soilnet.io.atomic import atomic_dir

SPLIT_NAMES = ("train", "val", "test")
PROTOCOLS = ("random", "spatial")
#: How to change the split design, in messages: the setting, the CLI flag.
BLOCK_FLAG = "split.block_km; CLI: --block-km"
FOLDS_FLAG = "split.k_folds; CLI: --k"
FRACTIONS_FLAG = "split.fractions; CLI: --set split.fractions=[TRAIN,VAL,TEST]"


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
    if len(point_ids) < k:
        raise ConfigurationError(
            f"Only {len(point_ids)} point(s), fewer than k={k} spatial folds (each fold needs "
            f"at least one block with a point); use fewer folds ({FOLDS_FLAG}) or a dataset "
            "with more points."
        )
    size = block_km * 1000.0
    bx = np.floor(xy[:, 0] / size).astype(np.int64)
    by = np.floor(xy[:, 1] / size).astype(np.int64)
    block = bx * 100_000 + by
    blocks, counts = np.unique(block, return_counts=True)
    if len(blocks) < k:
        raise ConfigurationError(
            f"Only {len(blocks)} blocks of {block_km} km hold points, fewer than k={k} folds; "
            f"use smaller blocks ({BLOCK_FLAG})"
            + (f" or fewer folds ({FOLDS_FLAG})." if k > 2 else ".")
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
        name: ``"random"``, or ``"spatial/fold2"`` for a spatial fold.
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
            "Re-create the split for this data (`python -m soilnet split`, or chapter 1)."
        )
    return pos


def split_address(store_fingerprint: str, config: SplitConfig) -> str:
    """Address of the split files of a store under a split design."""
    payload = {"store": store_fingerprint, **asdict(config)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def write_splits(store, config: SplitConfig, splits_dir: str | Path) -> Path:
    """Write the random and spatial split files of a store (idempotent; content-addressed).

    Args:
        store: a :class:`~soilnet.store.Store` (Point_IDs, EPSG:3035 coordinates, fingerprint).
        config: the split design.
        splits_dir: the workspace's split folder.

    Returns:
        ``<splits_dir>/<address>/`` holding ``random.csv``, ``spatial.csv`` and ``split.json``
        (the design and the store fingerprint they were made for).

    Raises:
        SplitMismatchError: the store holds no point.
        ConfigurationError: the design leaves a part (train, val or test) of the random split
            or of a spatial fold empty for this store; the message says which setting to
            change.
    """
    out = Path(splits_dir) / split_address(store.fingerprint, config)
    if (out / "split.json").is_file():
        return out
    if len(store) == 0:
        raise SplitMismatchError(
            f"The store at {store.path} holds no point; nothing can be split. Check the data "
            f"folder: {store.path / 'report.csv'} lists the points excluded and why."
        )
    random = random_split(store.point_ids, config.fractions, config.seed)
    spatial = spatial_block_folds(
        store.point_ids, store.xy, config.block_km, config.k_folds, config.seed
    )
    _check_parts(store, config, random, spatial)
    with atomic_dir(out) as tmp:
        random.to_csv(tmp / "random.csv", index=False)
        spatial.to_csv(tmp / "spatial.csv", index=False)
        record = {**asdict(config), "store": store.fingerprint, "n_points": len(store)}
        (tmp / "split.json").write_text(json.dumps(record, indent=2))
    return out


def load_split(
    path: str | Path, store_ids: np.ndarray, fold: int | None = None, val_fraction: float = 0.125
) -> Split:
    """Read a split file and express it as row indices of a store.

    Args:
        path: a split CSV: ``Point_ID, split`` (random) or ``Point_ID, block, fold`` (spatial).
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
            f"Split file {path} does not exist; create it with `python -m soilnet split` (or chapter 1)."
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
        labels = _spatial_labels(folds, blocks, fold, val_fraction)
        name = f"{path.stem}/fold{fold}"
    else:
        raise SplitMismatchError(f"{path} has neither a 'split' nor a 'fold' column.")
    parts = {p: np.flatnonzero(labels == p).astype(np.int64) for p in SPLIT_NAMES}
    empty = [p for p, idx in parts.items() if len(idx) == 0]
    if empty:
        raise SplitMismatchError(
            f"{path}: the {', '.join(empty)} part(s) are empty for this dataset "
            f"({len(store_ids)} points); re-create the split with another design "
            f"({FRACTIONS_FLAG}, {BLOCK_FLAG}, {FOLDS_FLAG}) or use more points."
        )
    return Split(name=name, **parts)


def _spatial_labels(
    folds: np.ndarray, blocks: np.ndarray, fold: int, val_fraction: float
) -> np.ndarray:
    """``train``/``val``/``test`` per point for test fold ``fold``: validation is a seeded
    random set of whole blocks of the other folds holding about ``val_fraction`` of them."""
    rest = folds != fold
    if not rest.any():
        return np.full(len(folds), "test", dtype=object)
    cand, counts = np.unique(blocks[rest], return_counts=True)
    order = np.random.default_rng([fold, 12345]).permutation(len(cand))
    take = np.cumsum(counts[order]) <= max(val_fraction * rest.sum(), counts[order][0])
    val_blocks = cand[order][take]
    return np.where(~rest, "test", np.where(np.isin(blocks, val_blocks), "val", "train"))


def _check_parts(store, config: SplitConfig, random: pd.DataFrame, spatial: pd.DataFrame):
    """Refuse a split design that leaves a part empty for this store (random split, or any
    spatial fold), naming the parts, the point count and the settings to change."""
    n = len(store)
    report = store.path / "report.csv"
    empty = [p for p in SPLIT_NAMES if not (random["split"] == p).any()]
    if empty:
        raise ConfigurationError(
            f"The store at {store.path} holds {n} point(s): the random split with fractions "
            f"{tuple(config.fractions)} leaves the {', '.join(empty)} part(s) empty. Use more "
            f"points (the points excluded are listed in {report}) or other fractions "
            f"({FRACTIONS_FLAG})."
        )
    folds, blocks = spatial["fold"].to_numpy(), spatial["block"].to_numpy()
    for f in range(config.k_folds):
        labels = _spatial_labels(folds, blocks, f, config.val_fraction)
        empty = [p for p in SPLIT_NAMES if not (labels == p).any()]
        if empty:
            n_blocks = len(np.unique(blocks))
            fewer = f", fewer folds ({FOLDS_FLAG})" if config.k_folds > 2 else ""
            raise ConfigurationError(
                f"The store at {store.path} holds {n} point(s) in {n_blocks} blocks of "
                f"{config.block_km:g} km: spatial fold {f} leaves the {', '.join(empty)} part(s) "
                f"empty (the other folds have too few blocks for training and validation). Use "
                f"smaller blocks ({BLOCK_FLAG}){fewer} or more points (the points excluded are "
                f"listed in {report})."
            )


def open_split(split_dir: str | Path, store, protocol: str, fold: int | None = None) -> Split:
    """One split of a split folder written by :func:`write_splits`, checked against its store.

    Args:
        split_dir: ``<work_dir>/splits/<address>``.
        store: the store the split is used with; it must be the one the split was made for.
        protocol: ``"random"`` or ``"spatial"``.
        fold: the test fold of the spatial CV (required for ``"spatial"``, refused for
            ``"random"``).

    Raises:
        StaleStoreError: the split was made for another store (other data).
    """
    split_dir = Path(split_dir)
    if protocol not in PROTOCOLS:
        raise ConfigurationError(
            f"Unknown protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}."
        )
    if protocol == "random" and fold is not None:
        raise ConfigurationError(
            f"fold={fold} was given with the random split, which has no folds; drop --fold or "
            "use --split spatial."
        )
    record_path = split_dir / "split.json"
    if not record_path.is_file():
        raise SplitMismatchError(
            f"{split_dir} holds no split (no split.json); run `python -m soilnet split` (or "
            "chapter 1) first."
        )
    record = json.loads(record_path.read_text())
    if record["store"] != store.fingerprint:
        raise StaleStoreError(
            f"The split in {split_dir} was made for store {record['store'][:16]}, not for "
            f"{store.path} ({store.fingerprint[:16]}); the data changed since. Run "
            "`python -m soilnet split` (or chapter 1) for the current store."
        )
    return load_split(
        split_dir / f"{protocol}.csv", store.point_ids, fold=fold,
        val_fraction=record.get("val_fraction", 0.125),
    )  # fmt: skip


def n_folds(path: str | Path) -> int:
    """Number of folds of a spatial split file (1 for a random split)."""
    table = pd.read_csv(path, usecols=lambda c: c in ("fold", "split"))
    return int(table["fold"].max()) + 1 if "fold" in table.columns else 1
