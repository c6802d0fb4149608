"""Image quality and accuracy metrics, batched on the tensors' device.

PSNR and SSIM are computed per image on outputs clamped to [0, 1] with data_range 1 and then averaged
(docs/paper.md §6). SSIM is Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, per channel,
mean over the valid (unpadded) window positions, as scikit-image computes it.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def psnr_per_image(output: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB of each image in an (N, C, H, W) batch; `output` is clamped to [0, data_range]."""
    mse = (output.clamp(0, data_range) - target).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse.clamp_min(1e-12))


@functools.lru_cache(maxsize=8)
def _gaussian_1d(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64) - SSIM_WINDOW // 2
    g = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def ssim_per_image(output: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM of each image in an (N, C, H, W) batch (images must be at least 11x11).

    The 11x11 Gaussian window is separable, so the five local statistics are blurred together by a
    row pass and a column pass (22 instead of 121 multiply-adds per pixel, in two conv calls instead
    of five): evaluation at 11 sigmas runs SSIM once per level and chunk, and the float64 2-D
    convolution had become most of a denoiser's evaluation time on a CPU."""
    if min(target.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(target.shape[-2:])}")
    x = output.clamp(0, data_range).double()
    y = target.double()
    c = x.shape[1]
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    k, g = stats.shape[1], _gaussian_1d(x.device, x.dtype)
    blurred = F.conv2d(stats, g.view(1, 1, 1, -1).expand(k, 1, 1, SSIM_WINDOW), groups=k)
    blurred = F.conv2d(blurred, g.view(1, 1, -1, 1).expand(k, 1, SSIM_WINDOW, 1), groups=k)
    mu_x, mu_y, xx, yy, xy = blurred.split(c, dim=1)
    var_x = xx - mu_x ** 2
    var_y = yy - mu_y ** 2
    cov = xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1).to(output.dtype)


def correct_predictions(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == labels).sum()
