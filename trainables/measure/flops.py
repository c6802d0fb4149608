"""FLOP and parameter counts in the paper's convention (TF-NAS `flops_benchmark`, docs/paper.md §6).

Counted, as multiply-accumulates (MACs) for one image:
- Conv2d: kh*kw*C_in/groups*C_out*H_out*W_out, plus C_out*H_out*W_out for a bias;
- ConvTranspose2d: kh*kw*C_in*C_out/groups*H_in*W_in, plus its bias (TF-NAS's counter skips it; the
  paper's UNet numbers need it, docs/paper.md §9.1);
- Linear: in*out (+ out for a bias);
- MaxPool2d / AvgPool2d: k*k*C*H_out*W_out; adaptive pools: C*H_out*W_out*(H_in/H_out)*(W_in/W_out).
Not counted: normalisation, activations, additions, concatenation, the SE gating multiply and any
functional op (e.g. SE's global mean). FLOPs = 2 x MACs; the paper's tables print MACs as "FLOPs".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelCost:
    macs: int
    params: int

    @property
    def flops(self) -> int:
        return 2 * self.macs


def _conv_macs(m: nn.Conv2d, x: torch.Tensor, y: torch.Tensor) -> int:
    kh, kw = m.kernel_size
    macs = kh * kw * (m.in_channels // m.groups) * y[0].numel()
    return macs + (y[0].numel() if m.bias is not None else 0)


def _conv_transpose_macs(m: nn.ConvTranspose2d, x: torch.Tensor, y: torch.Tensor) -> int:
    kh, kw = m.kernel_size
    macs = kh * kw * (m.out_channels // m.groups) * x[0].numel()
    return macs + (y[0].numel() if m.bias is not None else 0)


def _linear_macs(m: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> int:
    rows = y[0].numel() // m.out_features
    return rows * (m.in_features * m.out_features + (m.out_features if m.bias is not None else 0))


def _pool_macs(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
    return k[0] * k[1] * y[0].numel()


def _adaptive_pool_macs(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return y[0].numel() * (x.shape[-2] // y.shape[-2]) * (x.shape[-1] // y.shape[-1])


_COUNTERS = (
    (nn.ConvTranspose2d, _conv_transpose_macs),
    (nn.Conv2d, _conv_macs),
    (nn.Linear, _linear_macs),
    ((nn.MaxPool2d, nn.AvgPool2d), _pool_macs),
    ((nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d), _adaptive_pool_macs),
)


@torch.no_grad()
def count_cost(model: nn.Module, input_shape: tuple[int, int, int]) -> ModelCost:
    """MACs for one image of shape (C, H, W) and the parameter count, from one forward pass with
    hooks on the counted layer types (the model stays on its device and keeps its train/eval mode)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        for kind, counter in _COUNTERS:
            if isinstance(module, kind):
                total += counter(module, inputs[0], output)
                return

    kinds = tuple(k for k, _ in _COUNTERS)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return ModelCost(macs=int(total), params=sum(p.numel() for p in model.parameters()))
