"""Tests for soilnet.inference: the device and predictions in g/kg from a trained model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_train_config as tiny

from soilnet.dataset import TargetTransform, load_tensors
from soilnet.errors import ConfigurationError
from soilnet.inference import embed_and_predict, predict, resolve_device
from soilnet.models import build_model
from soilnet.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_forced_cuda_without_gpu():
    with pytest.raises(ConfigurationError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


def test_channel_count_mismatch():
    model = build_model("resnet18", in_channels=14, stem_maxpool=False)
    images = torch.zeros(4, 12, 16, 16)
    with pytest.raises(ConfigurationError, match="14 channels, batch has 12"):
        predict(model, images, None, np.arange(4))


def test_predict_scales_batches_and_orders():
    torch.manual_seed(0)
    model = build_model("resnet18_glam_lstm", in_channels=14, n_climate_features=14,
                        stem_maxpool=False, lstm_hidden=16, lstm_layers=1)  # fmt: skip
    model.train()
    images = torch.randn(10, 14, 16, 16)
    climate = torch.randn(10, 61, 14)
    rows = np.array([9, 0, 4, 4, 7])
    out = predict(model, images, climate, rows, scale_g_per_kg=1.0)
    assert not model.training  # put in eval mode: dropout off, deterministic
    assert out.dtype == np.float64 and out.shape == (5,)
    np.testing.assert_allclose(predict(model, images, climate, rows, scale_g_per_kg=1.0), out)
    np.testing.assert_allclose(out[2], out[3])  # the same row twice
    small = predict(model, images, climate, rows, scale_g_per_kg=1.0, batch_size=2)
    np.testing.assert_allclose(small, out, rtol=1e-5, atol=1e-6)  # batches do not matter
    one_by_one = [predict(model, images, climate, [r], scale_g_per_kg=1.0)[0] for r in rows]
    np.testing.assert_allclose(one_by_one, out, rtol=1e-5, atol=1e-6)  # nor the order
    scaled = predict(model, images, climate, rows, scale_g_per_kg=87.0)
    np.testing.assert_allclose(scaled, 87.0 * out, rtol=1e-12)
    assert predict(model, images, climate, np.array([], np.int64)).shape == (0,)


@pytest.mark.parametrize("variant", ["resnet18_glam_lstm", "lstm"])
def test_one_pass_gives_the_embedding_and_the_prediction(variant):
    """The map layers take both from one forward pass: the same numbers as predict()."""
    torch.manual_seed(0)
    model = build_model(variant, in_channels=14, n_climate_features=14, stem_maxpool=False,
                        lstm_hidden=16, lstm_layers=1)  # fmt: skip
    images, climate = torch.randn(7, 14, 16, 16), torch.randn(7, 61, 14)
    embedding, pred = embed_and_predict(model, images, climate, batch_size=3, scale_g_per_kg=87.0)
    np.testing.assert_allclose(pred, predict(model, images, climate, np.arange(7)), rtol=1e-5)
    with torch.no_grad():
        expected = model.embed(images if model.spec.uses_image else None, climate)
    np.testing.assert_allclose(embedding, expected.double().numpy(), rtol=1e-5, atol=1e-6)
    assert embedding.shape == (7, expected.shape[1]) and pred.shape == (7,)
    empty_embedding, empty_pred = embed_and_predict(model, images[:0], climate[:0])
    assert empty_embedding.shape == (0, expected.shape[1]) and empty_pred.shape == (0,)


def test_climate_only_model_ignores_images():
    torch.manual_seed(0)
    model = build_model("lstm", in_channels=14, n_climate_features=14, lstm_hidden=16,
                        lstm_layers=1)  # fmt: skip
    climate = torch.randn(6, 61, 14)
    with_images = predict(model, torch.randn(6, 14, 16, 16), climate, np.arange(6))
    without = predict(model, None, climate, np.arange(6))
    np.testing.assert_allclose(with_images, without)


def test_loaded_run_reproduces_its_predictions(twin_store, twin_split, tmp_path):
    """load_model + load_tensors + predict give the predictions the run wrote (inference path)."""
    from soilnet.checkpoint import load_model

    config = tiny(variant="resnet18_glam_lstm", epochs=1, clip_g_per_kg=60.0)
    train(twin_store, twin_split, config, tmp_path, progress=False)
    model, norm, record = load_model(tmp_path, variant=config.variant)
    target = TargetTransform(record["inputs"]["target_transform"]["clip_g_per_kg"])
    assert target.scale_g_per_kg == 60.0
    tensors = load_tensors(twin_store, norm, target)
    rows = np.arange(len(twin_store))
    pred = predict(model, tensors["image"], tensors["climate"], rows,
                   scale_g_per_kg=target.scale_g_per_kg)  # fmt: skip
    written = pd.read_csv(tmp_path / "predictions.csv").set_index("Point_ID")
    np.testing.assert_allclose(
        pred, written.loc[twin_store.point_ids, "predicted_g_per_kg"].to_numpy(), rtol=1e-5
    )


def test_predict_takes_float16_images():
    """float16 images (the GPU path's store) are computed in float32 without autocast."""
    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=14, stem_maxpool=False)
    images = torch.randn(6, 14, 16, 16).half()
    rows = np.arange(6)
    out = predict(model, images, None, rows, scale_g_per_kg=1.0)
    np.testing.assert_allclose(out, predict(model, images.float(), None, rows, scale_g_per_kg=1.0))
