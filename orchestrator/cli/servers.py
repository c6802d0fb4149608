"""The MLflow servers jdnas starts: `tracking-server` (for a head node), `tracking-restore`, and `ui`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orchestrator.cluster.jobs import server_env, tracking_server_argv
from orchestrator.exits import BadInput
from orchestrator.secrets_masking import mask_uri, split_password
from orchestrator.tracking.auth import with_auth

def cmd_tracking_server(args: argparse.Namespace) -> int:
    store_uri, store_env = split_password(args.backend_store_uri)
    command = tracking_server_argv(store_uri, args.artifacts_destination, args.host, args.port,
                                   args.workers)
    env = {**server_env(), **store_env}
    if args.auth:
        command, env = with_auth(command, env, Path(args.auth_dir), args.admin_credentials)
    snapshots = None
    if args.snapshot_to:
        from orchestrator.records.storage import resolve_storage  # lazy: pyarrow (~0.1 s)
        from orchestrator.tracking.snapshot import TrackingFiles

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
        from orchestrator.tracking.snapshot import serve_with_snapshots

        return serve_with_snapshots(command, env, *snapshots, args.snapshot_every)
    os.execvpe(command[0], command, env)


def cmd_tracking_restore(args: argparse.Namespace) -> int:
    from orchestrator.records.storage import resolve_storage  # lazy: pyarrow (~0.1 s)
    from orchestrator.tracking.snapshot import TrackingFiles, read_manifest, restore

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


def cmd_ui(args: argparse.Namespace) -> int:
    from orchestrator.records.locations import tracking_uri_for  # lazy: pyarrow (~0.1 s)
    from orchestrator.tracking.ui_links import experiment_links  # lazy: MLflow

    uri = tracking_uri_for(args.tracking_uri, Path(args.workdir).resolve())
    store_uri, store_env = split_password(uri)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri, "--host", args.host,
               "--port", str(args.port)]
    env = {**server_env(), **store_env}
    base = f"http://{args.host}:{args.port}"
    print(f"MLflow UI for {mask_uri(uri)} at {base}  (Ctrl-C to stop)", flush=True)
    sweep = args.sweep
    if sweep and ".py:" in sweep:
        from orchestrator.cli.user_sweeps import load_sweep  # lazy: search_spaces loads torch (~1 s)

        sweep = load_sweep(sweep).name
    for line in experiment_links(uri, base, sweep):
        print(line, flush=True)
    os.execvpe(command[0], command, env)


def add_commands(sub) -> None:
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

    p = sub.add_parser("ui", help="MLflow UI on the store in use")
    p.add_argument("sweep", nargs="?", help="print the address of this sweep's experiment (default: all)")
    p.add_argument("--tracking-uri")
    p.add_argument("--workdir", default=".")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_ui)
