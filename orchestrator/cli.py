"""jdnas: run the paper's sweeps on Ray Tune, track them in MLflow, rebuild the paper's tables.

  jdnas list                                 sweeps and presets
  jdnas run SWEEP [--preset quick] [--set key=value ...]
  jdnas plan SWEEP [--preset quick] [--gpus N | --cpus N]   trials, measured rates, time and packing
  jdnas report SWEEP [--preset quick]        tables + Pareto plots from the sweep's Parquet
  jdnas ui [SWEEP]                           MLflow UI on the store in use (prints the sweep's address)
  jdnas best SWEEP [--cost latency|flops]    register the Pareto-best trials in the MLflow Model Registry
  jdnas models [--json]                      FLOPs of the paper's models beside the paper's
  jdnas export --run-id ID [--int8]          a trial as a checked ONNX model (docs/deploy.md)
  jdnas lut bundle|import                    latency tables measured on a target device
  jdnas data list | download NAME [--dir D]  find and fetch the datasets
  jdnas slurm SWEEP [--nodes N] [--dry-run]   the sweep as a SLURM batch job (Ray across its nodes)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from .cluster import run_command, server_env, submit, tracking_server_argv, wait_for_job
from .job_package import stage
from .secrets_masking import check_no_password, mask_uri, split_password
from .tracking_auth import with_auth
from .data_cli import add_data_parser
from .deploy_cli import add_commands as add_deploy_commands  # export, lut bundle / import
from .exits import (EXIT_BAD_INPUT, EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TIMEOUT,
                    SUBMIT_EXIT_CODES_HELP,
                    BadInput, InternalError, save_traceback, stop_on_sigterm_like_ctrl_c)
from .slurm_cli import add_slurm_parser


def _resolved(args: argparse.Namespace, check_models: bool = True):
    from .user_sweeps import resolve_args  # lazy, as every search_spaces import here: it loads torch (~1 s)

    if getattr(args, "max_latency_ms", None) is not None and args.command == "run":
        args.set = [*(args.set or []), f"max_latency_ms={args.max_latency_ms}"]
    return resolve_args(args, check_models)


def cmd_models(args: argparse.Namespace) -> int:
    from trainables.models.catalog import flop_table, format_flop_table  # lazy: torch

    if args.size < 32:  # the classifiers halve the image five times
        raise BadInput(f"--size {args.size}: the table's classifiers need images of at least 32 x 32")
    shape = (args.channels, args.size, args.size)
    rows = flop_table(shape)
    print(json.dumps(rows, indent=1) if args.json else format_flop_table(rows, shape))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from search_spaces import PRESETS, all_sweeps, resolve  # lazy: torch (~1 s) stays off --help

    print(f"{'sweep':<20}{'trainable':<13}{'trials quick/paper':>20}  description")
    for sweep in all_sweeps():
        counts = "/".join(str(resolve(sweep, p, check_models=False).num_trials) for p in ("quick", "paper"))
        print(f"{sweep.name:<20}{sweep.trainable:<13}{counts:>20}  {sweep.description}")
    print("\npresets:")
    for name, values in PRESETS.items():
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return 0


def _options(args: argparse.Namespace):
    from .runner import RunOptions  # lazy: Ray, MLflow, torch

    return RunOptions(address=args.address, tracking_uri=args.tracking_uri, storage=args.storage,
                      s3_endpoint=args.s3_endpoint, workdir=args.workdir,
                      scheduler=getattr(args, "scheduler", None),
                      allow_local_storage=getattr(args, "allow_local_storage", False),
                      verbose=getattr(args, "verbose", 1), num_gpus=getattr(args, "num_gpus", None))


def cmd_run(args: argparse.Namespace) -> int:
    from .resources import check_local_resources  # lazy: torch

    # fields, values and resources fail here, before Ray and MLflow load; run_sweep's own resolve then builds
    # every trial's model, still before Ray starts (building them here as well doubled that work)
    resolved = _resolved(args, check_models=False)
    if args.address in (None, "local"):
        check_local_resources(resolved.sweep.name, resolved.run, args.num_gpus)
    from .runner import run_sweep  # lazy: Ray, MLflow (after the checks above)

    outcome = run_sweep(resolved.sweep, args.preset, resolved.overrides, _options(args), args.name)
    return outcome.exit_code


def cmd_plan(args: argparse.Namespace) -> int:
    from .plan import format_plan, make_plan  # lazy: torch

    if args.steps < 1:
        raise BadInput(f"--steps {args.steps}: time at least 1 training step per network")
    resolved = _resolved(args)
    plan = make_plan(resolved, gpus=args.gpus, cpus=args.cpus, steps=args.steps)
    print(json.dumps(plan.as_dict()) if args.json else format_plan(plan))
    if resolved.sweep.trainable == "nas_search" and not args.json:
        from .data_prep import prepare_data  # lazy: torch
        from .reachability import check_targets  # lazy: torch

        print("\n".join(check_targets(resolved, prepare_data(resolved))))  # SweepError: exit 2, the range named
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .locations import storage_for  # lazy: pyarrow (~0.1 s)
    from .report import write_report  # lazy: Ray, MLflow, torch
    from .results import read_parquet  # lazy: Ray, MLflow

    resolved = _resolved(args)
    workdir = Path(args.workdir).resolve()
    storage = storage_for(args.storage, args.s3_endpoint, workdir)
    if not storage.exists(resolved.name, "results.parquet"):
        print(f"no results for {resolved.name} in {storage.uri}; run `jdnas run {args.sweep} --preset {args.preset}`",
              file=sys.stderr)
        return 1
    path = write_report(resolved, read_parquet(storage, resolved.name), workdir / "reports" / resolved.name, storage)
    print(f"report written to {path}")
    return 0


def cmd_sync_mlflow(args: argparse.Namespace) -> int:
    from .locations import artifact_root_for, run_locations  # lazy: pyarrow (~0.1 s)
    from .sync import sync_mlflow  # lazy: Ray, MLflow

    resolved = _resolved(args)
    workdir = Path(args.workdir).resolve()
    uri, storage = run_locations(args.tracking_uri, args.storage, args.s3_endpoint, workdir)
    if not storage.exists(resolved.name):
        print(f"no Tune experiment {resolved.name} in {storage.uri}", file=sys.stderr)
        return 1
    counts = sync_mlflow(resolved, uri, storage, artifact_root=artifact_root_for(uri, workdir))
    print(f"synced {resolved.name} to {mask_uri(uri)}: {counts['trials']} trials, {counts['epochs_sent']} epochs sent, "
          f"{counts['runs_finished']} runs completed")
    return 0


def cmd_tracking_server(args: argparse.Namespace) -> int:
    store_uri, store_env = split_password(args.backend_store_uri)
    command = tracking_server_argv(store_uri, args.artifacts_destination, args.host, args.port,
                                   args.workers)
    env = {**server_env(), **store_env}
    if args.auth:
        command, env = with_auth(command, env, Path(args.auth_dir), args.admin_credentials)
    snapshots = None
    if args.snapshot_to:
        from .storage import resolve_storage  # lazy: pyarrow (~0.1 s)
        from .tracking_snapshot import TrackingFiles

        if args.snapshot_every <= 0:
            raise BadInput(f"--snapshot-every {args.snapshot_every}: give seconds > 0")
        snapshots = (TrackingFiles.of_server(store_uri, args.artifacts_destination, args.auth_dir if args.auth else None),
                     resolve_storage(args.snapshot_to, args.s3_endpoint))
    print(f"MLflow tracking server: {mask_uri(args.backend_store_uri)}, artifacts {args.artifacts_destination}, "
          f"http://{args.host}:{args.port}{' (basic auth: users and permissions)' if args.auth else ''}"
          + (f", snapshot to {snapshots[1].display()} every {args.snapshot_every:g} s" if snapshots else ""), flush=True)
    if store_env:
        print("jdnas: the password was taken out of the URI; set PGPASSWORD or use ~/.pgpass instead",
              file=sys.stderr)
    if snapshots:
        from .tracking_snapshot import serve_with_snapshots

        return serve_with_snapshots(command, env, *snapshots, args.snapshot_every)
    os.execvpe(command[0], command, env)


def cmd_tracking_restore(args: argparse.Namespace) -> int:
    from .storage import resolve_storage  # lazy: pyarrow (~0.1 s)
    from .tracking_snapshot import TrackingFiles, read_manifest, restore

    storage = resolve_storage(args.source, args.s3_endpoint)
    files = TrackingFiles.of_server(args.backend_store_uri, args.artifacts_destination, args.auth_dir)
    if args.if_missing:
        if read_manifest(storage) is None:
            print(f"no tracking snapshot at {storage.display()} yet: nothing to restore")
            return 0
        present = [str(p) for p in files.databases.values() if p.exists()]
        if present:
            print(f"kept the tracking store already here ({', '.join(present)})")
            return 0
    done = restore(storage, files, overwrite=args.force)
    print(f"restored the tracking snapshot of {done['taken_at']} (from {done['host']}): "
          f"{', '.join(done['databases']) or 'no database'}, {done['artifacts_fetched']} artifacts fetched "
          f"of {done['artifacts']}; start `jdnas tracking-server` with the same store to serve it")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    if args.timeout is not None and (not args.wait or args.timeout <= 0):
        raise BadInput(f"--timeout {args.timeout:g}: give seconds > 0, together with --wait")
    resolved = _resolved(args)  # fail fast, locally
    check_no_password(args.tracking_uri)
    sweep_arg, staging = args.sweep, None
    if ".py:" in sweep_arg:  # ship the user's sweep file (and its project's tracked files) with the job
        path, variable = sweep_arg.rsplit(":", 1)
        staging, inside = stage(Path(path))
        sweep_arg = f"{inside}:{variable}"
    entrypoint = run_command(sweep_arg, args.preset, args.set, tracking_uri=args.tracking_uri, storage=args.storage,
                             s3_endpoint=args.s3_endpoint, workdir=args.remote_workdir, scheduler=args.scheduler,
                             allow_local_storage=args.allow_local_storage, name=args.name)
    try:
        job_id = submit(args.address, entrypoint, resolved.name, staging and str(staging))
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"submitted {resolved.name} ({resolved.num_trials} trials) as job {job_id}\n"
          f"  runs   : {entrypoint}\n"
          f"  logs   : ray job logs --address {args.address} --follow {job_id}\n"
          f"  status : ray job status --address {args.address} {job_id}\n"
          f"  stop   : ray job stop --address {args.address} {job_id}   (submit again to resume)")
    if args.wait:
        status = wait_for_job(args.address, job_id, timeout=args.timeout)
        if status is None:
            print(f"job {job_id}: still running after --timeout {args.timeout:g} s; it goes on "
                  f"(ray job status --address {args.address} {job_id})")
            return EXIT_TIMEOUT
        print(f"job {job_id}: {status}")
        if status != "SUCCEEDED":
            from ray.job_submission import JobSubmissionClient  # lazy: Ray (~1.5 s)

            print("last lines of the job's log:\n" + JobSubmissionClient(args.address).get_job_logs(job_id)[-4000:])
        return 0 if status == "SUCCEEDED" else 1
    return 0


def cmd_local_cluster(args: argparse.Namespace) -> int:
    from .local_cluster import LocalCluster  # lazy: ~30 ms of --help's 50
    from .ray_auth import token_hint

    def stop_on_sigterm(signum, frame):  # `kill` must stop the nodes too: they live in their own sessions
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    cluster = LocalCluster(Path(args.logs).resolve(), nodes=args.nodes, cpus_per_node=args.cpus_per_node)
    if args.dashboard_port:
        cluster.dashboard_port = args.dashboard_port
    token_note = token_hint(cluster.token, cluster.root)
    with cluster:
        print(f"Ray cluster of {args.nodes} nodes x {args.cpus_per_node} CPUs on this machine (Ctrl-C stops it)\n"
              f"  jdnas run SWEEP --address {cluster.address}\n"
              f"  jdnas submit SWEEP --address {cluster.dashboard_url}\n"
              f"  node logs: {cluster.root}\n  {token_note}", flush=True)
        try:
            while all(p.poll() is None for p in cluster.processes):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from .locations import tracking_uri_for  # lazy: pyarrow (~0.1 s)
    from .ui_links import experiment_links  # lazy: MLflow

    uri = tracking_uri_for(args.tracking_uri, Path(args.workdir).resolve())
    store_uri, store_env = split_password(uri)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri, "--host", args.host,
               "--port", str(args.port)]
    env = {**server_env(), **store_env}
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI for {mask_uri(uri)} at {base}  (Ctrl-C to stop)", flush=True)
    sweep = args.sweep
    if sweep and ".py:" in sweep:
        from .user_sweeps import load_sweep  # lazy: search_spaces loads torch (~1 s)

        sweep = load_sweep(sweep).name
    for line in experiment_links(uri, base, sweep):
        print(line, flush=True)
    os.execvpe(command[0], command, env)


def cmd_best(args: argparse.Namespace) -> int:
    from .registry import finished_trial_runs, pareto_best, quality_metrics, register, search_front  # lazy
    from .locations import tracking_for  # lazy: pyarrow (~0.1 s)

    resolved = _resolved(args)
    uri = tracking_for(args.tracking_uri, Path(args.workdir).resolve())
    from mlflow import MlflowClient  # lazy: MLflow (~1 s)

    client = MlflowClient(uri, registry_uri=uri)
    runs = finished_trial_runs(client, resolved.sweep.name, resolved.name)
    quality = quality_metrics(runs, args.objective)
    if not runs or not quality:
        print(f"no finished trials of {resolved.name} with {args.objective} metrics in {mask_uri(uri)}; run "
              f"`jdnas run {args.sweep} --preset {args.preset}` first", file=sys.stderr)
        return 1
    optimize = resolved.sweep.optimize
    if optimize and optimize.reference:  # an architecture search registers the front its hypervolume scored
        quality = [m for m in optimize.metrics if m != optimize.constraint]
        cap = args.max_latency_ms if args.max_latency_ms is not None else resolved.base.get("max_latency_ms")
        best = search_front(runs, optimize, cap)
    else:
        best = pareto_best(runs, quality, args.cost, args.max_latency_ms)
    if not best:
        print(f"none of the {len(runs)} finished trials of {resolved.name} is under {args.max_latency_ms} ms",
              file=sys.stderr)
        return 1
    model_name = args.model_name or resolved.name
    register(client, uri, model_name, best, resolved.sweep.name, resolved.name)
    cost_key = "latency_ms" if args.cost == "latency" else "flops"
    print(f"{len(best)} Pareto-best of {len(runs)} finished trials of {resolved.name} "
          f"({' and '.join(quality)} up, {cost_key} down), registered as {model_name!r}:")
    print(f"  {'version':<8}{'trial':<40}" + "".join(f"{k:>12}" for k in (*quality, "MFLOPs", "latency_ms")))
    for trial in best:
        m = trial.metrics
        state = f"{trial.version}{' new' if trial.new else ''}"
        print(f"  {state:<8}{trial.label[:39]:<40}" + "".join(f"{m[k]:>12.3f}" for k in quality)
              + f"{m.get('flops', math.nan) / 1e6:>12.2f}{m.get('latency_ms', math.nan):>12.3f}")
    print(f"  device: {best[0].tags.get('latency_device', 'unknown')}; load one with "
          f"mlflow.pyfunc.load_model('models:/{model_name}/{best[0].version}')")
    return 0


def _add_location_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", help="MLflow store (default $JDNAS_TRACKING_URI or sqlite:///WORKDIR/mlflow.db)")
    p.add_argument("--storage", help="Tune results: a path or s3://bucket/prefix (default $JDNAS_STORAGE or "
                                     "WORKDIR/results)")
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (or $JDNAS_S3_ENDPOINT)")
    p.add_argument("--workdir", default=".", help="run folder for the defaults and reports (default .)")


def _add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep name (jdnas list) or FILE.py:VARIABLE")
    p.add_argument("--preset", default="quick", help="quick (laptop CPU) or paper (cluster)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field (repeatable); a,b,c for a grid axis")
    p.add_argument("--name", help="experiment name (default SWEEP-PRESET[-hash of --set])")
    _add_location_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jdnas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="sweeps and presets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run or resume a sweep", epilog=EXIT_CODES_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_sweep_args(p)
    p.add_argument("--address", help="Ray cluster: auto, ray://HOST:10001 (default: start a local Ray)")
    p.add_argument("--scheduler", choices=["fifo", "asha"], help="early stopping (asha) or none")
    p.add_argument("--allow-local-storage", action="store_true",
                   help="accept a path as storage on a cluster (an NFS mount shared by every node)")
    p.add_argument("--verbose", type=int, default=1, help="Tune verbosity 0-3 (default 1)")
    p.add_argument("--num-gpus", type=float, help="GPUs the local Ray offers (default: those torch sees)")
    p.add_argument("--max-latency-ms", type=float, help="architecture searches: hard latency cap (= --set "
                                                        "max_latency_ms=X)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plan", help="price a sweep before running it: measured rates, time per trial, wall time")
    _add_sweep_args(p)
    devices = p.add_mutually_exclusive_group()
    devices.add_argument("--gpus", type=int, help="wall time on N GPUs (packing per gpus_per_trial, else recommended)")
    devices.add_argument("--cpus", type=int, help="wall time on N CPU cores (default: this machine's)")
    p.add_argument("--steps", type=int, default=4, help="timed training steps per network (default 4)")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("report", help="rebuild the tables and plots of a sweep from its Parquet")
    _add_sweep_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sync-mlflow", help="send a sweep's results from Tune's storage to MLflow (what is missing)")
    _add_sweep_args(p)
    p.set_defaults(func=cmd_sync_mlflow)

    p = sub.add_parser("submit", help="submit a sweep to a Ray cluster through the Jobs API",
                       epilog=SUBMIT_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_sweep_args(p)
    p.add_argument("--address", required=True, help="Ray dashboard of the head, e.g. http://HEAD:8265")
    p.add_argument("--remote-workdir", default="~/jdnas", help="run folder on the head (default ~/jdnas)")
    p.add_argument("--scheduler", choices=["fifo", "asha"])
    p.add_argument("--allow-local-storage", action="store_true")
    p.add_argument("--wait", action="store_true", help="block until the job ends, however long; exit 0 if it "
                   "succeeded (an unanswering dashboard is asked again for up to 10 min)")
    p.add_argument("--timeout", type=float, help="with --wait: stop waiting after this many seconds (exit 124; "
                   "the job goes on)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("tracking-server", help="start an MLflow tracking server suited to a head node")
    p.add_argument("--backend-store-uri", default=f"sqlite:///{Path('~/jdnas/mlflow.db').expanduser()}",
                   help="sqlite:///PATH on local disk (default ~/jdnas/mlflow.db) or postgresql://...")
    p.add_argument("--artifacts-destination", default=str(Path("~/jdnas/mlartifacts").expanduser()),
                   help="local folder or s3://bucket/prefix (served through the server)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--workers", type=int, default=1,
                   help="uvicorn worker processes (default 1: with more, every request on a kept-alive connection "
                   "waits a 40 ms delayed ACK, measured in docs/testing.md; more only for CPU-bound stores)")
    p.add_argument("--auth", action="store_true", help="MLflow's basic-auth app: every request needs a user "
                   "(admin from $MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD or --admin-credentials; docs/security.md)")
    p.add_argument("--admin-credentials", help="file holding USER:PASSWORD of the admin, chmod 600")
    p.add_argument("--auth-dir", default=str(Path("~/jdnas/auth").expanduser()),
                   help="users and permissions database (default ~/jdnas/auth, kept 0700)")
    p.add_argument("--snapshot-to", help="keep the store where `ray down` does not reach: a path or "
                   "s3://bucket/prefix (SQLite databases and local artifacts; docs/security.md, restore below)")
    p.add_argument("--snapshot-every", type=float, default=300.0, help="seconds between snapshots (default 300; "
                   "one more when the server stops)")
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint of --snapshot-to (or $AWS_ENDPOINT_URL)")
    p.set_defaults(func=cmd_tracking_server)

    p = sub.add_parser("tracking-restore", help="bring a tracking-server snapshot back onto this (new) head")
    p.add_argument("--from", dest="source", required=True, help="what --snapshot-to named: a path or s3://...")
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint (or $AWS_ENDPOINT_URL)")
    p.add_argument("--backend-store-uri", default=f"sqlite:///{Path('~/jdnas/mlflow.db').expanduser()}",
                   help="where mlflow.db goes back (default ~/jdnas/mlflow.db, as tracking-server's)")
    p.add_argument("--artifacts-destination", default=str(Path("~/jdnas/mlartifacts").expanduser()))
    p.add_argument("--auth-dir", default=str(Path("~/jdnas/auth").expanduser()),
                   help="where the users' database goes back, if the snapshot has one")
    p.add_argument("--if-missing", action="store_true", help="restore only onto a head without a store, and "
                   "only if a snapshot exists (exit 0 either way): for a head's start-up commands")
    p.add_argument("--force", action="store_true", help="replace the databases already here")
    p.set_defaults(func=cmd_tracking_restore)

    p = sub.add_parser("local-cluster", help="a multi-node Ray cluster on this machine, to try cluster commands")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--cpus-per-node", type=int, default=1)
    p.add_argument("--dashboard-port", type=int, default=8265)
    p.add_argument("--logs", default=".ray-local-cluster", help="folder for the nodes' logs")
    p.set_defaults(func=cmd_local_cluster)

    p = sub.add_parser("ui", help="MLflow UI on the store in use")
    p.add_argument("sweep", nargs="?", help="print the address of this sweep's experiment (default: all)")
    p.add_argument("--tracking-uri")
    p.add_argument("--workdir", default=".")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("best", help="register a finished sweep's Pareto-best trials in the MLflow Model Registry")
    _add_sweep_args(p)
    p.add_argument("--objective", choices=["auto", "acc", "psnr", "both"], default="auto",
                   help="quality: test accuracy, test PSNR or both (default: what the trials measured)")
    p.add_argument("--cost", choices=["latency", "flops"], default="latency", help="cost axis (default latency)")
    p.add_argument("--max-latency-ms", type=float, help="only trials whose latency_ms is at most this")
    p.add_argument("--model-name", help="registered model name (default: the experiment name SWEEP-PRESET)")
    p.set_defaults(func=cmd_best)

    p = sub.add_parser("models", help="FLOP table of the paper's models beside the paper's numbers")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--size", type=int, default=96, help="input height and width (default 96)")
    p.add_argument("--channels", type=int, default=3)
    p.set_defaults(func=cmd_models)

    add_deploy_commands(sub, _add_location_args)
    add_data_parser(sub)
    add_slurm_parser(sub, _add_sweep_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `jdnas models --json | head` ends quietly
    stop_on_sigterm_like_ctrl_c()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("jdnas: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # one line for bad input; other errors name the log that holds their traceback
        from search_spaces import SweepError  # lazy: torch, only on an error
        from trainables.data import DatasetNotFound  # lazy: torch, only on an error

        # a ValueError counts as bad input only before the run started; after, the runner raises InternalError
        if not isinstance(err, InternalError) and isinstance(
                err, (BadInput, SweepError, DatasetNotFound, ConnectionError, ValueError)):
            print(f"jdnas: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        path = save_traceback(err, getattr(args, "workdir", "."))
        print(f"jdnas: internal error: {type(err).__name__}: {str(err)[:500]} (traceback: {path})", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
