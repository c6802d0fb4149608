"""The shared training loop without Ray: metrics, checkpoints, exact resume, failure modes."""
import json
import math
from pathlib import Path

import pytest
import torch

from trainables.data import NOISE_LEVELS
from trainables.loop import load_state, train

BASE = dict(epochs=3, batch_size=32, lr=3e-3, latency_min_run_time=0.02, examples=True)


class Recorder:
    """A `report` callback keeping every metrics dict and a copy of every checkpoint's state."""

    def __init__(self):
        self.metrics, self.states, self.files = [], [], []

    def __call__(self, metrics, checkpoint_dir):
        self.metrics.append(metrics)
        self.states.append(load_state(checkpoint_dir))
        self.files.append(sorted(p.name for p in Path(checkpoint_dir).iterdir()))
        if "test_acc" in metrics or "test_psnr" in metrics:
            self.config = json.loads((Path(checkpoint_dir) / "config.json").read_text())


@pytest.mark.parametrize("task,extra", [("classifier", {"classifier": "Conv-S"}),
                                        ("denoiser", {"unet": "UNet-S"}),
                                        ("joint", {"unet": "UNet-S", "joint_mode": "sequential"})])
def test_every_task_reports_each_epoch_and_the_full_final_metric_set(synthetic_splits, task, extra):
    rec = Recorder()
    train(dict(BASE, task=task, **extra), synthetic_splits, rec)
    assert [m["epoch"] for m in rec.metrics] == [1, 2, 3]
    final = rec.metrics[-1]
    keys = {"macs", "flops", "params", "latency_ms", "latency_iqr_ms", "latency_batch_size", "latency_device"}
    if task != "denoiser":
        keys |= {f"test_acc_s{s:g}" for s in NOISE_LEVELS} | {"test_acc", "val_acc"}
        assert 0 <= final["test_acc"] <= 100
    if task != "classifier":
        keys |= {f"test_psnr_s{s:g}" for s in NOISE_LEVELS} | {f"test_ssim_s{s:g}" for s in NOISE_LEVELS}
        assert final["test_psnr_s0.2"] > final["test_psnr_s1"]  # more noise, worse denoising
        assert "denoising_examples.png" in rec.files[-1]
    assert keys <= final.keys()
    assert final["flops"] == 2 * final["macs"] and final["latency_ms"] > 0
    assert {"model.pt", "config.json", "state.pt"} <= set(rec.files[-1]) and rec.files[0] == ["state.pt"]
    assert rec.config["data"]["dataset"] == "synthetic" and rec.config["task"] == task


def test_training_learns_the_synthetic_classes(synthetic_splits):
    rec = Recorder()
    train(dict(BASE, task="classifier", classifier="Conv-L", epochs=6, train_noise_levels=[0.0],
               eval_noise_levels=[0.0]), synthetic_splits, rec)
    assert rec.metrics[-1]["test_acc"] > 60  # 4 classes: chance is 25 %
    assert rec.metrics[-1]["train_loss"] < rec.metrics[0]["train_loss"]


def test_resume_from_a_checkpoint_is_exact(synthetic_splits):
    config = dict(BASE, task="joint", unet="UNet-S", attach_level=1, epochs=3, examples=False)
    straight, first, second = Recorder(), Recorder(), Recorder()
    train(config, synthetic_splits, straight)
    train(dict(config, epochs=3), synthetic_splits, first)
    train(config, synthetic_splits, second, state=first.states[0])  # resume after epoch 1
    assert [m["epoch"] for m in second.metrics] == [2, 3] and second.metrics[-1]["restarts"] == 1
    for name, tensor in straight.states[-1]["model"].items():
        assert torch.equal(tensor, second.states[-1]["model"][name]), name
    assert straight.metrics[-1]["test_acc"] == second.metrics[-1]["test_acc"]


def test_injected_failure_happens_once_and_not_after_resume(synthetic_splits):
    rec = Recorder()
    config = dict(BASE, task="classifier", classifier="Conv-S", fail_at_epoch=1)
    with pytest.raises(RuntimeError, match="injected failure at epoch 1"):
        train(config, synthetic_splits, rec)
    assert len(rec.metrics) == 1
    resumed = Recorder()
    train(config, synthetic_splits, resumed, state=rec.states[0])
    assert [m["epoch"] for m in resumed.metrics] == [2, 3]


def test_non_finite_loss_ends_training_with_the_reason(synthetic_splits):
    config = dict(BASE, task="classifier", classifier="Conv-S", optimizer="sgd", lr=1e30)
    with pytest.raises(FloatingPointError, match=r"non-finite training loss \((nan|inf)\) at epoch 0"):
        train(config, synthetic_splits, Recorder())


def test_denoiser_beats_the_noisy_input(synthetic_splits):
    rec = Recorder()
    train(dict(BASE, task="denoiser", depth=2, base_width=8, blocks=1, multiplier=2.0, epochs=12, examples=False,
               eval_noise_levels=[0.4]), synthetic_splits, rec)
    noisy_input_psnr = 20 * math.log10(1 / 0.4)  # ~8 dB: the noise alone at sigma 0.4
    assert rec.metrics[-1]["test_psnr_s0.4"] > noisy_input_psnr + 4


def test_two_stage_sequential_keeps_its_denoiser_trained_alone(synthetic_splits):
    """Point 5: the two-stage sequential model's UNet is the standalone denoiser (same seed, same epochs):
    equal test PSNR at every sigma; the classifier stage then trains only the classifier on its outputs."""
    common = dict(BASE, epochs=2, unet="UNet-S", examples=False)
    alone, seq = Recorder(), Recorder()
    train(dict(common, task="denoiser"), synthetic_splits, alone)
    train(dict(common, task="joint", joint_mode="sequential", sequential_training="two-stage", finetune_epochs=1),
          synthetic_splits, seq)
    assert [m["epoch"] for m in seq.metrics] == [1, 2, 3, 4, 5]
    assert [m["training_stage"] for m in seq.metrics] == [0, 0, 1, 1, 2]
    denoiser_after_stage1 = {k: v for k, v in seq.states[1]["model"].items() if k.startswith("denoiser.")}
    assert all(torch.equal(v, alone.states[1]["model"][k.removeprefix("denoiser.")])
               for k, v in denoiser_after_stage1.items())
    after_stage2 = seq.states[3]["model"]
    assert all(torch.equal(after_stage2[k], v) for k, v in denoiser_after_stage1.items())  # frozen, BN stats too
    assert any(not torch.equal(after_stage2[k], seq.states[1]["model"][k]) for k in after_stage2
               if k.startswith("classifier."))
    # without fine-tuning the final PSNR is the standalone denoiser's, bit for bit
    no_ft = Recorder()
    train(dict(common, task="joint", joint_mode="sequential", sequential_training="two-stage"), synthetic_splits,
          no_ft)
    psnr = {k: v for k, v in alone.metrics[-1].items() if k.startswith("test_psnr")}
    assert psnr and all(no_ft.metrics[-1][k] == v for k, v in psnr.items())
    assert no_ft.metrics[-1]["test_acc"] > 0


def test_two_stage_sequential_resumes_across_a_stage_boundary(synthetic_splits):
    config = dict(BASE, epochs=1, unet="UNet-S", examples=False, task="joint", joint_mode="sequential",
                  sequential_training="two-stage")
    full = Recorder()
    train(config, synthetic_splits, full)
    resumed = Recorder()
    train(config, synthetic_splits, resumed, state=full.states[0])  # stage 1 ended: stage 2 gets a new optimiser
    assert resumed.metrics[-1]["test_acc"] == full.metrics[-1]["test_acc"]


def test_noise_clip_is_a_choice_the_evaluation_honours(synthetic_splits):
    from trainables.evaluate import evaluate

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append((float(x.min()), float(x.max())))
            return x

    data = synthetic_splits
    for clip in (False, True):
        seen.clear()
        evaluate(Probe(), "denoiser", data.val_images, data.val_labels, [1.0], device=torch.device("cpu"), seed=0,
                 clip=clip)
        inside = all(0.0 <= low and high <= 1.0 for low, high in seen)
        assert inside == clip  # sigma 1 leaves [0, 1] unless clipped
