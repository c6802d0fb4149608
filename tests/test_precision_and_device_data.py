"""Data on the device, mixed precision and channels-last, exercised on CPU (the CUDA paths are the same code)."""
import math

import pytest
import torch

from trainables import evaluate as ev
from trainables.config import defaults
from trainables.loop import train
from trainables.models import build_model

from .test_loop import BASE, Recorder

TIMINGS = {"epoch_time_s", "train_time_s", "train_images_per_s", "latency_ms", "latency_iqr_ms"}


def _without_timings(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMINGS} for m in metrics]


def test_data_on_device_gives_the_metrics_of_the_host_path_bit_for_bit(synthetic_splits):
    """Same shuffling order, same augmentation and noise draws, same batches: identical numbers."""
    config = dict(BASE, task="joint", unet="UNet-S", joint_mode="sequential", augment=True, examples=False)
    host, device = Recorder(), Recorder()
    train(dict(config, data_on_device=False), synthetic_splits, host)
    train(dict(config, data_on_device=True), synthetic_splits, device)
    assert _without_timings(device.metrics) == _without_timings(host.metrics)
    for a, b in zip(host.states[-1]["model"].values(), device.states[-1]["model"].values()):
        assert torch.equal(a, b)


def _conv_dtypes(model_holder: list, config: dict, splits) -> tuple[set, set]:
    """dtypes of the first convolution's output while training and while evaluating."""
    seen = {True: set(), False: set()}
    original = torch.nn.Conv2d.forward

    def spy(self, x):
        out = original(self, x)
        seen[self.training].add(out.dtype)
        return out

    torch.nn.Conv2d.forward = spy
    try:
        rec = Recorder()
        train(config, splits, rec)
        model_holder.append(rec)
    finally:
        torch.nn.Conv2d.forward = original
    return seen[True], seen[False]


def test_bf16_autocast_trains_on_cpu_without_nan_and_evaluates_in_fp32(synthetic_splits):
    held = []
    config = dict(BASE, task="joint", unet="UNet-S", attach_level=1, precision="bf16", examples=False)
    train_dtypes, eval_dtypes = _conv_dtypes(held, config, synthetic_splits)
    metrics = held[0].metrics
    assert train_dtypes == {torch.bfloat16} and eval_dtypes == {torch.float32}
    final = metrics[-1]
    assert all(math.isfinite(m["train_loss"]) for m in metrics)
    assert math.isfinite(final["test_psnr"]) and math.isfinite(final["test_acc"])
    assert final["test_psnr_s0.2"] > final["test_psnr_s1"]
    assert held[0].config["precision"] == "bf16"  # the trial's config.json artifact
    fp32 = Recorder()
    train(dict(config, precision="fp32"), synthetic_splits, fp32)
    assert metrics[0]["train_loss"] != fp32.metrics[0]["train_loss"]  # the forward really ran in bf16


def test_fp16_uses_a_grad_scaler_whose_state_is_checkpointed(synthetic_splits):
    rec = Recorder()
    train(dict(BASE, task="classifier", classifier="Conv-S", precision="fp16", epochs=1, examples=False),
          synthetic_splits, rec)
    assert math.isfinite(rec.metrics[-1]["train_loss"])
    steps = len(synthetic_splits.train_images) // BASE["batch_size"]
    assert rec.states[-1]["grad_scaler"]["_growth_tracker"] == steps  # every step went through the scaler


def test_channels_last_trains_in_that_memory_format(synthetic_splits):
    rec = Recorder()
    train(dict(BASE, task="classifier", classifier="Conv-S", channels_last=True, epochs=1, examples=False),
          synthetic_splits, rec)
    weights = [w for w in rec.states[-1]["model"].values() if w.dim() == 4]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert math.isfinite(rec.metrics[-1]["test_acc"])


def test_evaluation_in_cpu_slices_matches_one_forward_per_chunk(synthetic_splits, monkeypatch):
    """Slicing the 256-image noise chunks for speed must not move the numbers (eval-mode BN is per image)."""
    config = dict(defaults(), **BASE, task="joint", unet="UNet-S", attach_level=1)
    model = build_model(config, 3, 4)
    images = synthetic_splits.train_images[:150]
    labels = synthetic_splits.train_labels[:150]
    run = lambda: ev.evaluate(model, "joint", images, labels, [0.0, 0.5], device=torch.device("cpu"), seed=3)
    monkeypatch.setattr(ev, "CPU_FORWARD_BATCH", 16)
    sliced = run()
    monkeypatch.setattr(ev, "CPU_FORWARD_BATCH", 10_000)
    whole = run()
    assert sliced.keys() == whole.keys() and len(whole) == 9
    for key in whole:
        assert sliced[key] == pytest.approx(whole[key], rel=1e-5, abs=1e-4), key
