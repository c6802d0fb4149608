"""How far a run's ordering of models agrees with the paper's: Kendall's tau-b, the usual rank correlation
when either side may tie (two models at one printed accuracy). +1 is the paper's order, -1 its reverse."""
from __future__ import annotations

import math


def kendall_tau_b(xs: list[float], ys: list[float]) -> float | None:
    """tau-b = (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)) over all pairs; None below 2 items
    or when one side is constant (no order to agree with)."""
    if len(xs) != len(ys):
        raise ValueError(f"kendall_tau_b needs paired values, got {len(xs)} and {len(ys)}")
    score = ties_x = ties_y = pairs = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            pairs += 1
            ties_x += dx == 0
            ties_y += dy == 0
            score += (dx > 0) - (dx < 0) if dy > 0 else (dx < 0) - (dx > 0) if dy < 0 else 0
    denominator = math.sqrt((pairs - ties_x) * (pairs - ties_y))
    return score / denominator if denominator else None
