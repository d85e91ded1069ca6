"""The whole audit: run_audit's tables, the printed numbers, the CLI's outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soilnet import audit
from soilnet.audit import report
from soilnet.cli import main
from soilnet.geo import lonlat_to_laea

from .fake_repo import CLIP, FILES, N_TEST, N_VAL, by_hand


def test_run_audit_distances_and_knn(repo, tmp_path):
    result = audit.run_audit(repo.root, tmp_path / "out", date="2026-12-01")
    lucas = repo.lucas
    n_train_a = len(lucas) - N_TEST
    n_train_b = len(lucas) - N_TEST - N_VAL
    dist = result.distances.set_index("training")
    a = dist.loc[f"LUCAS − test (n = {n_train_a:,})"]
    b = dist.loc[f"LUCAS − val+test (n = {n_train_b:,})"]
    # Without the validation points every test point is 3 km from a grid node; with them,
    # N_VAL test points have a validation point 1 km away.
    assert b["min"] == pytest.approx(3.0, abs=1e-6)
    assert b["max"] == pytest.approx(3.0, abs=1e-6)
    assert b["share_within_5km"] == 1.0
    assert a["min"] == pytest.approx(1.0, abs=1e-6)
    assert a["q1"] == pytest.approx(np.percentile([1.0] * N_VAL + [3.0] * (N_TEST - N_VAL), 25))

    # 20-NN by brute force on the training points (LUCAS − val+test).
    x, y = lonlat_to_laea(lucas["long"], lucas["lat"])
    xy = np.column_stack([x, y])
    train = (lucas["role"] == "train").to_numpy()
    test_rows = lucas.set_index("Point_ID").index.get_indexer(repo.test_ids)
    d = np.linalg.norm(xy[test_rows][:, None, :] - xy[train][None, :, :], axis=2)
    nearest = np.argsort(d, axis=1)[:, :20]
    pred = np.minimum(lucas["OC"].to_numpy()[train], CLIP)[nearest].mean(axis=1)
    observed = np.minimum(lucas["OC"].to_numpy()[test_rows], CLIP)
    knn = result.knn.set_index("model")
    row = knn.loc[f"20-NN geographic, training = LUCAS − val+test (n = {n_train_b:,})"]
    expected = by_hand(observed, pred)
    assert row["rmse"] == pytest.approx(expected["rmse"])
    assert row["r2"] == pytest.approx(expected["r2"])
    assert row["ccc"] == pytest.approx(expected["ccc"])
    mean_row = knn.loc[f"training mean, training = LUCAS − val+test (n = {n_train_b:,})"]
    mean_pred = np.minimum(lucas["OC"].to_numpy()[train], CLIP).mean()
    assert mean_row["rmse"] == pytest.approx(np.sqrt(np.mean((observed - mean_pred) ** 2)))

    dist_table = result.distribution
    assert dist_table.loc["n", "LUCAS 2015"] == len(lucas)
    assert dist_table.loc["n", "published test set"] == N_TEST
    assert dist_table.loc["share_at_clip", "published test set"] == pytest.approx(8 / N_TEST)


def test_without_run_files_only_lucas_minus_test(repo, tmp_path):
    for model in audit.PUBLISHED_MODELS:
        if model.run_file:
            (repo.root / "results" / model.run_file).unlink()
    result = audit.run_audit(repo.root, tmp_path / "out")
    assert list(result.distances["training"]) == [
        f"LUCAS − test (n = {len(repo.lucas) - N_TEST:,})"
    ]


def test_printed_numbers_never_read_negative_zero():
    assert report._fixed(-1e-32, 3) == "0.000"
    assert report._fixed(-0.0004, 3) == "0.000"
    assert report._fixed(-0.0006, 3) == "-0.001"
    assert report._fixed(19.175289, 2) == "19.18"


def test_cli_writes_tables_figures_and_report(repo, tmp_path, capsys):
    out = tmp_path / "audit"
    assert main(["audit", "--reference", str(repo.root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("table1.csv", "clip_effect.csv", "distribution.csv", "nn_distance.csv",
                 "geo_knn.csv", "distribution.png", "nn_distance.png", "report.md", "audit.json"):  # fmt: skip
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    assert (out / "distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| reported" in printed and "| recomputed" in printed
    assert "20-NN geographic" in printed
    assert printed.strip() == (out / "report.md").read_text().strip()
    meta = json.loads((out / "audit.json").read_text())
    assert "results/" + FILES["RF"].test_file in meta["inputs"]
    table1 = pd.read_csv(out / "table1.csv")
    assert len(table1) == 8


def test_readings_are_written_from_the_tables(repo, tmp_path):
    result = audit.run_audit(repo.root, tmp_path / "out", date="2026-12-01")
    clip = result.clip_effect.set_index(["model", "evaluation"])
    hybrid = audit.HYBRID
    first, second, third = report.readings(result)
    assert f"{clip.loc[(hybrid, 'clipped at 87'), 'r2']:.3f}" in first
    assert f"{clip.loc[(hybrid, 'OC < 87 only'), 'r2']:.3f}" in first
    assert first.startswith("Without the 8 test points at the clip")  # fake repo: 8 at the clip
    raw, clipped = (
        clip.loc[(hybrid, "unclipped OC"), "rmse"],
        clip.loc[(hybrid, "clipped at 87"), "rmse"],
    )
    assert f"{raw / clipped:.1f} times" in second
    # The word follows the numbers: shift the kNN's RMSE across the CNNs' and the word flips.
    knn_row = result.knn.index[result.knn["model"].str.startswith("20-NN")][-1]
    table1 = result.table1[result.table1["source"] == "recomputed"].set_index("model")
    cnn_best = min(table1.loc["ResNet-101", "rmse"], table1.loc["ResNet-101-GLAM", "rmse"])
    for rmse, word in ((cnn_best - 0.5, ": below both"), (cnn_best + 0.5, ": not below both")):
        result.knn.loc[knn_row, "rmse"] = rmse
        assert word in report.readings(result)[2]
    assert third.startswith("The 20-NN on coordinates alone")
    assert "## 5. Readings, written from the tables above" in report.format_report(result)
