"""The paper's noise model: additive white Gaussian noise on [0, 1] images, never clipped.

Eleven levels sigma in {0.0, 0.1, ..., 1.0} (docs/paper.md §2.2). Training draws one sigma per image on
the batch's device. Evaluation noise comes from a CPU generator seeded by (seed, level, chunk) and
fixed-size chunks, so every model, batch size and device sees bit-identical noisy test images.
"""
from __future__ import annotations

import torch

NOISE_LEVELS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
EVAL_CHUNK = 256  # evaluation noise is generated per chunk of this many images


def check_levels(levels) -> tuple[float, ...]:
    levels = tuple(float(s) for s in levels)
    if not levels or any(s < 0 for s in levels):
        raise ValueError(f"noise levels must be a non-empty list of sigmas >= 0, got {list(levels)}")
    return levels


def sample_sigmas(n: int, levels: tuple[float, ...], device: torch.device,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One sigma per image, uniform over `levels` (so 1/11 of the images are clean by default)."""
    table = torch.tensor(levels, device=device)
    return table[torch.randint(len(levels), (n,), device=device, generator=generator)]


def add_noise(clean: torch.Tensor, sigma: torch.Tensor | float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """clean + sigma * N(0, 1), drawn on clean's device; `sigma` is a scalar or one value per image."""
    sigma = torch.as_tensor(sigma, dtype=clean.dtype, device=clean.device).reshape(-1, *[1] * (clean.dim() - 1))
    noise = torch.randn(clean.shape, device=clean.device, dtype=clean.dtype, generator=generator)
    return clean + sigma * noise


def eval_noise(shape: torch.Size, level_index: int, chunk_index: int, seed: int) -> torch.Tensor:
    """Deterministic N(0, 1) noise for evaluation chunk `chunk_index` at noise level `level_index`."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + level_index * 10_007 + chunk_index)
    return torch.randn(shape, generator=generator)
