"""Input validation in one place, in the manner of scikit-learn's ``check_array``.

Messages say what was found, what was required and how to fix it, and name the samples
(rows, or the point IDs when given) that fail.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soilnet.errors import DataFormatError, first_ids


def check_array(
    value,
    name: str,
    *,
    axes: Sequence[str | int] | None = None,
    dtype=None,
    finite: bool = False,
    ids: Sequence | None = None,
    hint: str = "",
) -> np.ndarray:
    """Return ``value`` as an array after checking its shape and values.

    Args:
        value: array-like.
        name: how the caller calls it in messages, e.g. ``"train['xy']"``.
        axes: the required shape as axis names (any size) or ints (that size), e.g.
            ``("N", "C", "H", "W")`` or ``("N", 2)``.
        dtype: convert to this dtype (None keeps the input's).
        finite: refuse NaN and inf, naming the samples (rows along the first axis) that hold
            them.
        ids: per-row identifiers (e.g. Point_IDs) to name failing rows by instead of indices.
        hint: what to do, appended to shape errors.

    Raises:
        DataFormatError: wrong number of axes, a fixed axis of another size, or non-finite
            values.
    """
    arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    if axes is not None:
        wanted = "(" + ", ".join(str(a) for a in axes) + ")"
        fixed_ok = all(
            not isinstance(a, int) or (i < arr.ndim and arr.shape[i] == a)
            for i, a in enumerate(axes)
        )
        if arr.ndim != len(axes) or not fixed_ok:
            raise DataFormatError(
                f"{name} must have shape {wanted}; got shape {arr.shape}."
                + (f" {hint}" if hint else "")
            )
    if finite and arr.size:
        bad = ~np.isfinite(arr)
        if bad.ndim > 1:
            bad = bad.reshape(bad.shape[0], -1).any(axis=1)
        rows = np.flatnonzero(np.atleast_1d(bad))
        if rows.size:
            labels = rows.tolist() if ids is None else [ids[i] for i in rows]
            raise DataFormatError(
                f"{name} has non-finite values (NaN or inf) in {rows.size} of "
                f"{np.atleast_1d(bad).shape[0]} samples (first: {first_ids(labels)}). "
                "Fill or drop them first."
            )
    return arr


def check_consistent_length(where: str, **arrays) -> int:
    """The common first-axis length of ``arrays`` (None entries skipped); raise naming each."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{where}[{k!r}] has {v}" for k, v in lengths.items())
        raise DataFormatError(
            f"Arrays in {where} disagree in length: {desc}. Pass arrays for the same points."
        )
    return next(iter(lengths.values()), 0)


def check_columns(table, required, path, hint: str) -> None:
    """Refuse a table that lacks ``required`` columns, naming the file, the missing and the
    present columns (the first 12) and ``hint`` (what the table needs, what to do)."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        found = ", ".join(map(str, table.columns[:12])) + ("…" if len(table.columns) > 12 else "")
        raise DataFormatError(
            f"{path}: missing column(s) {', '.join(missing)}; found {found}. {hint}"
        )
