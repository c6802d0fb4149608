"""The fixed macro-architecture around the searchable blocks, scaled to the input (docs/paper.md §3.5, §5.1).

TF-NAS at 224 px: stem conv3x3/2 (32 ch, ReLU), second stem MBConv e1 k3 with SE (16 ch), six stages of
2/3/4/4/4/1 searchable blocks (24/40/80/112/192/320 ch; stride 2 in stages 1, 2, 3 and 5; ReLU in stage
1, swish after), head conv1x1 1280 + swish, global average pool, FC. At 96 px the stage outputs are
48 (stems), 24, 12, 6, 6, 3, 3. Smaller inputs would end below 2 px, so the earliest stride-2 steps (stem
first) become stride 1 until the last feature map has >= MIN_FINAL_SIZE px: at 32 px the stem keeps
full resolution and the stages run at 16, 8, 4, 4, 2, 2. A width multiplier scales every channel count
(rounded to a multiple of 4) so CPU runs stay small.

The classifier-only search (`search_kind="classifier"`, decoder=False) drops the decoder and keeps the rest.
The denoising decoder is fixed (Conv beat MBConv in the paper's UNet study): from the last encoder
feature map it goes up one resolution at a time (2x2 transposed conv to the skip's channels, concat
with the skip, 2 x conv3x3-BN-ReLU), the skip at each resolution being the encoder's last feature map
at that resolution; a final 2x2 transposed conv restores the input size if the stem halved it; then
a 1x1 conv to the image channels. Supernet and derived network build these parts with the same code.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..models.blocks import ConvNormAct, MBConv
from ..models.joint import JointOutput
from .ops import OpSpec, se_channels

STEM, STEM2, STEM2_SE, HEAD = 32, 16, 8, 1280
# (output channels, searchable blocks, first stride, activation) per stage, TF-NAS ImageNet space
STAGES = ((24, 2, 2, "relu"), (40, 3, 2, "swish"), (80, 4, 2, "swish"), (112, 4, 1, "swish"),
          (192, 4, 2, "swish"), (320, 1, 1, "swish"))
MIN_FINAL_SIZE = 2


def scale_channels(channels: int, width_mult: float) -> int:
    return max(4, 4 * round(channels * width_mult / 4))


@dataclass(frozen=True)
class Slot:
    """One searchable block position: where it sits and what shapes it maps."""
    stage: int
    index: int
    c_in: int
    c_out: int
    stride: int
    act: str
    in_size: int

    @property
    def key(self) -> str:
        """Latency-table key of the position (blocks with equal keys share table entries)."""
        return f"r{self.in_size}_i{self.c_in}_o{self.c_out}_s{self.stride}_{self.act}"


@dataclass(frozen=True)
class Macro:
    input_shape: tuple[int, int, int]
    num_classes: int
    width_mult: float
    strides: tuple[int, ...]          # stem, then stages 1..6
    stem: int
    stem2: int
    stem2_se: int
    stage_channels: tuple[int, ...]
    stage_blocks: tuple[int, ...]
    stage_acts: tuple[str, ...]
    head: int
    decoder: bool = True              # False: the classifier-only search (same encoder and head, no decoder)

    @classmethod
    def build(cls, input_shape, num_classes: int, width_mult: float = 1.0, decoder: bool = True) -> "Macro":
        c, h, w = input_shape
        if h != w:
            raise ValueError(f"the searched network needs square inputs, got {h}x{w}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        strides = [2] + [s for _, _, s, _ in STAGES]
        while h // 2 ** strides.count(2) < MIN_FINAL_SIZE and 2 in strides:
            strides[strides.index(2)] = 1
        factor = 2 ** strides.count(2)
        if h % factor or h // factor < 1:
            raise ValueError(f"input size {h} is not divisible by the encoder's down-sampling factor {factor}; "
                             f"pad or resize the images (e.g. --set image_size={-(-h // factor) * factor})")
        sc = lambda n: scale_channels(n, width_mult)
        return cls(tuple(input_shape), num_classes, width_mult, tuple(strides), sc(STEM), sc(STEM2),
                   max(1, round(STEM2_SE * width_mult)), tuple(sc(s[0]) for s in STAGES),
                   tuple(s[1] for s in STAGES), tuple(s[3] for s in STAGES), sc(HEAD), decoder)

    @classmethod
    def from_dict(cls, d: dict) -> "Macro":
        d = dict(d)
        for key in ("input_shape", "strides", "stage_channels", "stage_blocks", "stage_acts"):
            d[key] = tuple(d[key])
        return cls(**d)

    def as_dict(self) -> dict:
        """Plain JSON; `decoder` only when False, so the joint space keeps its table digests and files."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k != "decoder" or not v}

    @property
    def task(self) -> str:
        """The task of the networks of this space: joint with the decoder, classifier without."""
        return "joint" if self.decoder else "classifier"

    @property
    def size(self) -> int:
        return self.input_shape[-1]

    def slots(self) -> list[list[Slot]]:
        """Searchable block positions per stage."""
        size, c_in, out = self.size // self.strides[0], self.stem2, []
        for s, (c_out, blocks, act) in enumerate(zip(self.stage_channels, self.stage_blocks, self.stage_acts)):
            stride = self.strides[s + 1]
            stage = [Slot(s, 0, c_in, c_out, stride, act, size)]
            size //= stride
            stage += [Slot(s, j, c_out, c_out, 1, act, size) for j in range(1, blocks)]
            out.append(stage)
            c_in = c_out
        return out

    def block_ranges(self) -> list[range]:
        """Per stage, its blocks' positions in the flat block order (alpha's rows, Supernet.mixed_ops())."""
        ends = [sum(self.stage_blocks[:s + 1]) for s in range(len(self.stage_blocks))]
        return [range(end - n, end) for end, n in zip(ends, self.stage_blocks)]

    def feature_points(self) -> list[tuple[int, int]]:
        """(channels, size) after the stems and after each stage, in encoder order."""
        points, size = [(self.stem2, self.size // self.strides[0])], self.size // self.strides[0]
        for s, c in enumerate(self.stage_channels):
            size //= self.strides[s + 1]
            points.append((c, size))
        return points

    def skip_indices(self) -> list[int]:
        """Indices into feature_points of the decoder's inputs: the last map at each resolution,
        finest first; the last index is the bottleneck the decoder starts from."""
        points, last = self.feature_points(), {}
        for i, (_, size) in enumerate(points):
            last[size] = i
        return [last[size] for size in sorted(last, reverse=True)]


def build_stem(macro: Macro) -> nn.Sequential:
    """conv3x3 (ReLU) then the e1 k3 MBConv with SE: TF-NAS's two stem layers."""
    return nn.Sequential(
        ConvNormAct(macro.input_shape[0], macro.stem, 3, macro.strides[0], act="relu"),
        MBConv(macro.stem, macro.stem2, expansion=1, kernel=3, se_channels=macro.stem2_se, act="relu"))


class Decoder(nn.Module):
    """Fixed UNet-style decoder over the encoder's skip features (finest first, bottleneck last). Its output
    is added to the noisy input, like the manual UNet's (residual learning; docs/design.md)."""

    def __init__(self, macro: Macro):
        super().__init__()
        points = macro.feature_points()
        skips = [points[i] for i in macro.skip_indices()]
        self.up, self.fuse = nn.ModuleList(), nn.ModuleList()
        for (c_skip, _), (c_below, _) in zip(skips[-2::-1], skips[:0:-1]):
            self.up.append(nn.ConvTranspose2d(c_below, c_skip, 2, stride=2))
            self.fuse.append(nn.Sequential(ConvNormAct(2 * c_skip, c_skip, 3), ConvNormAct(c_skip, c_skip, 3)))
        finest_channels, finest_size = skips[0]
        factor = macro.size // finest_size
        self.final_up = nn.ConvTranspose2d(finest_channels, finest_channels, factor, stride=factor) \
            if factor > 1 else nn.Identity()
        self.out = nn.Conv2d(finest_channels, macro.input_shape[0], 1)

    def forward(self, skips: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        y = skips[-1]
        for up, fuse, skip in zip(self.up, self.fuse, skips[-2::-1]):
            y = fuse(torch.cat([up(y), skip], dim=1))
        return x + self.out(self.final_up(y))


class Head(nn.Module):
    """TF-NAS classification head: conv1x1 + swish, global average pool, (dropout), FC."""

    def __init__(self, macro: Macro, dropout: float = 0.0):
        super().__init__()
        self.conv = ConvNormAct(macro.stage_channels[-1], macro.head, 1, act="swish")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(macro.head, macro.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.conv(x)).flatten(1)))


def make_block(slot: Slot, op: OpSpec, mid_channels: int) -> MBConv:
    """The derived network's block for `op` at `slot` with `mid_channels`: also what the latency table times."""
    return MBConv(slot.c_in, slot.c_out, kernel=op.kernel, stride=slot.stride, se_channels=se_channels(op, slot.c_in),
                  act=slot.act, mid_channels=mid_channels)


def joint_or_logits(decoder: "Decoder | None", skips: list[torch.Tensor], x: torch.Tensor, logits: torch.Tensor):
    """JointOutput(denoised image, logits) with a decoder; the logits alone for a classifier-only network."""
    return logits if decoder is None else JointOutput(decoder(skips, x), logits)
