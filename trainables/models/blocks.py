"""Building blocks shared by every model: normalisation, activation, conv-norm-act, SE and MBConv.

The MBConv follows the TF-NAS `MBInvertedResBlock` (docs/paper.md §3.2): 1x1 expansion (skipped when it
would not widen), kxk depthwise, optional squeeze-and-excitation, 1x1 projection, residual when shapes
allow. Convs carry no bias, as in TF-NAS, so FLOP counts match the paper's counter.
"""
from __future__ import annotations

import torch
from torch import nn

NORMS = ("batch", "group", "group1", "none")
ACTIVATIONS = ("relu", "swish", "none")


def group_count(channels: int, max_groups: int = 8) -> int:
    """Largest divisor of `channels` that is <= max_groups (UNet-S has 27-channel levels)."""
    return max(g for g in range(1, max_groups + 1) if channels % g == 0)


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(group_count(channels), channels)
    if kind == "group1":  # one group at every width: the same normalisation for a whole model family
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def make_act(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "swish":
        return nn.SiLU(inplace=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {kind!r}; choose one of {ACTIVATIONS}")


class ConvNormAct(nn.Sequential):
    """conv(k, stride) -> norm -> act, 'same' padding."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 norm: str = "batch", act: str = "relu", bias: bool = False):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=bias),
            make_norm(norm, c_out),
            make_act(act),
        )


class SqueezeExcite(nn.Module):
    """Channel attention: global average -> bottleneck 1x1 convs (with bias) -> sigmoid gate."""

    def __init__(self, channels: int, reduced: int, act: str = "relu"):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = make_act(act)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.expand(self.act(self.reduce(scale)))
        return x * torch.sigmoid(scale)


class MBConv(nn.Module):
    """Inverted residual block (MobileNetV2 / TF-NAS style).

    mid channels = round(expansion * c_in) unless `mid_channels` is given (NAS width elasticity);
    se_channels = 0 disables squeeze-and-excitation.
    """

    def __init__(self, c_in: int, c_out: int, expansion: float = 4.0, kernel: int = 3, stride: int = 1,
                 se_channels: int = 0, norm: str = "batch", act: str = "relu",
                 mid_channels: int | None = None):
        super().__init__()
        if expansion < 1:
            raise ValueError(f"MBConv expansion rate must be >= 1, got {expansion}")
        if kernel % 2 != 1 or kernel < 1:
            raise ValueError(f"MBConv kernel must be a positive odd number, got {kernel}")
        mid = mid_channels if mid_channels is not None else int(round(expansion * c_in))
        if mid < 1:
            raise ValueError(f"MBConv mid channels must be >= 1, got {mid}")
        self.c_in, self.c_out, self.mid, self.kernel, self.stride = c_in, c_out, mid, kernel, stride
        self.se_channels = se_channels
        self.expand = ConvNormAct(c_in, mid, 1, norm=norm, act=act) if mid > c_in else None
        width = mid if self.expand is not None else c_in
        self.depthwise = ConvNormAct(width, width, kernel, stride, groups=width, norm=norm, act=act)
        self.se = SqueezeExcite(width, se_channels, act) if se_channels > 0 else None
        self.project = ConvNormAct(width, c_out, 1, norm=norm, act="none")
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`mask` (1, mid, 1, 1) of 0/1: only these mid channels are active (the NAS supernet's width choice;
        the block then computes exactly the narrower block's output)."""
        y = self.expand(x) if self.expand is not None else x
        if mask is not None:
            y = y * mask
        y = self.depthwise(y)
        if mask is not None:
            y = y * mask
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.use_residual else y

