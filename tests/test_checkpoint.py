"""Tests for soilnet.checkpoint: atomic checkpoint files, resumable state checked against the
run's inputs, and loading the selected weights of a run for inference."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch
from conftest import tiny_train_config as tiny

from soilnet import checkpoint
from soilnet.checkpoint import BEST, LAST, load_model, load_state, save_atomic
from soilnet.errors import CheckpointError
from soilnet.models import build_model
from soilnet.trainer import run_inputs, train
from soilnet.transforms import Normalization

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cnn_run(twin_store, twin_split, tmp_path_factory):
    """A finished 2-epoch run of the tiny ResNet-18 on the 48-point twin: (config, result)."""
    config = tiny(variant="resnet18")
    out = tmp_path_factory.mktemp("cnn_run")
    return config, train(twin_store, twin_split, config, out, progress=False)


def _tmp_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp"))


# ---------------------------------------------------------------- files of a run


def test_checkpoints_are_atomic_and_loadable(cnn_run, twin_store, twin_split):
    config, result = cnn_run
    assert _tmp_files(result.out_dir) == []
    last = torch.load(result.out_dir / LAST, weights_only=False)
    assert {"model", "optimizer", "scheduler", "epoch", "history", "best_state", "inputs"} <= set(
        last
    )
    assert last["epoch"] == config.epochs
    assert last["inputs"] == run_inputs(twin_store, twin_split, config)
    assert last["inputs"]["train_config"] == {
        k: v for k, v in asdict(config).items() if k != "device"
    }
    model = build_model(**last["model_config"])
    model.load_state_dict(last["model"])
    best = torch.load(result.out_dir / BEST, weights_only=False)
    assert best["epoch"] == result.best_epoch
    assert best["inputs"] == last["inputs"]


def test_save_atomic_replaces_whole_files_and_removes_leftovers(tmp_path):
    path = tmp_path / LAST
    save_atomic({"epoch": 1}, path)
    # leftovers of writers that were killed mid-write
    (tmp_path / ".tmp-last.pt.abc123.pt").write_bytes(b"half a checkpoint")
    (tmp_path / ".tmp-last.pt.x").write_bytes(b"")
    (tmp_path / ".tmp-best.pt.def456.pt").write_bytes(b"another file's")
    save_atomic({"epoch": 2}, path)
    assert torch.load(path, weights_only=False) == {"epoch": 2}
    assert _tmp_files(tmp_path) == [".tmp-best.pt.def456.pt"]  # only this file's leftovers go
    save_atomic({"epoch": 1}, tmp_path / "sub" / BEST)  # the folder is created
    assert torch.load(tmp_path / "sub" / BEST, weights_only=False) == {"epoch": 1}


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / LAST
    save_atomic({"epoch": 1, "w": torch.ones(3)}, path)
    real_save = torch.save

    def crash_mid_write(obj, f, *args, **kwargs):
        real_save({"half": torch.zeros(3)}, f)  # something lands at the temporary path
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    after = torch.load(path, weights_only=False)
    assert after["epoch"] == 1 and torch.equal(after["w"], torch.ones(3))
    assert _tmp_files(tmp_path) == []


def test_failed_checkpoint_write_keeps_previous_checkpoint(
    twin_store, twin_split, tmp_path, monkeypatch
):
    config = tiny(variant="resnet18", epochs=2)
    train(twin_store, twin_split, config, tmp_path, progress=False, stop_after_epochs=1)
    before = torch.load(tmp_path / LAST, weights_only=False)

    real_save = torch.save

    def crash_mid_write(obj, f, *args, **kwargs):
        real_save({"half": torch.zeros(3)}, f)
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash_mid_write)
    with pytest.raises(OSError, match="disk full"):
        train(twin_store, twin_split, config, tmp_path, progress=False)
    monkeypatch.setattr(checkpoint.torch, "save", real_save)

    after = torch.load(tmp_path / LAST, weights_only=False)
    assert after["epoch"] == before["epoch"] == 1
    for key, value in before["model"].items():
        assert torch.equal(value, after["model"][key]), key
    assert _tmp_files(tmp_path) == []
    # and the run still resumes from it
    done = train(twin_store, twin_split, config, tmp_path, progress=False)
    assert done.record["epochs_run"] == 2 and done.record["resumed_from_epoch"] == 1


# ---------------------------------------------------------------- resumable state


def test_load_state_compares_every_input(tmp_path):
    inputs = {
        "store": "a" * 64,
        "split": "random",
        "split_hash": "0123456789abcdef",
        "train_config": {"lr": 1e-3, "seed": 0},
        "target_transform": {"clip_g_per_kg": 87.0, "scale_g_per_kg": 87.0},
    }
    assert load_state(tmp_path, inputs, "cpu") is None  # nothing to resume
    save_atomic({"epoch": 3, "inputs": inputs}, tmp_path / LAST)
    assert load_state(tmp_path, inputs, "cpu")["epoch"] == 3
    other = {**inputs, "store": "b" * 64, "train_config": {"lr": 3e-4, "seed": 0}}
    with pytest.raises(CheckpointError, match=r"differing: store, train_config\.lr\)") as err:
        load_state(tmp_path, other, "cpu")
    assert str(tmp_path / LAST) in str(err.value) and "delete this one" in str(err.value)
    save_atomic({"epoch": 3}, tmp_path / LAST)  # a checkpoint without recorded inputs
    with pytest.raises(CheckpointError, match="differing: split, split_hash, store"):
        load_state(tmp_path, inputs, "cpu")


def test_model_config_mismatch_is_named(cnn_run):
    _, result = cnn_run
    last = torch.load(result.out_dir / LAST, weights_only=False)
    assert last["model_config"]["in_channels"] == 14
    model12 = build_model("resnet18", in_channels=12, stem_maxpool=False)
    with pytest.raises(CheckpointError, match="in_channels: 14 -> 12"):
        model12.check_config(last["model_config"], source=str(result.out_dir / LAST))


# ---------------------------------------------------------------- selected weights


def test_load_model_checks_the_variant(cnn_run):
    config, result = cnn_run
    with pytest.raises(CheckpointError, match="'resnet18', not 'resnet18_glam'"):
        load_model(result.out_dir, variant="resnet18_glam")
    model, norm, record = load_model(result.out_dir, variant=config.variant)
    assert model.variant == config.variant and record["best_epoch"] == result.best_epoch
    assert not model.training
    assert norm == Normalization.load(result.out_dir / "normalization.json")
    best = torch.load(result.out_dir / BEST, weights_only=False)
    for key, value in best["model"].items():
        assert torch.equal(model.state_dict()[key], value), key


def test_load_model_of_unfinished_run(twin_store, twin_split, tmp_path):
    config = tiny(variant="resnet18")
    train(twin_store, twin_split, config, tmp_path, progress=False, stop_after_epochs=1)
    with pytest.raises(CheckpointError, match=r"stopped after 1 of 2 epochs.*allow_incomplete"):
        load_model(tmp_path)
    model, _, record = load_model(tmp_path, allow_incomplete=True)
    assert record["complete"] is False and not model.training
    (tmp_path / BEST).unlink()
    with pytest.raises(CheckpointError, match="has not finished"):
        load_model(tmp_path)
