"""SoilNet models: ResNet (+GLAM) patch branch, LSTM climate branch, regressor head.

Build a model by variant name::

    from soilnet.models import build_model
    model = build_model("resnet101_glam_lstm", in_channels=14, n_climate_features=14)
    pred = model(image, climate)  # (B,), SOC / clip value
"""

from soilnet.models.attention import GLAM
from soilnet.models.hybrid import (
    HEAD_ACTIVATIONS,
    PAPER_VARIANTS,
    VARIANTS,
    RegressorHead,
    SoilNetModel,
    VariantSpec,
    build_model,
    count_parameters,
    paper_label,
)
from soilnet.models.lstm import ClimateBranch
from soilnet.models.resnet import BACKBONES, ResNetBranch, WeightsNotFoundError, WeightsReport

__all__ = [
    "BACKBONES",
    "GLAM",
    "HEAD_ACTIVATIONS",
    "PAPER_VARIANTS",
    "VARIANTS",
    "ClimateBranch",
    "RegressorHead",
    "ResNetBranch",
    "SoilNetModel",
    "VariantSpec",
    "WeightsNotFoundError",
    "WeightsReport",
    "build_model",
    "count_parameters",
    "paper_label",
]
