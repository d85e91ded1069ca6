"""Table 1 recomputed, the clip's effect and the OC summary, against NumPy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet import audit

from .fake_repo import CLIP, N_TEST, by_hand


def test_table1_matches_metrics_computedby_hand(repo):
    lucas = audit.read_lucas(repo.root)
    published = audit.read_published(repo.root, lucas)
    table = audit.recompute_table1(published.frames)
    observed = np.minimum(repo.lucas.set_index("Point_ID").loc[repo.test_ids, "OC"], CLIP)
    for label, pred in repo.predictions.items():
        row = table[(table["model"] == label) & (table["source"] == "recomputed")].iloc[0]
        expected = by_hand(observed, pred)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (label, key)
        assert row["n"] == N_TEST
    assert published.frames["RF"]["point_id"].tolist() == published.test_ids.tolist()


def test_reported_rows_are_the_posters_numbers(repo):
    from soilnet.reporting import PUBLISHED_TABLE1

    lucas = audit.read_lucas(repo.root)
    table = audit.recompute_table1(audit.read_published(repo.root, lucas).frames)
    reported = table[table["source"] == "reported"].set_index("model")
    assert list(reported.index) == list(PUBLISHED_TABLE1["model"])
    assert reported.loc["ResNet-101-GLAM+LSTM", "rmse"] == 18.99
    assert reported.loc["RF", "mae"] == 16.02
    assert reported["rpiq"].isna().all()


def test_clip_effect_filters_points_at_the_clip(repo):
    lucas = audit.read_lucas(repo.root)
    published = audit.read_published(repo.root, lucas)
    oc = lucas.set_index("Point_ID")["OC"]
    table = audit.clip_effect(published.frames, oc).set_index(["model", "evaluation"])
    raw = oc.loc[repo.test_ids].to_numpy()
    pred = repo.predictions[audit.HYBRID]
    kept = raw < CLIP
    assert kept.sum() == N_TEST - 8
    row = table.loc[(audit.HYBRID, "OC < 87 only")]
    assert row["n"] == N_TEST - 8
    assert row["rmse"] == pytest.approx(by_hand(raw[kept], pred[kept])["rmse"])
    row = table.loc[(audit.HYBRID, "unclipped OC")]
    assert row["rmse"] == pytest.approx(by_hand(raw, pred)["rmse"])


def test_oc_summary_counts_the_share_at_the_clip():
    oc = np.array([1.0, 10.0, 20.0, 87.0, 100.0, 300.0, 30.0, 40.0])
    s = audit.oc_summary(oc)
    assert s["n"] == 8
    assert s["share_at_clip"] == pytest.approx(3 / 8)
    assert s["median"] == pytest.approx(35.0)
    assert s["q1"] == pytest.approx(np.percentile(oc, 25))
    assert s["sd"] == pytest.approx(np.std(oc, ddof=1))
    assert s["mean_clipped"] == pytest.approx(np.mean(np.minimum(oc, 87)))
