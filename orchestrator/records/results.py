"""Sweep results as rows (one per trial: config + final metrics) and their Parquet export."""
from __future__ import annotations

import io
import json
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq
from ray import tune
from ray.tune import ExperimentAnalysis

from orchestrator.records.storage import Storage
from trainables.config import effective_config

from orchestrator.records.trials import TUNE_BOOKKEEPING, run_label, trial_error_text, trial_variant

PARQUET_NAME = "results.parquet"
ENDED = ("TERMINATED", "ERROR")  # a trial in either state will not run again in this sweep


def trial_row(trial) -> dict[str, Any]:
    """Flat row: trial identity and status, the effective config (with its `seed`), the last reported metrics.
    `variant_label` names the trial's network (what seeds of one grid point share); `label` is the run name."""
    config = effective_config(trial.config)
    result = {k: v for k, v in (trial.last_result or {}).items() if k not in TUNE_BOOKKEEPING}
    error = trial_error_text(trial, 2000) if trial.status == "ERROR" else None
    row = {"trial_id": trial.trial_id, "status": trial.status, "error": error, "label": run_label(trial),
           "variant_label": trial_variant(trial)}
    for key, value in config.items():
        row[key if key not in result else f"config_{key}"] = value
    row.update(result)
    return row


def rows_from_trials(trials: Iterable) -> list[dict]:
    return [trial_row(t) for t in sorted(trials, key=lambda t: t.trial_id)]


class _SavedTrials(ExperimentAnalysis):
    """Tune's reader of a saved experiment, stopped at the trials. Its constructor also reads every trial's
    result.json into a pandas DataFrame, which nothing here uses: at 1,000 trials x 20 results that cost the
    driver tens of MB at its peak and one file read per trial (benchmarks/orchestration_scale.py)."""

    def _fetch_trial_dataframes(self) -> dict:
        return {}


def saved_trials(storage: Storage, experiment_name: str) -> list:
    """The trials as Tune last saved them (status, config, last result, checkpoint, paths)."""
    return _SavedTrials(storage.join(experiment_name), storage_filesystem=storage.filesystem).trials


def rows_from_experiment(storage: Storage, experiment_name: str) -> list[dict]:
    """Rows from the experiment state Tune saved: after a Ctrl-C its in-memory trials all read
    TERMINATED, while the saved state keeps the unfinished ones PENDING (what a resume will run)."""
    return rows_with_error_logs(saved_trials(storage, experiment_name), storage)


def rows_with_error_logs(trials: list, storage: Storage) -> list[dict]:
    rows = rows_from_trials(trials)
    by_id = {t.trial_id: t for t in trials}
    for row in rows:
        if row["status"] == "ERROR":
            row["error_log"] = error_log_uri(by_id[row["trial_id"]], storage)
    return rows


class EndedTrials(tune.Callback):
    """Tune's live trials at the end of a run in which every trial ended, else None: rows built from them
    spare the driver re-reading the saved state, a second copy of every Trial (about 40 KB a trial at 1,000
    trials, benchmarks/orchestration_scale.py). After an interrupt the trials that were running read
    TERMINATED in memory without having ended, so a trial this driver started must also have been seen to end
    (Tune's on_trial_complete / on_trial_error); the ones a resume found ended never start."""

    def __init__(self):
        self.unfinished: set[str] = set()  # started in this driver, not yet seen to end
        self.trials: list | None = None

    def __getstate__(self):  # Tune pickles callbacks with the experiment; what was seen is this driver's
        return {}

    def __setstate__(self, state):
        self.__init__()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.unfinished.add(trial.trial_id)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.unfinished.discard(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.unfinished.discard(trial.trial_id)

    def on_experiment_end(self, trials, **info):
        if not self.unfinished and all(t.status in ENDED for t in trials):
            self.trials = list(trials)

    def rows(self, storage: Storage, experiment_name: str) -> list[dict]:
        """The run's rows once its fit returned: from the live trials if every one ended, else from the saved state."""
        if self.trials is not None:
            return rows_with_error_logs(self.trials, storage)
        return rows_from_experiment(storage, experiment_name)


def error_log_uri(trial, storage: Storage) -> str | None:
    """Where the trial's full error log (Tune's error.txt) lives in the sweep's storage, as the user
    would address it (a path, or s3://...)."""
    name = trial.run_metadata.error_filename
    if not name or not trial.path:
        return None
    inside = trial.path[len(storage.path):].strip("/") if trial.path.startswith(storage.path) else None
    return storage.display(inside, name) if inside else f"{trial.path}/{name}"


JSON_COLUMNS_KEY = b"jdnas.json_columns"


def _arrow_native(values: list) -> bool:
    """A column Parquet stores as itself: one scalar type (ints with floats count as floats), or nulls."""
    kinds = {type(v) for v in values if v is not None}
    return len(kinds) <= 1 and not kinds & {list, tuple, dict} or kinds == {int, float}


def to_table(rows: list[dict]) -> pa.Table:
    """Arrow table, one column per key of any row (missing cells are nulls). A column that Parquet cannot
    hold as itself (lists, dicts, mixed types such as a number in one row and a string in another) is
    stored as JSON text and named in the schema metadata, so `read_parquet` gives back what was written."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays, json_columns = {}, []
    for name in names:
        values = [row.get(name) for row in rows]
        if _arrow_native(values):
            arrays[name] = pa.array(values)
        else:
            arrays[name] = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
            json_columns.append(name)
    return pa.table(arrays).replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(json_columns).encode()})


def from_table(table: pa.Table) -> list[dict]:
    json_columns = json.loads((table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))
    rows = table.to_pylist()
    for row in rows:
        for name in json_columns:
            if row.get(name) is not None:
                row[name] = json.loads(row[name])
    return rows


def export_parquet(rows: list[dict], storage: Storage, experiment_name: str) -> str:
    buffer = io.BytesIO()
    pq.write_table(to_table(rows), buffer)
    return storage.write_bytes(buffer.getvalue(), experiment_name, PARQUET_NAME)


def read_parquet(storage: Storage, experiment_name: str) -> list[dict]:
    return from_table(pq.read_table(io.BytesIO(storage.read_bytes(experiment_name, PARQUET_NAME))))


def joint_sweep_rows(storage: Storage) -> list[dict]:
    """Finished trials of every `joint` sweep in the storage (the manual models the NAS report compares
    with), found through the storage layer, so a local folder and s3://bucket/prefix alike hold them."""
    return [row for name in storage.folders() if name.startswith("joint-") and storage.exists(name, PARQUET_NAME)
            for row in read_parquet(storage, name) if row.get("status") == "TERMINATED"]
