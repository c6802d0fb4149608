"""The supernet: fixed stems, decoder and head around 18 searchable MixedOps with architecture parameters.

- alpha (op level): one log-probability vector per MixedOp, initialised uniform and re-projected with
  log_softmax after every architecture step (docs/paper.md §5.1).
- beta (depth level, sink-connecting): one vector per stage; stage output = sum_j softmax(beta)_j x^(j),
  where x^(j) is the output after the first j blocks. Modes: `learned` (trained with alpha),
  `fixed` (held at its initial value 0, i.e. uniform over depths, never gets a gradient; every block is
  computed, kept in the derived network and counted by the latency term) and
  `removed` (no depth search: the stage output is its last block's output, every block is kept).
- width: every op allocates its widest mid channels; a 0/1 mask keeps the active ones (the channels
  whose depthwise filters have the largest L1 norm). Masked channels stay exactly zero because every
  norm in the supernet uses batch statistics without affine parameters (TF-NAS's supernet BN).

forward(x, ops=[...]) runs one sampled path (weight steps), forward(x, op_weights=[...]) the relaxed
Gumbel-softmax mixture (architecture steps) and forward(x) the currently derived network (argmax ops,
derived depths, current widths), returning JointOutput(image, logits) like every joint model.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models.joint import JointOutput
from .macro import Decoder, Head, Macro, Slot, build_stem, joint_or_logits, make_block
from .ops import NOMINAL_INDEX, OpSpec, width_choices

BETA_MODES = ("learned", "removed", "fixed")


def use_batch_statistics(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d for one with batch statistics only and no affine parameters."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.BatchNorm2d(child.num_features, affine=False, track_running_stats=False))
        else:
            use_batch_statistics(child)
    return module


class MixedOp(nn.Module):
    """The candidate MBConvs of one block position, each at its widest, with a width mask per op."""

    def __init__(self, slot: Slot, ops: tuple[OpSpec, ...]):
        super().__init__()
        self.slot, self.specs = slot, ops
        self.choices = [width_choices(op, slot.c_in) for op in ops]
        self.ops = nn.ModuleList(make_block(slot, op, max(c)) for op, c in zip(ops, self.choices))
        widest = max(max(c) for c in self.choices)
        self.register_buffer("width_index", torch.full((len(ops),), NOMINAL_INDEX, dtype=torch.long))
        self.register_buffer("masks", torch.zeros(len(ops), widest))
        for i in range(len(ops)):
            self.set_width(i, NOMINAL_INDEX)

    def width(self, i: int) -> int:
        return self.choices[i][int(self.width_index[i])]

    @torch.no_grad()
    def set_width(self, i: int, index: int) -> None:
        """Activate the `choices[i][index]` mid channels of op i with the largest depthwise L1 norm."""
        self.width_index[i] = index
        filters = self.ops[i].depthwise[0].weight
        keep = filters.abs().sum((1, 2, 3)).topk(self.choices[i][index]).indices
        self.masks[i].zero_()
        self.masks[i, keep] = 1.0

    def run(self, i: int, x: torch.Tensor) -> torch.Tensor:
        block = self.ops[i]
        return block(x, mask=self.masks[i, :block.mid].view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor, op: int | None = None, weights: torch.Tensor | None = None) -> torch.Tensor:
        if op is not None:
            return self.run(op, x)
        return sum(w * self.run(i, x) for i, w in enumerate(weights))


class Supernet(nn.Module):
    def __init__(self, macro: Macro, ops: tuple[OpSpec, ...], beta_mode: str = "learned"):
        super().__init__()
        if beta_mode not in BETA_MODES:
            raise ValueError(f"unknown beta_mode {beta_mode!r}; choose one of {BETA_MODES}")
        self.macro, self.specs, self.beta_mode = macro, ops, beta_mode
        self.slots = macro.slots()
        self.block_ranges = macro.block_ranges()
        self.skips = macro.skip_indices()
        self.stem = build_stem(macro)
        self.stages = nn.ModuleList(nn.ModuleList(MixedOp(slot, ops) for slot in stage) for stage in self.slots)
        self.decoder = Decoder(macro) if macro.decoder else None
        self.head = Head(macro)
        n_blocks = sum(len(stage) for stage in self.slots)
        self.log_alpha = nn.Parameter(torch.full((n_blocks, len(ops)), -math.log(len(ops))))
        self.beta = nn.ParameterList(
            nn.Parameter(torch.zeros(len(stage)), requires_grad=beta_mode == "learned")
            for stage in self.slots) if beta_mode != "removed" else nn.ParameterList()
        use_batch_statistics(self)

    # --- parameters -------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.log_alpha] + ([*self.beta] if self.beta_mode == "learned" else [])

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in [self.log_alpha, *self.beta]}
        return [p for p in self.parameters() if id(p) not in arch]

    def mixed_ops(self) -> list[MixedOp]:
        return [m for stage in self.stages for m in stage]

    # --- architecture -----------------------------------------------------------------------------
    def op_probs(self) -> torch.Tensor:
        return F.softmax(self.log_alpha, dim=-1)

    def depth_probs(self) -> list[torch.Tensor | None]:
        """softmax(beta) per stage; None where the stage output is simply its last block (removed beta)."""
        if self.beta_mode == "removed":
            return [None] * len(self.slots)
        return [F.softmax(b, dim=0) for b in self.beta]

    def latency_depth_probs(self) -> list[torch.Tensor | None]:
        """The depth weights the latency term uses: softmax(beta) only where depth is searched (learned).
        With `fixed` beta the stage output mixes every depth but every block is computed and the derived
        network keeps them all, so the latency counts every block: for a one-hot alpha it is then exactly
        the derived network's latency."""
        if self.beta_mode == "learned":
            return self.depth_probs()
        return [None] * len(self.slots)

    def argmax_ops(self) -> list[int]:
        return self.log_alpha.argmax(-1).tolist()

    def derived_depths(self) -> list[int]:
        """argmax beta + 1 per stage, ties to the deepest: `removed` and `fixed` keep every block."""
        if self.beta_mode == "removed":
            return [len(stage) for stage in self.slots]
        return [len(b) - int(torch.argmax(b.detach().flip(0))) for b in self.beta]

    # --- forward ----------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, ops: list[int] | None = None,
                op_weights: torch.Tensor | None = None) -> JointOutput:
        derived = ops is None and op_weights is None
        if derived:
            ops, depths = self.argmax_ops(), self.derived_depths()
            sinks = [None] * len(self.slots)
        else:
            depths = [len(stage) for stage in self.slots]
            sinks = self.depth_probs()
            if op_weights is None:  # weight step: beta is not trained here
                sinks = [s.detach() if s is not None else None for s in sinks]
        y = self.stem(x)
        features = [y]
        for stage, blocks, depth, sink in zip(self.stages, self.block_ranges, depths, sinks):
            outputs = []
            for mixed, b in zip(stage, blocks[:depth]):
                y = mixed(y, op=ops[b] if ops is not None else None,
                          weights=op_weights[b] if op_weights is not None else None)
                outputs.append(y)
            y = outputs[-1] if sink is None else sum(w * o for w, o in zip(sink, outputs))
            features.append(y)
        return joint_or_logits(self.decoder, [features[i] for i in self.skips], x, self.head(y))
