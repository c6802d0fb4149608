"""Mini-batches on the training device: uint8 -> float [0, 1], shuffling and light augmentation,
all vectorised (no per-sample Python loop)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F


def to_device_float(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    x = torch.as_tensor(images)
    return x.to(device, non_blocking=True).float().div_(255.0)


def augment(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random crop after `pad`-pixel reflect padding (docs/paper.md §4)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, device=x.device, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(-1, x.shape[1], -1, padded.shape[-1])
    padded = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(-1, x.shape[1], h, -1)
    return padded.gather(3, cols)


def labels_to(labels: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(labels).to(device, non_blocking=True)


def batches(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, batch_size: int,
            device: torch.device, *, shuffle: bool = False, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(float images in [0, 1], int64 labels) on `device`; `generator` (CPU) makes shuffling seeded.
    Numpy splits are gathered on the host and copied per batch; tensor splits (see
    `splits.on_device`) are gathered where they live, with the same order and so the same batches."""
    n = len(images)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    on_device = isinstance(images, torch.Tensor)
    if on_device:
        order = order.to(images.device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        if not on_device:
            idx = idx.numpy()  # numpy fancy indexing copies: safe for read-only arrays
        yield to_device_float(images[idx], device), labels_to(labels[idx], device)
