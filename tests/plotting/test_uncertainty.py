"""Tests for soilnet.plotting.uncertainty: calibration, PIT histograms, error against the DI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soilnet import plotting as P
from soilnet.interval_metrics import calibration_table
from soilnet.intervals import NOMINAL_LEVELS, conformal_intervals


def _calibration():
    rng = np.random.default_rng(0)
    y_val, y_test = rng.gamma(2, 10, 200), rng.gamma(2, 10, 300)
    pred_val, pred_test = y_val + rng.normal(0, 5, 200), y_test + rng.normal(0, 5, 300)
    frames = []
    for protocol, scale in (("random", 1.0), ("spatial", 2.0)):
        ints = conformal_intervals(pred_val, y_val, y_test + scale * (pred_test - y_test))
        for label in ("SoilNet (conformal)", "RF (quantile forest)"):
            frames.append(calibration_table(y_test, ints).assign(protocol=protocol, label=label))
    return pd.concat(frames, ignore_index=True)


def test_plot_calibration_one_line_per_series_and_the_diagonal(finish):
    table = _calibration()
    fig = P.plot_calibration(table)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "random"
    ax = fig.axes[0]
    diagonal = [ln for ln in ax.lines if ln.get_gid() == "diagonal"]
    assert len(diagonal) == 1 and list(diagonal[0].get_xdata()) == [0, 1]
    series = {c.get_label(): c.lines[0] for c in ax.containers}
    assert all(ln.get_gid() == "coverage" for ln in series.values())
    assert set(series) == {"SoilNet (conformal)", "RF (quantile forest)"}
    first = table[(table["protocol"] == "random") & (table["label"] == "SoilNet (conformal)")]
    line = series["SoilNet (conformal)"]
    np.testing.assert_allclose(line.get_xdata(), sorted(NOMINAL_LEVELS))
    np.testing.assert_allclose(line.get_ydata(), first.sort_values("level")["picp"])
    assert ax.get_ylabel() == "Empirical coverage (PICP)"
    finish(fig)


def test_plot_calibration_without_panels_and_bad_input(finish):
    table = _calibration().drop(columns="protocol")
    finish(P.plot_calibration(table))
    with pytest.raises(ValueError, match=r"calibration lacks column\(s\) \['picp_low'\]"):
        P.plot_calibration(table.drop(columns="picp_low"))
    with pytest.raises(ValueError, match="calibration is empty"):
        P.plot_calibration(table.iloc[:0])


def test_plot_pit_histograms_small_multiples(finish):
    rng = np.random.default_rng(1)
    pit = pd.DataFrame(
        {
            "protocol": np.repeat(["random", "spatial"], 400),
            "label": np.tile(np.repeat(["A (conformal)", "B (quantile forest)"], 200), 2),
            "pit": rng.uniform(0, 1, 800),
        }
    )
    fig = P.plot_pit_histograms(pit, n_bins=5, ncols=2)
    assert len(fig.axes) == 4
    ax = fig.axes[0]
    assert len(ax.patches) == 5
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == pytest.approx(1.0)
    flat = [ln for ln in ax.lines if ln.get_gid() == "uniform"]
    assert flat and flat[0].get_ydata()[0] == pytest.approx(0.2)
    assert ax.get_title() == "random | A (conformal) (n=200)"  # short: not wrapped
    finish(fig)
    with pytest.raises(ValueError, match="outside"):
        P.plot_pit_histograms(pit.assign(pit=1.5))


def test_plot_di_error_lines_and_thresholds(finish):
    table = pd.DataFrame(
        {
            "protocol": ["spatial"] * 6,
            "label": ["RF"] * 3 + ["SoilNet"] * 3,
            "mean_di": [0.1, 0.2, 0.5, 0.1, 0.3, 0.9],
            "mean_abs_error_g_per_kg": [10.0, 12.0, 20.0, 9.0, 11.0, 30.0],
        }
    )
    thresholds = pd.DataFrame(
        {
            "protocol": ["spatial"] * 4,
            "label": ["RF", "RF", "SoilNet", "Other"],
            "threshold": [0.3, 0.35, 0.4, 0.9],
        }  # fmt: skip
    )
    fig = P.plot_di_error(table, thresholds)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.lines if ln.get_gid() != "threshold"}
    np.testing.assert_allclose(lines["SoilNet"].get_ydata(), [9.0, 11.0, 30.0])
    drawn = [ln.get_xdata()[0] for ln in ax.lines if ln.get_gid() == "threshold"]
    assert sorted(drawn) == [0.3, 0.35, 0.4]  # one per fold; a model not plotted is skipped
    assert ax.get_xlabel() == "Dissimilarity index (DI)"
    assert ax.get_ylabel() == "Mean absolute error (g/kg)"
    finish(fig)
    finish(P.plot_di_error(table))
    with pytest.raises(ValueError, match=r"thresholds lacks column\(s\) \['threshold'\]"):
        P.plot_di_error(table, thresholds.drop(columns="threshold"))
