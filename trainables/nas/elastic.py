"""Elasticity-scaling of widths (TF-NAS, docs/paper.md §5.1), run after every post-warm-up search epoch.

Parse the current architecture (argmax ops, derived depths) and price it with the latency table. Above
the target: shrink the widths of every kept block together, one width choice at a time, until it fits
(or every block is at its narrowest). Below: widen them together while the result still fits. Then,
for start = stage 2 ... 6, widen stages start..6 together while the result fits: the progressively
finer fill-up of the remaining budget. Only the chosen op of each kept block changes width; its new
active channels are those with the largest depthwise L1 norm (MixedOp.set_width).
"""
from __future__ import annotations

from .lut import LatencyTable
from .ops import WIDTH_STEPS


def fit_widths(supernet, table: LatencyTable, target_ms: float) -> float:
    """Adjust the active widths in place; returns the derived architecture's table latency afterwards."""
    mixed, ops, depths = supernet.mixed_ops(), supernet.argmax_ops(), supernet.derived_depths()
    stages = [list(blocks[:depth]) for blocks, depth in zip(supernet.block_ranges, depths)]
    index = {b: int(mixed[b].width_index[ops[b]]) for stage in stages for b in stage}

    def latency() -> float:
        return table.base_ms + sum(table.block_ms(mixed[b].slot, supernet.specs[ops[b]], w) for b, w in index.items())

    def step(blocks: list[int], delta: int) -> bool:
        moved = False
        for b in blocks:
            new = min(max(index[b] + delta, 0), WIDTH_STEPS - 1)
            moved |= new != index[b]
            index[b] = new
        return moved

    def widen_while_fits(blocks: list[int]) -> None:
        while True:
            saved = dict(index)
            if not step(blocks, +1):
                return
            if latency() > target_ms:
                index.update(saved)
                return

    every = [b for stage in stages for b in stage]
    if latency() > target_ms:
        while latency() > target_ms and step(every, -1):
            pass
    else:
        widen_while_fits(every)
    for start in range(1, len(stages)):
        widen_while_fits([b for stage in stages[start:] for b in stage])
    for b, w in index.items():
        if int(mixed[b].width_index[ops[b]]) != w:
            mixed[b].set_width(ops[b], w)
    return latency()
