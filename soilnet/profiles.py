"""Run profiles of the book: how much data, which models, how long.

=========  ==============================================================================
profile    purpose
=========  ==============================================================================
smoke      the whole book, training included, in a few minutes on 2 CPU cores (tests)
default    the embedded twin on CPU: results that mean something in about 20 minutes
paper      the paper's settings for a GPU: 21,859 points, 64 px, ResNet-101, 50 epochs
           (30 for +LSTM), 5 seeds, 5-fold spatial CV, a 1 km map
=========  ==============================================================================

The CPU profiles use the paper's three variants on a ResNet-18 backbone with the stem max-pool
removed, so that at 32 px GLAM still sees an 8 x 8 map after layer2 as the paper's 64 px
ResNet-101 does; they train with Adam at 1e-3 and a cosine schedule, because the paper's 1e-4
with StepLR underfits in a few CPU epochs (measured in ``feasibility_cpu_default.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from soilnet.errors import ConfigurationError


@dataclass(frozen=True)
class Profile:
    """Settings of one book profile.

    Attributes:
        name: profile name.
        twin: the :data:`soilnet.synthetic.PROFILES` twin generated when no data folder is given.
        patch_size_px: model input size (patches are resampled to it).
        variants: model variants trained under the random split (chapter 2).
        seeds: seeds per variant under the random split.
        epochs, epochs_lstm: epochs for CNN-only and +LSTM variants.
        lr, schedule, batch_size, stem_maxpool, patience: training settings.
        spatial_variants, spatial_seeds, spatial_epochs: networks under spatial block CV.
        block_km, k_folds: spatial block CV design (EPSG:3035 squares).
        map_resolution_km: grid spacing of the European map.
    """

    name: str
    twin: str
    patch_size_px: int
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    epochs_lstm: int
    lr: float
    schedule: str
    batch_size: int
    stem_maxpool: bool
    patience: int | None
    spatial_variants: tuple[str, ...]
    spatial_seeds: tuple[int, ...]
    spatial_epochs: int
    block_km: float
    k_folds: int
    map_resolution_km: float

    def epochs_for(self, variant: str, spatial: bool = False) -> int:
        """Epochs for a variant (the paper trained +LSTM for 30 instead of 50)."""
        if spatial:
            return self.spatial_epochs
        return self.epochs_lstm if variant.endswith("lstm") else self.epochs


_CPU_VARIANTS = ("resnet18", "resnet18_glam", "resnet18_glam_lstm")

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", twin="smoke", patch_size_px=32, variants=_CPU_VARIANTS, seeds=(0, 1),
        epochs=2, epochs_lstm=2, lr=1e-3, schedule="cosine", batch_size=32, stem_maxpool=False,
        patience=None, spatial_variants=("resnet18", "resnet18_glam_lstm"), spatial_seeds=(0,),
        spatial_epochs=2, block_km=300.0, k_folds=3, map_resolution_km=100.0,
    ),
    "default": Profile(
        name="default", twin="default", patch_size_px=32, variants=_CPU_VARIANTS, seeds=(0, 1),
        epochs=8, epochs_lstm=8, lr=1e-3, schedule="cosine", batch_size=32, stem_maxpool=False,
        patience=None, spatial_variants=("resnet18", "resnet18_glam_lstm"), spatial_seeds=(0,),
        spatial_epochs=6, block_km=200.0, k_folds=3, map_resolution_km=20.0,
    ),
    "paper": Profile(
        name="paper", twin="paper", patch_size_px=64,
        variants=("resnet101", "resnet101_glam", "resnet101_glam_lstm"), seeds=(0, 1, 2, 3, 4),
        epochs=50, epochs_lstm=30, lr=1e-4, schedule="step", batch_size=32, stem_maxpool=True,
        patience=None, spatial_variants=("resnet101", "resnet101_glam", "resnet101_glam_lstm"),
        spatial_seeds=(0,), spatial_epochs=30, block_km=100.0, k_folds=5, map_resolution_km=1.0,
    ),
}  # fmt: skip


def get_profile(name: str, **overrides) -> Profile:
    """A profile by name, with fields overridden (``None`` values are ignored)."""
    if name not in PROFILES:
        raise ConfigurationError(f"Unknown profile {name!r}; accepted: {', '.join(PROFILES)}.")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(changes) - set(Profile.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(
            f"Unknown profile setting(s) {sorted(unknown)}; accepted: {sorted(Profile.__dataclass_fields__)}."
        )
    for key in ("variants", "seeds", "spatial_variants", "spatial_seeds"):
        if key in changes:
            changes[key] = tuple(changes[key])
    return replace(PROFILES[name], **changes)
