"""Tests for soilnet.plotting.distributions: ridgelines (Figure 6), scatter, errors by class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from scipy.stats import gaussian_kde

from soilnet import plotting as P
from soilnet.metrics import regression_metrics


def _density_lines(fig):
    return [ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "density"]


def _note(fig):
    return " ".join(t.get_text() for t in fig.texts)


def test_plot_ridgelines_rows_colours_and_exclusion(points, finish):
    _, _, obs, preds = points
    three = {**preds, "resnet101": preds["SoilNet"] * 1.1}
    fig = P.plot_ridgelines(obs, three)
    assert len(fig.axes) == 1 + len(three)
    lines = _density_lines(fig)
    assert len(lines) == 1 + len(three)
    assert [to_hex(ln.get_color()) for ln in lines[:3]] == ["#0079ff", "#ff0060", "#00dfa2"]
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert labels == ["Observed", "RF", "SoilNet", "resnet101"]
    n_below = int((obs < 87).sum())
    assert n_below < len(obs)
    assert (
        f"n = {n_below:,} points; {len(obs) - n_below:,} with observed SOC >= 87 g/kg excluded"
        in _note(fig)
    )
    x = lines[0].get_xdata()
    assert len(x) == 1000 and x[0] == 0 and x[-1] == 87
    # Each row is the Scott KDE of its values at the points kept, on [0, 87].
    keep = obs < 87
    np.testing.assert_allclose(lines[0].get_ydata(), gaussian_kde(obs[keep])(x))
    np.testing.assert_allclose(lines[1].get_ydata(), gaussian_kde(preds["RF"][keep])(x))
    # One density scale for all rows, each filled under its curve.
    assert len({ax.get_ylim() for ax in fig.axes}) == 1
    assert all(len(ax.collections) == 1 for ax in fig.axes)
    assert fig.axes[-1].get_xlabel() == "SOC (g/kg)"
    assert all(ax.get_ylabel() == "" for ax in fig.axes)
    finish(fig)


def test_plot_ridgelines_keeps_clipped_when_asked(points, finish):
    _, _, obs, preds = points
    fig = P.plot_ridgelines(
        obs, {"RF": preds["RF"], "null": np.full(len(obs), 30.0)}, exclude_clipped=False
    )
    lines = _density_lines(fig)
    assert len(lines) == 3
    # The constant null model is a vertical line at its value, labelled as such.
    np.testing.assert_array_equal(lines[2].get_xdata(), [30.0, 30.0])
    assert fig.axes[2].texts[0].get_text() == "null (constant)"
    np.testing.assert_allclose(lines[0].get_ydata(), gaussian_kde(obs)(lines[0].get_xdata()))
    assert f"n = {len(obs):,} points" in _note(fig) and "kept" in _note(fig)
    finish(fig)


def test_plot_ridgelines_rejects_bad_input(points):
    _, _, obs, preds = points
    with pytest.raises(ValueError, match=r"predictions\['RF'\] has 297 values for 300 points"):
        P.plot_ridgelines(obs, {"RF": preds["RF"][:-3]})
    with pytest.raises(ValueError, match=r"predictions\['RF'\] has 1 non-finite"):
        P.plot_ridgelines(obs, {"RF": np.where(np.arange(len(obs)) == 0, np.nan, preds["RF"])})
    with pytest.raises(ValueError, match="predictions is empty"):
        P.plot_ridgelines(obs, {})
    with pytest.raises(ValueError, match="Only 1 point"):
        P.plot_ridgelines([1.0, 90.0, 100.0], {"RF": [1.0, 2.0, 3.0]})


def test_plot_observed_vs_predicted(points, finish):
    _, _, obs, preds = points
    fig = P.plot_observed_vs_predicted(obs, preds)
    assert len(fig.axes) == 2
    for ax, (name, pred) in zip(fig.axes, preds.items(), strict=True):
        m = regression_metrics(obs, pred)
        assert ax.get_title().startswith(name)
        assert f"RMSE {m['rmse']:.2f} g/kg, R² {m['r2']:.2f}" in ax.get_title()
        (sc,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(sc.get_offsets()) == len(obs)
        one_to_one = ax.lines[0]
        np.testing.assert_array_equal(one_to_one.get_xdata(), one_to_one.get_ydata())
        assert ax.get_xlim() == ax.get_ylim()
        assert ax.get_xlabel() == "Observed SOC (g/kg)"
    finish(fig)


def test_plot_observed_vs_predicted_grid_of_four(points, finish):
    _, _, obs, preds = points
    four = {**preds, "a": obs * 0.9, "b": obs * 1.1}
    fig = P.plot_observed_vs_predicted(obs, four, clip=None)
    assert len(fig.axes) == 4  # a 3-wide grid, the two empty cells removed
    assert all(len(ax.lines) == 1 for ax in fig.axes)  # 1:1 only, no clip lines
    finish(fig)


def _error_table(obs, preds):
    lc = np.array(["Cropland", "Woodland", "Grassland"])[np.arange(len(obs)) % 3]
    return pd.concat(
        pd.DataFrame({"land_cover": lc, "model": m, "error": p - obs}) for m, p in preds.items()
    )


def _boxes(ax):
    return [box for c in ax.containers for box in c.boxes]


def test_plot_errors_by_land_cover(points, finish):
    _, _, obs, preds = points
    table = _error_table(obs, preds)
    fig = P.plot_errors_by_land_cover(table)
    ax = fig.axes[0]
    boxes = _boxes(ax)
    assert len(boxes) == 3 * 2  # one box per class and model
    assert [to_hex(b.get_facecolor()) for b in boxes] == ["#ff0060"] * 3 + ["#00dfa2"] * 3
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["Cropland\nn = 100", "Woodland\nn = 100", "Grassland\nn = 100"]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["RF", "SoilNet"]
    assert ax.get_ylabel() == "Error, predicted − observed (g/kg)" and ax.get_xlabel() == ""
    # Median of RF's Cropland box equals the median error there.
    rf_crop = table.loc[(table["model"] == "RF") & (table["land_cover"] == "Cropland"), "error"]
    assert np.median(ax.containers[0].medians[0].get_ydata()) == pytest.approx(rf_crop.median())
    finish(fig)


def test_plot_errors_by_land_cover_orders_classes_and_skips_empty(points, finish):
    _, _, obs, preds = points
    table = _error_table(obs, preds)
    # Woodland most frequent; RF has no Grassland points; one class missing.
    table.loc[table["land_cover"] == "Cropland", "land_cover"] = [
        "Woodland" if i % 2 else "Cropland"
        for i in range((table["land_cover"] == "Cropland").sum())
    ]
    table = table[~((table["model"] == "RF") & (table["land_cover"] == "Grassland"))]
    table.iloc[0, table.columns.get_loc("land_cover")] = None
    fig = P.plot_errors_by_land_cover(table)
    ax = fig.axes[0]
    ticks = [t.get_text().split("\n")[0] for t in ax.get_xticklabels()]
    assert ticks[0] == "Woodland" and "Grassland" in ticks and "(missing)" in ticks
    # RF has no Grassland box and SoilNet no (missing) box: those slots stay empty.
    assert len(_boxes(ax)) == 2 * len(ticks) - 2
    finish(fig)


def test_plot_errors_by_land_cover_rejects_bad_tables(points):
    _, _, obs, preds = points
    table = _error_table(obs, preds)
    with pytest.raises(ValueError, match=r"table lacks column\(s\) \['error'\]"):
        P.plot_errors_by_land_cover(table.drop(columns="error"))
    with pytest.raises(ValueError, match="table is empty"):
        P.plot_errors_by_land_cover(table.iloc[:0])
    with pytest.raises(ValueError, match=r"table\['error'\] has 1 non-finite"):
        P.plot_errors_by_land_cover(table.assign(error=np.r_[np.nan, table["error"].iloc[1:]]))
