"""Sweep results as rows (one per trial: config + final metrics) and their Parquet export."""
from __future__ import annotations

import io
import json
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from .storage import Storage
from trainables.config import effective_config

from .tracking import TUNE_BOOKKEEPING, run_label, trial_error_text

PARQUET_NAME = "results.parquet"


def trial_row(trial) -> dict[str, Any]:
    """Flat row: trial identity and status, the effective config, the last reported metrics."""
    config = effective_config(trial.config)
    result = {k: v for k, v in (trial.last_result or {}).items() if k not in TUNE_BOOKKEEPING}
    error = trial_error_text(trial, 2000) if trial.status == "ERROR" else None
    row = {"trial_id": trial.trial_id, "status": trial.status, "error": error, "label": run_label(trial)}
    for key, value in config.items():
        row[key if key not in result else f"config_{key}"] = value
    row.update(result)
    return row


def rows_from_trials(trials: Iterable) -> list[dict]:
    return [trial_row(t) for t in sorted(trials, key=lambda t: t.trial_id)]


def rows_from_experiment(storage: Storage, experiment_name: str) -> list[dict]:
    """Rows from the experiment state Tune saved: after a Ctrl-C its in-memory trials all read
    TERMINATED, while the saved state keeps the unfinished ones PENDING (what a resume will run)."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(storage.join(experiment_name), storage_filesystem=storage.filesystem)
    return rows_from_trials(analysis.trials)


def to_table(rows: list[dict]) -> pa.Table:
    """Arrow table; lists/dicts become JSON strings, columns missing in a row become nulls."""
    columns: dict[str, list] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for row in rows:
        for key, values in columns.items():
            value = row.get(key)
            values.append(json.dumps(value) if isinstance(value, (list, dict, tuple)) else value)
    arrays = {}
    for key, values in columns.items():
        try:
            arrays[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[key] = pa.array([None if v is None else str(v) for v in values])
    return pa.table(arrays)


def export_parquet(rows: list[dict], storage: Storage, experiment_name: str) -> str:
    buffer = io.BytesIO()
    pq.write_table(to_table(rows), buffer)
    return storage.write_bytes(buffer.getvalue(), experiment_name, PARQUET_NAME)


def read_parquet(storage: Storage, experiment_name: str) -> list[dict]:
    table = pq.read_table(io.BytesIO(storage.read_bytes(experiment_name, PARQUET_NAME)))
    return table.to_pylist()
