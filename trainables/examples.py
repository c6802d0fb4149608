"""A PNG grid of test images for the eye: clean, then noisy and denoised at sigma 0.4, 0.8 and 1.0."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data.batches import to_device_float
from .data.noise import eval_noise
from .evaluate import split_outputs

EXAMPLE_SIGMAS = (0.4, 0.8, 1.0)


@torch.no_grad()
def save_denoising_examples(model: torch.nn.Module, task: str, images: np.ndarray, path: Path,
                            device: torch.device, scale: int = 2) -> None:
    was_training = model.training
    model.eval()
    clean = to_device_float(images, device)
    rows = [clean]
    for sigma in EXAMPLE_SIGMAS:
        noisy = clean + sigma * eval_noise(clean.shape, round(sigma * 1000), 0, seed=0).to(device)
        rows += [noisy, split_outputs(task, model(noisy))[0]]
    model.train(was_training)
    grid = torch.stack(rows).clamp(0, 1)                     # (rows, n, C, H, W)
    r, n, c, h, w = grid.shape
    grid = grid.permute(0, 3, 1, 4, 2).reshape(r * h, n * w, c)
    array = (grid.cpu().numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(array[..., 0] if c == 1 else array)
    image.resize((n * w * scale, r * h * scale), Image.NEAREST).save(path)
