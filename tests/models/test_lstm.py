"""Tests for soilnet.models.lstm (climate branch)."""

from __future__ import annotations

import pytest
import torch

from soilnet.bands import CLIMATE_VARIABLES
from soilnet.errors import ConfigurationError
from soilnet.models.lstm import ClimateBranch

F = len(CLIMATE_VARIABLES)


@pytest.fixture
def branch() -> ClimateBranch:
    torch.manual_seed(0)
    return ClimateBranch(F)


@pytest.mark.parametrize("months", [1, 12, 61])
def test_output_shape(branch: ClimateBranch, months: int) -> None:
    out = branch(torch.randn(3, months, F))
    assert out.shape == (3, 128)
    assert (out >= 0).all()  # ReLU


def test_architecture(branch: ClimateBranch) -> None:
    assert branch.lstm.input_size == F
    assert branch.lstm.hidden_size == 128
    assert branch.lstm.num_layers == 2
    assert branch.lstm.batch_first
    assert not branch.lstm.bidirectional
    assert branch.fc.out_features == 128


def test_uses_last_time_step(branch: ClimateBranch) -> None:
    x = torch.randn(2, 10, F)
    seq, _ = branch.lstm(x)
    expected = torch.relu(branch.fc(seq[:, -1]))
    torch.testing.assert_close(branch(x), expected)


def test_earlier_months_matter(branch: ClimateBranch) -> None:
    x = torch.randn(2, 10, F)
    y = x.clone()
    y[:, 0] += 1.0  # only the oldest month changes
    assert not torch.allclose(branch(x), branch(y))


def test_custom_sizes() -> None:
    branch = ClimateBranch(3, hidden_size=16, num_layers=1, out_features=8)
    assert branch(torch.randn(4, 5, 3)).shape == (4, 8)


@pytest.mark.parametrize("bad", [0, -1, None])
def test_invalid_n_features(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="n_features"):
        ClimateBranch(bad)  # type: ignore[arg-type]
