"""What every figure family shares: the figure class, colours, and input checks.

Input checks raise :class:`ValueError` naming the argument (and the model or panel key), its
length or shape and what to pass instead, so a notebook cell fails with a readable message.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Colour ramp for SOC (light = low, dark = high), as the paper's Figure 7.
SOC_CMAP = "YlGnBu"
SOC_LABEL = "SOC (g/kg)"

#: Colours of the paper's Figure 6 (``plot_utils/scatterplot.ipynb``).
PAPER_COLORS: dict[str, str] = {"Observed": "#0079FF", "RF": "#FF0060", "SoilNet": "#00DFA2"}
#: Names drawn in the paper's RF / SoilNet colour (compared lower-case).
_RF_ALIASES = {"rf", "random forest", "rf (paper)", "paper rf", "rf_paper"}
_SOILNET_ALIASES = {"soilnet", "resnet101_glam_lstm", "resnet-101-glam+lstm"}
#: Colours for the other models, in order (colour-blind-safe, distinct from the paper's).
_PALETTE = ("#FFB000", "#785EF0", "#FE6100", "#648FFF", "#DC267F", "#4D4D4D", "#117733", "#AA4499")


class SoilNetFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that renders itself as PNG in notebooks.

    Figures made outside pyplot have no display hook of their own; ``_repr_png_`` gives
    Jupyter one, so the figure shows once, whatever the backend.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def new_figure(figsize: tuple[float, float], layout: str | None = "constrained") -> SoilNetFigure:
    """A figure outside pyplot's registry (nothing to close, never shown twice)."""
    return SoilNetFigure(figsize=figsize, layout=layout)


def figure_and_axes(ax, figsize: tuple[float, float]):
    """``(figure, axes)``: ``ax`` and its figure when given, else a new one-axes figure."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize)
    return fig, fig.add_subplot()


def axes_grid(fig: Figure, n: int, ncols: int, **subplot_kw) -> np.ndarray:
    """``n`` axes on a grid ``ncols`` wide, row by row; the unused cells of the last row removed.

    Returns:
        object array (n,) of axes.
    """
    nrows = math.ceil(n / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw).ravel()
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def palette_color(i: int) -> str:
    """The ``i``-th colour of the palette for rows that are not Observed, RF or SoilNet."""
    return _PALETTE[i % len(_PALETTE)]


def model_color(name: str, i: int = 0) -> str:
    """Colour of a row or panel: the paper's for Observed, RF and SoilNet, else a palette.

    Args:
        name: a model or row name. ``"Observed"``; ``"RF"``/``"Random Forest"``; ``"SoilNet"``
            or ``"resnet101_glam_lstm"`` get the paper's colours (case-insensitive).
        i: position among the other models, to pick a palette colour.

    Returns:
        a hex colour.
    """
    key = str(name).strip().lower()
    if key == "observed":
        return PAPER_COLORS["Observed"]
    if key in _RF_ALIASES:
        return PAPER_COLORS["RF"]
    if key in _SOILNET_ALIASES:
        return PAPER_COLORS["SoilNet"]
    return palette_color(i)


def model_colors(names: Iterable[str]) -> dict[str, str]:
    """``{name: colour}``; palette colours go, in order, to the names without a paper colour."""
    out, k = {}, 0
    for name in names:
        color = model_color(name, k)
        if color not in PAPER_COLORS.values():
            k += 1
        out[name] = color
    return out


def default_point_size(n: int) -> float:
    """Marker area (points²) for ``n`` scattered points: smaller as they get denser."""
    return float(np.clip(6000.0 / max(n, 1), 1.5, 18.0))


# ---------------------------------------------------------------------------------- validation
def as_vector(values, name: str, *, finite: bool = True) -> np.ndarray:
    """``values`` as float (n,); (n, 1) and (1, n) are flattened.

    Raises:
        ValueError: not numeric, not 1-D, or (with ``finite``) holding NaN or inf.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert it to float ({exc}).") from exc
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n,); got shape {arr.shape}.")
    if finite:
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ValueError(
                f"{name} has {bad:,} non-finite value(s) (NaN or inf) of {arr.size:,}; drop or fill "
                "them before plotting."
            )
    return arr


def check_same_length(**arrays: np.ndarray) -> None:
    """Raise :class:`ValueError` unless all arrays have one value per point."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v:,}" for k, v in lengths.items())
        raise ValueError(f"Inputs must have one value per point; got lengths {shown}.")


def per_point_series(
    series: Mapping[str, object], n: int, *, arg: str, of: str, example: str
) -> dict[str, np.ndarray]:
    """Check ``{name: float (n,)}`` (predictions per model, values per panel) against ``n`` points.

    Args:
        series: name -> values, one per point, in the order of the reference.
        n: number of points of the reference.
        arg: the argument's name, for messages (``"predictions"``, ``"panels"``).
        of: what the ``n`` points are (``"observed"``, ``"lon/lat"``), for messages.
        example: what to pass, for the message when ``series`` is empty.

    Returns:
        ``{str(name): float (n,)}`` in the order given.
    """
    if not series:
        raise ValueError(f"{arg} is empty; pass {example}.")
    out = {}
    for name, values in series.items():
        arr = as_vector(values, f"{arg}[{name!r}]")
        if len(arr) != n:
            raise ValueError(
                f"{arg}[{name!r}] has {len(arr):,} values for {n:,} points of {of}; pass one "
                "value per point, in the same order."
            )
        out[str(name)] = arr
    return out


def require_columns(table: pd.DataFrame, need: Sequence[str], name: str) -> None:
    """Raise :class:`ValueError` naming the columns ``table`` (called ``name``) lacks."""
    missing = set(need) - set(table.columns)
    if missing:
        raise ValueError(f"{name} lacks column(s) {sorted(missing)}; it has {list(table.columns)}.")
