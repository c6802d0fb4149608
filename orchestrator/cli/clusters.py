"""The commands on a Ray cluster: `submit` (Ray Jobs API) and `local-cluster` (a multi-node Ray on this machine)."""
from __future__ import annotations

import argparse
import shutil
import signal
import time
from pathlib import Path

from orchestrator.cli.arguments import add_sweep_args, resolved_sweep
from orchestrator.cluster.job_package import stage
from orchestrator.cluster.jobs import run_command, submit, wait_for_job
from orchestrator.exits import EXIT_TIMEOUT, SUBMIT_EXIT_CODES_HELP, BadInput
from orchestrator.secrets_masking import check_no_password

def cmd_submit(args: argparse.Namespace) -> int:
    if args.timeout is not None and (not args.wait or args.timeout <= 0):
        raise BadInput(f"--timeout {args.timeout:g}: give seconds > 0, together with --wait")
    resolved = resolved_sweep(args)  # fail fast, locally
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
    from orchestrator.cluster.local import LocalCluster  # lazy: ~30 ms of --help's 50
    from orchestrator.cluster.ray_auth import token_hint

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


def add_commands(sub) -> None:
    p = sub.add_parser("submit", help="submit a sweep to a Ray cluster through the Jobs API",
                       epilog=SUBMIT_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sweep_args(p)
    p.add_argument("--address", required=True, help="Ray dashboard of the head, e.g. http://HEAD:8265")
    p.add_argument("--remote-workdir", default="~/jdnas", help="run folder on the head (default ~/jdnas)")
    p.add_argument("--scheduler", choices=["fifo", "asha"])
    p.add_argument("--allow-local-storage", action="store_true")
    p.add_argument("--wait", action="store_true", help="block until the job ends, however long; exit 0 if it "
                   "succeeded (an unanswering dashboard is asked again for up to 10 min)")
    p.add_argument("--timeout", type=float, help="with --wait: stop waiting after this many seconds (exit 124; "
                   "the job goes on)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("local-cluster", help="a multi-node Ray cluster on this machine, to try cluster commands")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--cpus-per-node", type=int, default=1)
    p.add_argument("--dashboard-port", type=int, default=8265)
    p.add_argument("--logs", default=".ray-local-cluster", help="folder for the nodes' logs")
    p.set_defaults(func=cmd_local_cluster)
