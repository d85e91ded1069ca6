"""Tests for soilnet.plotting.training: loss curves over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from soilnet import plotting as P


def _history(seed, epochs=5):
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "train_loss": 1 / e + seed, "val_loss": 2 / e + seed})


def test_plot_loss_curves_mean_and_band(finish):
    fig = P.plot_loss_curves(
        {"resnet18": [_history(0), _history(1), _history(2)], "lstm": [_history(0, 3)]}
    )
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    e = np.arange(1, 6)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 1 / e + 1)  # mean of seeds 0..2
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 2 / e + 1)
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # min-max bands
    assert "3 seeds" in ax.get_title() and "1 seed)" in fig.axes[1].get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Train (mean)",
        "Validation (mean)",
    ]
    assert ax.get_ylabel() == "Loss: RMSE of SOC / 87 (unitless)"
    assert len(fig.axes[1].lines[0].get_xdata()) == 3  # the short run keeps its own epochs
    finish(fig)


def test_plot_loss_curves_rejects_bad_histories():
    with pytest.raises(ValueError, match=r"histories\['m'\]\[0\] lacks column\(s\) \['val_loss'\]"):
        P.plot_loss_curves({"m": [pd.DataFrame({"epoch": [1], "train_loss": [1.0]})]})
    with pytest.raises(ValueError, match=r"histories\['m'\] has no seed tables"):
        P.plot_loss_curves({"m": []})
    with pytest.raises(ValueError, match="histories is empty"):
        P.plot_loss_curves({})
