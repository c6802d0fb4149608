"""Run a sweep: validate it, load its data once, open its MLflow parent run, start or resume the Tune
experiment, then export Parquet and the report. Everything that can fail on bad input fails here,
before Ray starts.

Re-running the same command resumes: the Tune experiment is restored (`Tuner.restore`) and the
MLflow parent and child runs are found again by their tags.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import ray
from ray import tune

from search_spaces import ResolvedSweep, Sweep, get_sweep, resolve
from trainables.stages import total_epochs
from trainables.tune_trainables import TRAINABLES

from orchestrator.cluster.ray_auth import loopback_only, use_token_auth
from orchestrator.exits import BadInput, InternalError, failed_rows, failure_summary, run_exit_code, stop_on_sigterm_like_ctrl_c
from orchestrator.records.locations import artifact_root_for, run_locations
from orchestrator.records.results import ENDED, EndedTrials, export_parquet
from orchestrator.records.storage import Storage
from orchestrator.report.claims import parent_tags
from orchestrator.report.tables import best_rows, write_report
from orchestrator.run import exclusive_latency
from orchestrator.run.data import prepare_data
from orchestrator.run.fingerprint import check_same_trials, restore_base, save_trials
from orchestrator.run.input_checks import check_batches_fit, check_lut_devices
from orchestrator.run.lease import DriverLease
from orchestrator.run.optuna_search import search_algorithm
from orchestrator.run.pending import PendingTrialsReporter
from orchestrator.run.plan import estimate_for_run
from orchestrator.run.progress import ProgressCallback
from orchestrator.run.reachability import check_targets
from orchestrator.run.resources import check_local_resources
from orchestrator.secrets_masking import mask_uri
from orchestrator.tracking.runs import MLflowCallback, SweepTracker, software_tags
from orchestrator.tracking.search_score import HypervolumeCallback
from orchestrator.tracking.sweep_end import close_tracking


@dataclass
class RunOptions:
    address: str | None = None          # None: start a local Ray; "auto", "ray://host:10001", ...
    tracking_uri: str | None = None     # default $JDNAS_TRACKING_URI, else sqlite:///<workdir>/mlflow.db
    storage: str | None = None          # default $JDNAS_STORAGE, else <workdir>/results
    s3_endpoint: str | None = None      # default $JDNAS_S3_ENDPOINT: S3-compatible endpoint for s3:// storage
    workdir: str | Path = "."
    scheduler: str | None = None        # None | "asha"
    allow_local_storage: bool = False   # cluster runs normally need shared storage
    num_gpus: float | None = None       # GPUs a local Ray offers (default: those torch sees; virtual ones too)
    verbose: int = 1

    @property
    def is_local(self) -> bool:
        """The run starts (and stops) its own single-machine Ray."""
        return self.address in (None, "local")


@dataclass
class SweepOutcome:
    name: str
    results_uri: str
    parquet_uri: str
    report_path: Path | None
    tracking_uri: str
    parent_run_id: str
    rows: list[dict] = field(default_factory=list)
    complete: bool = True
    tracked: bool = True                # MLflow holds everything (else `jdnas sync-mlflow` sends the rest)

    @property
    def exit_code(self) -> int:
        """0 all trials finished, 1 some failed for good, 4 MLflow behind, 130 interrupted (orchestrator.exits)."""
        return run_exit_code(self.complete, len(failed_rows(self.rows)), self.tracked)


def ray_temp_dir(workdir: Path) -> str:
    """Ray's temp dir under the run folder; unix socket paths cap its length, so fall back to /tmp."""
    candidate = workdir / ".ray"
    if len(str(candidate)) > 40:
        candidate = Path(tempfile.gettempdir()) / f"jdnas-ray-{hashlib.sha1(str(workdir).encode()).hexdigest()[:8]}"
    return str(candidate)


def check_storage_for_cluster(storage: Storage, options: RunOptions) -> None:
    """Refuse a head-local storage path when the cluster spans several hosts: trials on the other
    hosts would write their checkpoints to their own disks, where no retry or resume can find them."""
    if storage.is_remote or options.allow_local_storage or options.is_local:
        return
    hosts = sorted({node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]})
    if len(hosts) > 1:
        raise BadInput(
            f"storage {storage.uri} is a path on the head node, but this cluster spans {len(hosts)} hosts "
            f"({', '.join(hosts)}): trials elsewhere could not save or restore checkpoints there. Pass "
            "--storage s3://bucket/prefix (with --s3-endpoint for S3-compatible stores), or an NFS path "
            "mounted on every node together with --allow-local-storage.")


def warn_if_trials_cannot_fit(resolved: ResolvedSweep, options: RunOptions) -> None:
    """On a cluster we do not shrink trials (an autoscaler may add big nodes), but say why nothing starts."""
    if options.is_local:
        return
    largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node["Alive"]), default=0)
    if resolved.run["cpus_per_trial"] > largest:
        print(f"[jdnas] trials ask for {resolved.run['cpus_per_trial']} CPUs but the largest node has {largest:g}: "
              "they wait for the autoscaler (or pass --set cpus_per_trial=N)", flush=True)


def start_ray(options: RunOptions, workdir: Path, data_bytes: int) -> bool:
    """Connect to (or start) Ray. Returns True if this call started it (and so should stop it)."""
    if ray.is_initialized():
        return False
    if options.is_local:
        use_token_auth()  # the job API and every Ray port ask for this run's token (orchestrator.cluster.ray_auth)
        object_store = int(min(max(256e6, 3 * data_bytes), 8e9))
        with loopback_only():
            ray.init(_temp_dir=ray_temp_dir(workdir), include_dashboard=False, object_store_memory=object_store,
                     log_to_driver=options.verbose > 1, logging_level="warning", num_gpus=options.num_gpus)
    else:
        ray.init(address=options.address, log_to_driver=options.verbose > 1, logging_level="warning")
    stop_on_sigterm_like_ctrl_c()  # ray.init's own handler would abort the driver, Tune's state unsaved
    return True


def _trainable(resolved: ResolvedSweep, data: dict, options: RunOptions):
    trainable = tune.with_parameters(TRAINABLES[resolved.sweep.trainable], data=data)
    cpus = resolved.run["cpus_per_trial"]
    if options.is_local and cpus > (os.cpu_count() or 1):
        print(f"[jdnas] this machine has {os.cpu_count()} CPUs: trials get {os.cpu_count()} instead of {cpus}")
        cpus = os.cpu_count() or 1
    return tune.with_resources(trainable, {"cpu": cpus, "gpu": resolved.run["gpus_per_trial"]})


def _param_space(resolved: ResolvedSweep, base: dict) -> dict:
    optimize = resolved.sweep.optimize
    if optimize is None:  # one grid axis of (grid point + seed) dicts, in launch order (costliest first)
        return {**base, "variant": tune.grid_search(resolved.trial_points)}
    return dict(base)  # the searcher holds the space (orchestrator.run.optuna_search)


def max_epochs(resolved: ResolvedSweep) -> int:
    """The longest trial's reported epochs (ASHA's max_t and the progress line; stages.total_epochs)."""
    return max(total_epochs(c) for c in resolved.trial_configs or [resolved.base])


def _tune_config(resolved: ResolvedSweep, options: RunOptions):
    run, sweep = resolved.run, resolved.sweep
    scheduler = None
    if options.scheduler == "asha":
        scheduler = tune.schedulers.ASHAScheduler(time_attr="training_iteration", metric=sweep.metric,
                                                  mode=sweep.mode, max_t=max_epochs(resolved), grace_period=1,
                                                  reduction_factor=2)
    elif options.scheduler not in (None, "fifo"):
        raise ValueError(f"unknown scheduler {options.scheduler!r}; choose asha or fifo")
    search_alg, num_samples = None, 1
    if sweep.optimize:
        search_alg = search_algorithm(sweep.optimize, run, resolved.base.get("max_latency_ms"))
        # latency_ms (an objective) comes with the last epoch only: Tune must not demand it from every epoch
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
        num_samples = resolved.num_trials
    return tune.TuneConfig(num_samples=num_samples, search_alg=search_alg, scheduler=scheduler,
                           max_concurrent_trials=run["max_concurrent"], reuse_actors=True,
                           trial_dirname_creator=lambda trial: trial.trial_id)


def open_tracking(resolved: ResolvedSweep, tracking_uri: str, workdir: Path) -> tuple[SweepTracker, MLflowCallback]:
    """The sweep's MLflow experiment and parent run (found again on resume), and the callback
    that streams trial results into child runs."""
    sweep = resolved.sweep
    artifact_root = artifact_root_for(tracking_uri, workdir)
    tracker = SweepTracker(tracking_uri, sweep.name, resolved.name, artifact_root)
    tags = {**software_tags(), "jdnas.preset": resolved.preset}
    params = {**resolved.base, **resolved.run, "grid": [dict(p) for p in sweep.products],
              "overrides": resolved.overrides}
    parent_run_id = tracker.parent_run(params, tags)
    return tracker, MLflowCallback(tracking_uri, sweep.name, resolved.name, parent_run_id, artifact_root, tags)


def build_tuner(resolved: ResolvedSweep, options: RunOptions, storage: Storage, data: dict, callbacks: list):
    """A new Tune experiment, or the stored one restored (finished trials kept, errored ones resumed)."""
    path, trainable = storage.join(resolved.name), _trainable(resolved, data, options)
    if tune.Tuner.can_restore(path, storage_filesystem=storage.filesystem):
        print(f"[jdnas] resuming {storage.display(resolved.name)}", flush=True)
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True, storage_filesystem=storage.filesystem,
                                   param_space=_param_space(resolved, restore_base(storage, resolved)))
        tuner._local_tuner.get_run_config().callbacks = callbacks  # re-bind: pickled callbacks are stale
        return tuner
    save_trials(storage, resolved)  # what a later run of this name must match to resume
    run_config = tune.RunConfig(
        name=resolved.name, storage_path=storage.path, storage_filesystem=storage.filesystem, callbacks=callbacks,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        failure_config=tune.FailureConfig(max_failures=resolved.run["max_failures"]),
        verbose=0 if options.verbose < 2 else options.verbose - 1)
    return tune.Tuner(trainable, param_space=_param_space(resolved, resolved.base),
                      tune_config=_tune_config(resolved, options), run_config=run_config)


def run_sweep(sweep: Sweep | str, preset: str = "quick", overrides: Mapping[str, Any] | None = None,
              options: RunOptions | None = None, name: str | None = None) -> SweepOutcome:
    """Run (or resume) a sweep end to end; see the module docstring."""
    options = options or RunOptions()
    sweep = get_sweep(sweep) if isinstance(sweep, str) else sweep
    resolved = resolve(sweep, preset, overrides, name)
    if options.is_local:
        check_local_resources(sweep.name, resolved.run, options.num_gpus)
    workdir = Path(options.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri, storage = run_locations(options.tracking_uri, options.storage, options.s3_endpoint, workdir)
    lease = DriverLease(storage, resolved.name).acquire()  # a second driver of this experiment stops here
    try:
        check_same_trials(storage, resolved)
        return run_held(resolved, options, workdir, tracking_uri, storage)
    finally:
        lease.release()


def watchers(resolved: ResolvedSweep, options: RunOptions, callback: MLflowCallback) -> list:
    """The callbacks that watch the run beside MLflow's and the ended trials': an architecture search's score after
    every trial, the progress lines, and on a cluster the trials that wait for nodes."""
    sweep, found = resolved.sweep, []
    if sweep.optimize and sweep.optimize.reference:
        found.append(HypervolumeCallback(sweep.optimize, resolved.base["max_latency_ms"], callback.binding["tracking_uri"],
                                         callback.binding["parent_run_id"]))
    if options.verbose == 1:
        found.append(ProgressCallback(resolved.num_trials, sweep.metric, max_epochs(resolved)))
    if not options.is_local:
        found.append(PendingTrialsReporter({"CPU": resolved.run["cpus_per_trial"], "GPU": resolved.run["gpus_per_trial"]},
                                           float(os.environ.get("JDNAS_PENDING_REPORT_S", 60))))
    return found


def run_held(resolved: ResolvedSweep, options: RunOptions, workdir: Path, tracking_uri: str,
             storage: Storage) -> SweepOutcome:
    """run_sweep's work while this driver holds the experiment's lease."""
    sweep, t0 = resolved.sweep, time.time()
    check_lut_devices(resolved)
    data = prepare_data(resolved)
    check_batches_fit(resolved, data)
    data_bytes = sum(d.train_images.nbytes + d.val_images.nbytes + d.test_images.nbytes for d in data.values())
    sources = ", ".join(f"{d.meta['dataset']} from {d.meta['source']}" for d in data.values())
    print(f"[jdnas] {resolved.name}: {resolved.num_trials} trials of {sweep.trainable!r} "
          f"({sweep.description or sweep.name}); data {sources} "
          f"{next(iter(data.values())).image_shape}, {data_bytes / 1e6:.0f} MB", flush=True)
    print(estimate_for_run(resolved, data, options.is_local), flush=True)  # what `jdnas plan` would say
    for line in check_targets(resolved, data):  # a NAS target out of reach fails here, before Ray starts
        print(line, flush=True)

    # num_to_keep forces a state snapshot per checkpoint: cheap here, and what makes a resume exact
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started_ray = start_ray(options, workdir, data_bytes)
    callback = None
    try:
        check_storage_for_cluster(storage, options)
        warn_if_trials_cannot_fit(resolved, options)
        tracker, callback = open_tracking(resolved, tracking_uri, workdir)
        ended = EndedTrials()
        build_tuner(resolved, options, storage, data, [callback, ended, *watchers(resolved, options, callback)]).fit()
        rows = ended.rows(storage, resolved.name)
        exclusive = exclusive_latency.run_phase(resolved, rows, storage, data, options.is_local)
    except (KeyboardInterrupt, BadInput):
        raise
    except Exception as err:  # after the run started nothing is bad input: exit 3, traceback in a log
        raise InternalError(f"{type(err).__name__}: {err}") from err
    finally:
        if callback is not None:  # what the sender still holds reaches MLflow, also after an interrupt
            callback.close()
        if started_ray:
            ray.shutdown()

    rows = exclusive_latency.apply_to_rows(rows, exclusive)  # the report reads these timings, never takes its own
    complete = all(r["status"] in ENDED for r in rows) and len(rows) >= resolved.num_trials
    try:  # what was computed is safe on disk first; MLflow extras come after
        parquet_uri = export_parquet(rows, storage, resolved.name)
        report_path = write_report(resolved, rows, workdir / "reports" / resolved.name, storage)
        report_tags = parent_tags(report_path.parent)  # the claims' verdicts, for the parent run
    except Exception as err:
        raise InternalError(f"could not write the results of {resolved.name}: {type(err).__name__}: {err}") from err
    tracked = close_tracking(tracker, callback, rows, bool(exclusive), complete, report_path, report_tags) \
        and not callback.unsent
    outcome = SweepOutcome(resolved.name, storage.display(resolved.name), parquet_uri, report_path, tracking_uri,
                           callback.binding["parent_run_id"], rows, complete, tracked)
    print_summary(outcome, resolved, time.time() - t0, callback.unsent)
    return outcome


def print_summary(outcome: SweepOutcome, resolved: ResolvedSweep, seconds: float, unsent: int) -> None:
    rows = outcome.rows
    errors = sum(r["status"] == "ERROR" for r in rows)
    ended = sum(r["status"] in ENDED for r in rows)  # the rows hold the pending trials too
    state = "finished" if outcome.complete else "interrupted (run the same command again to resume)"
    print(f"\n[jdnas] {outcome.name} {state}: {ended}/{resolved.num_trials} trials, {errors} errored, "
          f"{seconds / 60:.1f} min")
    for line in failure_summary(rows):
        print(line)
    for row in best_rows(rows, resolved.sweep.metric, resolved.sweep.mode, n=3):
        test = {k: row[k] for k in ("test_acc", "test_psnr", "test_ssim") if row.get(k) is not None}
        print(f"  best: {row['label']:<36} {resolved.sweep.metric}={row.get(resolved.sweep.metric, float('nan')):.3f} "
              + " ".join(f"{k}={v:.3f}" for k, v in test.items()))
    print(f"  results: {outcome.results_uri}\n  parquet: {outcome.parquet_uri}")
    if outcome.report_path:
        print(f"  report : {outcome.report_path}")
    shown = mask_uri(outcome.tracking_uri)  # a password in the URI never reaches the summary
    print(f"  MLflow : {shown} (experiment {resolved.sweep.name!r}, parent run {outcome.parent_run_id})")
    ui = shown if shown.startswith("http") else f"jdnas ui {resolved.sweep.name} --tracking-uri {shown}"
    print(f"  UI     : {ui}")
    if unsent or not outcome.tracked:
        print(f"  WARNING: {unsent} results could not be sent to MLflow; run `jdnas sync-mlflow {resolved.sweep.name}"
              f" --preset {resolved.preset}` once the server is reachable")
