"""Tables of the book: labels, the Table 1 analogue, rankings and data summaries.

One label registry (:func:`model_label`) serves every table and figure: the twin's references,
the baselines (:data:`soilnet.baselines.BASELINE_LABELS`) and the network variants (the paper's
names, :func:`soilnet.models.paper_label`). The SoilNet hybrid is chosen through the variant
spec (:func:`soilnet.experiment.hybrid_variant`), not by its name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from soilnet.baselines import BASELINE_LABELS
from soilnet.comparison import RULE, comparison_table
from soilnet.errors import ConfigurationError
from soilnet.experiment import all_runs
from soilnet.metrics import METRIC_ORDER, format_mean_sd, summarize_runs
from soilnet.workspace import Study

#: Labels of the twin's closed-form references (:data:`soilnet.experiment.TWIN_REFERENCES`),
#: each named by what it conditions on. The noise floor leaves only the independent noise: no
#: model beats it in expectation. The observable reference conditions on the centre land cover,
#: the soil darkness where the patch shows soil, context, droughts and the spatial residual.
REFERENCE_LABELS = {
    "noise_floor": "Noise floor (twin): E[min(SOC, 87) | c1..c4]",
    "observable_reference": "Observable reference (twin)",
}
#: The results table's column: each model's mean RMSE minus the noise floor's (twin only).
FLOOR_GAP_COLUMN = "RMSE above noise floor"
METRIC_LABELS = {
    "rmse": "RMSE",
    "r2": "R²",
    "mae": "MAE",
    "ccc": "CCC",
    "rpiq": "RPIQ",
    "bias": "Bias",
}

#: The poster's Table 1 (RMSE, R², MAE, CCC on real LUCAS 2015 test points, clipped at 87).
#: Reported figures, not produced here: shown beside our rows and labelled as such.
PUBLISHED_TABLE1 = pd.DataFrame(
    [
        ("ResNet-101", 19.88, 0.34, 14.42, 0.52),
        ("ResNet-101-GLAM", 19.74, 0.35, 14.44, 0.54),
        ("ResNet-101-GLAM+LSTM", 18.99, 0.40, 13.83, 0.58),
        ("RF", 21.25, 0.25, 16.02, 0.37),
    ],
    columns=["model", "rmse", "r2", "mae", "ccc"],
)

#: Test points of the published Table 1 (the poster: a random 20 % of the 21,852 patches).
PUBLISHED_TEST_POINTS = 4371

#: LUCAS 2015 topsoil OC statistics (g/kg, 21,859 points) of ``LUCAS_2015_all.csv``, shown
#: beside the data's own statistics.
LUCAS_OC_REFERENCE = {
    "P5": 6.2,
    "Q1": 12.5,
    "median": 20.4,
    "Q3": 38.6,
    "P95": 149.0,
    "share > 87": 0.0904,
}


def model_label(name: str) -> str:
    """Display label of a twin reference, a baseline, a network variant or its residual
    kriging (``"<model>+rk"``)."""
    from soilnet.kriging import RK_SUFFIX, rk_label
    from soilnet.models import paper_label

    if name.endswith(RK_SUFFIX):
        return rk_label(model_label(name.removesuffix(RK_SUFFIX)))
    return REFERENCE_LABELS.get(name) or BASELINE_LABELS.get(name) or paper_label(name)


def model_labels() -> pd.DataFrame:
    """The label registry of the references and baselines, as a table."""
    labels = {**REFERENCE_LABELS, **BASELINE_LABELS}
    return pd.Series(labels, name="label").rename_axis("model").to_frame()


def results_table(study: Study, protocol: str = "random", *, digits: int = 2) -> pd.DataFrame:
    """Chapter 4: the Table 1 analogue, mean ± sd over seeds (and folds) for every model.

    Rows: the twin's references, each network variant, each baseline; columns: RMSE, R²,
    MAE, CCC, RPIQ, bias (g/kg, against targets clipped as trained), runs, and
    :data:`FLOOR_GAP_COLUMN`, the mean RMSE minus the noise floor's on the same test sets (twin
    only; in expectation never below 0).
    """
    summary = summarize_runs(all_runs(study, protocol), by=("model",))
    floor_rmse = summary.loc[summary["model"] == "noise_floor", "rmse_mean"]
    table = pd.DataFrame(
        {"Model": [model_label(m) for m in summary["model"]], "key": summary["model"]}
    )
    for m in METRIC_ORDER:
        if m == "n":
            continue
        table[m] = [
            format_mean_sd(a, b, digits)
            for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_sd"], strict=True)
        ]
    table["runs"] = summary["runs"]
    if len(floor_rmse):
        table[FLOOR_GAP_COLUMN] = (summary["rmse_mean"] - float(floor_rmse.iloc[0])).round(digits)
    return table.rename(columns=METRIC_LABELS)


def errors_by_land_cover(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Long table land_cover, model, error (predicted − clipped observed, g/kg)."""
    if "land_cover" not in predictions.columns:
        raise ConfigurationError(
            "The point table has no LC0_Desc column; errors by land cover need it."
        )
    parts = [
        pd.DataFrame(
            {
                "land_cover": predictions["land_cover"],
                "model": model_label(m),
                "error": predictions[m] - predictions["target_g_per_kg"],
            }
        )
        for m in models
    ]
    return pd.concat(parts, ignore_index=True)


def oc_summary(oc_g_per_kg, clip_g_per_kg: float = 87.0) -> pd.DataFrame:
    """Quantiles of SOC (g/kg) and the share above the clip, beside LUCAS 2015."""
    oc = np.asarray(oc_g_per_kg, float)
    mine = {
        "P5": np.quantile(oc, 0.05),
        "Q1": np.quantile(oc, 0.25),
        "median": np.median(oc),
        "Q3": np.quantile(oc, 0.75),
        "P95": np.quantile(oc, 0.95),
        "share > 87": float((oc > clip_g_per_kg).mean()),
    }
    return pd.DataFrame({"this dataset": mine, "LUCAS 2015 (reported)": LUCAS_OC_REFERENCE}).round(
        3
    )


def split_summary(study: Study) -> pd.DataFrame:
    """Point counts of train / val / test for the random split and each spatial fold."""
    store = study.store()
    rows = []
    for protocol in ("random", "spatial"):
        for fold in study.folds(protocol):
            s = study.split(protocol, fold, store)
            rows.append(
                {"split": s.name, "train": len(s.train), "val": len(s.val), "test": len(s.test)}
            )
    return pd.DataFrame(rows)


def variant_table(study: Study) -> pd.DataFrame:
    """Variants to train with their parameter counts at this study's input."""
    from soilnet.models import VARIANTS, build_model, count_parameters

    store = study.store()
    exp = study.config.experiment
    rows = []
    for name in exp.variants:
        spec = VARIANTS[name]
        model = build_model(
            name,
            in_channels=len(store.band_names),
            n_climate_features=len(store.climate_variables) if spec.uses_climate else None,
            stem_maxpool=study.config.train.stem_maxpool,
        )
        rows.append(
            {
                "variant": name,
                "label": model_label(name),
                "description": spec.description,
                "epochs": exp.epochs_for(name),
                "parameters (M)": round(count_parameters(model)["total"] / 1e6, 2),
            }
        )
    return pd.DataFrame(rows)


def epochs_text(exp) -> str:
    """The epochs of the variants in words, e.g. "6 epochs" or "50 epochs (30 with the LSTM)"."""
    if exp.epochs == exp.epochs_lstm:
        return f"{exp.epochs} epochs"
    return f"{exp.epochs} epochs ({exp.epochs_lstm} with the LSTM)"


def results_markdown(study: Study) -> str:
    """The results tables of a finished book run as markdown, headed by how they were made.

    The only comparative sentences are those :func:`soilnet.comparison.comparison_table` writes
    from its rule, with their numbers.
    """
    import datetime
    import json

    split = study.config.split
    exp = study.config.experiment
    timings_path = study.work_dir / "timings.json"
    made = ""
    if timings_path.is_file():
        seconds = json.loads(timings_path.read_text()).get("total_seconds")
        stamp = datetime.date.fromtimestamp(timings_path.stat().st_mtime).isoformat()
        made = f" The chapters took {seconds / 60:.1f} min ({stamp})." if seconds else ""
    titles = {
        "random": f"Random {'/'.join(f'{round(100 * f)}' for f in split.fractions)} split",
        "spatial": f"Spatial block cross-validation ({split.k_folds} folds of "
        f"{split.block_km:g} km blocks)",
    }
    parts = [
        f"Profile `{study.config.name}`, data `{study.data_dir.name}`: test metrics in g/kg "
        f"against SOC clipped at {study.config.train.clip_g_per_kg:g} g/kg, mean ± sd over "
        f"seeds {list(exp.seeds)}, over {split.k_folds} folds too under spatial CV; "
        f"{epochs_text(exp)} under both protocols.{made} Printed by `python -m soilnet results "
        f"--profile {study.config.name}`.",
    ]
    for protocol in ("random", "spatial"):
        table = results_table(study, protocol).drop(columns="key")
        # A label may hold "|" (E[... | c1..c4]): escaped, so it stays inside its cell.
        table["Model"] = table["Model"].str.replace("|", "\\|", regex=False)
        parts += [f"#### {titles[protocol]}", table.to_markdown(index=False)]
        comparisons = comparison_table(study, protocol)
        parts += [
            f"Comparisons ({titles[protocol].lower()}). {RULE}",
            "\n".join(f"- {text}" for text in comparisons["sentence"]),
        ]
    return "\n\n".join(parts) + "\n"
