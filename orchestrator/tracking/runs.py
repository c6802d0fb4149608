"""MLflow bookkeeping: one experiment per sweep, a parent run per sweep invocation, a child run per trial.

Runs are found again by tags (`jdnas.experiment`, `jdnas.trial_id`) and every metric is logged with
step = epoch, skipping epochs already in the store: a resumed sweep, a retried trial or a later
`jdnas sync-mlflow` adds what is missing and never a duplicate run or point.

Logging happens in the driver (a Tune callback that queues, one sender thread that writes), not in the
trials: one writer suits SQLite, Tune's loop never waits on the store, and when the tracking server is
unreachable the results stay queued in the driver (and in Tune's own result files) while trials go on;
they are sent once the server answers again.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import mlflow
import ray
import torch
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray import tune

from trainables.config import effective_config

from orchestrator.records.trials import TUNE_BOOKKEEPING, run_label, trial_error_text
from orchestrator.tracking.filters import literal
from orchestrator.tracking.models import log_trial_model

log = logging.getLogger("jdnas.tracking")

ARTIFACT_FILES = ("model.pt", "config.json", "denoising_examples.png", "architecture.json", "latency_table.json")
RESULT_STRINGS = ("latency_device", "device", "torch_version", "image_shape", "hostname", "node_ip", "node_id",
                  "arch", "latency_backend", "latency_backend_version", "lut_device")
BATCH = 900  # MLflow's log_batch accepts at most 1000 metrics per call
# Without this tag MLflow 3's UI opens an experiment on its GenAI overview (traces) and hides the runs
# under "Evaluation runs"; with it the page is "Training runs", the parent expandable into its trials.
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def software_tags() -> dict[str, str]:
    return {"torch_version": torch.__version__, "ray_version": ray.__version__,
            "mlflow_version": mlflow.__version__, "git_commit": git_commit()}


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def numeric_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result.items()
            if k not in TUNE_BOOKKEEPING and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v))}


class SweepTracker:
    """Synchronous MLflow calls for one sweep experiment (no Ray involved; `sync-mlflow` uses it too)."""

    def __init__(self, tracking_uri: str, sweep_name: str, experiment_name: str,
                 artifact_root: str | None = None):
        self.tracking_uri, self.sweep_name, self.experiment_name = tracking_uri, sweep_name, experiment_name
        self.artifact_root = artifact_root
        self.client = MlflowClient(tracking_uri)
        self._experiment_id: str | None = None
        self._last_step: dict[str, int] = {}
        self._children: dict[str, str] | None = None

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            experiment = self.client.get_experiment_by_name(self.sweep_name) or self._create_experiment()
            self._experiment_id = experiment.experiment_id
            if experiment.tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:
                self.client.set_experiment_tag(self._experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return self._experiment_id

    def _create_experiment(self):
        """The new experiment, or the one another driver of this sweep created between our lookup and our
        create (two sweeps started at once on one server: CI saw the loser exit 3 on RESOURCE_ALREADY_EXISTS)."""
        location = f"{self.artifact_root}/{self.sweep_name}" if self.artifact_root else None
        try:
            self.client.create_experiment(self.sweep_name, artifact_location=location)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        return self.client.get_experiment_by_name(self.sweep_name)

    def _find(self, filter_string: str):
        runs = self.client.search_runs([self.experiment_id], filter_string, max_results=2,
                                       order_by=["attributes.start_time ASC"])
        return runs[0] if runs else None

    def parent_run(self, params: Mapping[str, Any], tags: Mapping[str, str], reopen: bool = True) -> str:
        """The parent run of this sweep invocation, created on first use and reused on resume."""
        run = self._find(f"tags.`jdnas.experiment` = {literal(self.experiment_name)} and tags.`jdnas.role` = 'parent'")
        if run is not None:
            if reopen:
                self.client.update_run(run.info.run_id, status="RUNNING")
            return run.info.run_id
        run = self.client.create_run(self.experiment_id, run_name=self.experiment_name, tags={
            **tags, "jdnas.role": "parent", "jdnas.experiment": self.experiment_name, "jdnas.sweep": self.sweep_name})
        self._log_params(run.info.run_id, params)
        return run.info.run_id

    def child_run(self, parent_id: str, trial_id: str, run_name: str, config: Mapping[str, Any],
                  tags: Mapping[str, str]) -> str:
        if trial_id in self.known_children():
            return self._children[trial_id]
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags={
            **tags, MLFLOW_PARENT_RUN_ID: parent_id, "jdnas.role": "trial", "jdnas.trial_id": trial_id,
            "jdnas.experiment": self.experiment_name, "jdnas.sweep": self.sweep_name,
            "seed": str(config.get("seed"))})
        self._log_params(run.info.run_id, config)
        self._last_step[run.info.run_id] = 0
        self._children[trial_id] = run.info.run_id
        return run.info.run_id

    def known_children(self) -> dict[str, str]:
        """Trial id -> child run id of this invocation's trials already in the store, read in one paged search
        on first use (one writer per invocation: a second driver is refused), not one search per trial."""
        if self._children is None:
            self._children, token = {}, None
            while True:
                page = self.client.search_runs(
                    [self.experiment_id], f"tags.`jdnas.experiment` = {literal(self.experiment_name)} and "
                    "tags.`jdnas.role` = 'trial'", max_results=1000, order_by=["attributes.start_time ASC"],
                    page_token=token)
                for run in page:
                    self._children.setdefault(run.data.tags["jdnas.trial_id"], run.info.run_id)
                if not (token := page.token):
                    return self._children
        return self._children

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = [Param(k, json.dumps(v) if isinstance(v, (list, dict)) else str(v))
                 for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def last_logged_epoch(self, run_id: str) -> int:
        if run_id not in self._last_step:
            history = self.client.get_metric_history(run_id, "epoch")
            self._last_step[run_id] = max((int(m.step) for m in history), default=0)
        return self._last_step[run_id]

    def log_epochs(self, run_id: str, results: Iterable[Mapping[str, Any]]) -> int:
        """Log each result (one per epoch) not yet in the store; returns how many were sent. Whole epochs go
        together in as few log_batch calls as fit (a round trip per run, not per epoch, once results queue)."""
        sent, batch = 0, []
        for result in sorted(results, key=lambda r: r.get("epoch", r.get("training_iteration", 0))):
            epoch = int(result.get("epoch", result.get("training_iteration", 0)))
            if epoch <= max(self.last_logged_epoch(run_id), batch[-1][0] if batch else 0):
                continue
            stamp = int(result.get("timestamp", time.time()) * 1000)
            metrics = [Metric(k, v, stamp, epoch) for k, v in numeric_metrics(result).items()]
            if batch and sum(len(m) for _, m in batch) + len(metrics) > BATCH:
                sent += self._send_epochs(run_id, batch)
                batch = []
            batch.append((epoch, metrics))
        return sent + (self._send_epochs(run_id, batch) if batch else 0)

    def _send_epochs(self, run_id: str, batch: list[tuple[int, list[Metric]]]) -> int:
        """One call for these epochs (more only for an epoch over BATCH metrics); the step is marked sent after."""
        metrics = [m for _, epoch_metrics in batch for m in epoch_metrics]
        for i in range(0, len(metrics), BATCH):
            self.client.log_batch(run_id, metrics=metrics[i:i + BATCH])
        self._last_step[run_id] = batch[-1][0]
        return len(batch)

    def finish_trial(self, run_id: str, status: str, last_result: Mapping[str, Any] | None,
                     checkpoint_dir: str | None, error: str | None = None) -> None:
        tags = [RunTag(k, str(last_result[k])) for k in RESULT_STRINGS if last_result and k in last_result]
        if error:
            tags.append(RunTag("jdnas.error", error[:5000]))
        if tags:
            self.client.log_batch(run_id, tags=tags)
        if checkpoint_dir:
            for name in ARTIFACT_FILES:
                if (Path(checkpoint_dir) / name).exists():
                    self.client.log_artifact(run_id, str(Path(checkpoint_dir) / name))
            self.log_model(run_id, checkpoint_dir)
        self.client.set_terminated(run_id, status)

    def log_model(self, run_id: str, checkpoint_dir: str) -> None:
        """The trial's network as the run's MLflow model; a failure costs the model, not the run's results."""
        try:
            log_trial_model(self.tracking_uri, run_id, checkpoint_dir)
        except Exception as err:  # noqa: BLE001 - weights and metrics are logged already
            self.client.get_run(run_id)  # an unreachable store raises here: the ending is kept and retried
            print(f"[jdnas] could not log the MLflow model of run {run_id} ({type(err).__name__}: "
                  f"{str(err)[:300]}); `jdnas best` logs it again from model.pt", flush=True)

    def finish_parent(self, run_id: str, status: str, artifacts: Iterable[Path] = ()) -> None:
        for path in artifacts:
            if Path(path).exists():
                self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(run_id, status)


class MLflowCallback(tune.Callback):
    """Streams trial results to MLflow from the driver. Tune's callbacks only queue; one sender thread writes,
    so a slow or unreachable store never holds up Tune's loop, and results that queued meanwhile go to MLflow
    together (one log_batch per run per round). While the store is unreachable the queue waits with back-off."""

    retry_interval_s = 2.0       # first retry after a failed send; doubles up to max_retry_interval_s
    max_retry_interval_s = 30.0

    def __init__(self, tracking_uri: str, sweep_name: str, experiment_name: str, parent_run_id: str,
                 artifact_root: str | None = None, tags: Mapping[str, str] | None = None):
        self.binding = dict(tracking_uri=tracking_uri, sweep_name=sweep_name, experiment_name=experiment_name,
                            parent_run_id=parent_run_id, artifact_root=artifact_root, tags=dict(tags or {}))
        self._reset()

    def _reset(self) -> None:
        b = self.binding
        self.tracker = SweepTracker(b["tracking_uri"], b["sweep_name"], b["experiment_name"], b["artifact_root"])
        self.runs: dict[str, str] = {}                  # trial id -> child run id
        self.pending: dict[str, list[dict]] = {}        # trial id -> results not yet sent (oldest first)
        self.endings: dict[str, tuple] = {}             # trial id -> (status, last result, checkpoint, error)
        self.trials: dict[str, Any] = {}
        self.dirty: set[str] = set()                    # trials with a run to open, results or an ending to send
        self._offline_since: float | None = None
        self._retry_after = self.retry_interval_s
        self._state = threading.Condition()             # guards the queues above; wakes the sender
        self._sending = threading.Lock()                # held by the sender for a whole round
        self._force = self._stopping = False
        self._sender: threading.Thread | None = None

    # Tune pickles callbacks into the experiment state; keep only where to log, not live clients or threads.
    def __getstate__(self):
        return {"binding": self.binding}

    def __setstate__(self, state):
        self.binding = state["binding"]
        self._reset()

    @property
    def unsent(self) -> int:
        with self._state:
            return sum(len(v) for v in self.pending.values()) + len(self.endings)

    def _queue(self, trial, result: dict | None = None, force: bool = False) -> None:
        with self._state:
            self.trials[trial.trial_id] = trial
            self.dirty.add(trial.trial_id)
            queue = self.pending.setdefault(trial.trial_id, [])
            if result is not None:
                queue.append(result)
            self._force |= force
            self._state.notify()
        if self._sender is None:
            self._sender = threading.Thread(target=self._send_loop, name="jdnas-mlflow-sender", daemon=True)
            self._sender.start()

    def _send_loop(self) -> None:
        while self._next_round():
            with self._sending:
                self._send_round()

    def _next_round(self) -> bool:
        """Wait until something is queued and the back-off (after a failed round) has passed, or a trial ended."""
        with self._state:
            while not self._stopping:
                has_work = bool(self.dirty)
                retry_in = (self._offline_since + self._retry_after - time.time()) if self._offline_since else 0.0
                if self._force or (has_work and retry_in <= 0):
                    self._force = False
                    return True
                self._state.wait(retry_in if has_work else None)
            return False

    def _send_round(self) -> None:
        """One pass over the trials: open their runs, send their queued results, then their endings."""
        try:
            with self._state:
                trials = [(trial_id, self.trials[trial_id]) for trial_id in self.dirty]
            for trial_id, trial in trials:  # only those with work: a round costs the same at 10 or 1,000 trials
                if trial_id not in self.runs:
                    config = effective_config(trial.config)
                    self.runs[trial_id] = self.tracker.child_run(
                        self.binding["parent_run_id"], trial_id, run_label(trial), config,
                        {**self.binding["tags"], **{k: str(config[k]) for k in ("dataset",) if k in config}})
                run_id = self.runs[trial_id]
                with self._state:
                    results = list(self.pending.get(trial_id, ()))
                if results:
                    self.tracker.log_epochs(run_id, results)
                    with self._state:
                        del self.pending[trial_id][:len(results)]  # what came in meanwhile stays queued
                with self._state:
                    ending = self.endings.get(trial_id) if not self.pending.get(trial_id) else None
                if ending is not None:  # kept until every part of it is written
                    self.tracker.finish_trial(run_id, *ending)
                    with self._state:
                        if self.endings.get(trial_id) is ending:
                            self._drop_ending(trial_id)
                with self._state:  # a result or ending that came in meanwhile keeps the trial in
                    if not self.pending.get(trial_id) and trial_id not in self.endings:
                        self.dirty.discard(trial_id)
            if self._offline_since:
                print(f"[jdnas] MLflow store {self.binding['tracking_uri']} reachable again; queued results sent",
                      flush=True)
            self._offline_since, self._retry_after = None, self.retry_interval_s
        except Exception as err:  # noqa: BLE001 - any transport error: keep the queue, keep training
            if self._offline_since is None:
                print(f"[jdnas] MLflow store {self.binding['tracking_uri']} unreachable ({type(err).__name__}: "
                      f"{str(err)[:200]}); trials go on, results are queued and resent", flush=True)
            else:
                self._retry_after = min(2 * self._retry_after, self.max_retry_interval_s)
            self._offline_since = time.time()
            log.warning("MLflow store unreachable; %d results unsent", self.unsent)

    def _drop_ending(self, trial_id: str) -> None:
        """The ending is in the store (or replaced by a later one): forget it and remove its checkpoint copy."""
        checkpoint_dir = self.endings.pop(trial_id)[2]
        if checkpoint_dir:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)

    def on_trial_start(self, iteration, trials, trial, **info):
        self._queue(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._queue(trial, dict(result))

    def _end(self, trial, status: str, error: str | None = None) -> None:
        checkpoint_dir = None
        checkpoint = trial.checkpoint
        if checkpoint is not None:
            checkpoint_dir = tempfile.mkdtemp(prefix="jdnas-artifacts-")
            try:
                checkpoint.to_directory(checkpoint_dir)
            except Exception:  # noqa: BLE001 - artifacts are a bonus; metrics matter more
                shutil.rmtree(checkpoint_dir, ignore_errors=True)
                checkpoint_dir = None
        ending = (status, dict(trial.last_result or {}), checkpoint_dir, error)
        with self._sending if trial.trial_id in self.endings else contextlib.nullcontext():
            with self._state:  # a retried trial ended again before its first ending was sent
                if trial.trial_id in self.endings:
                    self._drop_ending(trial.trial_id)
                self.endings[trial.trial_id] = ending
        self._queue(trial, force=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._end(trial, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._end(trial, "FAILED", trial_error_text(trial))

    def on_experiment_end(self, trials, **info):
        self.close()

    def close(self) -> None:
        """Wait for the queue to drain, resending with back-off for up to $JDNAS_MLFLOW_FINAL_WAIT_S (default
        120 s), then stop the sender; what is left is counted in `unsent` (the run then exits 4). Called at
        the experiment's end and again by the runner after an interrupt, when Tune may not call it."""
        if self._sender is None or not self._sender.is_alive():
            return
        deadline = time.time() + float(os.environ.get("JDNAS_MLFLOW_FINAL_WAIT_S", 120))
        with self._state:
            self._force = True
            self._state.notify()
        while self.unsent and time.time() < deadline:
            time.sleep(0.05)
        with self._state:
            self._stopping = True
            self._state.notify()
        self._sender.join(timeout=max(1.0, deadline - time.time()))
        if self.unsent:
            print(f"[jdnas] {self.unsent} results still unsent to {self.binding['tracking_uri']}", flush=True)
