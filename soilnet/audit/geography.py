"""Where the test points lie: distance to the nearest training point and a geographic kNN.

Distances are Euclidean in EPSG:3035 (metres in, km out); the kNN
(:class:`soilnet.baselines.GeoKNN`) sees coordinates only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from soilnet.audit.tables import metrics_row
from soilnet.bands import PAPER_CLIP_G_PER_KG

#: Neighbours of the geographic kNN baseline.
KNN_K = 20
#: Distance (km) reported as "near" a training point.
NEAR_KM = 5.0


def laea_xy(lon: object, lat: object) -> np.ndarray:
    """float64 (n, 2) EPSG:3035 easting, northing (m) of EPSG:4326 degrees."""
    from soilnet.geo import lonlat_to_laea

    x, y = lonlat_to_laea(lon, lat)
    return np.column_stack([np.asarray(x, float), np.asarray(y, float)])


def nearest_distance_km(test_xy: object, train_xy: object) -> np.ndarray:
    """Distance (km) from each test point to its nearest training point.

    Args:
        test_xy: float (n_test, 2); EPSG:3035 metres.
        train_xy: float (n_train, 2); EPSG:3035 metres, n_train >= 1.

    Returns:
        float64 (n_test,) Euclidean distances in EPSG:3035, km.
    """
    from scipy.spatial import cKDTree

    test = np.asarray(test_xy, dtype=np.float64)
    train = np.asarray(train_xy, dtype=np.float64)
    for name, arr in (("test_xy", test), ("train_xy", train)):
        if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
            raise ValueError(f"{name} must have shape (n, 2) with n >= 1; got {arr.shape}.")
    dist, _ = cKDTree(train).query(test, k=1)
    return np.asarray(dist, dtype=np.float64) / 1000.0


def distance_summary(distances: Mapping[str, object], near_km: float = NEAR_KM) -> pd.DataFrame:
    """Quantiles of nearest-training-point distances (km) per training definition.

    Returns:
        One row per entry: ``training, n_test, min, p10, q1, median, q3, p90, max, mean`` (km)
        and ``share_within_<near_km>km`` (fraction of test points with distance <= near_km).
    """
    share = f"share_within_{near_km:g}km"
    rows = []
    for name, d in distances.items():
        d = np.asarray(d, dtype=np.float64)
        q = np.quantile(d, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
        rows.append(
            {
                "training": name,
                "n_test": int(len(d)),
                **dict(
                    zip(["min", "p10", "q1", "median", "q3", "p90", "max"], q.tolist(), strict=True)
                ),
                "mean": float(d.mean()),
                share: float(np.mean(d <= near_km)),
            }
        )
    return pd.DataFrame(rows)


def geo_knn_scores(
    train_xy: object,
    train_oc: object,
    test_xy: object,
    test_observed: object,
    k: int = KNN_K,
    clip: float = PAPER_CLIP_G_PER_KG,
) -> tuple[dict[str, float], np.ndarray]:
    """Fit :class:`~soilnet.baselines.GeoKNN` on training coordinates and score the test points.

    Args:
        train_xy: float (n_train, 2); EPSG:3035 metres.
        train_oc: float (n_train,); OC in g/kg, clipped at ``clip`` before fitting.
        test_xy: float (n_test, 2); EPSG:3035 metres.
        test_observed: float (n_test,); the targets to score against (g/kg, already clipped).

    Returns:
        ``(metrics, predictions)``: :func:`~soilnet.audit.tables.metrics_row` and float64 (n_test,) predictions.
    """
    from soilnet.baselines import GeoKNN

    y = np.minimum(np.asarray(train_oc, dtype=np.float64), clip)
    model = GeoKNN(n_neighbors=k).fit(train_xy, y)
    pred = model.predict(test_xy)
    return metrics_row(test_observed, pred), pred
