"""An architecture search's score: the hypervolume of its feasible Pareto front, after every finished trial.

The objectives and the reference point come from the sweep (`Optimize.metrics`, `.modes`, `.reference`); a
latency cap (`max_latency_ms`) replaces the latency reference and makes trials over it infeasible: they count
as finished trials (the x axis) but never join the front. The same functions serve the driver's callback
(orchestrator.tracking.search_score: MLflow metric `hypervolume`, step = trials finished, and `front.json`) and
the report, which rebuilds the curve
from the Parquet rows in the order the trials finished.
"""
from __future__ import annotations

import math
from typing import Mapping

from orchestrator.pareto.front import pareto_front
from orchestrator.pareto.hypervolume import hypervolume, to_minimised
from orchestrator.records.results import ENDED


def reference_point(optimize, cap: float | None) -> tuple[float, ...]:
    """The sweep's reference values in minimisation form; a latency cap is the latency reference."""
    values = [cap if cap is not None and m == optimize.constraint else optimize.reference[m] for m in optimize.metrics]
    return to_minimised(values, optimize.modes)


def objectives(row: Mapping, optimize) -> tuple[float, ...] | None:
    """The row's objective values, or None if one is missing or not finite."""
    values = [row.get(m) for m in optimize.metrics]
    if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return tuple(float(v) for v in values)
    return None


def feasible(row: Mapping, optimize, cap: float | None) -> bool:
    if objectives(row, optimize) is None:
        return False
    return cap is None or optimize.constraint is None or row[optimize.constraint] <= cap


def front(rows: list[Mapping], optimize, cap: float | None) -> list[Mapping]:
    """The feasible non-dominated rows, in the order of the first objective's best first."""
    scored = [r for r in rows if feasible(r, optimize, cap)]
    keep = pareto_front([objectives(r, optimize) for r in scored], tuple(m == "max" for m in optimize.modes))
    chosen = [scored[i] for i in keep]
    return sorted(chosen, key=lambda r: to_minimised(objectives(r, optimize), optimize.modes))


def score(rows: list[Mapping], optimize, cap: float | None) -> float:
    points = [to_minimised(objectives(r, optimize), optimize.modes) for r in rows if feasible(r, optimize, cap)]
    return hypervolume(points, reference_point(optimize, cap))


def curve(rows: list[Mapping], optimize, cap: float | None) -> list[float]:
    """Hypervolume after 1, 2, ... finished trials, in the order they finished (`reported_at`)."""
    done = sorted((r for r in rows if r.get("status") in ENDED),
                  key=lambda r: r.get("reported_at") or math.inf)
    return [score(done[:n], optimize, cap) for n in range(1, len(done) + 1)]


def front_record(rows: list[Mapping], optimize, cap: float | None) -> dict:
    """front.json: the objectives, reference point, cap, hypervolume and the front's trials."""
    keys = ("trial_id", "variant_label", *optimize.params, *optimize.metrics, "test_acc", "test_psnr", "macs",
            "latency_device", "latency_backend")
    return {"metrics": list(optimize.metrics), "modes": list(optimize.modes), "max_latency_ms": cap,
            "reference": dict(zip(optimize.metrics, [-v if m == "max" else v for v, m in
                                                      zip(reference_point(optimize, cap), optimize.modes)])),
            "hypervolume": score(rows, optimize, cap),
            "front": [{k: r.get(k) for k in keys if r.get(k) is not None} for r in front(rows, optimize, cap)]}
