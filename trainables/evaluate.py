"""Evaluation at fixed noise levels: accuracy, PSNR and SSIM per sigma and their means.

Test noise is bit-identical for every model (data.noise.eval_noise), so per-sigma numbers compare
models, not noise draws.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data.batches import labels_to, to_device_float
from .data.noise import EVAL_CHUNK, eval_noise
from .measure.quality import correct_predictions, psnr_per_image, ssim_per_image
from .tasks import task_spec


CPU_FORWARD_BATCH = 64


def split_outputs(task: str, output) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(denoised image or None, logits or None) from any model's forward output."""
    spec = task_spec(task)
    if spec.joint:
        return output.image, output.logits
    return (output, None) if spec.image else (None, output)


def sigma_key(sigma: float) -> str:
    return f"s{sigma:g}"


def forward_in_slices(model: nn.Module, task: str, x: torch.Tensor, device: torch.device):
    """(image, logits) of `x` computed `CPU_FORWARD_BATCH` images at a time on a CPU, where a 256-image
    batch of activations falls out of the caches and runs about 2x slower per image than 64 (measured
    on Conv-L, MB2.5-M and UNet-S at 32 px); a GPU takes the whole chunk at once."""
    step = CPU_FORWARD_BATCH if device.type == "cpu" else len(x)
    parts = [split_outputs(task, model(x[i:i + step])) for i in range(0, len(x), step)]
    return tuple(None if outs[0] is None else torch.cat(outs) for outs in zip(*parts))


@torch.no_grad()
def evaluate(model: nn.Module, task: str, images: np.ndarray, labels: np.ndarray, levels, *,
             device: torch.device, seed: int, clip: bool = False) -> dict[str, float]:
    """{'acc_s0.4': ..., 'psnr_s0.4': ..., 'ssim_s0.4': ..., 'acc': mean over levels, ...} for the
    metrics the task has (accuracy in %, PSNR in dB)."""
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    for chunk_index, start in enumerate(range(0, len(images), EVAL_CHUNK)):
        clean = to_device_float(images[start:start + EVAL_CHUNK], device)
        target = labels_to(labels[start:start + EVAL_CHUNK], device)
        for sigma in levels:
            noise = eval_noise(clean.shape, round(sigma * 1000), chunk_index, seed).to(device)
            noisy = clean + sigma * noise
            image, logits = forward_in_slices(model, task, noisy.clamp(0, 1) if clip else noisy, device)
            key = sigma_key(sigma)
            scores = {}
            if logits is not None:
                scores[f"acc_{key}"] = correct_predictions(logits, target)
            if image is not None:
                scores[f"psnr_{key}"] = psnr_per_image(image, clean).sum()
                if min(clean.shape[-2:]) >= 11:
                    scores[f"ssim_{key}"] = ssim_per_image(image, clean).sum()
            for name, value in scores.items():
                totals[name] = totals.get(name, 0.0) + float(value)
    model.train(was_training)
    results = {name: value / len(images) * (100 if name.startswith("acc") else 1) for name, value in totals.items()}
    for metric in ("acc", "psnr", "ssim"):
        values = [results[f"{metric}_{sigma_key(s)}"] for s in levels if f"{metric}_{sigma_key(s)}" in results]
        if values:
            results[metric] = sum(values) / len(values)
    return results
