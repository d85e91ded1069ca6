"""The audit run: :func:`run_audit` computes and writes everything, :func:`format_report` prints.

``run_audit`` writes into its output folder the tables (CSV), the figures (PNG), ``report.md``
(what :func:`format_report` prints) and ``audit.json`` (date, SHA-256 of every input, notes).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilnet.audit.figures import plot_distributions, plot_nn_distances
from soilnet.audit.files import (
    HYBRID,
    LUCAS_PATH,
    PUBLISHED_MODELS,
    PublishedModel,
    _results_dir,
    read_lucas,
)
from soilnet.audit.geography import (
    KNN_K,
    distance_summary,
    geo_knn_scores,
    laea_xy,
    nearest_distance_km,
)
from soilnet.audit.published import read_published, read_run_ids
from soilnet.audit.tables import (
    METRIC_DECIMALS,
    clip_effect,
    distribution_table,
    metrics_row,
    recompute_table1,
)
from soilnet.bands import PAPER_CLIP_G_PER_KG


@dataclass
class AuditResult:
    """Everything the audit computed; :func:`format_report` prints it."""

    table1: pd.DataFrame
    clip_effect: pd.DataFrame
    distribution: pd.DataFrame
    distances: pd.DataFrame
    knn: pd.DataFrame
    notes: list[str]
    files: dict[str, Path]
    out_dir: Path
    date: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_audit(
    reference: str | Path,
    out_dir: str | Path,
    *,
    models: Sequence[PublishedModel] = PUBLISHED_MODELS,
    k: int = KNN_K,
    clip: float = PAPER_CLIP_G_PER_KG,
    date: str | None = None,
) -> AuditResult:
    """Run the four parts of the audit and write their tables and figures into ``out_dir``.

    Writes ``table1.csv``, ``clip_effect.csv``, ``distribution.csv``, ``nn_distance.csv``,
    ``geo_knn.csv``, ``distribution.png``, ``nn_distance.png``, ``report.md`` (what
    :func:`format_report` prints) and ``audit.json`` (inputs with SHA-256, notes, date).

    Args:
        reference: a checkout of the authors' repository.
        out_dir: output folder (created).
        models: the Table 1 rows and their files.
        k: neighbours of the geographic kNN.
        date: ISO date recorded (default: today).
    """
    reference = Path(reference)
    _results_dir(reference)
    lucas = read_lucas(reference)
    published = read_published(reference, lucas, models, clip)
    notes = [f"{LUCAS_PATH}: {len(lucas):,} rows"] + published.notes
    test_ids = published.test_ids
    run_ids, run_notes = read_run_ids(reference, test_ids, models)
    notes += run_notes

    oc = lucas.set_index("Point_ID")["OC"]
    xy = pd.DataFrame(laea_xy(lucas["long"], lucas["lat"]), index=lucas["Point_ID"])
    is_test = lucas["Point_ID"].isin(test_ids).to_numpy()
    trainings = {f"LUCAS − test (n = {int((~is_test).sum()):,})": ~is_test}
    if run_ids is not None:
        is_val_test = lucas["Point_ID"].isin(run_ids).to_numpy()
        trainings[f"LUCAS − val+test (n = {int((~is_val_test).sum()):,})"] = ~is_val_test
    test_xy = xy.loc[test_ids].to_numpy()
    test_observed = np.minimum(oc.loc[test_ids].to_numpy(), clip)

    distances, knn_rows = {}, []
    for name, mask in trainings.items():
        train_xy = xy.to_numpy()[mask]
        distances[name] = nearest_distance_km(test_xy, train_xy)
        scores, _ = geo_knn_scores(
            train_xy, lucas["OC"].to_numpy()[mask], test_xy, test_observed, k, clip
        )
        knn_rows.append({"model": f"{k}-NN geographic, training = {name}", **scores})
        mean_pred = np.full(len(test_ids), np.minimum(lucas["OC"].to_numpy()[mask], clip).mean())
        knn_rows.append(
            {"model": f"training mean, training = {name}", **metrics_row(test_observed, mean_pred)}
        )
    hybrid = published.frames.get(HYBRID, next(iter(published.frames.values())))
    knn_rows.append(
        {
            "model": f"{HYBRID} (published, for comparison)",
            **metrics_row(hybrid["observed"], hybrid["predicted"]),
        }
    )

    result = AuditResult(
        table1=recompute_table1(published.frames),
        clip_effect=clip_effect(published.frames, oc, clip),
        distribution=distribution_table(
            {"LUCAS 2015": lucas["OC"], "published test set": oc.loc[test_ids]}, clip
        ),
        distances=distance_summary(distances),
        knn=pd.DataFrame(knn_rows, columns=["model", *METRIC_DECIMALS, "n"]),
        notes=notes,
        files={"LUCAS": reference / LUCAS_PATH, **published.files},
        out_dir=Path(out_dir),
        date=date or _dt.date.today().isoformat(),
    )
    _write(result, lucas["OC"].to_numpy(), oc.loc[test_ids].to_numpy(), distances, reference)
    return result


def _write(
    result: AuditResult,
    lucas_oc: np.ndarray,
    test_oc: np.ndarray,
    distances: Mapping[str, np.ndarray],
    reference: Path,
) -> None:
    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result.table1.to_csv(out / "table1.csv", index=False)
    result.clip_effect.to_csv(out / "clip_effect.csv", index=False)
    result.distribution.to_csv(out / "distribution.csv", index_label="statistic")
    result.distances.to_csv(out / "nn_distance.csv", index=False)
    result.knn.to_csv(out / "geo_knn.csv", index=False)
    plot_distributions(lucas_oc, test_oc).savefig(out / "distribution.png", dpi=120)
    plot_nn_distances(distances).savefig(out / "nn_distance.png", dpi=120)
    (out / "report.md").write_text(format_report(result) + "\n")
    inputs = {
        str(path.relative_to(reference)): {"sha256": _sha256(path)}
        for path in result.files.values()
    }
    meta = {"date": result.date, "reference": str(reference), "inputs": inputs}
    meta["notes"] = result.notes
    (out / "audit.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- report


def _fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, never as "-0.000"."""
    return f"{round(value, digits) + 0.0:.{digits}f}"


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    # The poster printed two decimals: reported rows keep its precision.
    reported = (out["source"] == "reported").to_numpy() if "source" in out else np.zeros(len(out))
    for col, digits in METRIC_DECIMALS.items():
        if col in out.columns:
            out[col] = [
                "" if pd.isna(v) else _fixed(v, 2 if rep else digits)
                for v, rep in zip(out[col].astype(float), reported, strict=True)
            ]
    if "n" in out.columns:
        out["n"] = ["" if pd.isna(v) else f"{int(v):,}" for v in out["n"]]
    return out


def _distribution_text(table: pd.DataFrame) -> pd.DataFrame:
    out = table.astype(object).copy()
    for stat in out.index:
        if stat == "n":
            fmt = "{:,.0f}"
        elif stat == "share_at_clip":
            fmt = "{:.2%}"
        else:
            fmt = "{:.2f}"
        out.loc[stat] = [fmt.format(v) for v in table.loc[stat]]
    names = {
        "share_at_clip": "share with OC ≥ 87 (at the clip)",
        "mean_clipped": "mean of min(OC, 87)",
        "sd_clipped": "SD of min(OC, 87)",
        "sd": "SD",
    }
    return out.rename(index=names).rename_axis("OC (g/kg)").reset_index()


def _distance_text(table: pd.DataFrame) -> pd.DataFrame:
    out = table.astype(object).copy()
    for col in table.columns:
        if col == "training":
            continue
        if col == "n_test":
            out[col] = [f"{v:,}" for v in table[col]]
        elif col.startswith("share"):
            out[col] = [f"{v:.1%}" for v in table[col]]
        else:
            out[col] = [f"{v:.2f}" for v in table[col]]
    return out


def _markdown(table: pd.DataFrame) -> str:
    """A markdown table of preformatted strings: the first column left, the others right."""
    align = ["left"] * (2 if "source" in table or "evaluation" in table else 1)
    align += ["right"] * (table.shape[1] - len(align))
    return table.to_markdown(index=False, disable_numparse=True, colalign=align)


def readings(result: AuditResult) -> list[str]:
    """Three readings of the tables, each written from their numbers (never typed by hand)."""
    table1 = result.table1[result.table1["source"] == "recomputed"].set_index("model")
    clip = result.clip_effect.set_index(["model", "evaluation"])
    hybrid_clipped = clip.loc[(HYBRID, "clipped at 87")]
    hybrid_below = clip.loc[(HYBRID, "OC < 87 only")]
    hybrid_raw = clip.loc[(HYBRID, "unclipped OC")]
    at_clip = int(hybrid_clipped["n"] - hybrid_below["n"])
    oc_max = float(result.distribution.loc["max", "published test set"])
    knn = result.knn[result.knn["model"].str.startswith(f"{KNN_K}-NN")].iloc[-1]
    cnns = [m.label for m in PUBLISHED_MODELS if m.kind == "network" and m.label != HYBRID]
    cnn_text = " and ".join(f"{name} ({table1.loc[name, 'rmse']:.2f})" for name in cnns)
    below_all = all(knn["rmse"] < table1.loc[name, "rmse"] for name in cnns)
    gap = float(knn["rmse"] - table1.loc[HYBRID, "rmse"])
    falls = hybrid_below["r2"] < hybrid_clipped["r2"]
    return [
        f"Without the {at_clip:,} test points at the clip, the R² of {HYBRID} "
        f"{'falls' if falls else 'does not fall'} from {hybrid_clipped['r2']:.3f} to "
        f"{hybrid_below['r2']:.3f}"
        + (
            ": part of the published R² comes from telling the soils at the clip from the rest."
            if falls
            else "."
        ),
        f"Against measured OC (up to {oc_max:.0f} g/kg in the test set) its RMSE is "
        f"{hybrid_raw['rmse']:.2f} g/kg, {hybrid_raw['rmse'] / hybrid_clipped['rmse']:.1f} times "
        f"the RMSE against clipped targets ({hybrid_clipped['rmse']:.2f}).",
        f"The {KNN_K}-NN on coordinates alone ({knn['model']}) has RMSE {knn['rmse']:.2f} g/kg: "
        f"{'below' if below_all else 'not below'} both CNN-only variants, {cnn_text}, and "
        f"{abs(gap):.2f} g/kg {'above' if gap > 0 else 'below'} {HYBRID} "
        f"({table1.loc[HYBRID, 'rmse']:.2f}).",
    ]


def format_report(result: AuditResult) -> str:
    """The audit as markdown: input checks, then the four tables (what the CLI prints)."""
    parts = [
        f"# Audit of the published SoilNet results ({result.date})",
        "",
        "## Inputs",
        *[f"- {note}" for note in result.notes],
        "",
        "## 1. Table 1 recomputed (g/kg, targets clipped at 87; RPIQ = IQR(observed)/RMSE; "
        "bias = mean(predicted − observed))",
        "",
        _markdown(_rounded(result.table1)),
        "",
        "Reported rows: the poster's printed numbers (soilnet.reporting.PUBLISHED_TABLE1).",
        "",
        "### The same predictions without the clip",
        "",
        _markdown(_rounded(result.clip_effect)),
        "",
        "## 2. OC distribution: LUCAS 2015 and the published test set",
        "",
        _markdown(_distribution_text(result.distribution)),
        "",
        "Figure: distribution.png",
        "",
        "## 3. Distance from each test point to its nearest training point (km, EPSG:3035)",
        "",
        _markdown(_distance_text(result.distances)),
        "",
        "Figure: nn_distance.png",
        "",
        "## 4. Coordinates-only baselines on the published test points (g/kg, clipped at 87)",
        "",
        _markdown(_rounded(result.knn)),
        "",
        "## 5. Readings, written from the tables above",
        "",
        *[f"- {text}" for text in readings(result)],
    ]
    return "\n".join(parts)
