"""Exact hypervolume of a set of points, for the multi-objective architecture sweeps' score.

Every objective is turned into a minimisation (`to_minimised`), so the hypervolume is the volume dominated by
the points and bounded by the reference point `ref` (a point no better than `ref` in some objective adds
nothing). Two objectives: one sweep over the points sorted by the first. More: HSO, "hypervolume by slicing
objectives" (While et al., 2006): the points are sorted by the last objective, and each slab between two
consecutive values contributes its thickness times the (d-1)-dimensional hypervolume of the points at or below
it. That is O(n^(d-1) log n): instant for the tens to hundreds of trials of a sweep.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

Point = tuple[float, ...]


def to_minimised(values: Sequence[float], modes: Sequence[str]) -> Point:
    """A point in minimisation form: 'max' objectives negated."""
    if len(values) != len(modes):
        raise ValueError(f"{len(values)} values for {len(modes)} modes")
    return tuple(-float(v) if m == "max" else float(v) for v, m in zip(values, modes))


def _inside(points: Iterable[Sequence[float]], ref: Point) -> list[Point]:
    """The finite points strictly better than ref in every objective (only they dominate any volume)."""
    kept = []
    for p in points:
        p = tuple(float(v) for v in p)
        if len(p) != len(ref):
            raise ValueError(f"point {p} has {len(p)} objectives, the reference point {len(ref)}")
        if all(math.isfinite(v) for v in p) and all(v < r for v, r in zip(p, ref)):
            kept.append(p)
    return kept


def _hv2(points: list[Point], ref: Point) -> float:
    volume, best_y = 0.0, ref[1]
    for x, y in sorted(points):  # by x; a point adds the strip between its y and the best y so far
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return volume


def _hso(points: list[Point], ref: Point) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    if len(ref) == 2:
        return _hv2(points, ref)
    ordered = sorted(points, key=lambda p: p[-1])
    volume = 0.0
    for i, p in enumerate(ordered):
        upper = ordered[i + 1][-1] if i + 1 < len(ordered) else ref[-1]
        if upper > p[-1]:
            volume += (upper - p[-1]) * _hso([q[:-1] for q in ordered[:i + 1]], ref[:-1])
    return volume


def hypervolume(points: Iterable[Sequence[float]], ref: Sequence[float]) -> float:
    """Exact hypervolume of minimisation points w.r.t. ref (any number of objectives; exact for 2-D and 3-D,
    the sweeps' cases, and for more, only slower)."""
    ref = tuple(float(r) for r in ref)
    return _hso(sorted(set(_inside(points, ref))), ref)  # dominated points add nothing and need no filter
