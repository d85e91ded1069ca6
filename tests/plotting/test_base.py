"""Tests for soilnet.plotting._base and the package's public names."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from soilnet import plotting
from soilnet.plotting import _base


def test_public_names_are_reexported_from_their_modules():
    for name in plotting.__all__:
        obj = getattr(plotting, name)
        if callable(obj):
            assert obj.__module__.startswith("soilnet.plotting."), name
    assert plotting.SOC_CMAP == "YlGnBu"
    assert plotting.SOC_LABEL == "SOC (g/kg)"
    # Notebooks call these by keyword; the names must not drift.
    params = inspect.signature(plotting.plot_ridgelines).parameters
    assert list(params) == ["observed", "predictions", "clip", "exclude_clipped", "overlap"]
    params = inspect.signature(plotting.plot_point_maps).parameters
    assert list(params)[:3] == ["lon", "lat", "panels"]


def test_model_color_paper_colours_and_palette():
    assert plotting.model_color("random forest") == "#FF0060"
    assert plotting.model_color(" RF_paper ") == "#FF0060"
    assert plotting.model_color("SoilNet") == "#00DFA2"
    assert plotting.model_color("resnet101_glam_lstm") == "#00DFA2"
    assert plotting.model_color("Observed") == "#0079FF"
    assert plotting.model_color("resnet101", 0) != plotting.model_color("resnet101", 1)


def test_model_colors_gives_palette_only_to_other_models():
    colors = _base.model_colors(["Observed", "RF", "a", "SoilNet", "b"])
    assert colors["RF"] == "#FF0060" and colors["SoilNet"] == "#00DFA2"
    # The paper's rows do not use up palette colours.
    assert colors["a"] == _base.palette_color(0) and colors["b"] == _base.palette_color(1)


def test_figure_renders_png_for_notebooks_without_pyplot():
    fig = _base.new_figure((2.0, 2.0))
    fig.add_subplot().plot([0, 1], [0, 1])
    assert fig._repr_png_()[:4] == b"\x89PNG"  # Jupyter shows it once, without pyplot


def test_figure_and_axes_reuses_the_given_axes():
    fig = _base.new_figure((2.0, 2.0))
    ax = fig.add_subplot()
    assert _base.figure_and_axes(ax, (1.0, 1.0)) == (fig, ax)
    new_fig, new_ax = _base.figure_and_axes(None, (3.0, 2.0))
    assert new_fig is not fig and new_ax.figure is new_fig
    assert tuple(new_fig.get_size_inches()) == (3.0, 2.0)


def test_axes_grid_removes_unused_cells():
    fig = _base.new_figure((6.0, 6.0))
    axes = _base.axes_grid(fig, 5, 3)
    assert len(axes) == 5 and len(fig.axes) == 5


def test_as_vector_flattens_columns_and_names_bad_input():
    np.testing.assert_array_equal(_base.as_vector([[1], [2]], "x"), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"obs must be numeric"):
        _base.as_vector(["a", "b"], "obs")
    with pytest.raises(ValueError, match=r"obs must be 1-D of shape \(n,\); got shape \(2, 2\)"):
        _base.as_vector(np.zeros((2, 2)), "obs")
    with pytest.raises(ValueError, match=r"obs has 2 non-finite value\(s\)"):
        _base.as_vector([1.0, np.nan, np.inf], "obs")
    assert np.isnan(_base.as_vector([np.nan], "obs", finite=False)[0])


def test_per_point_series_names_the_key_and_lengths():
    out = _base.per_point_series(
        {"RF": [1, 2, 3]}, 3, arg="predictions", of="observed", example="{model: array}"
    )
    assert list(out) == ["RF"] and out["RF"].dtype == np.float64
    with pytest.raises(ValueError, match=r"predictions\['RF'\] has 2 values for 3 points"):
        _base.per_point_series({"RF": [1, 2]}, 3, arg="predictions", of="observed", example="")
    with pytest.raises(ValueError, match=r"panels is empty; pass \{title: array\}"):
        _base.per_point_series({}, 3, arg="panels", of="lon/lat", example="{title: array}")


def test_checks_on_lengths_and_columns():
    with pytest.raises(ValueError, match="lon=3, lat=2"):
        _base.check_same_length(lon=np.zeros(3), lat=np.zeros(2))
    with pytest.raises(ValueError, match=r"table lacks column\(s\) \['error'\]"):
        _base.require_columns(pd.DataFrame({"model": []}), ("model", "error"), "table")
