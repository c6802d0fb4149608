"""`jdnas sync-mlflow`: rebuild a sweep's MLflow runs from what Tune stored (per-epoch results,
statuses, checkpoints), sending only what the store lacks. Used when the tracking server was
unreachable during a run, or to fill a new store from existing results."""
from __future__ import annotations

import json
import tempfile

from search_spaces import ResolvedSweep
from trainables.config import effective_config

from orchestrator.records.results import ENDED, saved_trials
from orchestrator.records.storage import Storage
from orchestrator.records.trials import run_label, trial_error_text
from orchestrator.tracking.runs import SweepTracker, software_tags

TERMINAL = {"FINISHED", "FAILED", "KILLED"}


def epoch_results(storage: Storage, trial) -> list[dict]:
    """Every result the trial reported, from the result.json Tune writes next to its checkpoints."""
    try:
        with storage.fs().open_input_stream(f"{trial.path}/result.json") as f:
            lines = f.readall().decode().splitlines()
    except OSError:  # not written yet (or gone): the state Tune saved is all there is
        return [trial.last_result] if trial.last_result else []
    results = [json.loads(line) for line in lines if line.strip()]
    return [r for r in results if isinstance(r.get("epoch"), (int, float))]  # log_epochs sorts them


def sync_mlflow(resolved: ResolvedSweep, tracking_uri: str, storage: Storage,
                artifact_root: str | None = None) -> dict[str, int]:
    """Send every missing epoch, status and artifact of the sweep's trials; returns counts."""
    tracker = SweepTracker(tracking_uri, resolved.sweep.name, resolved.name, artifact_root)
    tags = {**software_tags(), "jdnas.preset": resolved.preset}
    parent = tracker.parent_run({**resolved.base, **resolved.run}, tags, reopen=False)
    counts = {"trials": 0, "epochs_sent": 0, "runs_finished": 0}
    done = True
    for trial in saved_trials(storage, resolved.name):
        counts["trials"] += 1
        config = effective_config(trial.config)
        run_id = tracker.child_run(parent, trial.trial_id, run_label(trial), config, tags)
        counts["epochs_sent"] += tracker.log_epochs(run_id, epoch_results(storage, trial))
        if trial.status not in ENDED:
            done = False
            continue
        if tracker.client.get_run(run_id).info.status in TERMINAL:
            continue
        with tempfile.TemporaryDirectory(prefix="jdnas-sync-") as directory:
            checkpoint_dir = None
            if trial.checkpoint is not None:
                trial.checkpoint.to_directory(directory)
                checkpoint_dir = directory
            error = trial_error_text(trial) if trial.status == "ERROR" else None
            tracker.finish_trial(run_id, "FINISHED" if trial.status == "TERMINATED" else "FAILED",
                                 trial.last_result, checkpoint_dir, error)
        counts["runs_finished"] += 1
    if done and tracker.client.get_run(parent).info.status not in TERMINAL:
        tracker.finish_parent(parent, "FINISHED")
    return counts
