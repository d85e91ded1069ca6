"""Tests for soilnet.trainer: learning, resume (only for identical inputs), errors, outputs,
seeds, and a data folder that training only reads.

Models are tiny (ResNet-18 without the stem max-pool on 16 px patches) so the file runs in
about a minute on two CPU cores. Learning is checked on a module-scoped 500-point twin; the
48-point session twin from ``conftest.py`` serves everything else. Checkpoint files and
inference have their own modules (test_checkpoint.py, test_inference.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from conftest import TINY_SPLIT, TINY_STORE
from conftest import tiny_train_config as tiny

from soilnet import trainer
from soilnet.bands import BAND_NAMES, PAPER_CLIP_G_PER_KG
from soilnet.config import StoreConfig
from soilnet.dataset import TargetTransform, load_tensors
from soilnet.errors import CheckpointError, ConfigurationError, SplitMismatchError, StaleStoreError
from soilnet.io.patches import read_patch, write_patch
from soilnet.metrics import regression_metrics
from soilnet.models import build_model
from soilnet.splits import Split, load_split, open_split, write_splits
from soilnet.store import consolidate, find_store
from soilnet.trainer import TrainConfig, prepare_batch, run_inputs, train
from soilnet.transforms import Normalization
from soilnet.twin import TwinConfig, write_twin

#: Learning check: a smoke-like twin (500 points, 16 px), large enough that 50 validation and
#: 100 test points make the comparison with the null model stable. With one thread, seeds 0-11
#: all pass (test RMSE 0.82-0.96 of the null model's; epoch-2 loss 0.80-0.96 of epoch 1's);
#: with lr=1e-9 (an untrained model) the test RMSE is 1.76 times the null model's.
LEARN_TWIN = TwinConfig(n_points=500, patch_size_px=16, seed=5)
LEARN_SEED = 1

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_rmse_g_per_kg", "lr", "seconds"]
PREDICTION_COLUMNS = [
    "Point_ID",
    "split",
    "observed_g_per_kg",
    "target_g_per_kg",
    "predicted_g_per_kg",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def learn_data(tmp_path_factory):
    """(store, split, split folder) of the 500-point twin with its random 70/10/20 split."""
    root = tmp_path_factory.mktemp("learn_twin")
    work = tmp_path_factory.mktemp("learn_work")
    write_twin(root, LEARN_TWIN)
    store = consolidate(root, TINY_STORE, stores_dir=work / "stores")
    split_dir = write_splits(store, TINY_SPLIT, work / "splits")
    return store, open_split(split_dir, store, "random"), split_dir


@pytest.fixture(scope="module")
def hybrid_run(twin_store, twin_split, tmp_path_factory):
    """A finished 2-epoch run of the tiny hybrid on the 48-point twin: (config, result)."""
    config = tiny()
    out = tmp_path_factory.mktemp("hybrid_run")
    return config, train(twin_store, twin_split, config, out, progress=False)


@pytest.fixture
def deterministic():
    """Deterministic algorithms for the duration of one test only."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(previous)


def _tensors_equal(a, b, where: str = "") -> list[str]:
    """Paths of the tensors that differ between two nested checkpoint objects."""
    if isinstance(a, torch.Tensor):
        same = isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return [where + " (keys)"]
        return [d for k in a for d in _tensors_equal(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list | tuple):
        if not isinstance(b, list | tuple) or len(a) != len(b):
            return [where + " (length)"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _tensors_equal(x, y, f"{where}[{i}]")
        ]
    return []


def _without_seconds(history) -> pd.DataFrame:
    return pd.DataFrame(history).drop(columns="seconds")


def _file_hashes(root) -> dict[str, str]:
    """sha256 of every file under ``root`` (and '' for every folder), by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


# --------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------


def test_hybrid_lowers_loss_and_beats_null_model(learn_data, tmp_path):
    store, split, _ = learn_data
    config = TrainConfig(
        variant="resnet18_glam_lstm",
        epochs=6,
        batch_size=16,
        lr=1e-3,
        schedule="cosine",
        stem_maxpool=False,
        device="cpu",
        seed=LEARN_SEED,
    )
    first = train(store, split, config, tmp_path, progress=False, stop_after_epochs=2)
    loss = first.history["train_loss"].to_numpy()
    assert len(loss) == 2
    assert loss[1] < 0.97 * loss[0], f"two epochs did not lower the training loss: {loss}"

    result = train(store, split, config, tmp_path, progress=False)  # resumes to 6 epochs
    assert len(result.history) == 6
    assert result.record["resumed_from_epoch"] == 2
    target = result.predictions.set_index("split")["target_g_per_kg"]
    null = np.full(len(split.test), target.loc["train"].mean())
    null_rmse = regression_metrics(target.loc["test"].to_numpy(), null)["rmse"]
    test = result.metrics["test"]
    assert test["n"] == len(split.test) == 100
    assert test["rmse"] < 0.97 * null_rmse, (
        f"hybrid {test['rmse']:.2f} vs null {null_rmse:.2f} g/kg"
    )
    assert test["r2"] > 0.05


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def test_prepare_batch_gathers_and_augments(twin_store, twin_split):
    norm = Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)
    tensors = load_tensors(twin_store, norm, TargetTransform())
    rows = torch.as_tensor(twin_split.train[:6])
    cpu = torch.device("cpu")
    hybrid = build_model("resnet18_glam_lstm", in_channels=14, n_climate_features=14,
                         stem_maxpool=False, lstm_hidden=16, lstm_layers=1)  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    img, clim, y = prepare_batch(tensors, rows, hybrid, tiny(augment=False), gen, cpu, False)
    torch.testing.assert_close(img, tensors["image"][rows])
    torch.testing.assert_close(clim, tensors["climate"][rows])
    torch.testing.assert_close(y, tensors["target"][rows])
    assert float(y.max()) <= 1.0  # the network's scale: SOC clipped at 87, / 87

    img, _, _ = prepare_batch(tensors, rows, hybrid, tiny(augment=True), gen, cpu, False)
    for i, row in enumerate(rows):  # each patch is one of the 8 flips/rotations of its own
        source = tensors["image"][row]
        variants = [torch.rot90(s, k, dims=(-2, -1)) for s in (source, source.flip(-1))
                    for k in range(4)]  # fmt: skip
        assert any(torch.equal(img[i], v) for v in variants), f"row {int(row)}"

    cnn = build_model("resnet18", in_channels=14, stem_maxpool=False)
    img, clim, _ = prepare_batch(tensors, rows, cnn, tiny("resnet18"), gen, cpu, False)
    assert img.shape == (6, 14, 16, 16) and clim is None
    lstm = build_model("lstm", in_channels=14, n_climate_features=14, lstm_hidden=16,
                       lstm_layers=1)  # fmt: skip
    img, clim, _ = prepare_batch(tensors, rows, lstm, tiny("lstm"), gen, cpu, False)
    assert img is None and clim.shape == (6, 61, 14)


# --------------------------------------------------------------------------------------------
# Resume
# --------------------------------------------------------------------------------------------


def test_interrupted_and_resumed_run_equals_uninterrupted(
    twin_store, twin_split, tmp_path, deterministic
):
    config = tiny(epochs=3, dropout=0.3, augment=True)
    full = train(twin_store, twin_split, config, tmp_path / "full", progress=False)
    assert full.record["resumed_from_epoch"] is None

    part = train(
        twin_store, twin_split, config, tmp_path / "resumed", progress=False, stop_after_epochs=1
    )
    assert len(part.history) == 1
    assert part.record["complete"] is False and part.record["resumed_from_epoch"] is None
    resumed = train(twin_store, twin_split, config, tmp_path / "resumed", progress=False)
    assert resumed.record["complete"] is True
    assert resumed.record["epochs_run"] == 3
    assert resumed.record["resumed_from_epoch"] == 1

    for name in ("best.pt", "last.pt"):
        a = torch.load(tmp_path / "full" / name, weights_only=False)
        b = torch.load(tmp_path / "resumed" / name, weights_only=False)
        assert set(a) == set(b)
        assert a["epoch"] == b["epoch"]
        assert a["inputs"] == b["inputs"]
        assert _tensors_equal(a["model"], b["model"]) == [], name
        if name == "last.pt":
            assert _tensors_equal(a["optimizer"], b["optimizer"]) == []
            assert _tensors_equal(a["best_state"], b["best_state"]) == []
            assert a["scheduler"] == b["scheduler"]
            pd.testing.assert_frame_equal(
                _without_seconds(a["history"]), _without_seconds(b["history"])
            )
    pd.testing.assert_frame_equal(_without_seconds(full.history), _without_seconds(resumed.history))
    assert full.best_epoch == resumed.best_epoch
    pd.testing.assert_frame_equal(full.predictions, resumed.predictions)


def test_finished_run_resumes_as_no_op(hybrid_run, twin_store, twin_split):
    config, result = hybrid_run
    last = result.out_dir / "last.pt"
    stamp = last.stat().st_mtime_ns
    again = train(twin_store, twin_split, config, result.out_dir, progress=False)
    pd.testing.assert_frame_equal(again.history, result.history)
    pd.testing.assert_frame_equal(again.predictions, result.predictions)
    assert again.record["resumed_from_epoch"] == config.epochs
    assert last.stat().st_mtime_ns == stamp  # no epoch was trained again


def test_resume_ignores_the_device(twin_store, twin_split, tmp_path):
    """Where a run executes is not part of its inputs: a CPU run resumes under device=auto."""
    config = tiny(variant="resnet18", epochs=2)
    train(twin_store, twin_split, config, tmp_path, progress=False, stop_after_epochs=1)
    assert "device" not in run_inputs(twin_store, twin_split, config)["train_config"]
    if torch.cuda.is_available():
        pytest.skip("device=auto would run on CUDA here")
    done = train(twin_store, twin_split, replace(config, device="auto"), tmp_path, progress=False)
    assert done.record["resumed_from_epoch"] == 1 and done.record["epochs_run"] == 2


def test_resume_refuses_a_run_of_another_store(
    copy_twin, twin_store, twin_split_dir, twin_split, tmp_path
):
    """A run folder trained on store A is not resumed with store B (other data, same points)."""
    work = tmp_path / "work"
    patch = sorted((copy_twin / "patches").glob("*.tif"))[0]
    data = read_patch(patch).data.copy()
    with rasterio.open(patch) as src:
        crs, transform = src.crs.to_string(), src.transform
    data[0] += 0.01  # other data for one point
    patch.unlink()
    write_patch(patch, data, BAND_NAMES, crs, transform)
    other = consolidate(copy_twin, TINY_STORE, stores_dir=work / "stores")
    assert other.fingerprint != twin_store.fingerprint
    np.testing.assert_array_equal(other.point_ids, twin_store.point_ids)
    other_split = open_split(write_splits(other, TINY_SPLIT, work / "splits"), other, "random")
    np.testing.assert_array_equal(other_split.test, twin_split.test)  # the same split

    config = tiny(variant="resnet18", epochs=2)
    run = work / "runs" / "a"
    train(twin_store, twin_split, config, run, progress=False, stop_after_epochs=1)
    before = _file_hashes(run)
    with pytest.raises(CheckpointError, match=r"other inputs \(differing: store\)"):
        train(other, other_split, config, run, progress=False)
    assert _file_hashes(run) == before  # the refused run folder is left as it was
    with pytest.raises(StaleStoreError):  # and store A's split is refused with store B
        open_split(twin_split_dir, other, "random")
    done = train(twin_store, twin_split, config, run, progress=False)  # store A still resumes
    assert done.record["resumed_from_epoch"] == 1


def test_resume_refuses_other_settings_or_split(twin_store, twin_split_dir, twin_split, tmp_path):
    config = tiny(variant="resnet18", epochs=2)
    train(twin_store, twin_split, config, tmp_path, progress=False, stop_after_epochs=1)
    with pytest.raises(CheckpointError, match=r"differing: .*train_config\.lr"):
        train(twin_store, twin_split, replace(config, lr=3e-4), tmp_path, progress=False)
    with pytest.raises(
        CheckpointError,
        match=r"differing: target_transform\.clip_g_per_kg, target_transform\.scale_g_per_kg, "
        r"train_config\.clip_g_per_kg\)",
    ):
        train(twin_store, twin_split, replace(config, clip_g_per_kg=40.0), tmp_path, progress=False)
    fold0 = open_split(twin_split_dir, twin_store, "spatial", fold=0)
    with pytest.raises(CheckpointError, match=r"differing: split, split_hash\)"):
        train(twin_store, fold0, config, tmp_path, progress=False)
    same_name = Split(twin_split.name, twin_split.train, twin_split.test, twin_split.val)
    with pytest.raises(CheckpointError, match=r"differing: split_hash\)"):
        train(twin_store, same_name, config, tmp_path, progress=False)


def test_resume_refuses_another_variant(hybrid_run, twin_store, twin_split):
    config, result = hybrid_run
    with pytest.raises(CheckpointError, match=r"train_config\.variant"):
        train(
            twin_store,
            twin_split,
            replace(config, variant="resnet18_glam"),
            result.out_dir,
            progress=False,
        )


def test_resume_refuses_a_store_with_other_bands(twin_dir, twin_store, twin_split, tmp_path):
    store12 = consolidate(
        twin_dir, StoreConfig(patch_size_px=16, optical_only=True), stores_dir=tmp_path / "stores"
    )
    assert len(store12.band_names) == 12 and store12.path.parent == tmp_path / "stores"
    config = tiny(variant="resnet18", epochs=2)
    run = tmp_path / "run"
    train(twin_store, twin_split, config, run, progress=False, stop_after_epochs=1)
    # resuming a 14-band checkpoint on 12-band data: another store
    with pytest.raises(CheckpointError, match=r"differing: store\)"):
        train(store12, twin_split, config, run, progress=False)


def test_last_batch_of_one_sample_trains(twin_store, twin_split, tmp_path):
    """33 training points in batches of 8 (or 16) leave one sample over; it joins a batch."""
    assert len(twin_split.train) % 8 == 1
    assert trainer._batch_bounds(33, 8) == [(0, 8), (8, 16), (16, 24), (24, 33)]
    result = train(
        twin_store, twin_split, tiny(variant="resnet18", epochs=1), tmp_path, progress=False
    )
    assert np.isfinite(result.history["train_loss"]).all()


def test_climate_only_variant_trains_without_patches(twin_store, twin_split, tmp_path, monkeypatch):
    def no_patches(*args, **kwargs):
        raise AssertionError("the lstm variant augmented image patches it does not use")

    monkeypatch.setattr(trainer, "random_dihedral", no_patches)
    result = train(twin_store, twin_split, tiny(variant="lstm"), tmp_path, progress=False)
    assert result.record["model_config"]["in_channels"] == 14
    assert np.isfinite(result.predictions["predicted_g_per_kg"]).all()


def test_early_stopping_on_validation(twin_store, twin_split, tmp_path, monkeypatch):
    """Validation RMSE that never improves after epoch 1 stops the run after ``patience`` epochs."""
    real_predict = trainer.predict
    oc = twin_store.index["oc_g_per_kg"].to_numpy()
    val_target = np.minimum(oc, PAPER_CLIP_G_PER_KG)[twin_split.val]
    calls = {"val": 0}

    def worsening(model, images, climate, indices, **kwargs):
        out = real_predict(model, images, climate, indices, **kwargs)
        if np.array_equal(indices, twin_split.val):
            calls["val"] += 1
            return val_target + 10.0 * calls["val"]
        return out

    monkeypatch.setattr(trainer, "predict", worsening)
    config = tiny(variant="resnet18", epochs=6, patience=2)
    result = train(twin_store, twin_split, config, tmp_path, progress=False)
    assert len(result.history) == 3
    assert result.best_epoch == 1
    assert result.record["stopped_early"] is True and result.record["complete"] is True


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_unknown_variant_is_named():
    with pytest.raises(ConfigurationError, match="'resnet19_glam'"):
        TrainConfig(variant="resnet19_glam")
    with pytest.raises(ConfigurationError, match="resnet101_glam_lstm"):  # lists accepted names
        TrainConfig(variant="resnet19_glam")


@pytest.mark.parametrize(
    "field, value",
    [
        ("schedule", "plateau"),
        ("device", "tpu"),
        ("epochs", 0),
        ("batch_size", 0),
        ("lr", 0.0),
        ("patience", 0),
    ],
)
def test_bad_hyperparameters(field, value):
    with pytest.raises(ConfigurationError, match=repr(value) if isinstance(value, str) else None):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("clip", [-5.0, 0, 0.0])
def test_non_positive_clip_is_refused(clip):
    with pytest.raises(ConfigurationError, match=r"clip_g_per_kg must be a positive.*--no-clip"):
        TrainConfig(clip_g_per_kg=clip)


def test_clip_none_or_positive_is_accepted():
    assert TrainConfig(clip_g_per_kg=None).clip_g_per_kg is None
    assert TrainConfig(clip_g_per_kg=40.0).clip_g_per_kg == 40.0
    assert TrainConfig().clip_g_per_kg == PAPER_CLIP_G_PER_KG
    assert trainer.TrainConfig is TrainConfig  # still re-exported from soilnet.config


def test_stop_after_zero_epochs_is_refused(twin_store, twin_split, tmp_path):
    with pytest.raises(ConfigurationError, match="stop_after_epochs"):
        train(twin_store, twin_split, tiny(), tmp_path / "run", progress=False, stop_after_epochs=0)
    assert not (tmp_path / "run").exists()


def test_failed_run_leaves_no_empty_folder(twin_store, twin_split, tmp_path, monkeypatch):
    def broken_fit(*args, **kwargs):
        raise RuntimeError("statistics failed")

    monkeypatch.setattr(trainer.Normalization, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="statistics failed"):
        train(twin_store, twin_split, tiny(variant="resnet18"), tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()  # created by this call, removed when it failed
    (tmp_path / "given").mkdir()
    with pytest.raises(RuntimeError, match="statistics failed"):
        train(twin_store, twin_split, tiny(variant="resnet18"), tmp_path / "given", progress=False)
    assert (tmp_path / "given").is_dir()  # a folder the caller made is kept


def test_lstm_variant_without_climate(twin_dir, twin_split, tmp_path):
    store = consolidate(
        twin_dir, StoreConfig(patch_size_px=16, climate_variables=()), stores_dir=tmp_path / "s"
    )
    assert store.climate is None
    for variant in ("resnet18_glam_lstm", "lstm"):
        with pytest.raises(ConfigurationError, match="needs climate variables") as err:
            train(store, twin_split, tiny(variant=variant), tmp_path / variant, progress=False)
        assert variant in str(err.value)
        assert not (tmp_path / variant).exists()
    # an image-only variant trains on it
    result = train(
        store, twin_split, tiny(variant="resnet18", epochs=1), tmp_path / "cnn", progress=False
    )
    assert len(result.history) == 1


def test_split_that_does_not_match_the_dataset(learn_data, twin_store, tmp_path):
    store, split, split_dir = learn_data
    with pytest.raises(SplitMismatchError, match=r"random\.csv"):
        load_split(split_dir / "random.csv", twin_store.point_ids)  # the 500-point twin's split
    with pytest.raises(StaleStoreError, match=rf"made for store {store.fingerprint[:16]}"):
        open_split(split_dir, twin_store, "random")
    # a Split object whose indices run past the store is refused before training
    too_long = Split("other", split.train, split.val, split.test)
    with pytest.raises(ConfigurationError, match="outside the store's 48 rows"):
        train(twin_store, too_long, tiny(variant="resnet18"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_forced_cuda_without_gpu(twin_store, twin_split, tmp_path):
    with pytest.raises(ConfigurationError, match="device='cuda'"):
        train(twin_store, twin_split, tiny(device="cuda"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def test_predictions_csv(hybrid_run, twin_store, twin_split):
    _, result = hybrid_run
    table = pd.read_csv(result.out_dir / "predictions.csv")
    assert list(table.columns) == PREDICTION_COLUMNS
    counts = table["split"].value_counts().to_dict()
    assert counts == {p: len(twin_split.indices(p)) for p in ("train", "val", "test")}
    assert table["Point_ID"].is_unique
    assert set(table["Point_ID"]) == set(twin_store.point_ids)
    assert np.isfinite(table["predicted_g_per_kg"]).all()
    observed = twin_store.index.set_index("Point_ID")["oc_g_per_kg"]
    np.testing.assert_allclose(
        table["observed_g_per_kg"], observed.loc[table["Point_ID"]].to_numpy()
    )
    # metrics are computed over whole splits against these columns
    test = table[table["split"] == "test"]
    expected = regression_metrics(test["target_g_per_kg"], test["predicted_g_per_kg"])
    assert result.metrics["test"]["rmse"] == pytest.approx(expected["rmse"])
    assert result.metrics["test"]["n"] == len(twin_split.test)


def test_history_csv(hybrid_run):
    config, result = hybrid_run
    history = pd.read_csv(result.out_dir / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == list(range(1, config.epochs + 1))
    np.testing.assert_allclose(
        history["val_loss"] * PAPER_CLIP_G_PER_KG, history["val_rmse_g_per_kg"]
    )
    assert history["lr"].iloc[0] == pytest.approx(config.lr)
    assert (history["seconds"] > 0).all()


def test_run_json(hybrid_run, twin_store, twin_split):
    config, result = hybrid_run
    record = json.loads((result.out_dir / "run.json").read_text())
    assert record["variant"] == config.variant
    assert record["train_config"] == asdict(config)
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(record["train_config"])
    inputs = run_inputs(twin_store, twin_split, config)
    assert record["inputs"] == json.loads(json.dumps(inputs))
    assert inputs["store"] == twin_store.fingerprint == record["data_fingerprint"]
    assert inputs["split"] == twin_split.name == record["split"]
    assert inputs["train_config"] == {k: v for k, v in asdict(config).items() if k != "device"}
    assert inputs["target_transform"] == {"clip_g_per_kg": 87.0, "scale_g_per_kg": 87.0}
    assert record["store"] == str(twin_store.path)
    assert len(record["split_hash"]) == 16 and record["split_hash"] == inputs["split_hash"]
    int(record["split_hash"], 16)
    assert record["n"] == {p: len(twin_split.indices(p)) for p in ("train", "val", "test")}
    assert record["seed"] == config.seed
    assert record["device"] == "cpu"
    assert record["complete"] is True
    assert result.record["resumed_from_epoch"] is None  # run.json says 2 after a no-op resume
    assert {"python", "torch", "torchvision", "numpy", "pandas", "scikit-learn"} <= set(
        record["versions"]
    )
    assert record["versions"]["torch"] == torch.__version__
    assert record["wall_seconds_this_call"] > 0
    assert record["train_seconds_total"] > 0
    assert record["model_config"]["in_channels"] == 14
    assert record["metrics"]["test"]["n"] == len(twin_split.test)
    history = result.history
    assert (
        record["best_epoch"] == result.best_epoch == int(history["val_rmse_g_per_kg"].idxmin()) + 1
    )


def test_split_hash_depends_on_the_split(hybrid_run, twin_store, twin_split):
    _, result = hybrid_run
    h = result.record["split_hash"]
    assert h == trainer.split_hash(twin_split, twin_store.point_ids)
    swapped = Split(twin_split.name, twin_split.train, twin_split.test, twin_split.val)
    assert trainer.split_hash(swapped, twin_store.point_ids) != h


def test_best_epoch_is_chosen_on_validation_only(twin_store, twin_split, tmp_path, monkeypatch):
    """Validation predictions are rigged so epoch 2 of 3 is best on validation; test is untouched."""
    real_predict = trainer.predict
    val_target = np.minimum(twin_store.index["oc_g_per_kg"].to_numpy(), PAPER_CLIP_G_PER_KG)[
        twin_split.val
    ]
    calls = {"val": 0, "test_per_epoch": 0}

    def rigged(model, images, climate, indices, **kwargs):
        out = real_predict(model, images, climate, indices, **kwargs)
        if np.array_equal(indices, twin_split.val):
            calls["val"] += 1
            return val_target.copy() if calls["val"] == 2 else val_target + 30.0
        if np.array_equal(indices, twin_split.test):
            calls["test_per_epoch"] += 1
        return out

    monkeypatch.setattr(trainer, "predict", rigged)
    result = train(
        twin_store, twin_split, tiny(variant="resnet18", epochs=3), tmp_path, progress=False
    )
    assert calls["val"] == 3
    assert calls["test_per_epoch"] == 0  # the test split is never predicted on its own per epoch
    assert result.best_epoch == 2
    assert result.history["val_rmse_g_per_kg"].tolist() == pytest.approx([30.0, 0.0, 30.0])
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["epoch"] == 2
    last = torch.load(tmp_path / "last.pt", weights_only=False)
    assert _tensors_equal(best["model"], last["best_state"]) == []
    assert _tensors_equal(best["model"], last["model"]) != []  # epoch 3 weights were not kept


def test_test_targets_do_not_influence_training(twin_store, twin_split, tmp_path, deterministic):
    """Scrambling the test split's SOC changes nothing but the test metrics."""
    index = twin_store.index.copy()
    rng = np.random.default_rng(0)
    index.loc[twin_split.test, "oc_g_per_kg"] = rng.uniform(1, 300, len(twin_split.test))
    scrambled = dataclasses.replace(twin_store, index=index)
    config = tiny(variant="resnet18", epochs=3)
    a = train(twin_store, twin_split, config, tmp_path / "a", progress=False)
    b = train(scrambled, twin_split, config, tmp_path / "b", progress=False)
    assert a.best_epoch == b.best_epoch
    pd.testing.assert_frame_equal(_without_seconds(a.history), _without_seconds(b.history))
    best_a = torch.load(tmp_path / "a" / "best.pt", weights_only=False)["model"]
    best_b = torch.load(tmp_path / "b" / "best.pt", weights_only=False)["model"]
    assert _tensors_equal(best_a, best_b) == []
    assert a.metrics["test"]["rmse"] != b.metrics["test"]["rmse"]


# --------------------------------------------------------------------------------------------
# Target clipping
# --------------------------------------------------------------------------------------------


def test_targets_clipped_at_87_by_default(hybrid_run):
    config, result = hybrid_run
    assert config.clip_g_per_kg == PAPER_CLIP_G_PER_KG == 87
    table = result.predictions
    assert (table["observed_g_per_kg"] > 87).sum() >= 1  # the fixture has points above the clip
    np.testing.assert_array_equal(
        table["target_g_per_kg"], np.minimum(table["observed_g_per_kg"], 87)
    )
    assert table["target_g_per_kg"].max() == 87
    assert "test_unclipped" in result.metrics
    test = table[table["split"] == "test"]
    unclipped = regression_metrics(test["observed_g_per_kg"], test["predicted_g_per_kg"])
    assert result.metrics["test_unclipped"]["rmse"] == pytest.approx(unclipped["rmse"])


def test_no_clipping_when_switched_off(twin_store, twin_split, tmp_path):
    config = tiny(variant="resnet18", epochs=1, clip_g_per_kg=None)
    result = train(twin_store, twin_split, config, tmp_path, progress=False)
    table = pd.read_csv(tmp_path / "predictions.csv")
    assert table["target_g_per_kg"].max() > 87
    np.testing.assert_array_equal(table["target_g_per_kg"], table["observed_g_per_kg"])
    assert "test_unclipped" not in result.metrics
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["train_config"]["clip_g_per_kg"] is None
    assert record["inputs"]["target_transform"] == {"clip_g_per_kg": None, "scale_g_per_kg": 87.0}


# --------------------------------------------------------------------------------------------
# Seeds (the seed loop itself belongs to soilnet.experiment)
# --------------------------------------------------------------------------------------------


def test_seed_controls_the_run(twin_store, twin_split, tmp_path, deterministic):
    config = tiny(variant="resnet18", epochs=1)
    runs = {
        name: train(twin_store, twin_split, replace(config, seed=seed), tmp_path / name,
                    progress=False)
        for name, seed in (("a3", 3), ("b7", 7), ("c3", 3))
    }  # fmt: skip
    for name, result in runs.items():
        record = json.loads((tmp_path / name / "run.json").read_text())
        assert record["seed"] == record["inputs"]["train_config"]["seed"] == int(name[1:])
        assert result.metrics["test"]["rmse"] == pytest.approx(record["metrics"]["test"]["rmse"])
    a, b, c = (torch.load(tmp_path / n / "best.pt", weights_only=False) for n in runs)
    assert _tensors_equal(a["model"], c["model"]) == []  # the same seed reproduces the run
    assert _tensors_equal(a["model"], b["model"]) != []  # another seed changes it
    assert runs["a3"].metrics["test"]["rmse"] != runs["b7"].metrics["test"]["rmse"]
    diff = {
        k for k, v in a["inputs"]["train_config"].items() if b["inputs"]["train_config"][k] != v
    }
    assert diff == {"seed"} and a["inputs"]["store"] == b["inputs"]["store"]


# --------------------------------------------------------------------------------------------
# The data folder is only read
# --------------------------------------------------------------------------------------------


def test_consolidate_split_and_train_only_read_the_data_folder(copy_twin, tmp_path):
    before = _file_hashes(copy_twin)
    assert len(before) > 48  # points.csv, 48 patches, 14 climate tables, truth.csv, ...
    work = tmp_path / "work"
    store = consolidate(copy_twin, TINY_STORE, stores_dir=work / "stores")
    split = open_split(write_splits(store, TINY_SPLIT, work / "splits"), store, "random")
    train(store, split, tiny(variant="resnet18_glam_lstm", epochs=1), work / "runs" / "r",
          progress=False)  # fmt: skip
    after = _file_hashes(copy_twin)
    assert sorted(after) == sorted(before), "files were added to or removed from the data folder"
    changed = [p for p in before if before[p] != after[p]]
    assert changed == [], f"the data folder changed: {changed}"
    assert find_store(copy_twin, TINY_STORE, work / "stores").path == store.path
    assert {p.name for p in work.iterdir()} == {"stores", "splits", "runs"}


def test_prepare_batch_computes_float16_images_in_float32(twin_store, twin_split):
    """Without autocast (CPU, or --no-amp), float16 images from the GPU path become float32."""
    norm = Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)
    tensors = load_tensors(twin_store, norm, TargetTransform(), image_dtype=torch.float16)
    rows = torch.as_tensor(twin_split.train[:4])
    cnn = build_model("resnet18", in_channels=14, stem_maxpool=False)
    gen = torch.Generator().manual_seed(0)
    cpu = torch.device("cpu")
    img, _, _ = prepare_batch(tensors, rows, cnn, tiny("resnet18", augment=False), gen, cpu, False)
    assert img.dtype == torch.float32
    assert torch.equal(img, tensors["image"][rows].float())
