"""soilnet.workspace: the recorded configuration, conflicts, and the twin's folder."""

from __future__ import annotations

import pytest

from soilnet.errors import ConfigConflictError, MissingOutputError
from soilnet.workspace import REPO_ROOT, Study, address, default_twin_dir


def test_address_is_stable_and_sensitive():
    a = address({"store": "abc", "lr": 0.001})
    assert a == address({"lr": 0.001, "store": "abc"}) and len(a) == 16
    assert a != address({"store": "abc", "lr": 0.002})


def test_open_needs_chapter_1_and_refuses_conflicts(tmp_path):
    with pytest.raises(MissingOutputError, match="chapter 1"):
        Study.open("smoke", work_dir=str(tmp_path / "w"))
    study = Study.create("smoke", str(tmp_path / "data"), str(tmp_path / "w"), ["train.lr=0.002"])
    study.write_record(store="s", splits="p")
    again = Study.open(None, None, str(tmp_path / "w"))
    assert again.config == study.config and again.data_dir == tmp_path / "data"
    with pytest.raises(ConfigConflictError, match="profile: recorded 'smoke', given 'default'"):
        Study.open("default", None, str(tmp_path / "w"))
    with pytest.raises(ConfigConflictError, match="data_dir"):
        Study.open("smoke", str(tmp_path / "other"), str(tmp_path / "w"))
    with pytest.raises(ConfigConflictError, match=r"experiment\.seeds"):
        Study.open("smoke", None, str(tmp_path / "w"), ["experiment.seeds=[5]"])


def test_default_twin_folder_is_addressed_when_the_twin_is_overridden():
    from soilnet.config import resolve

    assert default_twin_dir(resolve("smoke")) == REPO_ROOT / "data" / "twin-smoke"
    other = default_twin_dir(resolve("smoke", "twin.n_points=100"))
    assert other.name.startswith("twin-smoke-") and other != default_twin_dir(resolve("smoke"))
    assert default_twin_dir(resolve("smoke", "train.lr=0.1")).name == "twin-smoke"
