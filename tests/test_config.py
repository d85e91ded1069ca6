"""soilnet.config: one configuration tree, overrides parsed in one place."""

from __future__ import annotations

import json

import pytest

from soilnet.config import (
    PROFILES,
    StudyConfig,
    TrainConfig,
    apply_overrides,
    conflicts,
    flatten,
    from_dict,
    parse_overrides,
    resolve,
)
from soilnet.errors import ConfigurationError


def test_profiles_compose_every_part():
    for name, config in PROFILES.items():
        assert config.name == name
        # The networks read the twin's patches at its size or resampled down, never up.
        assert config.store.patch_size_px <= config.twin.patch_size_px
        for protocol in ("random", "spatial"):
            for variant in config.experiment.variants_for(protocol):
                run = config.run_config(variant, 0, protocol)
                assert run.variant == variant and run.epochs >= 1
    # The CPU profiles share one training setup; the paper's is TrainConfig's defaults.
    assert PROFILES["paper"].train == TrainConfig()
    assert PROFILES["default"].train.lr == 1e-3 and not PROFILES["default"].train.stem_maxpool
    # The default book's networks read the 32 px twin at 16 px (its time on 2 cores).
    default = PROFILES["default"]
    assert (default.twin.patch_size_px, default.store.patch_size_px) == (32, 16)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, {}),
        ("train.lr=3e-4", {"train.lr": 3e-4}),
        (["experiment.seeds=[0, 1, 2]", "train.patience=null"],
         {"experiment.seeds": [0, 1, 2], "train.patience": None}),
        ('["split.block_km=150"]', {"split.block_km": 150}),
        ({"train": {"lr": 0.01}, "map.resolution_km": 50}, {"train.lr": 0.01, "map.resolution_km": 50}),
    ],
)  # fmt: skip
def test_parse_overrides_accepts_cli_and_papermill_forms(given, expected):
    assert parse_overrides(given) == expected


def test_overrides_are_typed_and_checked():
    config = resolve(
        "default", ["experiment.seeds=[0, 1, 2]", "split.block_km=150", "train.epochs=3"]
    )
    assert config.experiment.seeds == (0, 1, 2) and config.split.block_km == 150.0
    assert config.train.epochs == 3 and isinstance(config.split.block_km, float)
    assert config.train.lr == PROFILES["default"].train.lr  # untouched
    with pytest.raises(ConfigurationError, match=r"Unknown setting 'train\.learning_rate'.*lr"):
        resolve("default", "train.learning_rate=1")
    with pytest.raises(ConfigurationError, match="first part must be one of"):
        resolve("default", "trainer.lr=1")
    with pytest.raises(ConfigurationError, match="section.field=value"):
        parse_overrides(["lr 3"])
    with pytest.raises(ConfigurationError, match="train.schedule must be one of step, cosine"):
        resolve("default", "train.schedule=linear")
    with pytest.raises(ConfigurationError, match="Unknown profile 'fast'"):
        resolve("fast")


@pytest.mark.parametrize("clip", [-5, 0])
def test_clip_must_be_positive_or_none(clip):
    with pytest.raises(ConfigurationError, match="--no-clip"):
        TrainConfig(clip_g_per_kg=clip)
    assert TrainConfig(clip_g_per_kg=None).clip_g_per_kg is None


def test_round_trip_through_json_and_conflicts():
    config = resolve("smoke", ["train.lr=0.002", "experiment.variants=[resnet18]"])
    again = from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again, StudyConfig)
    assert conflicts(config, ["train.lr=0.002"]) == {}
    assert conflicts(config, ["train.lr=0.01"]) == {"train.lr": (0.002, 0.01)}
    assert flatten(config)["experiment.variants"] == ["resnet18"]
    assert apply_overrides(config, None) == config


def test_epochs_follow_the_variant_spec_not_its_name():
    exp = PROFILES["paper"].experiment
    assert exp.epochs_for("resnet101_glam_lstm") == 30 and exp.epochs_for("resnet101") == 50
    assert exp.epochs_for("lstm") == 30  # the climate-only variant has the climate branch too


def test_both_protocols_train_with_the_same_seeds_and_epochs_in_every_profile():
    for name, config in PROFILES.items():
        exp = config.experiment
        assert exp.seeds_for("spatial") == exp.seeds_for("random"), name
        for variant in exp.spatial_variants:
            spatial = config.run_config(variant, 0, "spatial")
            random = config.run_config(variant, 0, "random")
            assert spatial.epochs == random.epochs, (name, variant)
