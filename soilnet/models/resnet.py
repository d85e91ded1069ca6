"""CNN branch: a torchvision ResNet with a multi-band stem, optional GLAM, 1024-d output.

Feature map sizes for a 64x64 patch and the default stem (conv1 stride 2 + maxpool):
conv1 32 -> maxpool 16 -> layer1 16 -> layer2 8 (GLAM here) -> layer3 4 -> layer4 2.
With ``stem_maxpool=False`` a 32x32 patch gives the same 8x8 map after layer2.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision import models as tvm

from soilnet.errors import CheckpointError, ConfigurationError, WeightsNotFoundError
from soilnet.models.attention import GLAM

__all__ = ["BACKBONES", "ResNetBranch", "WeightsNotFoundError", "WeightsReport"]


@dataclass(frozen=True)
class _Backbone:
    factory: Callable[..., tvm.ResNet]
    layer2_channels: int
    final_channels: int


#: Supported torchvision ResNets: constructor, channels after layer2 (GLAM) and layer4.
BACKBONES: dict[str, _Backbone] = {
    "resnet18": _Backbone(tvm.resnet18, 128, 512),
    "resnet34": _Backbone(tvm.resnet34, 128, 512),
    "resnet50": _Backbone(tvm.resnet50, 512, 2048),
    "resnet101": _Backbone(tvm.resnet101, 512, 2048),
}


@dataclass
class WeightsReport:
    """What :meth:`ResNetBranch.load_backbone_weights` did with a state dict.

    Attributes:
        path: the file that was read.
        loaded: backbone keys copied from the file.
        skipped: keys present in both whose shapes differ (e.g. ``conv1.weight`` for 14
            bands, ``fc.*`` for 1024 outputs); they keep their random initialisation.
        missing: backbone keys absent from the file (left as initialised).
        unexpected: file keys the backbone does not have (ignored).
    """

    path: Path
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    """Read a state dict (plain, or under ``state_dict``/``model``) onto the CPU."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors have many types; report them uniformly
        raise CheckpointError(
            f"Could not read weights from {str(path)!r}: {exc}. Pass a file written with "
            "torch.save(model.state_dict(), path)."
        ) from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{str(path)!r} does not hold a state dict (a mapping of names to tensors); "
            f"got {type(obj).__name__}."
        )
    # DataParallel checkpoints prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in obj.items()}


class ResNetBranch(nn.Module):
    """Torchvision ResNet for C-band patches, optional GLAM after layer2, 1024-d features.

    ``conv1`` is replaced by ``Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)``
    and ``fc`` by ``Linear(final_channels, out_features)`` followed by ``LeakyReLU(0.01)``, as
    in SoilNet. Weights start random (the paper trains from scratch); ``weights_path`` can
    load a local torchvision state dict (e.g. ImageNet weights) into the backbone.

    Args:
        backbone: one of :data:`BACKBONES` (``"resnet18"``, ``"resnet34"``, ``"resnet50"``,
            ``"resnet101"``).
        in_channels: C, number of patch bands (14 for :data:`soilnet.bands.BAND_NAMES`).
        glam: insert :class:`~soilnet.models.attention.GLAM` after layer2.
        stem_maxpool: keep torchvision's 3x3 stride-2 maxpool after conv1 (the paper does).
            Dropping it doubles every later feature map, e.g. for 32x32 patches.
        out_features: size of the output vector (1024 in SoilNet).
        weights_path: optional local torchvision ResNet state dict; keys whose shapes do not
            match (``conv1`` unless ``in_channels == 3``, ``fc``) are skipped with a warning
            and listed in :attr:`weights_report`. Nothing is ever downloaded.
        glam_reduced_channels: C' of GLAM's spatial branches.
        glam_kernel_size: GLAM's Conv1d kernel size.

    Shape:
        - Input: float32 (B, C, H, W), patch bands in :data:`soilnet.bands.BAND_NAMES` order,
          scaled; any H, W >= 16 px.
        - Output: float32 (B, out_features).

    Raises:
        ConfigurationError: unknown ``backbone`` or ``in_channels < 1``.
        WeightsNotFoundError: ``weights_path`` does not exist.
        CheckpointError: ``weights_path`` is unreadable or no key matches the backbone.
    """

    def __init__(
        self,
        backbone: str = "resnet101",
        in_channels: int = 14,
        *,
        glam: bool = False,
        stem_maxpool: bool = True,
        out_features: int = 1024,
        weights_path: str | Path | None = None,
        glam_reduced_channels: int = 32,
        glam_kernel_size: int = 5,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ConfigurationError(
                f"Unknown backbone {backbone!r}. Accepted: {', '.join(BACKBONES)}."
            )
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ConfigurationError(f"in_channels must be an integer >= 1; got {in_channels!r}.")
        spec = BACKBONES[backbone]
        self.backbone_name = backbone
        self.in_channels = in_channels
        self.out_features = out_features

        net = spec.factory(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        # Same init torchvision gives its own conv1.
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        if not stem_maxpool:
            net.maxpool = nn.Identity()
        net.fc = nn.Linear(spec.final_channels, out_features)
        self.backbone = net
        self.glam = (
            GLAM(spec.layer2_channels, glam_reduced_channels, glam_kernel_size) if glam else None
        )
        self.activation = nn.LeakyReLU(0.01)
        self.weights_report: WeightsReport | None = None
        if weights_path is not None:
            self.load_backbone_weights(weights_path)

    def load_backbone_weights(self, path: str | Path) -> WeightsReport:
        """Copy matching tensors of a torchvision ResNet state dict into the backbone.

        Args:
            path: file written by ``torch.save(resnet.state_dict(), path)`` (a plain state
                dict, or one under a ``state_dict``/``model`` key).

        Returns:
            The :class:`WeightsReport`, also stored as :attr:`weights_report`.

        Raises:
            WeightsNotFoundError: ``path`` does not exist.
            CheckpointError: the file is not a state dict, or none of its keys match.
        """
        path = Path(path)
        if not path.is_file():
            raise WeightsNotFoundError(
                f"weights_path {str(path)!r} does not exist; pass the path of a local "
                "torchvision ResNet state dict, or weights_path=None to train from scratch."
            )
        source = _read_state_dict(path)
        target = self.backbone.state_dict()
        report = WeightsReport(path=path)
        to_load: dict[str, Tensor] = {}
        for key, value in source.items():
            if key not in target:
                report.unexpected.append(key)
            elif value.shape != target[key].shape:
                report.skipped.append(key)
            else:
                to_load[key] = value
                report.loaded.append(key)
        report.missing = [k for k in target if k not in source]
        if not to_load:
            raise CheckpointError(
                f"No tensor in {str(path)!r} matches the {self.backbone_name} backbone "
                f"({len(source)} keys in the file, e.g. {', '.join(list(source)[:3])}); "
                f"is it a torchvision {self.backbone_name} state dict?"
            )
        self.backbone.load_state_dict(to_load, strict=False)
        if report.skipped:
            warnings.warn(
                f"{len(report.skipped)} tensors of {str(path)!r} were skipped because their "
                f"shapes differ ({', '.join(report.skipped)}); they keep their random "
                "initialisation.",
                UserWarning,
                stacklevel=2,
            )
        self.weights_report = report
        return report

    def layer2_features(self, image: Tensor) -> Tensor:
        """The feature map after ``layer2``: what GLAM receives (B, C2, H/4, W/4 without the
        stem max-pool, H/8 with it)."""
        net = self.backbone
        x = net.maxpool(net.relu(net.bn1(net.conv1(image))))
        return net.layer2(net.layer1(x))

    def forward(self, image: Tensor) -> Tensor:
        """Encode a batch of patches.

        Args:
            image: float32 (B, C, H, W) scaled patch bands.

        Returns:
            float32 (B, out_features) features after LeakyReLU(0.01).
        """
        net = self.backbone
        x = self.layer2_features(image)
        if self.glam is not None:
            x = self.glam(x)
        x = net.layer4(net.layer3(x))
        x = torch.flatten(net.avgpool(x), 1)
        return self.activation(net.fc(x))
