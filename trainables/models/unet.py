"""UNet denoiser with the paper's hyperparameters (Fig. 2): depth d, base width b, blocks per level c,
channel multiplier m, and Conv or MBConv blocks.

Level i has int(b * m**i) channels. The output is added to the noisy input by default (residual
learning: same FLOPs, and it learns in a few hundred steps where predicting the clean image does not). Down-sampling is MaxPool2d(2); up-sampling is a 2x2 stride-2
transposed conv from C_{i+1} to C_i, whose FLOPs our counter includes: this is what reproduces the
paper's 1301.8 M for {d4, b32, c2, m2} at 3x96x96 (docs/paper.md §9.1).
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvNormAct, MBConv

# name -> (depth d, base width b, blocks per level c, multiplier m)
UNET_PRESETS: dict[str, tuple[int, int, int, float]] = {
    "UNet-S": (4, 8, 2, 1.5),
    "UNet-M": (4, 16, 2, 2.0),
    "UNet": (4, 32, 2, 2.0),
}
BLOCK_TYPES = ("conv", "mbconv")


def level_channels(depth: int, base_width: int, multiplier: float) -> list[int]:
    """Channels per level; int() rounding matches the paper's m = 1.5 widths (8, 12, 18, 27)."""
    channels = [int(base_width * multiplier ** i) for i in range(depth)]
    if min(channels) < 1:
        raise ValueError(f"UNet widths {channels} round to 0 (base width {base_width}, multiplier {multiplier})")
    return channels


def check_unet_args(depth: int, base_width: int, blocks: int, multiplier: float, block: str) -> None:
    for name, value in (("depth d", depth), ("base width b", base_width), ("blocks per level c", blocks)):
        if int(value) != value or value < 1:
            raise ValueError(f"UNet {name} must be an integer >= 1, got {value!r}")
    if multiplier < 1:
        raise ValueError(f"UNet multiplier m must be >= 1, got {multiplier!r}")
    if block not in BLOCK_TYPES:
        raise ValueError(f"unknown UNet block {block!r}; choose one of {BLOCK_TYPES}")
    level_channels(depth, base_width, multiplier)


def check_input_size(size: int, depth: int) -> None:
    factor = 2 ** (depth - 1)
    if size % factor:
        raise ValueError(f"input size {size} is not divisible by 2^(d-1) = {factor} for UNet depth {depth}; "
                         f"pad or resize the images (e.g. --set image_size={-(-size // factor) * factor})")


class UNet(nn.Module):
    def __init__(self, depth: int = 4, base_width: int = 32, blocks: int = 2, multiplier: float = 2.0,
                 block: str = "conv", in_channels: int = 3, out_channels: int | None = None,
                 expansion: float = 4.0, norm: str = "batch", residual: bool = True):
        super().__init__()
        check_unet_args(depth, base_width, blocks, multiplier, block)
        self.depth, self.residual = depth, residual
        self.channels = level_channels(depth, base_width, multiplier)
        out_channels = out_channels or in_channels

        def make_level(c_in: int, c_out: int) -> nn.Sequential:
            if block == "conv":
                layers = [ConvNormAct(c_in if j == 0 else c_out, c_out, 3, norm=norm, bias=True) for j in range(blocks)]
            else:
                layers = [MBConv(c_in if j == 0 else c_out, c_out, expansion, 3, norm=norm) for j in range(blocks)]
            return nn.Sequential(*layers)

        ch = self.channels
        self.encoder = nn.ModuleList([make_level(in_channels, ch[0])] +
                                     [make_level(ch[i - 1], ch[i]) for i in range(1, depth)])
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList([nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(depth - 1)])
        self.decoder = nn.ModuleList([make_level(2 * ch[i], ch[i]) for i in range(depth - 1)])
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    def check_input_size(self, size: int) -> None:
        check_input_size(size, self.depth)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of every encoder level, finest first (the last one is the bottleneck)."""
        for size in x.shape[-2:]:
            check_input_size(size, self.depth)
        features = [self.encoder[0](x)]
        for level in self.encoder[1:]:
            features.append(level(self.pool(features[-1])))
        return features

    def decode(self, features: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        y = features[-1]
        for i in reversed(range(self.depth - 1)):
            y = self.decoder[i](torch.cat([self.upsample[i](y), features[i]], dim=1))
        y = self.head(y)
        return x + y if self.residual else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)


def unet_hyperparameters(preset: str | None = None, *, depth: int | None = None, base_width: int | None = None,
                         blocks: int | None = None, multiplier: float | None = None) -> dict:
    """A preset's (d, b, c, m) with any explicitly given value overriding it."""
    if preset is not None:
        if preset not in UNET_PRESETS:
            raise ValueError(f"unknown UNet preset {preset!r}; choose one of {sorted(UNET_PRESETS)}")
        d, b, c, m = UNET_PRESETS[preset]
        depth = d if depth is None else depth
        base_width = b if base_width is None else base_width
        blocks = c if blocks is None else blocks
        multiplier = m if multiplier is None else multiplier
    missing = [n for n, v in (("depth", depth), ("base_width", base_width), ("blocks", blocks),
                              ("multiplier", multiplier)) if v is None]
    if missing:
        raise ValueError(f"UNet needs a preset or explicit {', '.join(missing)}")
    return dict(depth=depth, base_width=base_width, blocks=blocks, multiplier=multiplier)
