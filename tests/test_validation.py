"""soilnet.validation: one check for arrays, with messages that name what and where."""

from __future__ import annotations

import numpy as np
import pytest

from soilnet.errors import DataFormatError
from soilnet.validation import check_array, check_consistent_length


def test_shape_by_axis_names_and_fixed_sizes():
    xy = check_array([[1.0, 2.0], [3.0, 4.0]], "xy", axes=("N", 2))
    assert xy.shape == (2, 2)
    with pytest.raises(DataFormatError, match=r"xy must have shape \(N, 2\); got shape \(2, 3\)"):
        check_array(np.zeros((2, 3)), "xy", axes=("N", 2))
    with pytest.raises(DataFormatError, match=r"\(N, C, H, W\).*Stack the patches"):
        check_array(
            np.zeros((3, 4, 4)), "image", axes=("N", "C", "H", "W"), hint="Stack the patches."
        )


def test_non_finite_rows_are_named_by_index_or_id():
    values = np.ones((5, 2))
    values[3, 1] = np.nan
    with pytest.raises(DataFormatError, match=r"1 of 5 samples \(first: 3\)"):
        check_array(values, "target", finite=True)
    with pytest.raises(DataFormatError, match=r"first: 40463116"):
        check_array(values, "target", finite=True, ids=[1, 2, 3, 40463116, 5])
    assert check_array(values, "target").shape == (5, 2)  # finite not asked: accepted


def test_consistent_length_names_each_array():
    assert check_consistent_length("train", image=np.zeros((3, 1)), xy=np.zeros((3, 2))) == 3
    with pytest.raises(DataFormatError, match=r"train\['image'\] has 3, train\['xy'\] has 4"):
        check_consistent_length("train", image=np.zeros((3, 1)), xy=np.zeros((4, 2)), climate=None)


def test_columns_are_named_with_what_was_found():
    import pandas as pd

    from soilnet.validation import check_columns

    table = pd.DataFrame(columns=[f"c{i}" for i in range(14)])
    check_columns(table, ["c0", "c13"], "t.csv", "unused")
    with pytest.raises(
        DataFormatError, match=r"t\.csv: missing column\(s\) OC; found c0, .*c11…\. Add OC"
    ):
        check_columns(table, ["c0", "OC"], "t.csv", "Add OC.")
