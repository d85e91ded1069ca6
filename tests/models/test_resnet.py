"""Tests for soilnet.models.resnet (CNN branch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from soilnet.errors import CheckpointError, ConfigurationError, SoilNetError
from soilnet.models.attention import GLAM
from soilnet.models.resnet import ResNetBranch, WeightsNotFoundError


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("size", [16, 32, 48, 64])
def test_output_shape_any_size(size: int) -> None:
    branch = ResNetBranch("resnet18", in_channels=14, glam=True)
    with torch.no_grad():
        out = branch(torch.randn(2, 14, size, size))
    assert out.shape == (2, 1024)
    assert torch.isfinite(out).all()


def test_non_square_and_no_maxpool() -> None:
    branch = ResNetBranch("resnet34", in_channels=5, glam=True, stem_maxpool=False)
    with torch.no_grad():
        assert branch(torch.randn(2, 5, 32, 40)).shape == (2, 1024)


@pytest.mark.parametrize(("size", "stem_maxpool"), [(64, True), (32, False)])
def test_glam_sees_8x8_after_layer2(size: int, stem_maxpool: bool) -> None:
    branch = ResNetBranch("resnet18", glam=True, stem_maxpool=stem_maxpool)
    seen: list[tuple[int, ...]] = []
    branch.glam.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    with torch.no_grad():
        branch(torch.randn(2, 14, size, size))
    assert seen == [(2, 128, 8, 8)]


def test_stem_and_head_replaced() -> None:
    branch = ResNetBranch("resnet18", in_channels=14)
    conv1 = branch.backbone.conv1
    assert conv1.weight.shape == (64, 14, 7, 7)
    assert conv1.bias is None
    assert (conv1.stride, conv1.padding) == ((2, 2), (3, 3))
    assert branch.backbone.fc.out_features == 1024
    assert branch.glam is None
    assert isinstance(branch.backbone.maxpool, torch.nn.MaxPool2d)
    assert isinstance(
        ResNetBranch("resnet18", stem_maxpool=False).backbone.maxpool, torch.nn.Identity
    )


def test_glam_channels_follow_backbone() -> None:
    assert ResNetBranch("resnet18", glam=True).glam.channels == 128
    glam50 = ResNetBranch("resnet50", glam=True).glam
    assert isinstance(glam50, GLAM)
    assert glam50.channels == 512


def test_output_is_leaky_relu_of_fc() -> None:
    branch = ResNetBranch("resnet18", in_channels=3).eval()
    captured: list[torch.Tensor] = []
    branch.backbone.fc.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        out = branch(torch.randn(4, 3, 32, 32))
    torch.testing.assert_close(out, torch.nn.functional.leaky_relu(captured[0], 0.01))


def test_unknown_backbone() -> None:
    with pytest.raises(ConfigurationError, match=r"'resnet99'.*resnet18, resnet34"):
        ResNetBranch("resnet99")


def test_weights_path_loads_matching_keys(tmp_path: Path) -> None:
    reference = resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    with pytest.warns(UserWarning, match="conv1.weight"):
        branch = ResNetBranch("resnet18", in_channels=14, weights_path=path)
    report = branch.weights_report
    assert report is not None
    assert set(report.skipped) == {"conv1.weight", "fc.weight", "fc.bias"}
    assert "layer1.0.conv1.weight" in report.loaded
    assert report.missing == [] and report.unexpected == []
    ref_state = reference.state_dict()
    for key, value in branch.backbone.state_dict().items():
        if key.startswith("layer1.") or key.startswith("bn1."):
            torch.testing.assert_close(value, ref_state[key], msg=key)
    assert branch.backbone.conv1.weight.shape == (64, 14, 7, 7)


def test_weights_path_three_bands_keeps_conv1(tmp_path: Path) -> None:
    reference = resnet18(weights=None)
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    with pytest.warns(UserWarning, match="fc.weight"):
        branch = ResNetBranch("resnet18", in_channels=3, weights_path=path)
    torch.testing.assert_close(branch.backbone.conv1.weight, reference.conv1.weight)


def test_weights_path_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope.pth"
    with pytest.raises(WeightsNotFoundError, match="nope.pth") as info:
        ResNetBranch("resnet18", weights_path=path)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, SoilNetError)


def test_weights_path_no_matching_key(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="other.pth"):
        ResNetBranch("resnet18", weights_path=path)


def test_weights_path_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="state dict"):
        ResNetBranch("resnet18", weights_path=path)
