"""A small fake of the authors' repository, written by the audit tests themselves.

The fake has the layout of github.com/moienr/SoilNet (``dataset/oc_fix/LUCAS_2015_all.csv``,
``results/*.csv``) with a constructed geometry: training points on a 20 km grid in EPSG:3035,
each test point exactly 3 km east of a grid node, and validation points 1 km north of some
test points. Expected numbers are computed here with NumPy, not with soilnet.metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from soilnet import audit
from soilnet.geo import laea_to_lonlat

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


def by_hand(y, p):
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
