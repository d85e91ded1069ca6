"""Tests for soilnet.models.hybrid (full model, variant registry, build_model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from soilnet.errors import CheckpointError, ConfigurationError
from soilnet.models import (
    PAPER_VARIANTS,
    VARIANTS,
    SoilNetModel,
    VariantSpec,
    build_model,
    count_parameters,
    paper_label,
)

B = 2
C = 14
F = 14
MONTHS = 12

FAST_VARIANTS = [name for name in VARIANTS if not name.startswith("resnet101")]
SLOW_VARIANTS = [name for name in VARIANTS if name.startswith("resnet101")]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _inputs(size: int, channels: int = C) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(B, channels, size, size), torch.randn(B, MONTHS, F)


def _check_forward(model: SoilNetModel, sizes: list[int]) -> None:
    for size in sizes:
        image, climate = _inputs(size)
        with torch.no_grad():
            out = model(image, climate)
        assert out.shape == (B,), (model.variant, size)
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all(), (model.variant, size)


def test_registry_names() -> None:
    expected = {
        f"{bb}{suffix}"
        for bb in ("resnet18", "resnet34", "resnet50", "resnet101")
        for suffix in ("", "_glam", "_glam_lstm")
    } | {"lstm"}
    assert set(VARIANTS) == expected
    assert set(PAPER_VARIANTS) <= set(VARIANTS)
    for name, spec in VARIANTS.items():
        assert spec.name == name
        assert spec.uses_image == (spec.backbone is not None)
        assert spec.uses_climate == spec.lstm == name.endswith("lstm")
        assert spec.glam == ("_glam" in name)
        assert spec.description


def test_variant_spec_is_frozen() -> None:
    spec = VARIANTS["resnet18"]
    assert isinstance(spec, VariantSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.glam = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("resnet101", "ResNet-101"),
        ("resnet101_glam", "ResNet-101-GLAM"),
        ("resnet101_glam_lstm", "ResNet-101-GLAM+LSTM"),
        ("resnet18_glam_lstm", "ResNet-18-GLAM+LSTM"),
        ("resnet50", "ResNet-50"),
        ("lstm", "LSTM only"),
    ],
)
def test_paper_label(name: str, label: str) -> None:
    assert paper_label(name) == label


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_forward_fast_variants(variant: str) -> None:
    model = build_model(variant, C, F)
    _check_forward(model, [64, 48, 32])


@pytest.mark.parametrize("variant", SLOW_VARIANTS)
def test_forward_resnet101_variants(variant: str) -> None:
    model = build_model(variant, C, F)
    _check_forward(model, [64, 40])


@pytest.mark.parametrize("variant", ["resnet18_glam_lstm", "resnet50_glam"])
def test_forward_32px_without_maxpool(variant: str) -> None:
    model = build_model(variant, C, F, stem_maxpool=False)
    _check_forward(model, [32])


def test_eval_mode_is_deterministic() -> None:
    model = build_model("resnet18_glam_lstm", C, F).eval()
    image, climate = _inputs(32)
    with torch.no_grad():
        torch.testing.assert_close(model(image, climate), model(image, climate))


def test_lstm_variant_ignores_image() -> None:
    model = build_model("lstm", n_climate_features=F)
    assert model.cnn is None
    climate = torch.randn(B, MONTHS, F)
    with torch.no_grad():
        out = model(None, climate)
    assert out.shape == (B,)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(None, climate), model(torch.randn(B, 3, 8, 8), climate))


def test_climate_ignored_without_lstm() -> None:
    model = build_model("resnet18").eval()
    image = torch.randn(B, C, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(image), model(image, torch.randn(B, 5, 3)))


def test_unknown_variant_message() -> None:
    with pytest.raises(ConfigurationError) as info:
        build_model("resnet99")
    message = str(info.value)
    assert "Unknown variant 'resnet99'" in message
    assert "Accepted:" in message
    for name in VARIANTS:
        assert name in message


def test_paper_label_unknown() -> None:
    with pytest.raises(ConfigurationError, match="'vgg16'"):
        paper_label("vgg16")


def test_channel_mismatch_message() -> None:
    model = build_model("resnet18", in_channels=14)
    with pytest.raises(ConfigurationError) as info:
        model(torch.randn(B, 12, 32, 32))
    assert str(info.value) == (
        "model built for 14 channels, batch has 12: rebuild with in_channels=12 or read the "
        "patches with the same bands."
    )


def test_missing_climate_message() -> None:
    model = build_model("resnet18_glam_lstm", C, F)
    with pytest.raises(
        ConfigurationError, match=r"variant 'resnet18_glam_lstm' needs climate"
    ) as info:
        model(torch.randn(B, C, 32, 32))
    assert "choose a variant without _lstm or add climate/" in str(info.value)


def test_missing_image_message() -> None:
    with pytest.raises(ConfigurationError, match="needs image patches"):
        build_model("resnet18")(None)


def test_climate_feature_mismatch() -> None:
    model = build_model("lstm", n_climate_features=F)
    with pytest.raises(ConfigurationError, match="built for 14 climate variables, batch has 12"):
        model(None, torch.randn(B, MONTHS, 12))
    with pytest.raises(ConfigurationError, match=r"\(B, months, variables\)"):
        model(None, torch.randn(MONTHS, F))


def test_batch_size_mismatch() -> None:
    model = build_model("resnet18_glam_lstm", C, F)
    with pytest.raises(
        ConfigurationError, match="image batch has 2 samples but climate batch has 3"
    ):
        model(torch.randn(2, C, 32, 32), torch.randn(3, MONTHS, F))


@pytest.mark.parametrize("n_climate", [None, 0])
def test_lstm_variant_needs_climate_features(n_climate: int | None) -> None:
    with pytest.raises(ConfigurationError, match="n_climate_features"):
        build_model("resnet18_glam_lstm", C, n_climate)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"in_channels": 0}, "in_channels"),
        ({"head_activation": "tanh"}, r"'tanh'.*relu, sigmoid"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_invalid_build_arguments(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        build_model("resnet18", **kwargs)


def test_weights_path_needs_cnn(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="weights_path"):
        build_model("lstm", n_climate_features=F, weights_path=tmp_path / "w.pth")


def test_parameter_count_matches_paper() -> None:
    model = build_model("resnet101_glam_lstm", 14, 14)
    counts = count_parameters(model)
    assert 44e6 <= counts["total"] <= 47e6  # paper: 45.1 M
    assert counts["cnn"] + counts["glam"] + counts["lstm"] + counts["head"] == counts["total"]
    assert 0.1e6 < counts["glam"] < 0.12e6
    assert 0.2e6 < counts["lstm"] < 0.25e6


def test_parameter_count_parts_absent() -> None:
    counts = count_parameters(build_model("lstm", n_climate_features=F))
    assert counts["cnn"] == counts["glam"] == 0
    assert counts["lstm"] > 0 and counts["head"] > 0


@pytest.mark.parametrize("head_activation", ["relu", "sigmoid"])
def test_gradients_reach_every_parameter(head_activation: str) -> None:
    model = build_model("resnet18_glam_lstm", C, F, head_activation=head_activation)
    image, climate = _inputs(32)
    model(image, climate).square().mean().backward()
    dead = [
        name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)
    ]
    assert dead == []
    # Every part is present, so an empty `dead` list means no branch is cut off.
    names = [n for n, _ in model.named_parameters()]
    for group in ("cnn.backbone.", "cnn.glam.", "climate_branch.", "head."):
        assert any(n.startswith(group) for n in names), group


def test_head_layout() -> None:
    model = build_model("resnet18_glam_lstm", C, F, head_activation="sigmoid", dropout=0.0)
    head = model.head
    assert [p[0].in_features for p in head.projections] == [1024, 128]
    assert isinstance(head.projections[0][1], torch.nn.Sigmoid)
    assert head.mlp[0].in_features == 256
    assert head.mlp[2].p == 0.0
    assert head.mlp[3].out_features == 1


def test_config_rebuilds_and_checks() -> None:
    model = build_model("resnet18_glam_lstm", 12, 9, stem_maxpool=False, dropout=0.1)
    assert model.variant == "resnet18_glam_lstm"
    assert model.spec is VARIANTS["resnet18_glam_lstm"]
    assert (model.in_channels, model.n_climate_features) == (12, 9)
    assert model.config == {
        "variant": "resnet18_glam_lstm",
        "in_channels": 12,
        "n_climate_features": 9,
        "stem_maxpool": False,
        "dropout": 0.1,
        "lstm_hidden": 128,
        "lstm_layers": 2,
        "head_activation": "relu",
    }
    rebuilt = SoilNetModel.from_config(model.config)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())  # same architecture, strict load works
    assert build_model(**model.config).config == model.config
    model.check_config(rebuilt.config)
    other = dict(model.config, in_channels=14)
    with pytest.raises(CheckpointError, match="in_channels: 14 -> 12"):
        model.check_config(other, source="run.pth")


def test_build_model_passes_weights_path(tmp_path: Path) -> None:
    reference = resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    with pytest.warns(UserWarning, match="keep their random initialisation"):
        model = build_model("resnet18_glam", C, weights_path=path)
    torch.testing.assert_close(
        model.cnn.backbone.layer1[0].conv1.weight, reference.layer1[0].conv1.weight
    )
    assert "weights_path" not in model.config  # initialisation only, not architecture
