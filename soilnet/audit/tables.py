"""Table 1 recomputed, the same predictions scored without the clip, and OC distributions.

All scores are :func:`soilnet.metrics.regression_metrics` (correct RPIQ), in g/kg.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from soilnet.bands import PAPER_CLIP_G_PER_KG
from soilnet.metrics import regression_metrics

#: Metric columns of the printed tables and their decimals.
METRIC_DECIMALS = {"rmse": 2, "r2": 3, "mae": 2, "ccc": 3, "rpiq": 3, "bias": 2}


def metrics_row(observed: object, predicted: object) -> dict[str, float]:
    """:func:`~soilnet.metrics.regression_metrics`, in :data:`METRIC_DECIMALS` order plus n."""
    m = regression_metrics(observed, predicted)
    return {**{k: m[k] for k in METRIC_DECIMALS}, "n": m["n"]}


def recompute_table1(predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 1 recomputed beside the poster's printed numbers.

    Args:
        predictions: model label -> ``observed, predicted`` (g/kg, observed clipped).

    Returns:
        One ``recomputed`` and one ``reported`` row per model: ``model, source, rmse, r2,
        mae, ccc, rpiq, bias, n``. Reported rows have RMSE, R², MAE and CCC only.
    """
    from soilnet.reporting import PUBLISHED_TABLE1

    reported = PUBLISHED_TABLE1.set_index("model")
    rows = []
    for label, frame in predictions.items():
        rows.append(
            {
                "model": label,
                "source": "recomputed",
                **metrics_row(frame["observed"], frame["predicted"]),
            }
        )
        if label in reported.index:
            rows.append({"model": label, "source": "reported", **reported.loc[label].to_dict()})
    return pd.DataFrame(rows, columns=["model", "source", *METRIC_DECIMALS, "n"])


def clip_effect(
    predictions: Mapping[str, pd.DataFrame],
    oc: pd.Series,
    clip: float = PAPER_CLIP_G_PER_KG,
) -> pd.DataFrame:
    """The same predictions scored three ways: as published, without clipped points, raw OC.

    Args:
        predictions: model label -> ``point_id, observed, predicted`` (g/kg).
        oc: unclipped OC (g/kg) indexed by Point_ID.

    Returns:
        ``model, evaluation, rmse, r2, mae, ccc, rpiq, bias, n`` where evaluation is
        ``clipped at 87`` (all points, targets min(OC, 87)), ``OC < 87 only`` (points at the
        clip left out: the filtering alternative) or ``unclipped OC`` (all points, raw OC).
    """
    rows = []
    for label, frame in predictions.items():
        raw = oc.loc[frame["point_id"]].to_numpy()
        kept = raw < clip
        for evaluation, obs, pred in (
            (f"clipped at {clip:g}", frame["observed"].to_numpy(), frame["predicted"].to_numpy()),
            (f"OC < {clip:g} only", raw[kept], frame["predicted"].to_numpy()[kept]),
            ("unclipped OC", raw, frame["predicted"].to_numpy()),
        ):
            rows.append({"model": label, "evaluation": evaluation, **metrics_row(obs, pred)})
    return pd.DataFrame(rows, columns=["model", "evaluation", *METRIC_DECIMALS, "n"])


def oc_summary(oc: object, clip: float = PAPER_CLIP_G_PER_KG) -> dict[str, float]:
    """Size, mean, SD, quartiles and the share at the clip of an OC sample (g/kg).

    Returns:
        ``n, mean, sd`` (ddof=1), ``min, q1, median, q3, max`` (numpy linear quantiles),
        ``share_at_clip`` (fraction with OC >= clip, i.e. saturated by the clip) and
        ``mean_clipped, sd_clipped`` of min(OC, clip).
    """
    x = np.asarray(oc, dtype=np.float64)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"oc must be 1-D with at least 2 values; got shape {x.shape}.")
    q = np.quantile(x, [0.0, 0.25, 0.5, 0.75, 1.0])
    clipped = np.minimum(x, clip)
    return {
        "n": int(len(x)),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "min": float(q[0]),
        "q1": float(q[1]),
        "median": float(q[2]),
        "q3": float(q[3]),
        "max": float(q[4]),
        "share_at_clip": float(np.mean(x >= clip)),
        "mean_clipped": float(clipped.mean()),
        "sd_clipped": float(clipped.std(ddof=1)),
    }


def distribution_table(samples: Mapping[str, object], clip: float = PAPER_CLIP_G_PER_KG):
    """:func:`oc_summary` of each sample as columns (rows: statistics)."""
    return pd.DataFrame({name: oc_summary(x, clip) for name, x in samples.items()})
