"""The candidate operations of the search (the paper's Table 9) and their width choices.

Order and names follow Table 9 (= TF-NAS's 8 ops). The 4-op set drops every SE op; the 6-op set adds
the two smallest SE ops (k3-e3-se, k3-e6-se) "as they can be used for smaller target latencies too".

Width elasticity (docs/paper.md §5.1): an op's mid channels range over [max // 2, max] with
max = 4/3 x nominal. We offer WIDTH_STEPS evenly spaced choices, which for e3 are
C_in x {2, 2.5, 3, 3.5, 4} and for e6 C_in x {4, 5, 6, 7, 8}; index NOMINAL_INDEX is e x C_in.
Every choice gets its own latency-table entry, so the table never interpolates.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    name: str
    kernel: int
    expansion: int
    se: bool


OPS: tuple[OpSpec, ...] = (
    OpSpec("MB-k3-e3", 3, 3, False),
    OpSpec("MB-k3-e6", 3, 6, False),
    OpSpec("MB-k5-e3", 5, 3, False),
    OpSpec("MB-k5-e6", 5, 6, False),
    OpSpec("MB-k3-e3-se", 3, 3, True),
    OpSpec("MB-k3-e6-se", 3, 6, True),
    OpSpec("MB-k5-e3-se", 5, 3, True),
    OpSpec("MB-k5-e6-se", 5, 6, True),
)
OP_SETS: dict[int, tuple[str, ...]] = {
    4: ("MB-k3-e3", "MB-k3-e6", "MB-k5-e3", "MB-k5-e6"),
    6: ("MB-k3-e3", "MB-k3-e6", "MB-k5-e3", "MB-k5-e6", "MB-k3-e3-se", "MB-k3-e6-se"),
    8: tuple(op.name for op in OPS),
}
BY_NAME = {op.name: op for op in OPS}
WIDTH_STEPS = 5
NOMINAL_INDEX = 2


def op_set(size: int) -> tuple[OpSpec, ...]:
    if size not in OP_SETS:
        raise ValueError(f"unknown op_set {size!r}; choose one of {sorted(OP_SETS)} (Table 9)")
    return tuple(BY_NAME[name] for name in OP_SETS[size])


def width_choices(op: OpSpec, c_in: int) -> tuple[int, ...]:
    """Mid-channel choices from max // 2 to max = 4/3 x nominal, evenly spaced (nominal in the middle)."""
    widest = round(4 * op.expansion * c_in / 3)
    narrowest = widest // 2
    return tuple(round(narrowest + (widest - narrowest) * i / (WIDTH_STEPS - 1)) for i in range(WIDTH_STEPS))


def se_channels(op: OpSpec, c_in: int) -> int:
    """TF-NAS SE width: C_in for e3 ops, 2 C_in for e6 ops (nominal mid / 3); 0 without SE."""
    return max(1, op.expansion * c_in // 3) if op.se else 0
