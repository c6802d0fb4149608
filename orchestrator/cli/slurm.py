"""`jdnas slurm SWEEP`: submit a sweep as a SLURM batch job (orchestrator.cluster.slurm), see its jobs, cancel them."""
from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.cli.arguments import add_sweep_args

SLURM_EXIT_CODES_HELP = """exit codes:
  0    submitted (with --dry-run: the script was printed; --status/--cancel: squeue/scancel answered)
  2    bad input or no SLURM here, refused before anything was submitted
The job's own exit code is the one `jdnas run` gives (0 all trials finished, 1 some failed, 130 interrupted:
a job stopped by its time limit requeues itself and resumes)."""


def run_args(args: argparse.Namespace, name: str, workdir: Path) -> list[str]:
    """The `jdnas run` the job's driver executes (the job adds --address and --tracking-uri)."""
    sweep = args.sweep
    if ".py:" in sweep:  # a user's sweep file: by absolute path, on the shared file system
        path, variable = sweep.rsplit(":", 1)
        sweep = f"{Path(path).resolve()}:{variable}"
    argv = ["run", sweep, "--preset", args.preset, "--name", name, "--workdir", str(workdir)]
    for item in args.set or []:
        argv += ["--set", item]
    for flag, value in (("--storage", args.storage), ("--s3-endpoint", args.s3_endpoint),
                        ("--scheduler", args.scheduler)):
        if value:
            argv += [flag, value]
    if not (args.storage or "").startswith("s3://"):
        argv.append("--allow-local-storage")  # the run folder is on the cluster's shared file system
    return argv


def cmd_slurm(args: argparse.Namespace) -> int:
    from orchestrator.cluster.slurm import SlurmJob, cancel, check_job, status, submit
    from orchestrator.cli.user_sweeps import resolve_args  # lazy: search_spaces loads torch (~1 s)

    resolved = resolve_args(args)  # bad input fails here, before sbatch
    if args.status or args.cancel:
        print(status(resolved.name) if args.status else cancel(resolved.name))
        return 0
    workdir = Path(args.workdir).resolve()
    job = SlurmJob(resolved.name, run_args(args, resolved.name, workdir), str(workdir), nodes=args.nodes,
                   cpus_per_node=args.cpus_per_node, gpus_per_node=args.gpus_per_node, time=args.time,
                   partition=args.partition, account=args.account, sbatch=args.sbatch or [],
                   tracking_uri=args.tracking_uri, backend_store_uri=args.backend_store_uri, grace_s=args.grace)
    check_job(job)
    if args.dry_run:
        print(job.script(), end="")
        return 0
    job_id = submit(job)
    print(f"submitted {resolved.name} ({resolved.num_trials} trials) as SLURM job {job_id}\n"
          f"  script : {job.folder / (resolved.name + '.sbatch')}\n"
          f"  log    : {job.folder / f'{resolved.name}-{job_id}.out'}\n"
          f"  status : squeue -j {job_id}   (or jdnas slurm {args.sweep} --status)\n"
          f"  stop   : scancel {job_id}   (submit again to resume)")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("slurm", help="submit a sweep as a SLURM batch job (Ray across its nodes)",
                       epilog=SLURM_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_sweep_args(p)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--cpus-per-node", type=int, default=4)
    p.add_argument("--gpus-per-node", type=int, default=0)
    p.add_argument("--time", help="SLURM time limit, e.g. 12:00:00 (the job requeues itself before it)")
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--sbatch", action="append", metavar="OPTION", help="extra sbatch option (repeatable), "
                                                                       "e.g. --sbatch=--mem=64G")
    p.add_argument("--backend-store-uri", help="store of the tracking server the job starts (default "
                                               "sqlite:///WORKDIR/mlflow.db), e.g. postgresql://USER@HOST/DB")
    p.add_argument("--scheduler", choices=["fifo", "asha"])
    p.add_argument("--grace", type=int, default=180, help="seconds before the time limit to stop and requeue")
    p.add_argument("--dry-run", action="store_true", help="print the sbatch script, submit nothing")
    actions = p.add_mutually_exclusive_group()
    actions.add_argument("--status", action="store_true", help="this sweep's jobs (squeue)")
    actions.add_argument("--cancel", action="store_true", help="cancel this sweep's jobs (scancel)")
    p.set_defaults(func=cmd_slurm)
