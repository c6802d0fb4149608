"""Pareto fronts, apart from the report tables: `jdnas best`, the search score and the reports all rank by it,
and none of them needs the others' imports."""
from __future__ import annotations


def pareto_front(points: list[tuple[float, ...]], maximize: tuple[bool, ...]) -> list[int]:
    """Indices of the non-dominated points (any number of objectives)."""
    keyed = [tuple(v if m else -v for v, m in zip(p, maximize)) for p in points]
    return [i for i, p in enumerate(keyed)
            if not any(all(a >= b for a, b in zip(q, p)) and q != p for q in keyed)]
