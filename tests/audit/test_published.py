"""The published predictions: alignment, checks against LUCAS, one test set, run files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soilnet import audit
from soilnet.errors import InconsistentDataError

from .fake_repo import FILES, make_repo


def test_rf_without_ids_is_aligned_by_position(tmp_path):
    fake = make_repo(tmp_path / "SoilNet", rf_ids=False)
    lucas = audit.read_lucas(fake.root)
    published = audit.read_published(fake.root, lucas)
    rf = published.frames["RF"].set_index("point_id").loc[fake.test_ids, "predicted"]
    np.testing.assert_allclose(rf.to_numpy(), fake.predictions["RF"])
    assert any("aligned by row position" in note for note in published.notes)


def test_rf_without_ids_in_another_order_is_refused(tmp_path):
    fake = make_repo(tmp_path / "SoilNet", rf_ids=False)
    path = fake.root / "results" / FILES["RF"].test_file
    rf = pd.read_csv(path)
    rf.iloc[::-1].to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match=FILES["RF"].test_file):
        audit.read_published(fake.root, audit.read_lucas(fake.root))


def test_observed_values_must_match_lucas(repo):
    path = repo.root / "results" / FILES["ResNet-101-GLAM"].test_file
    table = pd.read_csv(path)
    table.loc[3, "y_real"] = 0.5 if table.loc[3, "y_real"] != 0.5 else 0.25
    table.to_csv(path, index=False)
    bad_id = str(table.loc[3, "point_id"])
    with pytest.raises(InconsistentDataError, match=bad_id) as err:
        audit.read_published(repo.root, audit.read_lucas(repo.root))
    assert FILES["ResNet-101-GLAM"].test_file in str(err.value)


def test_test_sets_must_agree(repo):
    path = repo.root / "results" / FILES["ResNet-101-GLAM"].test_file
    pd.read_csv(path).iloc[:-1].to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match="one test set"):
        audit.read_published(repo.root, audit.read_lucas(repo.root))


def test_run_file_without_the_test_points_is_refused(repo):
    path = repo.root / "results" / FILES["ResNet-101"].run_file
    table = pd.read_csv(path)
    dropped = table.loc[table["point_id"].isin(repo.test_ids), "point_id"].iloc[0]
    table[table["point_id"] != dropped].to_csv(path, index=False)
    with pytest.raises(InconsistentDataError, match=str(dropped)):
        audit.read_run_ids(repo.root, repo.test_ids)
