"""Fixture of the audit tests: a fresh fake of the authors' repository per test."""

from __future__ import annotations

import pytest

from .fake_repo import make_repo


@pytest.fixture()
def repo(tmp_path):
    return make_repo(tmp_path / "SoilNet")
