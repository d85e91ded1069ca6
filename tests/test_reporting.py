"""soilnet.reporting: one label registry and the tables of the book, on a tiny finished study."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import TINY_STUDY

from soilnet.baselines import BASELINE_LABELS, BASELINES
from soilnet.comparison import BEATS, LOSES, TIED, comparison_table, paired_rmse_difference
from soilnet.errors import MissingOutputError
from soilnet.experiment import (
    predictions_at_test_points,
    prepare_data,
)
from soilnet.reporting import (
    errors_by_land_cover,
    model_label,
    model_labels,
    oc_summary,
    results_markdown,
    results_table,
    split_summary,
    variant_table,
)
from soilnet.twin import TwinConfig, write_twin
from soilnet.workspace import Study

TINY = [*TINY_STUDY, "experiment.variants=[resnet18, resnet18_glam_lstm]"]


def test_one_label_registry():
    assert model_label("resnet18_glam_lstm") == "ResNet-18-GLAM+LSTM"
    assert model_label("rf_paper") == BASELINE_LABELS["rf_paper"]
    assert model_label("noise_floor") == "Noise floor (twin): E[min(SOC, 87) | c1..c4]"
    assert model_label("observable_reference") == "Observable reference (twin)"
    assert set(BASELINES) <= set(model_labels().index)


def test_results_table_has_every_model_once(finished):
    for protocol, runs in (("random", 2), ("spatial", 4)):  # 2 seeds (x 2 folds)
        table = results_table(finished, protocol)
        keys = list(table["key"])
        assert keys[:2] == ["noise_floor", "observable_reference"]  # the twin's references first
        assert set(BASELINES) <= set(keys) and "resnet18" in keys
        assert (table.loc[table["key"] == "resnet18", "runs"] == runs).all()
        assert {"RMSE", "R²", "MAE", "CCC", "RPIQ", "Bias", "RMSE above noise floor"} <= set(table)
        floor = table.loc[table["key"] == "noise_floor", "RMSE above noise floor"]
        assert float(floor.iloc[0]) == 0.0


def test_comparisons_pair_the_hybrid_and_markdown_holds_both_tables(finished):
    table = comparison_table(finished, "random", n_boot=200)
    hybrid = table[table["b"] == "resnet18"].iloc[0]
    assert hybrid["a"] == "resnet18_glam_lstm" and hybrid["verdict"] in (BEATS, LOSES, TIED)
    assert hybrid["sentence"].startswith(f"{model_label('resnet18_glam_lstm')} {hybrid['verdict']}")
    assert set(table["b"]) == {"resnet18", "rf_paper", "rf_strong", "geo_knn"}
    # The verdict follows the same rule as on raw predictions, over both seeds.
    seeds = [predictions_at_test_points(finished, "random", seed) for seed in (0, 1)]
    direct = paired_rmse_difference(
        seeds[0]["target_g_per_kg"],
        [p["resnet18_glam_lstm"] for p in seeds],
        [p["resnet18"] for p in seeds],
        n_boot=200,
    )
    assert len(direct.per_seed) == 2
    assert direct.verdict == hybrid["verdict"]
    assert round(direct.delta_rmse, 2) == hybrid["ΔRMSE (g/kg)"]
    spatial = comparison_table(finished, "spatial", n_boot=200)
    assert set(spatial["protocol"]) == {"spatial"} and len(spatial) == 3  # resnet18 + 3 baselines
    text = results_markdown(finished)
    assert "#### Random 70/10/20 split" in text and "2 folds of 400 km blocks" in text
    assert text.count("| Null (training mean)") == 2
    verdict_clause = hybrid["sentence"].split(":")[0]  # the interval depends on n_boot
    assert text.count(f"- {verdict_clause}:") == 1


def test_chapter_tables(finished):
    preds = predictions_at_test_points(finished, "random")
    assert {"rf_paper", "resnet18", "resnet18_glam_lstm", "target_g_per_kg"} <= set(preds)
    errors = errors_by_land_cover(preds, ["rf_paper", "resnet18"])
    assert set(errors["model"]) == {model_label("rf_paper"), model_label("resnet18")}
    summary = split_summary(finished)
    assert list(summary["split"]) == ["random", "spatial/fold0", "spatial/fold1"]
    assert (summary[["train", "val", "test"]].sum(axis=1) == 48).all()
    assert list(variant_table(finished)["epochs"]) == [1, 1]
    oc = oc_summary(pd.Series([1.0, 10, 100, 200]))
    assert oc.loc["share > 87", "this dataset"] == 0.5


def test_tables_name_the_missing_chapter(tmp_path):
    write_twin(tmp_path / "twin", TwinConfig(n_points=30, patch_size_px=16, seed=2))
    study = Study.create("smoke", str(tmp_path / "twin"), str(tmp_path / "w"), TINY, "cpu")
    prepare_data(study)
    with pytest.raises(MissingOutputError, match=r"resnet18 seed 0 \(random\).*chapter 2"):
        results_table(study, "random")


def test_the_gap_column_is_the_distance_to_the_noise_floor(finished):
    """The column "RMSE above noise floor" is each model's mean RMSE minus the noise floor's
    mean RMSE on the same test sets; the floor's row is E[min(SOC, 87) | c1..c4] from
    truth.csv, and the retired oracle rows and column are gone."""
    from soilnet.experiment import TWIN_REFERENCES, all_runs
    from soilnet.metrics import summarize_runs
    from soilnet.reporting import FLOOR_GAP_COLUMN, REFERENCE_LABELS

    assert TWIN_REFERENCES == {
        "noise_floor": "noise_floor_clipped",
        "observable_reference": "observable_reference_clipped",
    }
    assert set(REFERENCE_LABELS) == set(TWIN_REFERENCES)
    for protocol in ("random", "spatial"):
        table = results_table(finished, protocol, digits=6)
        summary = summarize_runs(all_runs(finished, protocol), by=("model",)).set_index("model")
        gaps = table.set_index("key")[FLOOR_GAP_COLUMN]
        expected = summary["rmse_mean"] - summary.loc["noise_floor", "rmse_mean"]
        pd.testing.assert_series_equal(
            gaps, expected.round(6).reindex(gaps.index), check_names=False
        )
        assert not {"oracle", "oracle_spatial"} & set(table["key"])
        assert "RMSE above oracle" not in table
        assert "Oracle" not in " ".join(table["Model"])
    # In markdown the label's "|" is escaped, so every row keeps the header's cell count.
    text = results_markdown(finished)
    assert text.count("| Noise floor (twin): E[min(SOC, 87) \\| c1..c4]") == 2
    assert text.count("| Observable reference (twin)") == 2
    for block in text.split("####")[1:3]:
        rows = [r for r in block.splitlines() if r.startswith("|")]
        assert {len(r.replace("\\|", "").split("|")) for r in rows} == {len(rows[0].split("|"))}


def test_attention_examples_are_test_patches_per_land_cover(finished):
    from soilnet.experiment import attention_examples

    ex = attention_examples(finished, per_class=1)
    store = finished.store()
    test_ids = set(store.point_ids[finished.split("random").test])
    assert ex["model"] == "resnet18_glam_lstm" and set(ex["point_id"]) <= test_ids
    assert list(ex["land_cover"]) == sorted(set(ex["land_cover"]))  # one per class, sorted
    n, _, size, _ = ex["images"].shape
    assert ex["local_spatial"].shape == (n, size // 4, size // 4)  # no stem max-pool: S/4
    assert ((ex["local_spatial"] >= 0) & (ex["local_spatial"] <= 1)).all()
    assert abs(ex["fusion_weights"].sum() - 1) < 1e-6 and len(ex["labels"]) == n
