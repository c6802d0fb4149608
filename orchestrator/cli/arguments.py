"""The arguments several commands share (the sweep, where its records go) and what they resolve to."""
from __future__ import annotations

import argparse


def resolved_sweep(args: argparse.Namespace, check_models: bool = True):
    from orchestrator.cli.user_sweeps import resolve_args  # lazy, as every search_spaces import here: it loads torch (~1 s)

    if getattr(args, "max_latency_ms", None) is not None and args.command == "run":
        args.set = [*(args.set or []), f"max_latency_ms={args.max_latency_ms}"]
    return resolve_args(args, check_models)


def run_options(args: argparse.Namespace):
    from orchestrator.run.sweep import RunOptions  # lazy: Ray, MLflow, torch

    return RunOptions(address=args.address, tracking_uri=args.tracking_uri, storage=args.storage,
                      s3_endpoint=args.s3_endpoint, workdir=args.workdir,
                      scheduler=getattr(args, "scheduler", None),
                      allow_local_storage=getattr(args, "allow_local_storage", False),
                      verbose=getattr(args, "verbose", 1), num_gpus=getattr(args, "num_gpus", None))


def add_location_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", help="MLflow store (default $JDNAS_TRACKING_URI or sqlite:///WORKDIR/mlflow.db)")
    p.add_argument("--storage", help="Tune results: a path or s3://bucket/prefix (default $JDNAS_STORAGE or "
                                     "WORKDIR/results)")
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (or $JDNAS_S3_ENDPOINT)")
    p.add_argument("--workdir", default=".", help="run folder for the defaults and reports (default .)")


def add_sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep name (jdnas list) or FILE.py:VARIABLE")
    p.add_argument("--preset", default="quick", help="quick (laptop CPU) or paper (cluster)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field (repeatable); a,b,c for a grid axis")
    p.add_argument("--name", help="experiment name (default SWEEP-PRESET[-hash of --set])")
    add_location_args(p)
