"""The commands on one sweep: `list`, `run`, `plan`, `report`, `sync-mlflow`, `best`, and `models` (the paper's FLOPs)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from orchestrator.cli.arguments import add_sweep_args, resolved_sweep, run_options
from orchestrator.exits import EXIT_CODES_HELP, BadInput
from orchestrator.secrets_masking import mask_uri

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


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.run.resources import check_local_resources  # lazy: torch

    # fields, values and resources fail here, before Ray and MLflow load; run_sweep's own resolve then builds
    # every trial's model, still before Ray starts (building them here as well doubled that work)
    resolved = resolved_sweep(args, check_models=False)
    if args.address in (None, "local"):
        check_local_resources(resolved.sweep.name, resolved.run, args.num_gpus)
    from orchestrator.run.sweep import run_sweep  # lazy: Ray, MLflow (after the checks above)

    outcome = run_sweep(resolved.sweep, args.preset, resolved.overrides, run_options(args), args.name)
    return outcome.exit_code


def cmd_plan(args: argparse.Namespace) -> int:
    from orchestrator.run.plan import format_plan, make_plan  # lazy: torch
    from trainables.kinds import KINDS  # lazy: torch

    if args.steps < 1:
        raise BadInput(f"--steps {args.steps}: time at least 1 training step per network")
    resolved = resolved_sweep(args)
    plan = make_plan(resolved, gpus=args.gpus, cpus=args.cpus, steps=args.steps)
    print(json.dumps(plan.as_dict()) if args.json else format_plan(plan))
    if not KINDS[resolved.sweep.trainable].fixed_network and not args.json:
        from orchestrator.run.data import prepare_data  # lazy: torch
        from orchestrator.run.reachability import check_targets  # lazy: torch

        print("\n".join(check_targets(resolved, prepare_data(resolved))))  # SweepError: exit 2, the range named
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from orchestrator.records.locations import storage_for  # lazy: pyarrow (~0.1 s)
    from orchestrator.report.tables import write_report  # lazy: Ray, MLflow, torch
    from orchestrator.records.results import read_parquet  # lazy: Ray, MLflow

    resolved = resolved_sweep(args)
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
    from orchestrator.records.locations import artifact_root_for, run_locations  # lazy: pyarrow (~0.1 s)
    from orchestrator.tracking.sync import sync_mlflow  # lazy: Ray, MLflow

    resolved = resolved_sweep(args)
    workdir = Path(args.workdir).resolve()
    uri, storage = run_locations(args.tracking_uri, args.storage, args.s3_endpoint, workdir)
    if not storage.exists(resolved.name):
        print(f"no Tune experiment {resolved.name} in {storage.uri}", file=sys.stderr)
        return 1
    counts = sync_mlflow(resolved, uri, storage, artifact_root=artifact_root_for(uri, workdir))
    print(f"synced {resolved.name} to {mask_uri(uri)}: {counts['trials']} trials, {counts['epochs_sent']} epochs sent, "
          f"{counts['runs_finished']} runs completed")
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    from orchestrator.tracking.registry import finished_trial_runs, pareto_best, quality_metrics, register, search_front  # lazy
    from orchestrator.records.locations import tracking_for  # lazy: pyarrow (~0.1 s)

    resolved = resolved_sweep(args)
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


def cmd_models(args: argparse.Namespace) -> int:
    from trainables.models.catalog import flop_table, format_flop_table  # lazy: torch

    if args.size < 32:  # the classifiers halve the image five times
        raise BadInput(f"--size {args.size}: the table's classifiers need images of at least 32 x 32")
    shape = (args.channels, args.size, args.size)
    rows = flop_table(shape)
    print(json.dumps(rows, indent=1) if args.json else format_flop_table(rows, shape))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("list", help="sweeps and presets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run or resume a sweep", epilog=EXIT_CODES_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sweep_args(p)
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
    add_sweep_args(p)
    devices = p.add_mutually_exclusive_group()
    devices.add_argument("--gpus", type=int, help="wall time on N GPUs (packing per gpus_per_trial, else recommended)")
    devices.add_argument("--cpus", type=int, help="wall time on N CPU cores (default: this machine's)")
    p.add_argument("--steps", type=int, default=4, help="timed training steps per network (default 4)")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("report", help="rebuild the tables and plots of a sweep from its Parquet")
    add_sweep_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sync-mlflow", help="send a sweep's results from Tune's storage to MLflow (what is missing)")
    add_sweep_args(p)
    p.set_defaults(func=cmd_sync_mlflow)

    p = sub.add_parser("best", help="register a finished sweep's Pareto-best trials in the MLflow Model Registry")
    add_sweep_args(p)
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
