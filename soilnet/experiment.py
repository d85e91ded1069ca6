"""The experiment: one loop over protocol x fold x model x seed, shared by the networks
(chapter 2), the baselines (chapter 3) and the twin's references (chapter 4).

Every run lives in ``<work_dir>/runs/<address>/``; the address hashes what the run was made
from (store fingerprint, split address, protocol and fold, resolved settings, model), so a run
is reused only for identical inputs and tables are always read from the runs of the recorded
configuration, never from a table of an earlier run. ``protocol`` is ``random`` (the paper's
70/10/20 split) or ``spatial`` (block CV).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.dataset import TargetTransform, point_arrays
from soilnet.errors import (
    ConfigConflictError,
    ConfigurationError,
    DatasetNotFoundError,
    MissingOutputError,
)
from soilnet.io.atomic import atomic_dir
from soilnet.metrics import regression_metrics
from soilnet.splits import PROTOCOLS
from soilnet.workspace import CHAPTERS, Study, address

BASELINE_KIND = "baselines"


@dataclass(frozen=True)
class RunKey:
    """One run of the experiment: a model (a network variant, or the baseline set) fitted with
    one seed on one split (``fold`` None for the random split)."""

    kind: str  # "network" or "baselines"
    protocol: str
    fold: int | None
    model: str
    seed: int

    @property
    def fold_label(self) -> int:
        return -1 if self.fold is None else self.fold

    def describe(self) -> str:
        where = self.protocol if self.fold is None else f"{self.protocol} fold {self.fold}"
        return f"{self.model} seed {self.seed} ({where})"


def plan(study: Study, kind: str, protocol: str, models=None, seeds=None) -> list[RunKey]:
    """The runs of a protocol, in the order they are made (fold, model, seed).

    Args:
        kind: ``"network"`` or ``"baselines"``.
        models, seeds: a selection of the configured variants and seeds (default all); a value
            outside the configuration is refused.
    """
    if protocol not in PROTOCOLS:
        raise ConfigurationError(f"Unknown protocol {protocol!r}; accepted: {PROTOCOLS}.")
    exp = study.config.experiment
    configured_models = list(exp.variants_for(protocol)) if kind == "network" else [BASELINE_KIND]
    configured_seeds = list(exp.seeds_for(protocol))
    models = (
        _select("variants", models, configured_models) if kind == "network" else configured_models
    )
    seeds = [int(s) for s in _select("seeds", seeds, configured_seeds)]
    return [
        RunKey(kind, protocol, fold, m, s)
        for fold in study.folds(protocol)
        for m in models
        for s in seeds
    ]


def _select(what: str, chosen, configured: list) -> list:
    from soilnet.config import parse_list

    chosen = parse_list(chosen)
    if chosen is None:
        return configured
    outside = [c for c in chosen if c not in configured and str(c) not in map(str, configured)]
    if outside:
        raise ConfigConflictError(
            f"{what} {outside} are not in the recorded configuration ({configured}); re-run "
            f"chapter 1 with --set experiment.{what}=[...] to add them."
        )
    return [type(configured[0])(c) for c in chosen]


def network_run_address(store, split_dir: Path, protocol: str, fold, config) -> str:
    """Address of a network run (the same for the book and ``python -m soilnet train``)."""
    settings = {k: v for k, v in asdict(config).items() if k != "device"}
    return address(
        {
            "kind": "network", "store": store.fingerprint, "split": Path(split_dir).name,
            "protocol": protocol, "fold": fold, "model": config.variant, "seed": config.seed,
            "train_config": settings,
        }
    )  # fmt: skip


def run_address(study: Study, key: RunKey, store) -> str:
    """Address of a run: its inputs, hashed (see the module docstring)."""
    split_dir = Path(study.record()["splits"])
    if key.kind == "network":
        config = study.config.run_config(key.model, key.seed, key.protocol)
        return network_run_address(store, split_dir, key.protocol, key.fold, config)
    return address(
        {
            "kind": key.kind, "store": store.fingerprint, "split": split_dir.name,
            "protocol": key.protocol, "fold": key.fold, "model": key.model, "seed": key.seed,
            "target_transform": asdict(TargetTransform(study.config.train.clip_g_per_kg)),
        }
    )  # fmt: skip


def run_dir(study: Study, key: RunKey, store=None) -> Path:
    return study.runs_dir / run_address(study, key, store or study.store())


# ---------------------------------------------------------------------------------- chapter 1
def prepare_data(study: Study) -> dict:
    """Chapter 1: generate the twin if needed, consolidate, write the splits and study.json.

    Returns:
        the record written to ``study.json`` (configuration, data folder, store, splits,
        counts).
    """
    from soilnet.splits import write_splits
    from soilnet.store import consolidate
    from soilnet.twin import write_twin

    twin_summary = None
    if not (study.data_dir / "points.csv").is_file():
        if not study.data_dir.name.startswith("twin-"):
            raise DatasetNotFoundError(
                f"{study.data_dir} has no points.csv. Point data_dir at a folder in the layout "
                "of data/README.md (e.g. one built with `python -m soilnet acquire`), or leave "
                "it empty to use the synthetic twin (a folder named twin-* is generated)."
            )
        twin_summary = write_twin(study.data_dir, study.config.twin, progress=study.progress)
    store = consolidate(
        study.data_dir, study.config.store, stores_dir=study.stores_dir, progress=study.progress
    )
    split_dir = write_splits(store, study.config.split, study.splits_dir)
    twin_json = study.data_dir / "twin.json"
    return study.write_record(
        store=str(store.path),
        splits=str(split_dir),
        n_points=len(store),
        n_excluded=store.meta["n_excluded"],
        is_twin=study.is_twin(),
        twin=twin_summary or (json.loads(twin_json.read_text()) if twin_json.is_file() else None),
    )


# ---------------------------------------------------------------------------------- chapter 2
def _network_run(study: Study, key: RunKey, store, *, train: bool = True, before=None):
    """Make sure one network run is finished: reuse a complete run made from identical inputs,
    else train it (``before(folder)`` is called first) unless ``train`` is False.

    Returns:
        (run folder, ``"reused"``, ``"trained"`` or ``"missing"``).
    """
    from dataclasses import replace

    from soilnet.trainer import run_inputs
    from soilnet.trainer import train as train_run

    config = replace(
        study.config.run_config(key.model, key.seed, key.protocol), device=study.device
    )
    split = study.split(key.protocol, key.fold, store)
    path = run_dir(study, key, store)
    done = path / "run.json"
    if done.is_file():
        record = json.loads(done.read_text())
        if record.get("complete") and record.get("inputs") == run_inputs(store, split, config):
            return path, "reused"  # finished with identical inputs: not retrained
    if not train:
        return path, "missing"
    if before is not None:
        before(path)
    train_run(store, split, config, path, progress=study.progress)
    return path, "trained"


def train_networks(
    study: Study, protocol: str = "random", variants=None, seeds=None, *, train: bool = True
) -> pd.DataFrame:
    """Chapter 2: train each variant x seed (x fold); finished runs are reused, not retrained.

    Args:
        protocol: ``random`` or ``spatial``.
        variants, seeds: a selection of the recorded configuration's (default all).
        train: False trains nothing: the runs were trained elsewhere (``python -m soilnet runs
            --shard i/n``, see :func:`train_shard`) and are only collected.

    Returns:
        test metrics of the selected runs, one row each (model, seed, fold, best_epoch,
        train_seconds, rmse, ...).

    Raises:
        MissingOutputError: with ``train=False``, naming every run not finished yet.
    """
    store = study.store()
    missing = []
    for key in plan(study, "network", protocol, variants, seeds):
        path, status = _network_run(study, key, store, train=train)
        if status == "missing":
            missing.append(f"{key.describe()}: {path}")
    if missing:
        raise MissingOutputError(
            f"{len(missing)} network run(s) of the {protocol} protocol are not finished:\n  "
            + "\n  ".join(missing)
            + f"\nTrain them with python -m soilnet runs --profile {study.config.name} "
            f"--work-dir {study.work_dir} --shard i/n (every shard), or let chapter 2 train "
            "them (book without --no-train)."
        )
    return network_runs(study, protocol, variants, seeds)


def network_plan(study: Study) -> list[RunKey]:
    """Every network run of the experiment, random split first, then the spatial folds."""
    return [key for protocol in PROTOCOLS for key in plan(study, "network", protocol)]


def train_shard(study: Study, shard, *, log=print) -> list[tuple[RunKey, Path, str]]:
    """Train this shard's share of :func:`network_plan` (see :class:`soilnet.shards.Shard`).

    Shards share nothing but the workspace: each run writes only its own folder, so ``n`` jobs
    may run at once on one file system; chapter 2 then collects them (``book --no-train``).

    Returns:
        (run, folder, ``"trained"`` or ``"reused"``) for each run of the shard.
    """
    store = study.store()
    keys = shard.take(network_plan(study))
    out = []
    for number, key in enumerate(keys, 1):
        before = lambda path, n=number, k=key: log(  # noqa: E731
            f"[shard {shard}] {n}/{len(keys)}: {k.describe()} -> {path}"
        )
        path, status = _network_run(study, key, store, before=before)
        out.append((key, path, status))
    return out


def _missing(study: Study, key: RunKey, path: Path) -> MissingOutputError:
    chapter = 2 if key.kind == "network" else 3
    return MissingOutputError(
        f"The run {key.describe()} is missing ({path}): it is made by chapter {chapter} "
        f"({CHAPTERS[chapter]}.ipynb) with this configuration. Run that chapter first with the "
        f"same profile and work_dir (python -m soilnet book --profile {study.config.name})."
    )


def _run_record(study: Study, key: RunKey, store) -> tuple[Path, dict]:
    path = run_dir(study, key, store)
    record_path = path / "run.json"
    if not record_path.is_file():
        raise _missing(study, key, path)
    record = json.loads(record_path.read_text())
    if not record.get("complete", True):
        raise _missing(study, key, path)
    return path, record


def network_runs(study: Study, protocol: str = "random", variants=None, seeds=None) -> pd.DataFrame:
    """Test metrics of the configured network runs, one row per run (from their run.json)."""
    store = study.store()
    rows = []
    for key in plan(study, "network", protocol, variants, seeds):
        _, rec = _run_record(study, key, store)
        rows.append(
            {
                "model": key.model, "seed": key.seed, "fold": key.fold_label,
                "best_epoch": rec["best_epoch"], "train_seconds": rec["train_seconds_total"],
                **rec["metrics"]["test"],
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def network_run_dirs(study: Study, protocol: str = "random") -> dict[RunKey, Path]:
    """Folders of the configured network runs (each must be complete)."""
    store = study.store()
    return {key: _run_record(study, key, store)[0] for key in plan(study, "network", protocol)}


def histories(study: Study, protocol: str = "random") -> dict[str, list[pd.DataFrame]]:
    """Per-epoch histories of chapter 2's runs: variant -> one table per seed (and fold)."""
    out: dict[str, list[pd.DataFrame]] = {}
    for key, path in network_run_dirs(study, protocol).items():
        out.setdefault(key.model, []).append(pd.read_csv(path / "history.csv"))
    return out


def run_records(study: Study, protocol: str = "random") -> pd.DataFrame:
    """One row per network run with its run.json essentials (address, device, epochs, time)."""
    rows = []
    store = study.store()
    for key in plan(study, "network", protocol):
        path, rec = _run_record(study, key, store)
        rows.append(
            {
                "model": key.model, "seed": key.seed, "fold": key.fold_label,
                "run": path.name, "split": rec["split"], "split_hash": rec["split_hash"],
                "store": rec["data_fingerprint"][:16], "device": rec["device"],
                "epochs_run": rec["epochs_run"], "best_epoch": rec["best_epoch"],
                "train_seconds": rec["train_seconds_total"], "lr": rec["train_config"]["lr"],
                "batch_size": rec["train_config"]["batch_size"],
                "torch": rec["versions"]["torch"],
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- chapter 3
def run_baselines(study: Study, protocol: str = "random", seeds=None) -> pd.DataFrame:
    """Chapter 3: null, the paper's RF, the strong RF and geographic kNN on the same splits.

    The forests are fitted once per seed (``random_state=seed``) so their spread is comparable
    with the networks'. Each (fold, seed) is one run folder with ``predictions.csv`` (test
    points, one column per baseline, g/kg), ``train_oob_predictions.csv`` (the forests'
    out-of-bag predictions of the training points, for residual kriging) and ``run.json``
    (metrics, fit times).

    Returns:
        test metrics, one row per (baseline, seed, fold).
    """
    from soilnet.baselines import fit_predict_baselines

    store = study.store()
    target = TargetTransform(study.config.train.clip_g_per_kg)
    for key in plan(study, "baselines", protocol, seeds=seeds):
        path = run_dir(study, key, store)
        if (path / "run.json").is_file():
            continue
        split = study.split(protocol, key.fold, store)
        train = point_arrays(store, split.train, target)
        test = point_arrays(store, split.test, target)
        res = fit_predict_baselines(
            train, test, band_names=store.band_names,
            climate_variables=store.climate_variables or None, random_state=key.seed, n_jobs=-1,
        )  # fmt: skip
        preds = pd.DataFrame(
            {
                "Point_ID": test["point_id"],
                "observed_g_per_kg": store.index["oc_g_per_kg"].to_numpy()[split.test],
                "target_g_per_kg": test["target"],
                **{name: pred for name, pred in res.items()},
            }
        )
        record = {
            "kind": BASELINE_KIND, "protocol": protocol, "fold": key.fold_label,
            "seed": key.seed, "split": split.name, "store": store.fingerprint,
            "target_transform": target.to_dict(),
            "fit_seconds": {k: round(v, 3) for k, v in res.fit_seconds.items()},
            "metrics": {n: regression_metrics(test["target"], p) for n, p in res.items()},
            "complete": True, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        }  # fmt: skip
        # Out-of-bag predictions of the training points: the forests' residuals for kriging.
        oob = pd.DataFrame(
            {"Point_ID": train["point_id"], "target_g_per_kg": train["target"]}
            | {
                name: model.oob_prediction_
                for name, model in res.models.items()
                if hasattr(model, "oob_prediction_")
            }
        )
        with atomic_dir(path) as tmp:
            preds.to_csv(tmp / "predictions.csv", index=False)
            oob.to_csv(tmp / "train_oob_predictions.csv", index=False)
            (tmp / "run.json").write_text(json.dumps(record, indent=2))
    return baseline_runs(study, protocol, seeds)


def baseline_runs(study: Study, protocol: str = "random", seeds=None) -> pd.DataFrame:
    """Test metrics of the baseline runs, one row per (baseline, seed, fold)."""
    store = study.store()
    rows = []
    for key in plan(study, "baselines", protocol, seeds=seeds):
        _, rec = _run_record(study, key, store)
        for name, metrics in rec["metrics"].items():
            rows.append(
                {
                    "model": name, "seed": key.seed, "fold": key.fold_label,
                    "fit_seconds": rec["fit_seconds"].get(name, np.nan), **metrics,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- chapter 4
#: The twin's references in the results table: name -> truth.csv column (g/kg), each a
#: conditional mean named by what it conditions on (:mod:`soilnet.twin.oracle`):
#:
#: - ``noise_floor``: E[min(SOC, 87) | c1..c4]; only the independent noise remains, so no model
#:   beats it in expectation (up to the 0.1 g/kg rounding of OC).
#: - ``observable_reference``: E[min(SOC, 87) | centre land cover, soil darkness d where the
#:   patch shows soil, c2, c3, c4]; what the inputs can carry, read exactly.
#:
#: The c1-c3 decomposition (``oracle_clipped``) is neither a bound nor a target and is left out.
TWIN_REFERENCES = {
    "noise_floor": "noise_floor_clipped",
    "observable_reference": "observable_reference_clipped",
}


def _twin_world(study: Study):
    """The :class:`~soilnet.twin.SyntheticWorld` recorded in the data folder's ``twin.json``."""
    from soilnet.errors import ConfigurationError
    from soilnet.twin import SyntheticWorld, TwinConfig
    from soilnet.twin.config import NOISE_REVISIONS

    twin_json = study.data_dir / "twin.json"
    if not twin_json.is_file():
        raise ConfigurationError(
            f"{study.data_dir} has no twin.json: the synthetic world it came from is unknown."
        )
    summary = json.loads(twin_json.read_text())
    twin = summary["config"]
    noise = twin.get("noise", "per-cell")
    written, current = summary.get("noise_revision", 1), NOISE_REVISIONS.get(noise)
    if written != current:
        raise ConfigurationError(
            f"{twin_json} was written by revision {written} of the {noise!r} noise scheme; this "
            f"code renders revision {current}, whose cells differ from those points, so maps "
            f"and references would not match them. Delete {study.data_dir} and run again to "
            "regenerate the twin (or python -m soilnet twin)."
        )
    return SyntheticWorld(
        TwinConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in twin.items()})
    )


def twin_truth(study: Study) -> pd.DataFrame | None:
    """The twin's ``truth.csv`` with the reference columns (None for real data).

    A twin written before the columns of :data:`TWIN_REFERENCES` existed gets them by
    re-rendering its points in the world of its ``twin.json`` (deterministic: the same place
    renders the same); the re-rendered OC must equal the recorded one.

    Raises:
        ConfigurationError: the columns are missing and the world cannot reproduce the points.
    """
    from soilnet.errors import ConfigurationError

    truth = study.truth()
    if truth is None:
        return None
    missing = [c for c in TWIN_REFERENCES.values() if c not in truth.columns]
    if not missing:
        return truth
    world = _twin_world(study)
    x, y = truth["x_3035"].to_numpy(), truth["y_3035"].to_numpy()
    latent = pd.concat(
        [
            world.render(x[lo : lo + 256], y[lo : lo + 256], with_climate=False).latent
            for lo in range(0, len(x), 256)
        ],
        ignore_index=True,
    )
    if not np.allclose(latent["OC"].to_numpy(), truth["OC"].to_numpy(), atol=0.051):
        raise ConfigurationError(
            f"{study.data_dir / 'truth.csv'} lacks {missing} and its twin.json world does not "
            "reproduce its points; regenerate the twin (python -m soilnet twin)."
        )
    return truth.assign(**{c: latent[c].to_numpy() for c in missing})


def reference_runs(study: Study, protocol: str = "random") -> pd.DataFrame:
    """Metrics of the twin's closed-form references (:data:`TWIN_REFERENCES`) on each test set,
    against the same targets as the models (empty for real data)."""
    truth = twin_truth(study)
    if truth is None:
        return pd.DataFrame()
    store = study.store()
    target = TargetTransform(study.config.train.clip_g_per_kg)
    ref = truth.set_index("Point_ID").loc[store.point_ids]
    observed = target.target_g_per_kg(store.index["oc_g_per_kg"].to_numpy())
    rows = []
    for fold in study.folds(protocol):
        test = study.split(protocol, fold, store).test
        for name, column in TWIN_REFERENCES.items():
            rows.append(
                {
                    "model": name, "seed": 0, "fold": -1 if fold is None else fold,
                    **regression_metrics(observed[test], ref[column].to_numpy()[test]),
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def all_runs(study: Study, protocol: str = "random") -> pd.DataFrame:
    """References, networks, baselines and their residual kriging (``"<model>+rk"``, made by
    chapter 3, cached) of a protocol in one per-run table."""
    from soilnet.kriging import residual_kriging_runs  # kriging reads this module's runs

    study.record()  # chapter 1 first: name the earliest missing output
    return pd.concat(
        [
            reference_runs(study, protocol),
            network_runs(study, protocol),
            baseline_runs(study, protocol),
            residual_kriging_runs(study, protocol).drop(columns=["fit_seconds", "rk_seconds"]),
        ],
        ignore_index=True,
    )


# ---------------------------------------------------------------------------------- chapters 6, 7
def predictions_at_test_points(
    study: Study, protocol: str = "random", seed: int | None = None
) -> pd.DataFrame:
    """Observed and predicted SOC at the test points: one column per network and baseline.

    Args:
        seed: which seed's runs (default the first configured for the protocol).

    Returns:
        Point_ID, long, lat, land_cover (when known), observed_g_per_kg, target_g_per_kg and
        one column per model (g/kg).
    """
    seed = int(seed if seed is not None else study.config.experiment.seeds_for(protocol)[0])
    store = study.store()
    index = store.index.set_index("Point_ID")
    frames = []
    for fold in study.folds(protocol):
        base_key = RunKey("baselines", protocol, fold, BASELINE_KIND, seed)
        base_dir, _ = _run_record(study, base_key, store)
        table = pd.read_csv(base_dir / "predictions.csv", keep_default_na=False, na_values=[""])
        for variant in study.config.experiment.variants_for(protocol):
            key = RunKey("network", protocol, fold, variant, seed)
            path, _ = _run_record(study, key, store)
            pred = pd.read_csv(path / "predictions.csv")
            pred = pred[pred["split"] == "test"].set_index("Point_ID")["predicted_g_per_kg"]
            table[variant] = pred.reindex(table["Point_ID"]).to_numpy()
        frames.append(table)
    table = pd.concat(frames, ignore_index=True)
    table.insert(1, "long", index.loc[table["Point_ID"], "long"].to_numpy())
    table.insert(2, "lat", index.loc[table["Point_ID"], "lat"].to_numpy())
    if "LC0_Desc" in index.columns:
        table.insert(3, "land_cover", index.loc[table["Point_ID"], "LC0_Desc"].to_numpy())
    return table


def attention_examples(study: Study, per_class: int = 2) -> dict:
    """GLAM's local spatial attention on a few test patches per land cover (random split).

    The model is the first seed's SoilNet hybrid when it has GLAM, else the first GLAM variant.
    The patches are the first ``per_class`` test points of each land-cover class in store order
    (all test points' first ``per_class`` when the data have no land cover).

    Returns:
        ``model`` (variant), ``point_id``, ``land_cover`` (or None), ``labels`` (one title per
        patch), ``images`` float (n, C, S, S)
        in physical units (for display), ``band_names``, ``local_spatial`` (n, h, w) and
        ``fusion_weights`` (3,) (see :func:`soilnet.inference.glam_maps`).

    Raises:
        ConfigurationError: no GLAM variant was trained.
    """
    import torch

    from soilnet.checkpoint import load_model
    from soilnet.errors import ConfigurationError
    from soilnet.inference import glam_maps
    from soilnet.models import VARIANTS

    exp = study.config.experiment
    glam = [v for v in exp.variants if VARIANTS[v].glam]
    if not glam:
        raise ConfigurationError(
            f"No GLAM variant among {list(exp.variants)}; attention maps need one."
        )
    hybrid = hybrid_variant(exp.variants)
    variant = hybrid if hybrid in glam else glam[0]
    store = study.store()
    key = RunKey("network", "random", None, variant, exp.seeds[0])
    path, _ = _run_record(study, key, store)
    model, norm, _ = load_model(path)
    test = study.split("random", None, store).test
    index = store.index.iloc[test]
    if "LC0_Desc" in index.columns:
        rows = index.groupby("LC0_Desc", sort=True).head(per_class)
        rows = rows.sort_values("LC0_Desc", kind="stable")
    else:
        rows = index.head(per_class)
    positions = store.index.index.get_indexer(rows.index)
    images = np.array(store.images[positions], dtype=np.float32)
    maps = glam_maps(model, norm.image(torch.from_numpy(images)))
    ids = rows["Point_ID"].to_numpy()
    land_cover = rows["LC0_Desc"].to_numpy() if "LC0_Desc" in rows else None
    return {
        "model": variant,
        "point_id": ids,
        "land_cover": land_cover,
        "labels": [str(i) for i in ids]
        if land_cover is None
        else [f"{lc}\n{i}" for lc, i in zip(land_cover, ids, strict=True)],
        "images": images,
        "band_names": store.band_names,
        **maps,
    }


def hybrid_variant(variants) -> str:
    """The SoilNet hybrid among ``variants``: the one with the climate branch (else the last)."""
    from soilnet.models import VARIANTS

    variants = list(variants)
    return next((v for v in variants if VARIANTS[v].uses_climate), variants[-1])


def map_run(study: Study) -> Path:
    """Run folder of the map model: the hybrid, first seed, random split."""
    exp = study.config.experiment
    key = RunKey("network", "random", None, hybrid_variant(exp.variants), exp.seeds[0])
    return _run_record(study, key, study.store())[0]


# ---------------------------------------------------------------------------------- chapter 7
def make_map(study: Study, grid_dir: str | Path | None = None):
    """Chapter 7: predict SOC wall to wall on the EPSG:3035 map grid and write COGs.

    - With ``grid_dir`` (a data folder of grid points: ``python -m soilnet grid``, then
      ``acquire``), its consolidated store is predicted, one point per cell (real data or twin).
    - Without it, on the twin, every land cell is rendered from the same synthetic world as the
      points, and the world's noise floor E[min(SOC, 87) | c1..c4] (the true map but for the
      independent noise) is written beside the prediction (``truth_map.tif``).
    - Without it, on real data, there is nothing to predict: returns (None, None).

    The maps go to ``<work_dir>/map/<address>/``, addressed by the run, the map settings and the
    grid store; a map already there (``soc_map.json`` beside its COG) is reused, so a map made
    over several processes by ``torchrun -m soilnet map`` is the chapter's map. Under an
    initialised torch.distributed group every rank predicts its share of the tiles and rank 0
    writes; the other ranks get (None, None).

    Returns:
        (prediction :class:`~soilnet.mapping.MapResult` or None, path of the twin's noise-floor
        map or None).
    """
    from soilnet.checkpoint import load_model
    from soilnet.mapping import (
        check_grid_points,
        predict_store_grid,
        predict_world_grid,
        truth_world_grid,
    )
    from soilnet.store import consolidate

    if grid_dir is None and not study.is_twin():
        return None, None
    run = map_run(study)
    model, norm, record = load_model(run)
    settings = study.config.map
    resolution_m = float(settings.resolution_km) * 1000.0
    scale = record["inputs"]["target_transform"]["scale_g_per_kg"]
    tiles = {
        "tile_cells": settings.tile_cells, "batch_size": settings.batch_size,
        "device": study.device, "amp": study.config.train.amp,
    }  # fmt: skip
    if grid_dir is not None:
        grid = consolidate(
            grid_dir, study.config.store, stores_dir=study.work_dir / "stores",
            require_target=False, progress=study.progress,
        )  # fmt: skip
        check_grid_points(grid, resolution_m, grid_dir)
        key = {"run": run.name, "map": asdict(settings), "grid": grid.fingerprint}
        out = study.map_dir / address(key)
        result = _map_once(
            out,
            lambda path: predict_store_grid(
                model, norm, grid, resolution_m, path, scale_g_per_kg=scale,
                progress=study.progress, **tiles,
            ),
        )  # fmt: skip
        return result, None
    inputs = world_grid_inputs(study.store())
    key_settings = asdict(settings)
    key_settings.pop("render_processes")  # how the cells are rendered, not what they hold
    out = study.map_dir / address({"run": run.name, "map": key_settings, "inputs": inputs})
    truth = out / "truth_map.tif"
    with map_world(study) as world:
        result = _map_once(
            out,
            lambda path: predict_world_grid(
                model, norm, world, resolution_m, path, scale_g_per_kg=scale,
                progress=study.progress, **inputs, **tiles,
            ),
        )  # fmt: skip
        if result is None:
            return None, None  # a rank of torchrun -m soilnet map other than 0
        if not truth.is_file():  # deterministic: the world's noise floor on this grid
            truth_world_grid(world, resolution_m, truth)
    return result, truth


@contextlib.contextmanager
def map_world(study: Study):
    """The twin's world for the map's cells: rendered in this process when
    ``map.render_processes`` is 1, else by a :class:`~soilnet.twin.pool.RenderPool` (the same
    values), stopped on exit."""
    world = _twin_world(study)
    if study.config.map.render_processes == 1:
        yield world
        return
    from soilnet.twin.pool import RenderPool

    with RenderPool(world, study.config.map.render_processes) as pool:
        yield pool


def world_grid_inputs(store) -> dict:
    """How the twin's map cells must be read to match the points the networks learnt from: the
    ``store``'s patch size (the default profile renders 32 px and trains on 16 px) and climate
    variables in its order; keyword arguments of :class:`soilnet.dataset.WorldGrid`."""
    return {"size_px": store.size_px, "climate_variables": list(store.climate_variables) or None}


MAP_RECORD = "soc_map.json"


def _map_once(out: Path, write):
    """The map at ``out``: the one already there, else ``write(out / "soc_map.tif")``'s,
    recorded beside it. None on a torchrun rank other than 0 (rank 0 writes)."""
    result = _finished_map(out)
    if result is None:
        out.mkdir(parents=True, exist_ok=True)
        result = write(out / "soc_map.tif")
        if result is not None:
            _record_map(result)
    return result


def _finished_map(out: Path):
    """The :class:`~soilnet.mapping.MapResult` of a map already written at ``out`` (by this
    chapter before, or by ``torchrun -m soilnet map``), or None. Its times are those of the
    run that wrote it."""
    from soilnet.mapping import MapResult

    record = out / MAP_RECORD
    if not (record.is_file() and (out / "soc_map.tif").is_file()):
        return None
    data = json.loads(record.read_text())
    return MapResult(**{**data, "path": out / "soc_map.tif", "shape": tuple(data["shape"])})


def _record_map(result) -> None:
    from soilnet.io.atomic import atomic_path

    with atomic_path(result.path.parent / MAP_RECORD) as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2))
