"""Tests of soilnet.audit on a small fake of the authors' repository, written here.

The fake has the layout of github.com/moienr/SoilNet (``dataset/oc_fix/LUCAS_2015_all.csv``,
``results/*.csv``) with a constructed geometry: training points on a 20 km grid in EPSG:3035,
each test point exactly 3 km east of a grid node, and validation points 1 km north of some
test points. Expected numbers are computed here with NumPy, not with soilnet.metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from soilnet import audit
from soilnet.cli import main
from soilnet.errors import DataFormatError, DatasetNotFoundError, InconsistentDataError
from soilnet.geo import laea_to_lonlat, lonlat_to_laea

CLIP = 87.0
GRID_M = 20_000.0
TEST_OFFSET_M = 3_000.0
VAL_OFFSET_M = 1_000.0
N_SIDE = 15  # 225 grid (training) points
N_TEST = 40
N_VAL = 12  # the first N_VAL test points get a validation point 1 km north of them
FILES = {m.label: m for m in audit.PUBLISHED_MODELS}


@dataclass
class FakeRepo:
    root: object
    lucas: pd.DataFrame  # Point_ID, long, lat, OC, x, y, role
    test_ids: np.ndarray
    predictions: dict  # label -> predicted g/kg, in test_ids order


def _by_hand(y, p):
    """RMSE, R², MAE, CCC, RPIQ, bias from their definitions."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    e = p - y
    rmse = np.sqrt(np.mean(e**2))
    r2 = 1 - np.sum(e**2) / np.sum((y - y.mean()) ** 2)
    cov = np.mean((y - y.mean()) * (p - p.mean()))
    ccc = 2 * cov / (y.var() + p.var() + (y.mean() - p.mean()) ** 2)
    q1, q3 = np.percentile(y, [25, 75])
    return {
        "rmse": rmse,
        "r2": r2,
        "mae": np.mean(np.abs(e)),
        "ccc": ccc,
        "rpiq": (q3 - q1) / rmse,
        "bias": np.mean(e),
    }


def _write_network(path, ids, observed, predicted):
    pd.DataFrame(
        {"point_id": ids, "y_real": np.minimum(observed, CLIP) / CLIP, "y_pred": predicted / CLIP}
    ).to_csv(path, index=False)


def make_repo(root, rf_ids=True, seed=0) -> FakeRepo:
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(N_SIDE), np.arange(N_SIDE), indexing="ij")
    gx = 4_000_000.0 + GRID_M * ii.ravel()
    gy = 3_000_000.0 + GRID_M * jj.ravel()
    nodes = rng.choice(len(gx), N_TEST, replace=False)
    tx, ty = gx[nodes] + TEST_OFFSET_M, gy[nodes]
    vx, vy = tx[:N_VAL], ty[:N_VAL] + VAL_OFFSET_M
    x = np.concatenate([gx, tx, vx])
    y = np.concatenate([gy, ty, vy])
    role = ["train"] * len(gx) + ["test"] * N_TEST + ["val"] * N_VAL
    n = len(x)
    ids = 10_000_000 + np.arange(n) * 7
    oc = np.round(rng.lognormal(3.0, 0.9, n), 1)
    oc[len(gx) : len(gx) + 8] = [87.0, 90.5, 120.0, 300.2, 95.0, 88.8, 150.0, 99.9]  # clipped tests
    lon, lat = laea_to_lonlat(x, y)
    lucas = pd.DataFrame(
        {
            "OID_": np.arange(1, n + 1),
            "Point_ID": ids,
            "long": lon,
            "lat": lat,
            "OC": oc,
            "LC0_Desc": rng.choice(["Cropland", "Woodland", "Grassland"], n),
            "NUTS_0": "DE",
            "x": x,
            "y": y,
            "role": role,
        }
    )
    (root / "dataset" / "oc_fix").mkdir(parents=True)
    (root / "results").mkdir()
    lucas.drop(columns=["x", "y", "role"]).to_csv(root / audit.LUCAS_PATH, index=False)

    test = lucas[lucas["role"] == "test"]
    test_ids = test["Point_ID"].to_numpy()
    observed = np.minimum(test["OC"].to_numpy(), CLIP)
    predictions = {}
    for k, (label, model) in enumerate(FILES.items()):
        pred = observed + rng.normal(2.0 * k, 5.0 + 3 * k, N_TEST)
        predictions[label] = pred
        if model.kind == "network":
            order = rng.permutation(N_TEST)  # files need not be in the same order
            _write_network(
                root / "results" / model.test_file, test_ids[order], observed[order], pred[order]
            )
            val_test = lucas[lucas["role"].isin(["test", "val"])]
            _write_network(
                root / "results" / model.run_file,
                val_test["Point_ID"],
                val_test["OC"].to_numpy(),
                val_test["OC"].to_numpy(),
            )
        else:
            rf = pd.DataFrame({"point_id": test_ids, "y_true": observed, "y_pred": pred})
            if not rf_ids:
                rf = rf.drop(columns="point_id")
                first = FILES["ResNet-101"].test_file
                net = pd.read_csv(root / "results" / first)
                rf = rf.set_index(pd.Index(test_ids)).loc[net["point_id"]].reset_index(drop=True)
            rf.to_csv(root / "results" / model.test_file, index=False)
    return FakeRepo(root, lucas, test_ids, predictions)


@pytest.fixture()
def repo(tmp_path):
    return make_repo(tmp_path / "SoilNet")


# ----------------------------------------------------------------------------- Table 1


def test_table1_matches_metrics_computed_by_hand(repo):
    lucas = audit.read_lucas(repo.root)
    published = audit.read_published(repo.root, lucas)
    table = audit.recompute_table1(published.frames)
    observed = np.minimum(repo.lucas.set_index("Point_ID").loc[repo.test_ids, "OC"], CLIP)
    for label, pred in repo.predictions.items():
        row = table[(table["model"] == label) & (table["source"] == "recomputed")].iloc[0]
        expected = _by_hand(observed, pred)
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


def test_rf_without_ids_is_aligned_by_position(tmp_path):
    fake = make_repo(tmp_path / "SoilNet", rf_ids=False)
    lucas = audit.read_lucas(fake.root)
    published = audit.read_published(fake.root, lucas)
    rf = published.frames["RF"].set_index("point_id").loc[fake.test_ids, "predicted"]
    np.testing.assert_allclose(rf.to_numpy(), fake.predictions["RF"])
    assert any("aligned by row position" in note for note in published.notes)


def test_rf_without_ids_in_another_order_is_refused(tmp_path):
    fake = make_repo(tmp_path / "SoilNet", rf_ids=False)
    path = fake.root / "results" / FILES["RF"].test_file
    rf = pd.read_csv(path)
    rf.iloc[::-1].to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match=FILES["RF"].test_file):
        audit.read_published(fake.root, audit.read_lucas(fake.root))


def test_observed_values_must_match_lucas(repo):
    path = repo.root / "results" / FILES["ResNet-101-GLAM"].test_file
    table = pd.read_csv(path)
    table.loc[3, "y_real"] = 0.5 if table.loc[3, "y_real"] != 0.5 else 0.25
    table.to_csv(path, index=False)
    bad_id = str(table.loc[3, "point_id"])
    with pytest.raises(InconsistentDataError, match=bad_id) as err:
        audit.read_published(repo.root, audit.read_lucas(repo.root))
    assert FILES["ResNet-101-GLAM"].test_file in str(err.value)


def test_test_sets_must_agree(repo):
    path = repo.root / "results" / FILES["ResNet-101-GLAM"].test_file
    pd.read_csv(path).iloc[:-1].to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match="one test set"):
        audit.read_published(repo.root, audit.read_lucas(repo.root))


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
    assert row["rmse"] == pytest.approx(_by_hand(raw[kept], pred[kept])["rmse"])
    row = table.loc[(audit.HYBRID, "unclipped OC")]
    assert row["rmse"] == pytest.approx(_by_hand(raw, pred)["rmse"])


# ----------------------------------------------------------------------------- distribution


def test_oc_summary_counts_the_share_at_the_clip():
    oc = np.array([1.0, 10.0, 20.0, 87.0, 100.0, 300.0, 30.0, 40.0])
    s = audit.oc_summary(oc)
    assert s["n"] == 8
    assert s["share_at_clip"] == pytest.approx(3 / 8)
    assert s["median"] == pytest.approx(35.0)
    assert s["q1"] == pytest.approx(np.percentile(oc, 25))
    assert s["sd"] == pytest.approx(np.std(oc, ddof=1))
    assert s["mean_clipped"] == pytest.approx(np.mean(np.minimum(oc, 87)))


# ----------------------------------------------------------------------------- geography


def test_nearest_distance_is_3_km_on_the_constructed_geometry(repo):
    lucas = repo.lucas
    test = lucas[lucas["role"] == "test"]
    train = lucas[lucas["role"] == "train"]
    d = audit.nearest_distance_km(
        audit.laea_xy(test["long"], test["lat"]), audit.laea_xy(train["long"], train["lat"])
    )
    np.testing.assert_allclose(d, 3.0, atol=1e-6)


def test_nearest_distance_simple_points():
    d = audit.nearest_distance_km([[0, 0], [10_000, 0]], [[3_000, 4_000], [10_000, 2_000]])
    np.testing.assert_allclose(d, [5.0, 2.0])
    with pytest.raises(ValueError, match="train_xy"):
        audit.nearest_distance_km([[0, 0]], np.zeros((0, 2)))


def test_distance_summary_share_within_5_km():
    table = audit.distance_summary({"a": [1.0, 2.0, 5.0, 8.0, 20.0]})
    row = table.iloc[0]
    assert row["median"] == 5.0
    assert row["share_within_5km"] == pytest.approx(3 / 5)
    assert row["n_test"] == 5


def test_geo_knn_is_the_mean_of_the_nearest_clipped_targets():
    train_xy = np.array([[0, 0], [1000, 0], [5000, 0], [50_000, 0]], float)
    train_oc = np.array([10.0, 200.0, 30.0, 60.0])  # 200 is clipped to 87 before fitting
    test_xy = np.array([[400, 0], [49_000, 0]], float)
    metrics, pred = audit.geo_knn_scores(train_xy, train_oc, test_xy, [40.0, 50.0], k=2)
    np.testing.assert_allclose(pred, [(10 + 87) / 2, (60 + 30) / 2])
    assert metrics["rmse"] == pytest.approx(np.sqrt(((48.5 - 40) ** 2 + (45 - 50) ** 2) / 2))


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
    expected = _by_hand(observed, pred)
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


def test_run_file_without_the_test_points_is_refused(repo):
    path = repo.root / "results" / FILES["ResNet-101"].run_file
    table = pd.read_csv(path)
    dropped = table.loc[table["point_id"].isin(repo.test_ids), "point_id"].iloc[0]
    table[table["point_id"] != dropped].to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match=str(dropped)):
        audit.read_run_ids(repo.root, repo.test_ids)


def test_without_run_files_only_lucas_minus_test(repo, tmp_path):
    for model in audit.PUBLISHED_MODELS:
        if model.run_file:
            (repo.root / "results" / model.run_file).unlink()
    result = audit.run_audit(repo.root, tmp_path / "out")
    assert list(result.distances["training"]) == [
        f"LUCAS − test (n = {len(repo.lucas) - N_TEST:,})"
    ]


# ----------------------------------------------------------------------------- CLI


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


def test_cli_names_a_missing_results_folder(tmp_path, capsys):
    (tmp_path / "SoilNet").mkdir()
    assert (
        main(["audit", "--reference", str(tmp_path / "SoilNet"), "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "results" in err and "github.com/moienr/SoilNet" in err


def test_cli_names_a_missing_prediction_file(repo, tmp_path, capsys):
    (repo.root / "results" / FILES["RF"].test_file).unlink()
    assert main(["audit", "--reference", str(repo.root), "--out", str(tmp_path / "o")]) == 2
    assert FILES["RF"].test_file in capsys.readouterr().err


def test_cli_names_a_missing_lucas_table(repo, tmp_path, capsys):
    (repo.root / audit.LUCAS_PATH).unlink()
    assert main(["audit", "--reference", str(repo.root), "--out", str(tmp_path / "o")]) == 2
    assert "LUCAS_2015_all.csv" in capsys.readouterr().err


def test_csv_without_expected_columns_is_named(repo):
    path = repo.root / "results" / FILES["ResNet-101"].test_file
    pd.read_csv(path).rename(columns={"y_pred": "prediction"}).to_csv(path, index=False)
    with pytest.raises(DataFormatError, match="y_pred") as err:
        audit.read_published(repo.root, audit.read_lucas(repo.root))
    assert FILES["ResNet-101"].test_file in str(err.value)


def test_missing_reference_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        audit.run_audit(tmp_path / "nowhere", tmp_path / "out")
