"""Audit of the published SoilNet results, recomputed from the authors' own files.

``python -m soilnet audit --reference DIR`` reads a checkout ``DIR`` of the authors' repository
(github.com/moienr/SoilNet) and recomputes, with this project's code:

1. **Table 1** from the published per-point test predictions, with
   :func:`soilnet.metrics.regression_metrics` (correct RPIQ), in g/kg against targets clipped at
   87, beside the numbers the poster printed (:data:`soilnet.reporting.PUBLISHED_TABLE1`);
   and the same predictions scored without the clipped points and against unclipped OC;
2. the **distribution** of the published test set next to all of LUCAS 2015;
3. the **distance from each test point to its nearest training point** in EPSG:3035;
4. a **coordinates-only geographic kNN** (:class:`soilnet.baselines.GeoKNN`) scored on the
   published test points.

One module per concern, all re-exported here (``from soilnet import audit``):

- :mod:`~soilnet.audit.files`: where the authors' files lie, which ones make Table 1
  (:data:`PUBLISHED_MODELS`), and reading them with checked columns and IDs.
- :mod:`~soilnet.audit.published`: the published test predictions checked against LUCAS and
  against each other (:func:`read_published`), and the validation + test IDs of the runs.
- :mod:`~soilnet.audit.tables`: Table 1 recomputed, the clip's effect, OC distributions.
- :mod:`~soilnet.audit.geography`: nearest-training-point distances and the geographic kNN.
- :mod:`~soilnet.audit.figures`: the two figures.
- :mod:`~soilnet.audit.report`: :func:`run_audit` (computes and writes everything) and
  :func:`format_report` (the markdown the CLI prints).

Which points are "training": the split was never saved, so the prediction files are the only
record of it. Two definitions are reported: LUCAS minus the test points (every point the
authors could have trained or validated on), and LUCAS minus the validation and test points
(the 70 % actually trained on, when the ``RUN_*`` files are present).
"""

from soilnet.audit.figures import plot_distributions, plot_nn_distances
from soilnet.audit.files import (
    HYBRID,
    LUCAS_PATH,
    NETWORK_COLUMNS,
    PUBLISHED_MODELS,
    REPOSITORY,
    RESULTS_DIR,
    RF_COLUMNS,
    PublishedModel,
    read_lucas,
    read_network_predictions,
    read_rf_predictions,
)
from soilnet.audit.geography import (
    KNN_K,
    NEAR_KM,
    distance_summary,
    geo_knn_scores,
    laea_xy,
    nearest_distance_km,
)
from soilnet.audit.published import (
    OBSERVED_TOLERANCE,
    PublishedPredictions,
    align_by_position,
    check_observed,
    read_published,
    read_run_ids,
)
from soilnet.audit.report import AuditResult, format_report, run_audit
from soilnet.audit.tables import (
    METRIC_DECIMALS,
    clip_effect,
    distribution_table,
    metrics_row,
    oc_summary,
    recompute_table1,
)

__all__ = [
    "HYBRID",
    "KNN_K",
    "LUCAS_PATH",
    "METRIC_DECIMALS",
    "NEAR_KM",
    "NETWORK_COLUMNS",
    "OBSERVED_TOLERANCE",
    "PUBLISHED_MODELS",
    "REPOSITORY",
    "RESULTS_DIR",
    "RF_COLUMNS",
    "AuditResult",
    "PublishedModel",
    "PublishedPredictions",
    "align_by_position",
    "check_observed",
    "clip_effect",
    "distance_summary",
    "distribution_table",
    "format_report",
    "geo_knn_scores",
    "laea_xy",
    "metrics_row",
    "nearest_distance_km",
    "oc_summary",
    "plot_distributions",
    "plot_nn_distances",
    "read_lucas",
    "read_network_predictions",
    "read_published",
    "read_rf_predictions",
    "read_run_ids",
    "recompute_table1",
    "run_audit",
]
