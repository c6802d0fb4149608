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
def _gaussian_window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64) - SSIM_WINDOW // 2
    g = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return torch.outer(g, g).to(device=device, dtype=dtype)[None, None]


def ssim_per_image(output: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM of each image in an (N, C, H, W) batch (images must be at least 11x11)."""
    if min(target.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(target.shape[-2:])}")
    x = output.clamp(0, data_range).double()
    y = target.double()
    n, c = x.shape[:2]
    window = _gaussian_window(x.device, x.dtype).expand(c, 1, SSIM_WINDOW, SSIM_WINDOW)
    blur = functools.partial(F.conv2d, weight=window, groups=c)
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1).to(output.dtype)


def correct_predictions(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(1) == labels).sum()
