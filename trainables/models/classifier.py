"""The paper's small noisy-image classifier family (Table 7): Conv-x and MBe-x.

Two stages of [block -> GroupNorm -> MaxPool2d(2) -> ReLU], a global max pool and a linear layer
(docs/paper.md §3.1). The first block is a 3x3 conv; the second is a 3x3 conv or, for the MB models, an
MBConv with expansion rate e. Widths follow docs/paper.md §3.1: they reproduce the Table 7 FLOP ratios.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import MBConv, make_norm

# name -> (width of both convs, MBConv expansion rate or None for a plain conv)
CLASSIFIER_PRESETS: dict[str, tuple[int, float | None]] = {
    "Conv-L": (32, None),
    "Conv-M": (27, None),
    "Conv-S": (17, None),
    "MB1-S": (32, 1.0),
    "MB2.5-M": (32, 2.5),
    "MB4-L": (31, 4.0),  # 32 would cost 1.007 x Conv-L; Table 7 has 0.949 (fewer FLOPs, Exp. 1): 31 gives 0.957
    "MB2.5-S": (21, 2.5),
    "MB4-S": (18, 4.0),
}


# GroupNorm with one group at every width (`group1`) keeps the normalisation identical across the family;
# `group` (groups = largest divisor of the width <= 8) gave Conv-S (17 ch) 1 group and Conv-L 8, so the width
# study also varied the norm. See docs/design.md, open choices.
CLASSIFIER_NORMS = ("group1", "group")


def _stage(block: nn.Module, channels: int, norm: str) -> nn.Sequential:
    return nn.Sequential(block, make_norm(norm, channels), nn.MaxPool2d(2), nn.ReLU(inplace=True))


class NoisyClassifier(nn.Module):
    """Conv-x (expansion=None) or MBe-x (expansion=e) classifier for any input size >= 4x4."""

    min_input_size = 4  # two 2x max-pools must leave at least one pixel

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 32,
                 expansion: float | None = None, norm: str = "group1"):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"classifier in_channels must be >= 1, got {in_channels}")
        if num_classes < 2:
            raise ValueError(f"classifier num_classes must be >= 2, got {num_classes}")
        if width < 1:
            raise ValueError(f"classifier width must be >= 1, got {width}")
        if expansion is not None and expansion < 1:
            raise ValueError(f"classifier expansion rate e must be >= 1, got {expansion}")
        if norm not in CLASSIFIER_NORMS:
            raise ValueError(f"unknown classifier norm {norm!r}; choose one of {CLASSIFIER_NORMS}")
        self.width, self.expansion = width, expansion
        first = nn.Conv2d(in_channels, width, 3, padding=1)
        if expansion is None:
            second = nn.Conv2d(width, width, 3, padding=1)
        else:
            second = MBConv(width, width, expansion, kernel=3, norm=norm, act="relu")
        self.features = nn.Sequential(_stage(first, width, norm), _stage(second, width, norm))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def build_classifier(preset: str | None = None, *, width: int | None = None,
                     expansion: float | None = None, in_channels: int = 3,
                     num_classes: int = 10, norm: str = "group1") -> NoisyClassifier:
    """A Table 7 preset, optionally with its width / expansion overridden (expansion 0 = plain conv)."""
    if preset is not None:
        if preset not in CLASSIFIER_PRESETS:
            raise ValueError(f"unknown classifier preset {preset!r}; choose one of {sorted(CLASSIFIER_PRESETS)}")
        preset_width, preset_expansion = CLASSIFIER_PRESETS[preset]
        width = preset_width if width is None else width
        expansion = preset_expansion if expansion is None else expansion
    if width is None:
        raise ValueError("classifier needs a preset or a width")
    return NoisyClassifier(in_channels, num_classes, width, expansion or None, norm)
