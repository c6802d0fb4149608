"""An architecture search's score on its MLflow parent run, after every finished trial (orchestrator.pareto.score
computes it)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ray import tune

from orchestrator.pareto.score import front_record


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
