"""A Tune trial in words: its network's label, its MLflow run name, its last error, and the result keys that are
Tune's bookkeeping rather than a trial's metrics. The rows, the progress lines and the MLflow runs all name a trial
this way."""
from __future__ import annotations

from pathlib import Path

from trainables.config import effective_config
from trainables.models import model_label
from trainables.tasks import TASKS

TUNE_BOOKKEEPING = {"timestamp", "checkpoint_dir_name", "done", "training_iteration", "trial_id", "date",
                    "time_this_iter_s", "pid", "hostname", "node_ip", "config", "time_since_restore",
                    "iterations_since_restore", "should_checkpoint", "experiment_tag"}


def trial_error_text(trial, limit: int = 4000) -> str:
    """The last traceback of a failed trial: the local error file Tune just wrote, else storage."""
    readers = (lambda: Path(trial.error_file).read_text(), lambda: str(trial.get_error() or ""))
    for read in readers:
        try:
            if text := read():
                return text[-limit:]
        except Exception:  # noqa: BLE001 - the text is best effort, the status is what counts
            continue
    return "trial failed"


def trial_variant(trial) -> str:
    """The trial's network in words (its grid point without the seed): the `variant_label` column of the rows."""
    config = effective_config(trial.config)
    try:
        label = model_label(config) if config.get("task") in TASKS else \
            config.get("label") or trial.trial_id
    except ValueError:
        label = trial.trial_id
    return label


def run_label(trial) -> str:
    """The MLflow child run's and the progress lines' name, for people; the rows keep `variant_label` and `seed` as
    columns, so nothing parses this back."""
    return f"{trial_variant(trial)} seed{effective_config(trial.config).get('seed', 0)}"
