"""The GPU-resident training path (CUDA only; deselected by default, ``-m gpu`` runs them).

The store's images live on the GPU in float16, batches and augmentation are drawn there, and a
training step does not wait for the host; bfloat16 autocast and channels_last are on by
default and off with ``train.amp=False`` (``--no-amp``).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import tiny_train_config as tiny

from soilnet import trainer
from soilnet.dataset import TargetTransform, load_tensors
from soilnet.transforms import Normalization

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_amp_channels_last_epochs_learn_without_host_syncs(twin_store, twin_split):
    cuda = torch.device("cuda")
    config = tiny("resnet18_glam_lstm", device="cuda", augment=True)
    norm = Normalization.fit(twin_store.images, twin_store.climate, twin_split.train)
    tensors = load_tensors(twin_store, norm, TargetTransform(), cuda, image_dtype=torch.float16)
    assert tensors["image"].dtype == torch.float16 and tensors["image"].is_cuda
    torch.manual_seed(0)
    model = trainer._make_model(config, twin_store).to(cuda).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator(device=cuda).manual_seed(0)
    rows = torch.as_tensor(twin_split.train, device=cuda)
    bounds = trainer._batch_bounds(len(rows), config.batch_size)
    losses = []
    for _ in range(6):
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                losses.append(
                    trainer.train_epoch(model, opt, tensors, rows, bounds, config, gen, cuda, True)
                )
        finally:
            torch.cuda.set_sync_debug_mode("default")
        syncs = [w for w in caught if "synchroniz" in str(w.message)]
        # One synchronisation per epoch: reading the epoch's mean loss at its end.
        assert len(syncs) <= 1, [str(w.message) for w in syncs]
    assert losses[-1] < losses[0], losses


def test_gpu_run_records_amp_and_resumes(twin_store, twin_split, tmp_path, monkeypatch):
    seen = {}
    real = trainer.load_tensors

    def spy(*args, **kwargs):
        seen["tensors"] = real(*args, **kwargs)
        return seen["tensors"]

    monkeypatch.setattr(trainer, "load_tensors", spy)
    config = tiny("resnet18_glam_lstm", device="cuda", epochs=2)
    first = trainer.train(twin_store, twin_split, config, tmp_path, progress=False,
                          stop_after_epochs=1)  # fmt: skip
    assert seen["tensors"]["image"].dtype == torch.float16 and seen["tensors"]["image"].is_cuda
    assert first.record["device"].startswith("cuda") and first.record["world_size"] == 1
    done = trainer.train(twin_store, twin_split, config, tmp_path, progress=False)
    assert done.record["resumed_from_epoch"] == 1 and done.record["complete"] is True

    fp32 = trainer.train(twin_store, twin_split, tiny("resnet18", device="cuda", amp=False,
                         epochs=1), tmp_path / "fp32", progress=False)  # fmt: skip
    assert seen["tensors"]["image"].dtype == torch.float32  # --no-amp: float32 throughout
    assert fp32.record["inputs"]["train_config"]["amp"] is False
