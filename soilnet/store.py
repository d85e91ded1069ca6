"""Consolidation: read every patch and climate row once into memory-mappable arrays.

Training never reopens GeoTIFFs. A store lives in the workspace, never in the data folder, at
``<work_dir>/stores/<address>/`` where the address is the fingerprint of its inputs (every
input file's name, size and modification time, the bytes of ``points.csv``, and the reading
settings). Changing any input gives a new address; identical inputs reuse the store. A store
is built in a temporary folder and renamed into place when complete, so a killed
consolidation never leaves a store that :meth:`Store.open` accepts. Its files:

- ``images.npy``: float32 (N, C, S, S), physical units, NaN pixels filled, resampled to S.
- ``climate.npy``: float32 (N, T, F), monthly, oldest first (gaps filled, see below).
- ``index.csv``: one row per point in array order: Point_ID, long, lat, x_3035, y_3035,
  oc_g_per_kg (NaN for a prediction grid), nan_pixels_filled, climate_cells_filled and the
  point table's land-cover/country columns when present.
- ``report.csv``: the validation report (points excluded and why).
- ``meta.json``: bands, variables, months, size, the resampling and fill rules, the
  fingerprint, the row count and the sha256 of ``index.csv`` (its row order is the arrays').

A consolidation that stops on problems in the data writes its validation report (every
affected point and file) to ``<work_dir>/stores/<address>.report.csv`` instead, and the error
message points there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.bands import CLIMATE_VARIABLES
from soilnet.config import StoreConfig
from soilnet.errors import (
    DataFormatError,
    DatasetNotFoundError,
    StaleStoreError,
    StoreIntegrityError,
    first_ids,
)
from soilnet.geo import lonlat_to_laea
from soilnet.io.atomic import atomic_dir
from soilnet.io.folder import open_folder
from soilnet.io.patches import (
    NAN_FILL_RULE,
    PATCH_SUFFIXES,
    RESAMPLING,
    fill_nan,
    read_patch,
    resample_patch,
)

CLIMATE_FILL_RULE = (
    "missing months are filled by linear interpolation in time within the point's series "
    "(nearest value at the ends); a series with no value at all excludes the point"
)
PASSTHROUGH_COLUMNS = ("LC0_Desc", "NUTS_0", "LC1_Desc")
STORE_VERSION = 2
ADDRESS_CHARS = 16
#: Test hook: the name of a write step at which consolidation kills its own process (SIGKILL).
KILL_AT_ENV = "SOILNET_TEST_KILL_AT"


def _step(name: str) -> None:
    """A point between two writes; a test names it in ``SOILNET_TEST_KILL_AT`` to die there."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def store_variables(data_dir: Path, config: StoreConfig) -> tuple[str, ...]:
    """Climate variables a store of ``data_dir`` reads: the configured ones, or those present."""
    if config.climate_variables is not None:
        return tuple(config.climate_variables)
    present = {p.stem for p in (data_dir / "climate").glob("*.csv")}
    return tuple(v for v in CLIMATE_VARIABLES if v in present)


def store_settings(
    data_dir: str | Path,
    config: StoreConfig,
    *,
    months: tuple[str, ...] | list[str] | None = None,
    id_column: str = "Point_ID",
) -> dict:
    """The reading settings that, with the input files, define a store.

    ``months`` and ``id_column`` (see :func:`consolidate`) count only when given, so stores
    made without them keep their address.
    """
    settings = {
        "version": STORE_VERSION,
        **asdict(config),
        "bands": list(config.bands),
        "climate_variables": list(store_variables(Path(data_dir), config)),
    }
    if months is not None:
        settings["months_selected"] = sorted(str(m) for m in months)
    if id_column != "Point_ID":
        settings["id_column"] = id_column
    return settings


def fingerprint(data_dir: str | Path, config: StoreConfig, **selection) -> str:
    """Hash of a data folder's inputs and the reading settings: the store's address.

    Every input file counts by name, size and modification time (``points.csv`` by its
    bytes), so touching, replacing, adding or deleting a patch or a climate table gives a new
    fingerprint. Other files in the folder (``truth.csv``, a README) do not count.
    ``selection`` is ``months=`` and ``id_column=`` of :func:`consolidate`.
    """
    root = Path(data_dir)
    points = root / "points.csv"
    if not points.is_file():
        raise DatasetNotFoundError(
            f"{points} does not exist; a data folder needs points.csv (see data/README.md)."
        )
    settings = store_settings(root, config, **selection)
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(points.read_bytes())
    files = sorted(
        p for p in (root / "patches").glob("*") if p.suffix.lower() in PATCH_SUFFIXES
    ) + [root / "climate" / f"{v}.csv" for v in settings["climate_variables"]]
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:
            h.update(f"{path.relative_to(root)}:absent".encode())
            continue
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _fill_climate(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN months per (point, variable) by :data:`CLIMATE_FILL_RULE`; count per point."""
    values = values.copy()
    filled = np.isnan(values).sum(axis=(1, 2))
    t = np.arange(values.shape[1])
    for i, k in zip(*np.nonzero(np.isnan(values).any(axis=1)), strict=True):
        series = values[i, :, k]
        ok = ~np.isnan(series)
        values[i, :, k] = np.interp(t, t[ok], series[ok])
    return values, filled


@dataclass
class Store:
    """A consolidated dataset (see the module docstring for the files).

    Attributes:
        path: the store folder.
        images: float32 (N, C, S, S) memory map; physical units.
        climate: float32 (N, T, F) memory map, or None when no variables were consolidated.
        index: per-point table in array order.
        meta: the content of ``meta.json``.
    """

    path: Path
    images: np.ndarray
    climate: np.ndarray | None
    index: pd.DataFrame
    meta: dict

    @classmethod
    def open(cls, path: str | Path, expected_fingerprint: str | None = None) -> Store:
        """Open a complete store folder (memory-mapped), checking that its parts agree.

        Args:
            path: ``<work_dir>/stores/<address>``.
            expected_fingerprint: refuse the store unless it was made from these inputs
                (:func:`fingerprint` of the data folder as it is now).

        Raises:
            StoreIntegrityError: files missing, row counts that disagree between the arrays,
                the index and meta.json, or a folder name that is not its fingerprint.
            StaleStoreError: made from other inputs than ``expected_fingerprint``.
        """
        path = Path(path)
        remedy = (
            f"delete {path} and run `python -m soilnet consolidate DATA_DIR --work-dir WORK` "
            "(or chapter 1) again"
        )
        missing = [n for n in ("meta.json", "images.npy", "index.csv") if not (path / n).is_file()]
        if missing:
            raise StoreIntegrityError(
                f"{path} is not a complete consolidated store (missing {', '.join(missing)}); "
                f"{remedy}."
            )
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("fingerprint", "")[:ADDRESS_CHARS] != path.name:
            raise StoreIntegrityError(
                f"{path}: the folder name is not the store's fingerprint "
                f"({meta.get('fingerprint', '')[:ADDRESS_CHARS]}); {remedy}."
            )
        if expected_fingerprint is not None and meta["fingerprint"] != expected_fingerprint:
            raise StaleStoreError(
                f"{path} was consolidated from other inputs than the data folder holds now "
                f"(store {meta['fingerprint'][:ADDRESS_CHARS]}, data "
                f"{expected_fingerprint[:ADDRESS_CHARS]}); run `python -m soilnet consolidate` "
                "(or chapter 1) to build the store of the current data."
            )

        def load(name: str) -> np.ndarray:
            try:
                return np.load(path / name, mmap_mode="r")
            except (ValueError, OSError, EOFError) as err:  # a file cut short
                raise StoreIntegrityError(
                    f"{path}/{name} cannot be read ({err}); {remedy}."
                ) from err

        images = load("images.npy")
        climate = None
        if meta["climate_variables"]:
            if not (path / "climate.npy").is_file():
                raise StoreIntegrityError(f"{path} has no climate.npy; {remedy}.")
            climate = load("climate.npy")
        index_bytes = (path / "index.csv").read_bytes()
        recorded = meta.get("index_sha256")  # absent in stores written before it was recorded
        if recorded is not None and recorded != hashlib.sha256(index_bytes).hexdigest():
            raise StoreIntegrityError(
                f"{path}/index.csv is not the one written with the arrays (rows reordered, cut "
                f"or edited: its hash differs from meta.json's index_sha256); {remedy}."
            )
        index = pd.read_csv(io.BytesIO(index_bytes))
        n = meta["n_points"]
        shapes = {
            "images.npy": images.shape[0],
            "index.csv": len(index),
            **({"climate.npy": climate.shape[0]} if climate is not None else {}),
        }
        wrong = {k: v for k, v in shapes.items() if v != n}
        expected_image = (len(meta["bands"]), meta["patch_size_px"], meta["patch_size_px"])
        if wrong or images.shape[1:] != expected_image:
            raise StoreIntegrityError(
                f"{path}: meta.json says {n} points of {expected_image} but "
                f"{', '.join(f'{k} has {v} rows' for k, v in shapes.items())} and images are "
                f"{images.shape[1:]}; {remedy}."
            )
        if "Point_ID" in index and index["Point_ID"].duplicated().any():
            dup = index.loc[index["Point_ID"].duplicated(), "Point_ID"]
            raise StoreIntegrityError(
                f"{path}/index.csv repeats Point_ID {first_ids(dup)}; {remedy}."
            )
        return cls(path=path, images=images, climate=climate, index=index, meta=meta)

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(self.meta["bands"])

    @property
    def climate_variables(self) -> tuple[str, ...]:
        return tuple(self.meta["climate_variables"] or ())

    @property
    def months(self) -> tuple[str, ...]:
        return tuple(self.meta["months"] or ())

    @property
    def size_px(self) -> int:
        return int(self.meta["patch_size_px"])

    @property
    def point_ids(self) -> np.ndarray:
        return self.index["Point_ID"].to_numpy(np.int64)

    @property
    def xy(self) -> np.ndarray:
        """float64 (N, 2) EPSG:3035 easting and northing, metres."""
        return self.index[["x_3035", "y_3035"]].to_numpy(np.float64)

    @property
    def fingerprint(self) -> str:
        """Hash of the inputs and settings: the store's address and its identity in records."""
        return self.meta["fingerprint"]

    @property
    def has_target(self) -> bool:
        return bool(self.meta.get("has_target", True))

    def __len__(self) -> int:
        return len(self.index)


def store_path(stores_dir: str | Path, fingerprint_: str) -> Path:
    """Folder of the store with this fingerprint under ``stores_dir``."""
    return Path(stores_dir) / fingerprint_[:ADDRESS_CHARS]


def failure_report_path(stores_dir: str | Path, fingerprint_: str) -> Path:
    """Where a consolidation that stopped on problems in the data writes its validation
    report: ``<stores_dir>/<address>.report.csv``."""
    return Path(stores_dir) / f"{fingerprint_[:ADDRESS_CHARS]}.report.csv"


def _existing(
    data_dir: Path, config: StoreConfig, stores_dir, **selection
) -> tuple[str, Store | None]:
    """(fingerprint of the data now, its store if it exists)."""
    if not data_dir.is_dir():
        raise DatasetNotFoundError(
            f"Data folder {data_dir} does not exist; check --data (or data_dir=)."
        )
    fp = fingerprint(data_dir, config, **selection)
    path = store_path(stores_dir, fp)
    return fp, Store.open(path, fp) if (path / "meta.json").is_file() else None


def find_store(
    data_dir: str | Path,
    config: StoreConfig,
    stores_dir: str | Path,
    *,
    months: tuple[str, ...] | list[str] | None = None,
    id_column: str = "Point_ID",
) -> Store:
    """The store of ``data_dir`` as it is now; refuse a store made from earlier contents.

    Args:
        data_dir, config, stores_dir: as for :func:`consolidate`.
        months, id_column: as given to :func:`consolidate`.

    Raises:
        StaleStoreError: no store for the current inputs exists (it names stores made from
            earlier contents of the same folder, if any, or the report of a consolidation of
            the current contents that failed).
    """
    data_dir = Path(data_dir)
    fp, store = _existing(data_dir, config, stores_dir, months=months, id_column=id_column)
    if store is not None:
        return store
    failed = failure_report_path(stores_dir, fp)
    if failed.is_file():
        raise StaleStoreError(
            f"No store under {stores_dir} holds the current contents of {data_dir}: their "
            f"consolidation stopped on problems in the data, listed in {failed}. Fix the data "
            f"(or pass --on-missing drop), then run `python -m soilnet consolidate {data_dir} "
            "--work-dir WORK` (or chapter 1) again."
        )
    older = [
        p.parent.name
        for p in sorted(Path(stores_dir).glob("*/meta.json"))
        if json.loads(p.read_text()).get("data_dir") == str(data_dir.resolve())
    ]
    stale = f" (stores {', '.join(older)} were made from earlier contents)" if older else ""
    raise StaleStoreError(
        f"No store under {stores_dir} holds the current contents of {data_dir}{stale}; run "
        f"`python -m soilnet consolidate {data_dir} --work-dir WORK` (or chapter 1) first."
    )


def consolidate(
    data_dir: str | Path,
    config: StoreConfig | None = None,
    *,
    stores_dir: str | Path,
    require_target: bool = True,
    workers: int | None = None,
    progress: bool = False,
    months: tuple[str, ...] | list[str] | None = None,
    id_column: str = "Point_ID",
) -> Store:
    """Read a data folder once into a :class:`Store`; a no-op when the inputs are unchanged.

    The data folder is only read. The store goes to ``<stores_dir>/<address>``; it is built
    in a temporary folder beside it and renamed into place when complete
    (:func:`soilnet.io.atomic.atomic_dir`).

    Args:
        data_dir: the data folder (layout in ``data/README.md``).
        config: reading settings (:class:`~soilnet.config.StoreConfig`); patches are
            resampled by :data:`soilnet.io.patches.RESAMPLING` after NaN filling by
            :data:`soilnet.io.patches.NAN_FILL_RULE`; ``on_missing`` also governs unreadable
            patches (missing bands, wrong dtype, all NaN).
        stores_dir: the workspace's store folder.
        require_target: require ``OC`` (False for a prediction grid).
        workers: reader threads (default: CPU count).
        progress: show a tqdm bar.
        months: climate months ``YYYYMMDD`` to keep (default: all, which must agree across
            the climate files; CLI ``--months``).
        id_column: ID column of ``points.csv`` (CLI ``--id-column``).

    Raises:
        DataFormatError, InconsistentDataError, PatchNotFoundError: problems in the data
            (see :func:`soilnet.io.folder.open_folder`), or no usable point left; the
            validation report is then written to :func:`failure_report_path`.
    """
    start = time.perf_counter()
    config = config or StoreConfig()
    data_dir = Path(data_dir)
    selection = {"months": months, "id_column": id_column}
    fp, store = _existing(data_dir, config, stores_dir, **selection)
    if store is not None:
        return store
    final = store_path(stores_dir, fp)
    failed_report = failure_report_path(stores_dir, fp)
    settings = store_settings(data_dir, config, **selection)
    variables = tuple(settings["climate_variables"])
    bands = config.bands
    size_px = config.patch_size_px
    folder = open_folder(
        data_dir,
        variables=variables or None,
        months=months,
        on_missing=config.on_missing,
        require_target=require_target,
        id_column=id_column,
        climate_id_column=config.climate_id_column,
        missing_code_means=config.missing_code_means,
        report_path=failed_report,
    )
    ids = folder.points["Point_ID"].to_numpy(np.int64)

    def load(pid: int):
        path = folder.patch_paths[int(pid)]
        try:
            patch = read_patch(path, bands)
            data, n_filled = fill_nan(patch.data, path)
            return resample_patch(data, size_px), n_filled, None
        except DataFormatError as err:
            return None, 0, err

    with atomic_dir(final) as tmp:
        images = np.lib.format.open_memmap(
            tmp / "images.npy",
            mode="w+",
            dtype=np.float32,
            shape=(len(ids), len(bands), size_px, size_px),
        )
        nan_filled = np.zeros(len(ids), np.int64)
        failed: dict[int, DataFormatError] = {}
        iterator = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2).map(load, ids)
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(iterator, total=len(ids), desc="consolidate", unit="patch")
        for i, (arr, n_filled, err) in enumerate(iterator):
            if err is not None:
                failed[int(ids[i])] = err
                continue
            images[i] = arr
            nan_filled[i] = n_filled
        for pid, err in failed.items():
            folder.report.add(
                "patch unreadable", point_ids=[pid], files=[folder.patch_paths[pid]],
                detail=str(err),
            )  # fmt: skip
        if failed and config.on_missing == "raise":
            folder.report.to_csv(failed_report)
            first = next(iter(failed.values()))
            raise DataFormatError(
                f"{len(failed):,} patch(es) cannot be used (Point_ID {first_ids(failed)}); "
                f"each is listed with the reason in {failed_report}. First: {first} Pass "
                "on_missing='drop' (store.on_missing=drop, or --on-missing drop) to exclude them "
                "(they are then listed in the store's report)."
            )
        keep = ~np.isin(ids, list(failed))
        n_keep = int(keep.sum())
        if n_keep == 0:
            folder.report.to_csv(failed_report)
            raise DataFormatError(
                f"{data_dir}: no usable point is left: the patches of all {len(ids):,} points "
                f"that passed validation cannot be used (Point_ID {first_ids(failed)}; each is "
                f"listed with the reason in {failed_report}). Nothing was consolidated; "
                "re-export the patches."
            )
        if failed:
            warnings.warn(
                f"{data_dir}: excluding {len(failed):,} point(s) whose patch cannot be used "
                f"(Point_ID {first_ids(failed)}); they are listed in {final / 'report.csv'}.",
                stacklevel=2,
            )
        _step("images")
        if not keep.all():
            images.flush()
            kept = np.lib.format.open_memmap(
                tmp / "images.kept.npy", mode="w+", dtype=np.float32,
                shape=(n_keep,) + images.shape[1:],
            )  # fmt: skip
            kept[:] = images[keep]
            kept.flush()
            del kept
        images.flush()
        del images
        if not keep.all():
            os.replace(tmp / "images.kept.npy", tmp / "images.npy")

        index = folder.points.loc[keep, ["Point_ID", "long", "lat"]].reset_index(drop=True)
        x, y = lonlat_to_laea(index["long"].to_numpy(), index["lat"].to_numpy())
        index["x_3035"], index["y_3035"] = np.round(x, 2), np.round(y, 2)
        index["oc_g_per_kg"] = (
            folder.points.loc[keep, "OC"].to_numpy() if folder.has_target else np.nan
        )
        index["nan_pixels_filled"] = nan_filled[keep]
        climate_filled = np.zeros(n_keep, np.int64)
        if folder.climate is not None:
            climate, climate_filled = _fill_climate(folder.climate.values[keep])
            np.save(tmp / "climate.npy", climate.astype(np.float32))
            _step("climate")
        index["climate_cells_filled"] = climate_filled
        for col in PASSTHROUGH_COLUMNS:
            if col in folder.points.columns:
                index[col] = folder.points.loc[keep, col].to_numpy()
        index.to_csv(tmp / "index.csv", index=False)
        index_sha256 = hashlib.sha256((tmp / "index.csv").read_bytes()).hexdigest()
        _step("index")
        folder.report.to_csv(tmp / "report.csv")
        _step("report")
        meta = {
            **settings,
            "months": list(folder.climate.months) if folder.climate is not None else [],
            "fingerprint": fp,
            "index_sha256": index_sha256,
            "data_dir": str(data_dir.resolve()),
            "n_points": n_keep,
            "n_excluded": len(folder.report.excluded_ids),
            "has_target": folder.has_target,
            "resampling": RESAMPLING,
            "nan_fill_rule": NAN_FILL_RULE,
            "climate_fill_rule": CLIMATE_FILL_RULE,
            "nan_pixels_filled": int(nan_filled[keep].sum()),
            "climate_cells_filled": int(climate_filled.sum()),
            "seconds": round(time.perf_counter() - start, 2),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        _step("meta")
    _step("renamed")
    return Store.open(final, expected_fingerprint=fp)
