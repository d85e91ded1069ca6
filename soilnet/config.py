"""One configuration tree: a profile composes the twin, store, split, training, experiment and
map settings, and every command line and notebook parses overrides in one place.

=========  ==============================================================================
profile    purpose
=========  ==============================================================================
smoke      the whole book, training included, in a few minutes on 2 CPU cores (tests)
default    the embedded twin on CPU: results that mean something in about half an hour
paper      the paper's settings for a GPU: 21,859 points, 64 px, ResNet-101, 50 epochs
           (30 for +LSTM), 5 seeds, 5-fold spatial CV, a 1 km map
=========  ==============================================================================

The CPU profiles use the paper's three variants on a ResNet-18 backbone with the stem max-pool
removed, so that GLAM after layer2 still sees a map (8 x 8 at 32 px, as the paper's 64 px
ResNet-101 does; 4 x 4 at 16 px); they train with Adam at 1e-3 and a cosine schedule, because
the paper's 1e-4 with StepLR underfits in a few CPU epochs. The default profile's networks read
the twin's 32 px patches resampled to 16 px and train 4 epochs: with 32 px and 6 epochs, its
previous settings, chapter 2's 18 networks took 51 of the book's 64 minutes on 2 cores
(2026-12-01; ``python -m soilnet book --profile default --set store.patch_size_px=32 --set
experiment.epochs=6 --set experiment.epochs_lstm=6 --work-dir runs/default-32px`` builds it).

Overrides are dotted paths with YAML values, the same on the command line and in notebooks::

    python -m soilnet book --profile default --set train.lr=3e-4 --set experiment.seeds=[0,1,2]
    papermill notebooks/01_data_preparation.ipynb out.ipynb -p overrides '["train.lr=3e-4"]'
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

import yaml

from soilnet.bands import BAND_NAMES, CLIMATE_VARIABLES, OPTICAL_BANDS, PAPER_CLIP_G_PER_KG
from soilnet.errors import ConfigurationError
from soilnet.models import BACKBONES, VARIANTS
from soilnet.twin.config import SHARE_NAMES, TWINS, TwinConfig

SCHEDULES = ("step", "cosine")
DEVICES = ("auto", "cpu", "cuda")


def _choice(name: str, value, accepted: tuple) -> None:
    if value not in accepted:
        raise ConfigurationError(
            f"{name} must be one of {', '.join(map(str, accepted))}; got {value!r} instead."
        )


@dataclass(frozen=True)
class StoreConfig:
    """How a data folder is read into a consolidated store (part of the store's address).

    Attributes:
        patch_size_px: model input size; patches are resampled to it.
        optical_only: read the 12 optical bands only (exports without topography).
        climate_variables: TerraClimate variables to read, in order; ``None`` reads those of
            the 14 present under ``climate/``; an empty tuple reads none.
        on_missing: ``"raise"`` or ``"drop"`` points without a patch or a climate row.
        climate_id_column: ID column name of the climate CSVs.
        missing_code_means: how ``-999`` in climate CSVs is read: ``"missing"`` or ``"zero"``.
    """

    patch_size_px: int = 32
    optical_only: bool = False
    climate_variables: tuple[str, ...] | None = None
    on_missing: str = "raise"
    climate_id_column: str = "Point_ID"
    missing_code_means: str = "missing"

    def __post_init__(self):
        _choice("store.on_missing", self.on_missing, ("raise", "drop"))
        _choice("store.missing_code_means", self.missing_code_means, ("missing", "zero"))
        if self.patch_size_px < 8:
            raise ConfigurationError(
                f"store.patch_size_px must be >= 8 pixels; got {self.patch_size_px}."
            )
        unknown = [v for v in self.climate_variables or () if v not in CLIMATE_VARIABLES]
        if unknown:
            raise ConfigurationError(
                f"Unknown climate variable(s) {unknown} in store.climate_variables; "
                f"accepted: {', '.join(CLIMATE_VARIABLES)}."
            )

    @property
    def bands(self) -> tuple[str, ...]:
        return OPTICAL_BANDS if self.optical_only else BAND_NAMES


@dataclass(frozen=True)
class SplitConfig:
    """The random split and the spatial block CV design (part of a split's address).

    Attributes:
        seed: seed of the random permutation and of the block-to-fold assignment.
        fractions: train, validation and test fractions of the random split.
        block_km: side of the square EPSG:3035 blocks of the spatial CV, km.
        k_folds: number of spatial folds.
        val_fraction: share of the non-test points (whole blocks) used for validation.
    """

    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    block_km: float = 100.0
    k_folds: int = 5
    val_fraction: float = 0.125

    def __post_init__(self):
        if self.k_folds < 2:
            raise ConfigurationError(f"split.k_folds must be >= 2; got {self.k_folds}.")
        if self.block_km <= 0:
            raise ConfigurationError(f"split.block_km must be positive; got {self.block_km}.")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run. Defaults are the paper's (GPU) settings.

    Attributes:
        variant: a name from :data:`soilnet.models.VARIANTS`.
        epochs: maximum number of epochs (paper: 50 for the CNNs, 30 for +LSTM).
        batch_size: samples per step (paper: 32).
        lr: Adam learning rate (paper: 1e-4).
        schedule: ``"step"`` (x ``lr_gamma`` every ``lr_step_epochs``, the paper's StepLR) or
            ``"cosine"`` (to ``lr / 20``, for short CPU runs).
        lr_step_epochs, lr_gamma: StepLR settings (paper: 10, 0.2).
        weight_decay: Adam weight decay (paper: 0).
        clip_g_per_kg: targets are clipped here before training and scaled by it (the paper
            clipped at 87 g/kg); ``None`` trains on unclipped SOC, still scaled by 87.
        augment: random flips and 90-degree rotations of training patches.
        patience: stop after this many epochs without a better validation RMSE (None: never).
        dropout: head dropout.
        stem_maxpool: keep the ResNet stem's max-pool (paper: yes; off for the CPU profiles' inputs).
        lstm_hidden, lstm_layers: climate LSTM size (paper: 128, 2).
        head_activation: ``"relu"`` or the paper's ``"sigmoid"``.
        seed: controls weight initialisation, data order, augmentation and dropout.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; where a run executes,
            so not part of its address.
        amp: bfloat16 autocast and channels_last on CUDA (ignored on CPU).
        weights_path: optional local torchvision ResNet state dict (nothing is downloaded).
    """

    variant: str = "resnet101_glam_lstm"
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    schedule: str = "step"
    lr_step_epochs: int = 10
    lr_gamma: float = 0.2
    weight_decay: float = 0.0
    clip_g_per_kg: float | None = PAPER_CLIP_G_PER_KG
    augment: bool = True
    patience: int | None = None
    dropout: float = 0.2
    stem_maxpool: bool = True
    lstm_hidden: int = 128
    lstm_layers: int = 2
    head_activation: str = "relu"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    weights_path: str | None = None

    def __post_init__(self):
        _choice("train.variant", self.variant, tuple(VARIANTS))
        _choice("train.schedule", self.schedule, SCHEDULES)
        _choice("train.device", self.device, DEVICES)
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigurationError(
                f"train.epochs, train.batch_size and train.lr must be positive; got "
                f"{self.epochs}, {self.batch_size}, {self.lr}."
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigurationError(
                f"train.patience must be None (no early stopping) or >= 1 epoch; got "
                f"{self.patience!r}."
            )
        if self.clip_g_per_kg is not None and not self.clip_g_per_kg > 0:
            raise ConfigurationError(
                f"train.clip_g_per_kg must be a positive SOC in g/kg (the paper: 87) or None for "
                f"no clipping (--no-clip); got {self.clip_g_per_kg!r}."
            )


@dataclass(frozen=True)
class ExperimentConfig:
    """Which networks the book trains, and for how long (chapters 2 and 3).

    Attributes:
        variants: network variants under the random split.
        seeds: seeds of every network, under both protocols.
        epochs, epochs_lstm: epochs of CNN-only and +LSTM variants (the paper: 50 and 30), under
            both protocols.
        spatial_variants: networks under spatial block CV (a subset, to bound its cost).

    Both protocols train with the same seeds and epochs, so a difference between their tables
    is the protocol's, not the training budget's.
    """

    variants: tuple[str, ...] = ("resnet101", "resnet101_glam", "resnet101_glam_lstm")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    epochs: int = 50
    epochs_lstm: int = 30
    spatial_variants: tuple[str, ...] = ("resnet101", "resnet101_glam", "resnet101_glam_lstm")

    def __post_init__(self):
        for name in (*self.variants, *self.spatial_variants):
            _choice("experiment variant", name, tuple(VARIANTS))
        if not self.variants or not self.seeds:
            raise ConfigurationError("experiment.variants and experiment.seeds must not be empty.")

    def epochs_for(self, variant: str) -> int:
        """Epochs of a variant (the paper trained +LSTM for 30, not 50), under either protocol."""
        return self.epochs_lstm if VARIANTS[variant].uses_climate else self.epochs

    def variants_for(self, protocol: str) -> tuple[str, ...]:
        return self.spatial_variants if protocol == "spatial" else self.variants

    def seeds_for(self, protocol: str) -> tuple[int, ...]:
        """The seeds of a protocol: the same for both."""
        return self.seeds


@dataclass(frozen=True)
class MapConfig:
    """The European map of chapter 7.

    Attributes:
        resolution_km: grid spacing, km (EPSG:3035).
        tile_cells: cells rendered and predicted at once (bounds memory, not values).
        batch_size: samples per forward pass.
        render_processes: worker processes rendering the twin's map cells
            (:class:`soilnet.twin.pool.RenderPool`); 1 renders in the chapter's process, 0
            uses every CPU core (shared among torchrun's local ranks). Not the values.
    """

    resolution_km: float = 1.0
    tile_cells: int = 1024
    batch_size: int = 256
    render_processes: int = 1

    def __post_init__(self):
        if not self.resolution_km > 0:
            raise ConfigurationError(
                f"map.resolution_km must be positive; got {self.resolution_km}."
            )
        if self.render_processes < 0:
            raise ConfigurationError(
                f"map.render_processes must be >= 0 (0: one per CPU core); got "
                f"{self.render_processes}."
            )


@dataclass(frozen=True)
class FalsificationConfig:
    """The twin as an instrument (chapter 8): grids of twins that differ in one variance share.

    Every twin of every grid has the same points, seed and patch size; one component's share
    takes each of ``levels`` in turn, the other shares rescaled so the five sum to 1
    (:func:`soilnet.twin.share_grid`). The networks train with the ``train`` section's settings.

    Attributes:
        components: the shares varied, one grid each (``pixel``, ``context``, ``climate``,
            ``spatial``).
        levels: the planted shares, increasing, starting at 0.
        n_points: points of every twin.
        patch_size_px: patch size of every twin and of its store.
        backbone: CNN of the networks (a ResNet of :data:`soilnet.models.BACKBONES`).
        epochs: epochs of every network.
        seeds: seeds of every model, networks and forests.
        attention: also train ``<backbone>_glam`` on the context twins for GLAM's gain over
            the plain CNN (the climate twins train it anyway, as the hybrid's ablation).
    """

    components: tuple[str, ...] = ("pixel", "context", "climate", "spatial")
    levels: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)
    n_points: int = 5000
    patch_size_px: int = 64
    backbone: str = "resnet101"
    epochs: int = 30
    seeds: tuple[int, ...] = (0, 1, 2)
    attention: bool = True

    def __post_init__(self):
        varied = tuple(n for n in SHARE_NAMES if n != "noise")
        for name in self.components:
            _choice("falsification.components", name, varied)
        if not self.components or not self.seeds:
            raise ConfigurationError(
                "falsification.components and falsification.seeds must not be empty."
            )
        levels = list(self.levels)
        if len(levels) < 2 or levels[0] != 0 or levels != sorted(set(levels)) or levels[-1] >= 1:
            raise ConfigurationError(
                "falsification.levels must be at least two increasing shares starting at 0 and "
                f"below 1 (e.g. [0, 0.3]); got {self.levels!r}."
            )
        _choice("falsification.backbone", self.backbone, tuple(BACKBONES))
        if self.epochs < 1 or self.n_points < 50 or self.patch_size_px < 8:
            raise ConfigurationError(
                "falsification.epochs must be >= 1, falsification.n_points >= 50 and "
                f"falsification.patch_size_px >= 8; got {self.epochs}, {self.n_points}, "
                f"{self.patch_size_px}."
            )


@dataclass(frozen=True)
class StudyConfig:
    """The whole configuration of one book run.

    Attributes:
        name: the profile it was made from.
        twin: the synthetic twin generated when no data folder is given.
        store, split, train, experiment, map: the parts above. ``train`` holds the shared
            hyperparameters; each run takes its variant, seed and epochs from ``experiment``.
        falsification: the twin grids of chapter 8.
    """

    name: str
    twin: TwinConfig = field(default_factory=TwinConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    map: MapConfig = field(default_factory=MapConfig)
    falsification: FalsificationConfig = field(default_factory=FalsificationConfig)

    def run_config(self, variant: str, seed: int, protocol: str) -> TrainConfig:
        """The TrainConfig of one network run of the experiment."""
        config = replace(self.train, variant=variant, seed=int(seed))  # checks the variant
        return replace(config, epochs=self.experiment.epochs_for(variant))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_CPU_VARIANTS = ("resnet18", "resnet18_glam", "resnet18_glam_lstm")


def _cpu_profile(
    name: str,
    epochs: int,
    block_km: float,
    map_km: float,
    falsification: FalsificationConfig,
    patch_size_px: int = 32,
):
    """A CPU profile: ResNet-18 variants without the stem max-pool, 2 seeds, 3 folds.

    Spatial CV trains ResNet-18 and the hybrid only (GLAM alone is left out to bound the time).
    ``patch_size_px`` is the networks' input (the store's size); the twin keeps its own.
    """
    return StudyConfig(
        name=name, twin=TWINS[name], store=StoreConfig(patch_size_px=patch_size_px),
        split=SplitConfig(block_km=block_km, k_folds=3),
        train=TrainConfig(lr=1e-3, schedule="cosine", stem_maxpool=False),
        experiment=ExperimentConfig(
            variants=_CPU_VARIANTS, seeds=(0, 1), epochs=epochs, epochs_lstm=epochs,
            spatial_variants=("resnet18", "resnet18_glam_lstm"),
        ),
        map=MapConfig(resolution_km=map_km), falsification=falsification,
    )  # fmt: skip


#: Chapter 8 on CPU: small twins at 16 px, ResNet-18 without the stem max-pool, few epochs.
_FALSIFY_SMOKE = FalsificationConfig(
    components=("context", "spatial"), levels=(0.0, 0.4), n_points=240, patch_size_px=16,
    backbone="resnet18", epochs=1, seeds=(0,), attention=False,
)  # fmt: skip
_FALSIFY_DEFAULT = FalsificationConfig(
    components=("context", "climate", "spatial"), levels=(0.0, 0.4), n_points=800,
    patch_size_px=16, backbone="resnet18", epochs=3, seeds=(0, 1), attention=True,
)  # fmt: skip

PROFILES: dict[str, StudyConfig] = {
    "smoke": _cpu_profile(
        "smoke", epochs=2, block_km=300.0, map_km=100.0, falsification=_FALSIFY_SMOKE
    ),
    "default": _cpu_profile(
        "default", epochs=4, block_km=200.0, map_km=20.0, falsification=_FALSIFY_DEFAULT,
        patch_size_px=16,
    ),
    "paper": StudyConfig(
        name="paper", twin=TWINS["paper"], store=StoreConfig(patch_size_px=64),
        split=SplitConfig(block_km=100.0, k_folds=5), train=TrainConfig(),
        experiment=ExperimentConfig(), map=MapConfig(resolution_km=1.0, render_processes=0),
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------- overrides
def parse_overrides(value) -> dict[str, Any]:
    """Overrides from any form a user gives them, as ``{"section.field": value}``.

    Accepts None, a dict (dotted keys, or nested dicts), a list of ``"a.b=VALUE"`` strings,
    or one such string (a papermill ``-p`` string may also be a JSON/YAML list or mapping).
    VALUE is parsed as YAML: ``3e-4``, ``[0, 1, 2]``, ``null``, ``true``.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            return parse_overrides(yaml.safe_load(text))
        value = [text]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, val in value.items():
            if isinstance(val, dict) and key in _SECTIONS:
                out.update({f"{key}.{k}": v for k, v in val.items()})
            else:
                out[str(key)] = val
        return out
    out = {}
    for item in value:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigurationError(
                f"An override must look like 'section.field=value' (e.g. train.lr=3e-4); "
                f"got {item!r}."
            )
        key, _, raw = item.partition("=")
        out[key.strip()] = _parse_value(raw)
    return out


def _parse_value(raw: str):
    """YAML, except that numbers like ``3e-4`` (a string to YAML 1.1) are numbers."""
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


_SECTIONS = {f.name for f in fields(StudyConfig)} - {"name"}


def _coerce(section: type, name: str, value):
    """Convert a parsed override to the field's type (tuples for sequences, float for ints)."""
    hints = typing.get_type_hints(section)
    hint = hints[name]
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if value is None:
        return None
    if origin is tuple or any(typing.get_origin(a) is tuple for a in args):
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(items)
    if hint is float or float in args:
        return float(value)
    if hint is int or (int in args and not isinstance(value, bool)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
    return value


def apply_overrides(config: StudyConfig, overrides) -> StudyConfig:
    """``config`` with dotted overrides applied; unknown paths are refused with the accepted ones."""
    changes: dict[str, dict[str, Any]] = {}
    for path, value in parse_overrides(overrides).items():
        section, _, name = path.partition(".")
        if section not in _SECTIONS:
            raise ConfigurationError(
                f"Unknown setting {path!r}: the first part must be one of "
                f"{', '.join(sorted(_SECTIONS))}."
            )
        cls = type(getattr(config, section))
        names = [f.name for f in fields(cls)]
        if name not in names:
            raise ConfigurationError(f"Unknown setting {path!r}; {section} has {', '.join(names)}.")
        changes.setdefault(section, {})[name] = _coerce(cls, name, value)
    parts = {s: replace(getattr(config, s), **c) for s, c in changes.items()}
    return replace(config, **parts)


def resolve(profile: str, overrides=None) -> StudyConfig:
    """The profile's configuration with overrides applied."""
    if profile not in PROFILES:
        raise ConfigurationError(f"Unknown profile {profile!r}; accepted: {', '.join(PROFILES)}.")
    return apply_overrides(PROFILES[profile], overrides)


def flatten(config: StudyConfig) -> dict[str, Any]:
    """``{"section.field": value}`` of every setting (lists for tuples, as in JSON)."""
    data = json.loads(json.dumps(config.to_dict()))
    out = {"name": data.pop("name")}
    for section, values in data.items():
        out.update({f"{section}.{k}": v for k, v in values.items()})
    return out


def from_dict(data: dict) -> StudyConfig:
    """Rebuild a :class:`StudyConfig` from :meth:`StudyConfig.to_dict` (e.g. a JSON record)."""
    flat = {f"{s}.{k}": v for s, values in data.items() if s != "name" for k, v in values.items()}
    # A section the record lacks (written before it existed) is the profile's.
    base = PROFILES.get(data["name"], StudyConfig(name=data["name"]))
    return apply_overrides(base, flat)


def conflicts(recorded: StudyConfig, overrides) -> dict[str, tuple[Any, Any]]:
    """Overrides whose value differs from the recorded configuration: path -> (recorded, given)."""
    given = parse_overrides(overrides)
    if not given:
        return {}
    mine = flatten(recorded)
    theirs = flatten(apply_overrides(recorded, given))
    return {p: (mine[p], theirs[p]) for p in given if mine.get(p) != theirs.get(p)}


def parse_list(value) -> list | None:
    """A list from a list, a JSON/YAML list string (papermill ``-p x '[...]'``), a comma-separated
    string or a scalar; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return list(yaml.safe_load(text))
        return [t.strip() for t in text.split(",") if t.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
