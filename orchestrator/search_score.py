"""An architecture search's score: the hypervolume of its feasible Pareto front, after every finished trial.

The objectives and the reference point come from the sweep (`Optimize.metrics`, `.modes`, `.reference`); a
latency cap (`max_latency_ms`) replaces the latency reference and makes trials over it infeasible: they count
as finished trials (the x axis) but never join the front. The same functions serve the driver's callback
(MLflow metric `hypervolume`, step = trials finished, and `front.json`) and the report, which rebuilds the curve
from the Parquet rows in the order the trials finished.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Mapping

from ray import tune

from .hypervolume import hypervolume, to_minimised
from .pareto import pareto_front
from .results import ENDED


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


class HypervolumeCallback(tune.Callback):
    """After every finished trial: `hypervolume` (step = trials finished) and `front.json` on the parent run."""

    def __init__(self, optimize, cap: float | None, tracking_uri: str, parent_run_id: str):
        self.optimize, self.cap = optimize, cap
        self.tracking_uri, self.parent_run_id = tracking_uri, parent_run_id
        self.rows: dict[str, dict] = {}

    def __getstate__(self):  # Tune pickles callbacks into its state: no live client, no rows
        return {k: v for k, v in self.__dict__.items() if k != "rows"} | {"rows": {}}

    def _record(self, trial, status: str) -> None:
        self.rows[trial.trial_id] = {**(trial.last_result or {}), "status": status}

    def on_trial_complete(self, iteration, trials, trial, **info):
        for other in trials:  # a resumed run: the trials finished before it count too
            if other.status == "TERMINATED" and other.trial_id not in self.rows:
                self._record(other, "TERMINATED")
        self._record(trial, "TERMINATED")
        self._log()

    def on_trial_error(self, iteration, trials, trial, **info):
        self._record(trial, "ERROR")
        self._log()

    def _log(self) -> None:
        from mlflow import MlflowClient  # lazy: the callback is built before MLflow is needed

        rows = list(self.rows.values())
        record = front_record(rows, self.optimize, self.cap)
        try:
            client = MlflowClient(self.tracking_uri)
            client.log_metric(self.parent_run_id, "hypervolume", record["hypervolume"], step=len(rows))
            with tempfile.TemporaryDirectory(prefix="jdnas-front-") as directory:
                path = Path(directory) / "front.json"
                path.write_text(json.dumps(record, indent=1, default=str))
                client.log_artifact(self.parent_run_id, str(path))
        except Exception as err:  # noqa: BLE001 - the report rebuilds both from the Parquet rows
            print(f"[jdnas] could not log the hypervolume to MLflow ({type(err).__name__}: {str(err)[:200]})",
                  flush=True)
