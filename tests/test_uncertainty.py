"""soilnet.uncertainty: intervals, their scores and the AOA of a tiny finished study."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from soilnet.checkpoint import load_model
from soilnet.experiment import (
    RunKey,
    _run_record,
)
from soilnet.intervals import NOMINAL_LEVELS, level_columns
from soilnet.uncertainty import (
    FORESTS,
    applicability,
    coverage_table,
    di_error_relation,
    di_relation_sentence,
    forest_intervals,
    interval_scores,
    network_embedding,
    network_intervals,
    score_table,
)

VARIANTS = ("resnet18", "resnet18_glam_lstm")
BOUNDS = [c for level in NOMINAL_LEVELS for c in level_columns(level)]

# 4 validation points cannot give finite 90 % and 95 % conformal intervals (clipped to [0, 87]).
pytestmark = pytest.mark.filterwarnings("ignore:.*calibration points are too few:UserWarning")


def _prediction_files(study, protocol="random"):
    store = study.store()
    return [
        _run_record(study, RunKey("network", protocol, None, v, s), store)[0] / "predictions.csv"
        for v in VARIANTS
        for s in (0, 1)
    ]


def _shift_targets(study, part: str, by: float) -> dict:
    """Add ``by`` g/kg to the targets of one split part in every run; return the originals."""
    originals = {}
    for path in _prediction_files(study):
        originals[path] = path.read_text()
        table = pd.read_csv(path)
        rows = table["split"] == part
        table.loc[rows, "target_g_per_kg"] += by
        table.loc[rows, "observed_g_per_kg"] += by
        table.to_csv(path, index=False)
    return originals


def test_calibration_reads_only_the_validation_points(finished):
    before = network_intervals(finished, "random").table
    originals = _shift_targets(finished, "test", 5.0)
    try:
        after = network_intervals(finished, "random").table
    finally:
        for path, text in originals.items():
            path.write_text(text)
    pd.testing.assert_frame_equal(before[BOUNDS + ["mean"]], after[BOUNDS + ["mean"]])
    np.testing.assert_allclose(after["target_g_per_kg"], before["target_g_per_kg"] + 5.0)
    originals = _shift_targets(finished, "val", 5.0)  # the calibration set does move them
    try:
        moved = network_intervals(finished, "random").table
    finally:
        for path, text in originals.items():
            path.write_text(text)
    assert not np.allclose(moved["lower_0.5"], before["lower_0.5"])


def test_tables_hold_every_model_method_and_level(finished):
    networks = network_intervals(finished, "random")
    forests = forest_intervals(finished, "random")
    n_test = len(finished.split("random").test)
    assert len(networks.table) == len(VARIANTS) * 2 * n_test
    assert len(forests.table) == len(FORESTS) * n_test
    assert networks.quantiles.shape == (len(networks.table), 99)
    assert (networks.table["lower_0.95"] >= 0).all() and (networks.table["upper_0.95"] <= 87).all()
    scores = interval_scores(finished, "random", networks, forests)
    series = {(v, m) for v in VARIANTS for m in ("conformal", "adaptive conformal")}
    series |= {(f, "quantile forest") for f in FORESTS}
    cal = scores.calibration
    for model, method in series:
        rows = cal[(cal["model"] == model) & (cal["method"] == method)]
        assert sorted(rows["level"]) == sorted(NOMINAL_LEVELS), (model, method)
        assert (rows["n"] == n_test).all()
    assert set(zip(scores.crps["model"], scores.crps["method"], strict=True)) == series
    assert (scores.crps["crps_g_per_kg"] > 0).all()
    assert len(scores.pit) == len(series) * n_test
    assert scores.pit["pit"].between(0, 1).all()
    coverage = coverage_table(scores)
    assert coverage.shape == (len(series), len(NOMINAL_LEVELS))
    assert "CRPS (g/kg)" in score_table(scores).columns


def test_one_seed_leaves_out_the_adaptive_intervals(finished):
    exp = replace(finished.config.experiment, seeds=(0,))
    one_seed = replace(finished, config=replace(finished.config, experiment=exp))
    with pytest.warns(UserWarning, match="adaptive conformal left out"):
        result = network_intervals(one_seed, "random")
    assert set(result.table["method"]) == {"conformal"}
    assert "one seed" in result.notes[0]


def test_di_is_finite_and_the_aoa_flag_follows_the_threshold(finished):
    for protocol, cv in (("random", "spatial folds"), ("spatial", "5 random folds")):
        aoa = applicability(finished, protocol)
        hybrid = "resnet18_glam_lstm" if protocol == "random" else "resnet18"
        assert set(aoa.points["model"]) == {*FORESTS, hybrid}
        assert np.isfinite(aoa.points["di"]).all() and (aoa.points["di"] >= 0).all()
        assert np.isfinite(aoa.points["abs_error_g_per_kg"]).all()
        merged = aoa.points.merge(aoa.thresholds, on=["protocol", "fold", "model"])
        assert len(merged) == len(aoa.points)
        assert (merged["inside_aoa"] == (merged["di"] <= merged["threshold"])).all()
        assert set(aoa.thresholds["cv_folds"]) == {cv}  # two folds leave one to spatial CV
        assert set(aoa.error_table["model"]) == set(aoa.points["model"])
        n_test = sum(len(finished.split(protocol, f).test) for f in finished.folds(protocol))
        assert (aoa.points.groupby("model").size() == n_test).all()
        all_rows = aoa.summary[aoa.summary["group"] == "all"]
        assert (all_rows["n"] == n_test).all()


def test_embedding_is_what_the_head_receives(finished):
    store = finished.store()
    path, _ = _run_record(
        finished, RunKey("network", "random", None, "resnet18_glam_lstm", 0), store
    )
    model, norm, _ = load_model(path)
    rows = finished.split("random").test
    emb = network_embedding(model, norm, store, rows, batch_size=4)
    head_inputs = sum(p[0].in_features for p in model.head.projections)
    assert emb.shape == (len(rows), head_inputs) == (len(rows), 1024 + 128)
    pred = pd.read_csv(path / "predictions.csv").set_index("Point_ID")["predicted_g_per_kg"]
    features = torch.from_numpy(emb).float()
    with torch.no_grad():
        head = model.head([features[:, :1024], features[:, 1024:]]).double().numpy()
    scale = 87.0
    np.testing.assert_allclose(
        head * scale, pred.loc[store.point_ids[rows]].to_numpy(), rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("variant, size", [("resnet18", 1024), ("resnet18_glam_lstm", 1152)])
def test_embed_is_the_concatenated_branch_features(variant, size):
    from soilnet.models import build_model

    torch.manual_seed(0)
    model = build_model(
        variant, 14, 14, stem_maxpool=False, lstm_hidden=16, lstm_layers=1, dropout=0.0
    ).eval()
    image, climate = torch.randn(3, 14, 16, 16), torch.randn(3, 24, 14)
    with torch.no_grad():
        emb = model.embed(image, climate)
        split = [emb[:, :1024], emb[:, 1024:]][: len(model.head.projections)]
        assert emb.shape == (3, sum(p[0].in_features for p in model.head.projections)) == (3, size)
        torch.testing.assert_close(model.head(split), model(image, climate))


def _points(di, err, ids, inside):
    return pd.DataFrame(
        {"protocol": "random", "model": "rf_strong", "Point_ID": ids, "di": di,
         "abs_error_g_per_kg": err, "inside_aoa": inside}
    )  # fmt: skip


def test_di_error_relation_separates_level_from_extrapolation():
    # A world where high-DI points have low SOC and the noise is multiplicative: absolute
    # errors fall with the DI, relative errors rise with it (the extrapolation the DI flags).
    rng = np.random.default_rng(0)
    n = 4000
    di = rng.uniform(0, 1, n)
    level = 40.0 * np.exp(-1.5 * di)  # expected SOC, g/kg
    rel = np.abs(rng.normal(0, 0.3 + 0.4 * di))  # relative error grows with the DI
    ids = np.arange(n) + 1000
    points = _points(di, rel * level, ids, di <= 0.8)
    truth = pd.DataFrame({"Point_ID": ids[::-1], "noise_floor_clipped": level[::-1]})
    app = SimpleNamespace(points=points)
    row = di_error_relation(app, truth).iloc[0]
    assert row["n"] == n and row["n_outside"] == int((di > 0.8).sum())
    assert row["spearman_noise_floor"] == pytest.approx(-1.0)
    assert row["spearman_abs_error"] < 0 and row["mae_outside"] < row["mae_inside"]
    assert row["spearman_relative_error"] > 0.2
    assert row["rel_error_outside"] > 1.3 * row["rel_error_inside"]
    # Real data: no level, the relative columns are NaN, the absolute ones unchanged.
    real = di_error_relation(app, None).iloc[0]
    assert np.isnan(real["spearman_relative_error"]) and np.isnan(real["rel_error_inside"])
    assert real["spearman_abs_error"] == row["spearman_abs_error"]
    assert di_relation_sentence(row).count("ranks") == 1  # absolute: does not; relative: does
    assert "does not rank absolute errors" in di_relation_sentence(row)
    assert "relative" not in di_relation_sentence(real)
