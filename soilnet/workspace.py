"""The workspace: everything derived from a data folder, addressed by what it was made from.

The data folder is only read. Under the work directory (``runs/<profile>`` by default)::

    study.json                       chapter 1: the resolved configuration, the data folder,
                                     the store and split addresses (later chapters read it)
    stores/<fingerprint>/            consolidated stores (soilnet.store), by input fingerprint
    splits/<address>/                split files (soilnet.splits), by store and split design
    runs/<address>/                  network runs (soilnet.trainer) and baseline runs
                                     (soilnet.experiment), by store, split, fold, settings
    map/<address>/                   chapter 7: Cloud-Optimized GeoTIFFs, by run and map settings
    falsification/                   chapter 8: the grid twins and their workspaces, by twin
    timings.json                     the book runner's chapter times

A run's address hashes its store fingerprint, split address and fold, its resolved settings
and its model: changing anything gives a new address, identical inputs reuse the run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from soilnet.config import StudyConfig, conflicts, from_dict, resolve
from soilnet.errors import ConfigConflictError, MissingOutputError

REPO_ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = {
    1: "01_data_preparation",
    2: "02_training",
    3: "03_baselines",
    4: "04_results",
    5: "05_uncertainty",
    6: "06_distributions",
    7: "07_european_map",
    8: "08_twin_instrument",
}
#: The map chapter: the only one with the ``grid_dir`` parameter.
MAP_CHAPTER = 7
#: The chapter that trains the networks (``train=False`` collects runs trained by shards).
TRAINING_CHAPTER = 2


def address(payload) -> str:
    """A 16-hex-digit address of any JSON-serialisable description."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resolve_path(path) -> Path | None:
    if path is None or path == "":
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


@dataclass
class Study:
    """A book run: its resolved configuration, data folder and workspace.

    Build it with :meth:`create` (chapter 1) or :meth:`open` (later chapters).

    Attributes:
        config: the resolved configuration (profile + overrides).
        work_dir: the workspace.
        data_dir: the data folder (read only).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: show progress bars.
    """

    config: StudyConfig
    work_dir: Path
    data_dir: Path
    device: str = "auto"
    progress: bool = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        profile: str = "smoke",
        data_dir: str | None = None,
        work_dir: str | None = None,
        overrides=None,
        device: str = "auto",
        progress: bool = False,
    ) -> Study:
        """Chapter 1's study: the profile with overrides; nothing is read from the workspace.

        Args:
            profile: ``smoke``, ``default`` or ``paper``.
            data_dir: a data folder in the real layout (relative paths are relative to the
                repository); default: the profile's twin under ``data/twin-<profile>`` (or
                ``data/twin-<profile>-<address>`` when the twin settings were overridden).
            work_dir: the workspace; default ``runs/<profile>``.
            overrides: dotted settings (see :func:`soilnet.config.parse_overrides`).
        """
        config = resolve(profile, overrides)
        work = _resolve_path(work_dir) or REPO_ROOT / "runs" / profile
        data = _resolve_path(data_dir) or default_twin_dir(config)
        return cls(config, work, data, device, progress)

    @classmethod
    def open(
        cls,
        profile: str | None = None,
        data_dir: str | None = None,
        work_dir: str | None = None,
        overrides=None,
        device: str = "auto",
        progress: bool = False,
    ) -> Study:
        """A later chapter's study: the configuration chapter 1 recorded in the workspace.

        Settings given here must agree with the record: an override, a profile or a data
        folder that differs is refused (re-run chapter 1 with it instead).

        Raises:
            MissingOutputError: chapter 1 has not run in this workspace.
            ConfigConflictError: a given setting differs from the recorded one.
        """
        work = _resolve_path(work_dir) or REPO_ROOT / "runs" / (profile or "smoke")
        record_path = work / "study.json"
        if not record_path.is_file():
            raise MissingOutputError(
                f"{record_path} is missing: it is made by chapter 1 ({CHAPTERS[1]}.ipynb). Run "
                "that chapter first with the same profile and work_dir (python -m soilnet book "
                f"--profile {profile or 'smoke'}, or papermill notebooks/{CHAPTERS[1]}.ipynb)."
            )
        record = json.loads(record_path.read_text())
        config = from_dict(record["config"])
        problems = dict(conflicts(config, overrides))
        if profile is not None and profile != config.name:
            problems["profile"] = (config.name, profile)
        data = _resolve_path(data_dir)
        if data is not None and data.resolve() != Path(record["data_dir"]).resolve():
            problems["data_dir"] = (record["data_dir"], str(data))
        if problems:
            detail = "; ".join(
                f"{k}: recorded {a!r}, given {b!r}" for k, (a, b) in problems.items()
            )
            raise ConfigConflictError(
                f"These settings conflict with those chapter 1 recorded in {record_path}: "
                f"{detail}. Re-run chapter 1 with them (python -m soilnet book --set ...), or "
                "drop them here."
            )
        return cls(config, work, Path(record["data_dir"]), device, progress)

    # ------------------------------------------------------------------ the record
    @property
    def record_path(self) -> Path:
        return self.work_dir / "study.json"

    def record(self) -> dict:
        """The record chapter 1 wrote (configuration, data folder, store, splits)."""
        return json.loads(self.require(self.record_path, 1).read_text())

    def write_record(self, **fields) -> dict:
        record = {
            "config": self.config.to_dict(),
            "data_dir": str(self.data_dir),
            **fields,
        }
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.record_path.write_text(json.dumps(record, indent=2, default=str))
        return record

    def require(self, path: Path, chapter: int) -> Path:
        """Return ``path`` or raise naming the chapter that makes it."""
        if not Path(path).exists():
            raise MissingOutputError(
                f"{path} is missing: it is made by chapter {chapter} ({CHAPTERS[chapter]}.ipynb). "
                f"Run that chapter first with the same profile and work_dir "
                f"(python -m soilnet book --profile {self.config.name}, or papermill "
                f"notebooks/{CHAPTERS[chapter]}.ipynb)."
            )
        return Path(path)

    # ------------------------------------------------------------------ places
    @property
    def stores_dir(self) -> Path:
        return self.work_dir / "stores"

    @property
    def splits_dir(self) -> Path:
        return self.work_dir / "splits"

    @property
    def runs_dir(self) -> Path:
        return self.work_dir / "runs"

    @property
    def map_dir(self) -> Path:
        return self.work_dir / "map"

    def store(self):
        """The consolidated store recorded by chapter 1, checked against the data folder now."""
        from soilnet.store import Store, fingerprint

        path = self.require(Path(self.record()["store"]), 1)
        return Store.open(path, expected_fingerprint=fingerprint(self.data_dir, self.config.store))

    def split_dir(self) -> Path:
        return self.require(Path(self.record()["splits"]), 1)

    def folds(self, protocol: str) -> list[int | None]:
        return [None] if protocol == "random" else list(range(self.config.split.k_folds))

    def split(self, protocol: str, fold: int | None = None, store=None):
        from soilnet.splits import open_split

        return open_split(self.split_dir(), store or self.store(), protocol, fold)

    # ------------------------------------------------------------------ the twin
    def is_twin(self) -> bool:
        return (self.data_dir / "truth.csv").is_file()

    def truth(self) -> pd.DataFrame | None:
        """The twin's truth table (latent components, references), or None for real data."""
        path = self.data_dir / "truth.csv"
        return pd.read_csv(path) if path.is_file() else None


def default_twin_dir(config: StudyConfig) -> Path:
    """``data/twin-<profile>``, or ``data/twin-<profile>-<address>`` for an overridden twin."""
    from soilnet.config import PROFILES

    name = f"twin-{config.name}"
    base = PROFILES.get(config.name)
    if base is None or base.twin != config.twin:
        name += "-" + address(config.to_dict()["twin"])
    return REPO_ROOT / "data" / name
