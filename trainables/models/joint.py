"""Joint denoise + classify models (docs/paper.md §3.4). Both return (denoised image, logits).

- Sequential: the classifier sees the denoiser's output; cost = both parts.
- Integrated: the classifier head shares the UNet encoder, attached to one encoder level (the
  bottleneck by default) and re-dimensioned to that level's channels.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .classifier import NoisyClassifier
from .unet import UNet

JOINT_MODES = ("sequential", "integrated", "searched")  # searched: trainables.nas.derive.SearchedNet


class JointOutput(NamedTuple):
    image: torch.Tensor
    logits: torch.Tensor


class SequentialJoint(nn.Module):
    def __init__(self, denoiser: UNet, classifier: NoisyClassifier):
        super().__init__()
        self.denoiser, self.classifier = denoiser, classifier

    def forward(self, x: torch.Tensor) -> JointOutput:
        image = self.denoiser(x)
        return JointOutput(image, self.classifier(image))


class IntegratedJoint(nn.Module):
    def __init__(self, unet: UNet, num_classes: int, width: int = 32, expansion: float | None = 2.5,
                 attach_level: int | None = None, norm: str = "group1"):
        super().__init__()
        level = unet.depth - 1 if attach_level is None else attach_level
        if not 0 <= level < unet.depth:
            raise ValueError(f"attach_level must be in 0..{unet.depth - 1} for UNet depth {unet.depth}, got {level}")
        self.unet, self.attach_level = unet, level
        self.head = NoisyClassifier(unet.channels[level], num_classes, width, expansion, norm)

    def check_input_size(self, size: int) -> None:
        self.unet.check_input_size(size)
        if size // 2 ** self.attach_level < NoisyClassifier.min_input_size:
            raise ValueError(f"input size {size} leaves {size // 2 ** self.attach_level} px at encoder level "
                             f"{self.attach_level}; the classifier head needs >= {NoisyClassifier.min_input_size}")

    def forward(self, x: torch.Tensor) -> JointOutput:
        features = self.unet.encode(x)
        return JointOutput(self.unet.decode(features, x), self.head(features[self.attach_level]))
