"""The twin as an instrument: planted effects the study must detect (chapter 8).

A grid of twins differs only in one variance share (:func:`soilnet.twin.share_grid`: the same
points, patches, climate series and seed; only SOC changes). On each twin every model part is
compared with its ablation on the same test points and seeds, by the rule of
:mod:`soilnet.comparison`; the *gain* of a part is RMSE(ablation) − RMSE(full), g/kg, positive
when the part helps:

=========  =======================  ==============================  ============================
part       share varied             full model                      ablation
=========  =======================  ==============================  ============================
pixel      pixel (c1)               paper RF (centre 2x2 pixels)    training mean
context    context (c2)             CNN (``<backbone>``)            paper RF (centre 2x2 pixels)
attention  context (c2), a control  ``<backbone>_glam``             ``<backbone>``
climate    climate dynamics (c3)    ``<backbone>_glam_lstm``        ``<backbone>_glam``
spatial    spatial residual (c4)    paper RF + residual kriging     paper RF
=========  =======================  ==============================  ============================

The paper's Random Forest (:func:`soilnet.baselines.paper_rf_features`) reads only the centre
2x2 pixels of the 12 optical bands, so it is the pixel-only model: what the CNN gains over it
is what the patch around the centre pixel adds. Residual kriging is that of chapter 3
(:mod:`soilnet.kriging`), on the forest's out-of-bag training residuals. The twin plants no
effect that only attention can read (c2 is a patch-wide share of cover and the centre's
relative relief, which global pooling sees), so GLAM over the CNN is a control: it should not
win at any share.

A planted effect is **detected** when, at the largest share, the full model beats its ablation
by the rule, and **specific** when at share 0 it does not. Where it is not detected, the twin
says whether that is a finding about the model or about the twin: the closed-form mean that
knows every component (the noise floor) is compared with the same mean without the planted one
(:func:`soilnet.twin.component_withheld_lognormal`) on the same test points. If even that
cannot tell them apart, the planted share is too small for this test set (the twin's limit);
if it can, the model missed an effect that is there to be read (the model's limit, with its
training budget as evidence).

Every twin lives in ``<work_dir>/falsification/``: ``twin-<address>/`` (the data, addressed by
its :class:`~soilnet.twin.TwinConfig`) and ``work-<address>/`` (its own workspace: store,
split, network runs as chapter 2 makes them, and forest runs addressed by their inputs), so a
second run of the chapter reuses every run whose inputs are unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.comparison import BEATS, LOSES, Comparison, paired_rmse_difference
from soilnet.config import ExperimentConfig, FalsificationConfig
from soilnet.errors import ConfigurationError
from soilnet.twin import SHARE_NAMES, TwinConfig, share_grid
from soilnet.workspace import Study, address

#: Protocol of every comparison: the random split, where neighbouring training points let
#: residual interpolation show the spatial share.
PROTOCOL = "random"
#: Bootstrap resamples of each comparison.
N_BOOT = 2000
_FOREST_VERSION = 1  # bump when the forest runs change, so cached ones are not reused


@dataclass(frozen=True)
class Part:
    """A model part and its ablation.

    Attributes:
        name: the part (``context``, ``attention``, ...).
        component: the share it should read (a name of :data:`soilnet.twin.SHARE_NAMES`).
        full, ablation: model names (a network variant, ``rf_paper``, ``rf_paper+rk``, ``null``).
        label: the comparison in words.
        expects_gain: True when the twin plants an effect the part should read (its gain grows
            with the share); False for a control (no gain expected at any share).
    """

    name: str
    component: str
    full: str
    ablation: str
    label: str
    expects_gain: bool = True


def parts(config: FalsificationConfig) -> list[Part]:
    """The parts measured for ``config``'s components, in table order."""
    bb = config.backbone
    label = f"ResNet-{bb.removeprefix('resnet')}"
    table = [
        Part("pixel", "pixel", "rf_paper", "null", "pixel-only forest over the training mean"),
        Part("context", "context", bb, "rf_paper", f"{label} over the pixel-only forest"),
        Part(
            "attention", "context", f"{bb}_glam", bb, f"{label}-GLAM over {label}",
            expects_gain=False,
        ),
        Part(
            "climate", "climate", f"{bb}_glam_lstm", f"{bb}_glam",
            f"{label}-GLAM+LSTM over {label}-GLAM",
        ),
        Part("spatial", "spatial", "rf_paper+rk", "rf_paper", "residual kriging over the forest"),
    ]  # fmt: skip
    if not config.attention:
        table = [p for p in table if p.name != "attention"]
    return [p for p in table if p.component in config.components]


def _is_network(model: str) -> bool:
    from soilnet.models import VARIANTS

    return model in VARIANTS


def networks_for(config: FalsificationConfig, component: str) -> tuple[str, ...]:
    """Network variants trained on the twins of ``component``'s grid, in training order."""
    names = [m for p in parts(config) if p.component == component for m in (p.ablation, p.full)]
    return tuple(dict.fromkeys(m for m in names if _is_network(m)))


def parts_table(config: FalsificationConfig) -> pd.DataFrame:
    """The parts measured, as the chapter lists them before the results."""
    return pd.DataFrame(
        {
            "part": p.name, "planted share": p.component, "full model": p.full,
            "ablation": p.ablation, "comparison": p.label,
            "expected": "gain grows with the share" if p.expects_gain else "no gain (a control)",
        }
        for p in parts(config)
    )  # fmt: skip


def grid_sentence(config: FalsificationConfig) -> str:
    """The grid's design in one sentence, from the configuration."""
    levels = ", ".join(f"{lv:g}" for lv in config.levels)
    seeds = len(config.seeds)
    return (
        f"{len(config.components) * len(config.levels)} twins: for each of the "
        f"{', '.join(config.components)} shares, planted at {levels} of the variance of log "
        f"SOC, the other shares rescaled; {config.n_points:,} points each at "
        f"{config.patch_size_px} px (the same points, seed and patches in every twin); networks "
        f"on a {config.backbone} backbone trained for {config.epochs} epoch"
        f"{'s' if config.epochs != 1 else ''}; {seeds} seed{'s' if seeds != 1 else ''} per "
        "model; the random split."
    )


# ---------------------------------------------------------------------------------- the twins
def applies_to(study: Study) -> bool:
    """True when the study's data are a twin (its own twin may still be ungenerated)."""
    data = study.data_dir
    return study.is_twin() or (
        data.name.startswith("twin-") and not (data / "points.csv").is_file()
    )


def chapter_study(profile="smoke", data_dir=None, work_dir=None, overrides=None, device="auto"):
    """The study of chapter 8: the one chapter 1 recorded in ``work_dir`` (settings checked
    against it), else the profile with overrides; the chapter needs nothing chapter 1 made."""
    from soilnet.workspace import REPO_ROOT, _resolve_path

    work = _resolve_path(work_dir) or REPO_ROOT / "runs" / profile
    if (work / "study.json").is_file():
        return Study.open(profile, data_dir, work_dir, overrides, device)
    return Study.create(profile, data_dir, work_dir, overrides, device)


def base_twin(study: Study) -> TwinConfig:
    """The study's twin at the falsification size: its shares, seed and settings."""
    fc = study.config.falsification
    return replace(study.config.twin, n_points=fc.n_points, patch_size_px=fc.patch_size_px)


def twin_study(study: Study, twin: TwinConfig, variants: tuple[str, ...]) -> Study:
    """The workspace of one grid twin: the study's settings with this twin, its patch size and
    the falsification's networks, seeds and epochs (``variants`` may be empty: a grid of
    forests only; the backbone then stands in the configuration and is never trained)."""
    fc = study.config.falsification
    config = replace(
        study.config,
        twin=twin,
        store=replace(study.config.store, patch_size_px=fc.patch_size_px),
        experiment=ExperimentConfig(
            variants=variants or (f"{fc.backbone}",), seeds=fc.seeds, epochs=fc.epochs,
            epochs_lstm=fc.epochs, spatial_variants=variants or (f"{fc.backbone}",),
        ),
    )  # fmt: skip
    key = address(asdict(twin))
    root = study.work_dir / "falsification"
    return Study(config, root / f"work-{key}", root / f"twin-{key}", study.device, study.progress)


def log_variance(data_dir: str | Path) -> float:
    """Variance of log SOC (log g/kg) over a data folder's points (``points.csv``)."""
    oc = pd.read_csv(Path(data_dir) / "points.csv", encoding="utf-8-sig")["OC"].to_numpy(float)
    return float(np.log(oc).var())


# ---------------------------------------------------------------------------------- the runs
def _forest_run(tstudy: Study, store, seed: int) -> pd.DataFrame:
    """Test predictions (g/kg) of the training mean, the paper RF and the paper RF with residual
    kriging of its out-of-bag training residuals; cached in ``runs/<address>``."""
    from soilnet.baselines import fit_predict_baselines
    from soilnet.dataset import TargetTransform, point_arrays
    from soilnet.io.atomic import atomic_dir
    from soilnet.kriging import SETTINGS, regression_kriging

    target = TargetTransform(tstudy.config.train.clip_g_per_kg)
    split = tstudy.split(PROTOCOL, None, store)
    key = {
        "kind": "falsification-forests", "store": store.fingerprint,
        "split": tstudy.split_dir().name, "protocol": PROTOCOL, "seed": int(seed),
        "target_transform": target.to_dict(), "kriging": SETTINGS, "version": _FOREST_VERSION,
    }  # fmt: skip
    path = tstudy.runs_dir / address(key)
    if (path / "predictions.csv").is_file():
        return pd.read_csv(path / "predictions.csv")
    train = point_arrays(store, split.train, target)
    test = point_arrays(store, split.test, target)
    res = fit_predict_baselines(
        train, test, names=("null", "rf_paper"), band_names=store.band_names,
        random_state=int(seed), n_jobs=-1,
    )  # fmt: skip
    rk = regression_kriging(
        train["xy"], train["target"], res.models["rf_paper"].oob_prediction_, test["xy"],
        res["rf_paper"], **SETTINGS,
    )  # fmt: skip
    table = pd.DataFrame(
        {
            "Point_ID": test["point_id"], "target_g_per_kg": test["target"],
            "null": res["null"], "rf_paper": res["rf_paper"],
            "rf_paper+rk": rk.predicted_g_per_kg,
        }
    )  # fmt: skip
    with atomic_dir(path) as tmp:
        table.to_csv(tmp / "predictions.csv", index=False)
        record = {**key, "variogram": rk.variogram, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        (tmp / "run.json").write_text(json.dumps(record, indent=2, default=str))
    return table


@dataclass
class TwinRuns:
    """One grid twin's test predictions and what the twin knows about them.

    Attributes:
        component, level: the share varied and its planted value.
        twin: the twin's settings.
        point_id: int (n,) test points; ``observed``: float (n,) their clipped SOC, g/kg.
        predictions: model -> float (n_seeds, n) g/kg, seeds in configuration order.
        best_is_last: network -> number of seeds whose best validation epoch was the last.
        noise_floor: float (n,) E[min(SOC, 87) | c1..c4], g/kg.
        withheld: float (n,) the same mean without the planted component, g/kg.
        log_variance: variance of log SOC over the twin's points.
        seconds: wall time of this call (runs reused cost only their reading).
    """

    component: str
    level: float
    twin: TwinConfig
    point_id: np.ndarray
    observed: np.ndarray
    predictions: dict[str, np.ndarray]
    best_is_last: dict[str, int]
    noise_floor: np.ndarray
    withheld: np.ndarray
    log_variance: float
    seconds: float


def run_twin(study: Study, component: str, level: float) -> TwinRuns:
    """Generate (or reuse) one grid twin and run (or reuse) every model its parts compare."""
    from soilnet.experiment import _run_record, plan, prepare_data, train_networks
    from soilnet.twin.oracle import clipped_lognormal_mean, component_withheld_lognormal

    start = time.perf_counter()
    fc = study.config.falsification
    (twin,) = share_grid(base_twin(study), component, [level])
    tstudy = twin_study(study, twin, networks_for(fc, component))
    prepare_data(tstudy)
    store = tstudy.store()
    forests = [_forest_run(tstudy, store, s) for s in fc.seeds]
    ids = forests[0]["Point_ID"].to_numpy()
    predictions = {m: np.stack([f[m].to_numpy() for f in forests]) for m in forests[0].columns[2:]}
    best_is_last: dict[str, int] = {}
    variants = networks_for(fc, component)
    if variants:
        train_networks(tstudy, PROTOCOL)
        for variant in variants:
            rows, last = [], 0
            for key in plan(tstudy, "network", PROTOCOL, [variant]):
                path, record = _run_record(tstudy, key, store)
                table = pd.read_csv(path / "predictions.csv")
                test = table[table["split"] == "test"].set_index("Point_ID")
                rows.append(test["predicted_g_per_kg"].reindex(ids).to_numpy())
                last += int(record["best_epoch"] == record["epochs_run"])
            predictions[variant] = np.stack(rows)
            best_is_last[variant] = last
    truth = pd.read_csv(tstudy.data_dir / "truth.csv").set_index("Point_ID").loc[ids]
    summary = json.loads((tstudy.data_dir / "twin.json").read_text())
    a, b = component_withheld_lognormal(
        summary["mu"], summary["sigma"], twin.shares, truth[["c1", "c2", "c3", "c4"]].to_numpy(),
        SHARE_NAMES.index(component),
    )  # fmt: skip
    return TwinRuns(
        component=component, level=float(level), twin=twin, point_id=ids,
        observed=forests[0]["target_g_per_kg"].to_numpy(), predictions=predictions,
        best_is_last=best_is_last, noise_floor=truth["noise_floor_clipped"].to_numpy(),
        withheld=clipped_lognormal_mean(a, b), log_variance=log_variance(tstudy.data_dir),
        seconds=time.perf_counter() - start,
    )  # fmt: skip


def run_grid(study: Study) -> list[TwinRuns]:
    """Every twin of every configured grid, runs made or reused (see the module docstring).

    Raises:
        ConfigurationError: the study's data are real (:func:`applies_to`).
    """
    if not applies_to(study):
        raise ConfigurationError(
            f"{study.data_dir} is real data (no truth.csv): the planted effects exist on the "
            "synthetic twin only. Run chapter 8 without a data folder."
        )
    fc = study.config.falsification
    return [run_twin(study, c, lv) for c in fc.components for lv in fc.levels]


# ---------------------------------------------------------------------------------- the gains
def _compare(observed, full, ablation) -> Comparison:
    return paired_rmse_difference(observed, full, ablation, n_boot=N_BOOT)


def gain_table(grid: list[TwinRuns], config: FalsificationConfig) -> pd.DataFrame:
    """One row per (part, planted share): the part's gain over its ablation and the planted
    effect's worth, both with their intervals (g/kg).

    Columns: ``part``, ``component``, ``share`` (planted), ``full``, ``ablation``,
    ``gain_g_per_kg`` (RMSE(ablation) − RMSE(full), mean over seeds), ``gain_lower``,
    ``gain_upper`` (its 95 % paired-bootstrap interval), ``per_seed`` (gains, g/kg),
    ``verdict`` (full against ablation, :mod:`soilnet.comparison`), ``worth_g_per_kg``,
    ``worth_lower``, ``worth_upper`` (RMSE of the noise floor without the component minus the
    noise floor's: what knowing it exactly is worth on these points), ``worth_verdict``,
    ``best_is_last`` (seeds whose best validation epoch was the last, networks only, else
    NaN), ``n_seeds``, ``n_test``, ``log_variance`` (of log SOC over the twin's points).
    """
    rows = []
    for runs in grid:
        worth = _compare(runs.observed, runs.noise_floor, runs.withheld)
        for part in parts(config):
            if part.component != runs.component:
                continue
            result = _compare(
                runs.observed, runs.predictions[part.full], runs.predictions[part.ablation]
            )
            rows.append(
                {
                    "part": part.name, "component": part.component, "share": runs.level,
                    "full": part.full, "ablation": part.ablation,
                    "gain_g_per_kg": -result.delta_rmse, "gain_lower": -result.upper,
                    "gain_upper": -result.lower,
                    "per_seed": tuple(-d for d in result.per_seed), "verdict": result.verdict,
                    "worth_g_per_kg": -worth.delta_rmse, "worth_lower": -worth.upper,
                    "worth_upper": -worth.lower, "worth_verdict": worth.verdict,
                    "best_is_last": runs.best_is_last.get(part.full, np.nan),
                    "n_seeds": len(result.per_seed), "n_test": result.n_points,
                    "log_variance": runs.log_variance,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def display_table(gains: pd.DataFrame) -> pd.DataFrame:
    """The gain table as the chapter shows it: rounded, one interval column per quantity."""

    def interval(lo, hi):
        return [f"{a:+.2f} to {b:+.2f}" for a, b in zip(lo, hi, strict=True)]

    return pd.DataFrame(
        {
            "part": gains["part"], "planted share": gains["share"],
            "full model": gains["full"], "ablation": gains["ablation"],
            "gain (g/kg)": gains["gain_g_per_kg"].round(2),
            "95 % interval": interval(gains["gain_lower"], gains["gain_upper"]),
            "per seed": [", ".join(f"{g:+.2f}" for g in s) for s in gains["per_seed"]],
            "verdict": gains["verdict"],
            "worth (g/kg)": gains["worth_g_per_kg"].round(2),
            "worth interval": interval(gains["worth_lower"], gains["worth_upper"]),
            "var log SOC": gains["log_variance"].round(3),
        }
    )  # fmt: skip


# ---------------------------------------------------------------------------------- the verdicts
#: Outcomes of :func:`outcomes`, per part.
DETECTED, NOT_SPECIFIC, NOT_DETECTED = "detected", "detected, not specific", "not detected"
CONTROL_HOLDS, CONTROL_FAILS = "no gain, as expected", "unexpected gain"


def _gain_text(row) -> str:
    return (
        f"{row.gain_g_per_kg:+.2f} g/kg (95 % interval {row.gain_lower:+.2f} to "
        f"{row.gain_upper:+.2f}; per seed {', '.join(f'{g:+.2f}' for g in row.per_seed)})"
    )


def outcomes(gains: pd.DataFrame, config: FalsificationConfig) -> pd.DataFrame:
    """Per part, whether its planted effect was detected, and one sentence saying so with the
    numbers and, where it was not, whether that is a finding about the model or the twin.

    Returns:
        one row per part: ``part``, ``component``, ``outcome`` (:data:`DETECTED`,
        :data:`NOT_SPECIFIC`, :data:`NOT_DETECTED`, or for the attention control
        :data:`CONTROL_HOLDS` / :data:`CONTROL_FAILS`), ``finding_about`` (``"model"``,
        ``"twin"`` or ``""``) and ``sentence``.
    """
    rows = []
    for part in parts(config):
        table = gains[gains["part"] == part.name].sort_values("share")
        if table.empty:
            continue
        zero, top = table.iloc[0], table.iloc[-1]
        what = f"**{part.name}** ({part.label}, planted {part.component} share)"
        about = ""
        if not part.expects_gain:
            wins = table[table["verdict"] == BEATS]
            if wins.empty:
                outcome = CONTROL_HOLDS
                losses = table[table["verdict"] == LOSES]["share"]
                text = (
                    f"{what}: a control, and it holds: at none of the planted shares does the "
                    "full model beat its ablation"
                    + (
                        f" (it loses to it at share {', '.join(f'{s:g}' for s in losses)})"
                        if len(losses)
                        else ""
                    )
                    + f". At share {zero.share:g} the gain is {_gain_text(zero)}; at share "
                    f"{top.share:g} it is {_gain_text(top)}."
                )
            else:
                outcome = CONTROL_FAILS
                shares = ", ".join(f"{s:g}" for s in wins["share"])
                text = (
                    f"{what}: a control, and it fails: the full model beats its ablation at share "
                    f"{shares} (gain {_gain_text(wins.iloc[-1])}), though the twin plants nothing "
                    "only attention can read; the gain comes from elsewhere (capacity or "
                    "optimisation), not from a planted effect."
                )
        elif top.verdict == BEATS:
            specific = zero.verdict != BEATS
            outcome = DETECTED if specific else NOT_SPECIFIC
            text = (
                f"{what}: detected. At share {top.share:g} the gain is {_gain_text(top)}; at "
                f"share {zero.share:g} it is {_gain_text(zero)}"
            )
            text += (
                ", where the rule finds no gain."
                if specific
                else ", where the rule finds a gain too: part of it does not come from the "
                "planted share, so the ablation differs from the full model in more than this "
                "component."
            )
        else:
            outcome = NOT_DETECTED
            text = (
                f"{what}: not detected. At share {top.share:g} the gain is {_gain_text(top)}, "
                f"which the rule calls '{top.verdict}'. "
            )
            worth = (
                f"knowing the component exactly is worth {top.worth_g_per_kg:+.2f} g/kg "
                f"(interval {top.worth_lower:+.2f} to {top.worth_upper:+.2f}) on these "
                f"{top.n_test:,} test points"
            )
            if top.worth_verdict != BEATS:
                about = "twin"
                text += (
                    f"This is a finding about the twin, not the model: even the closed-form "
                    f"mean that knows it cannot be told apart from the mean without it ({worth}); "
                    "the planted share is too small against the noise for this test set."
                )
            else:
                about = "model"
                recovered = (
                    f"recovers {100 * top.gain_g_per_kg / top.worth_g_per_kg:.0f} % of it"
                    if top.gain_g_per_kg > 0
                    else "recovers none of it"
                )
                text += (
                    f"This is a finding about the model as trained here: {worth}, and the model "
                    f"{recovered}."
                )
                if not np.isnan(top.best_is_last):
                    n_last, n = int(top.best_is_last), int(top.n_seeds)
                    text += (
                        f" Its best validation epoch was its last ({config.epochs} epochs) in "
                        f"{n_last} of {n} seeds: "
                        + (
                            "the full model was still improving overall when training stopped, "
                            "so this run cannot say whether more epochs would recover the "
                            "component (the validation RMSE measures all of SOC, not this "
                            "component's part of it)."
                            if n_last
                            else "the full model had stopped improving on validation, so more "
                            "epochs of this schedule are unlikely to recover it."
                        )
                    )
        rows.append(
            {"part": part.name, "component": part.component, "outcome": outcome,
             "finding_about": about, "sentence": text}
        )  # fmt: skip
    return pd.DataFrame(rows)


def variance_sentence(gains: pd.DataFrame) -> str:
    """How far the share mechanism held the variance of log SOC fixed across the grid."""
    values = gains.drop_duplicates(["component", "share"])["log_variance"]
    lo, hi = values.min(), values.max()
    return (
        f"Across the {len(values)} twins the variance of log SOC ranges from {lo:.3f} to "
        f"{hi:.3f} ({100 * (hi - lo) / values.mean():.0f} % of its mean): the shares always sum "
        "to 1, but the world refits its scale to the LUCAS quartiles for each twin and the pixel "
        "and context components are correlated, so the total is held only approximately."
    )
