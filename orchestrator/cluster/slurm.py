"""`jdnas slurm`: a sweep as one SLURM batch job. This module writes the job's spec (what to run, on how many
nodes, where to track) and its sbatch script, and submits it; `orchestrator.cluster.slurm_job` is what runs inside
the allocation (Ray across the nodes, the tracking server, the driver, requeue on a stop signal).

The script asks for `--requeue` and `--signal=B:USR1@GRACE`: SLURM signals the job GRACE seconds before its
time limit, the job stops its sweep cleanly (Tune saves its state) and requeues itself; a preempted or
`scontrol requeue`d job comes back the same way. Run again, the job resumes the Tune experiment and finds
its MLflow runs again by their tags, so no trial runs twice and no run is duplicated.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

SBATCH_TEMPLATE = """\
#!/bin/bash
# Written by `jdnas slurm`: one jdnas sweep ({name}) on a Ray cluster spanning this job's nodes.
#SBATCH --job-name=jdnas-{name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task={cpus_per_node}
#SBATCH --output={log}
#SBATCH --open-mode=append
#SBATCH --requeue
#SBATCH --signal=B:USR1@{grace_s}
{options}
# No secret in this script: the Ray token is made inside the job, the tracking store's password comes from
# the environment or ~/.pgpass. The run folder and the Python below must be reachable from every node.
cd {workdir}
exec {python} -m orchestrator.cluster.slurm_job {spec}
"""


@dataclass
class SlurmJob:
    """Everything the job needs; written as JSON beside the script, read back inside the allocation."""
    name: str
    run_args: list[str]                 # `jdnas run SWEEP ...` arguments, without --address / --tracking-uri
    workdir: str
    nodes: int = 1
    cpus_per_node: int = 1
    gpus_per_node: int = 0
    time: str | None = None             # SLURM --time (e.g. 2:00:00)
    partition: str | None = None
    account: str | None = None
    sbatch: list[str] = field(default_factory=list)  # extra "#SBATCH" options, e.g. --mem=64G
    tracking_uri: str | None = None     # an existing MLflow server; else one is started on the head node
    backend_store_uri: str | None = None  # that server's store (default sqlite in the run folder)
    grace_s: int = 180                  # seconds before the time limit to stop and requeue
    python: str = sys.executable

    @property
    def folder(self) -> Path:
        return Path(self.workdir) / "slurm"

    def sbatch_options(self) -> list[str]:
        options = [f"--gpus-per-node={self.gpus_per_node}"] if self.gpus_per_node else []
        options += [f"--{key}={value}" for key, value in (("time", self.time), ("partition", self.partition),
                                                          ("account", self.account)) if value]
        return options + list(self.sbatch)

    def script(self) -> str:
        options = "\n".join(f"#SBATCH {shlex.join(shlex.split(option))}" for option in self.sbatch_options())
        return SBATCH_TEMPLATE.format(
            name=self.name, nodes=self.nodes, cpus_per_node=self.cpus_per_node, grace_s=self.grace_s,
            log=self.folder / f"{self.name}-%j.out", options=options, workdir=shlex.quote(self.workdir),
            python=shlex.quote(self.python), spec=shlex.quote(str(self.folder / f"{self.name}.json")))

    def write(self) -> Path:
        """The spec and the script in WORKDIR/slurm/; returns the script's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{self.name}.json").write_text(json.dumps(asdict(self), indent=1))
        script = self.folder / f"{self.name}.sbatch"
        script.write_text(self.script())
        return script

    @classmethod
    def load(cls, path: str | Path) -> "SlurmJob":
        return cls(**json.loads(Path(path).read_text()))


def check_job(job: SlurmJob) -> None:
    """Bad input fails here, in one line, before anything is submitted."""
    if job.nodes < 1 or job.cpus_per_node < 1 or job.gpus_per_node < 0:
        raise ValueError("--nodes and --cpus-per-node must be at least 1, --gpus-per-node at least 0")
    if job.tracking_uri and job.backend_store_uri:
        raise ValueError("pass --tracking-uri (a running server) or --backend-store-uri (for the server the job "
                         "starts), not both")
    if job.tracking_uri and not job.tracking_uri.startswith(("http://", "https://")):
        raise ValueError(f"--tracking-uri {job.tracking_uri!r}: a SLURM job logs to an MLflow server "
                         "(http://HOST:PORT); leave it out to start one on the head node")
    if job.backend_store_uri and urlsplit(job.backend_store_uri).password is not None:
        raise ValueError("--backend-store-uri: leave the password out (the job's spec is a file); the server "
                         "finds it in $PGPASSWORD (exported to the job) or ~/.pgpass")
    for option in job.sbatch:
        if not option.startswith("--"):
            raise ValueError(f"--sbatch {option!r}: give a long sbatch option, e.g. --sbatch=--mem=32G")


def slurm_command(argv: list[str]) -> str:
    """Run a SLURM client command; its error in one line if it fails or is missing."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ConnectionError(f"{argv[0]} not found: run this on a SLURM login node") from None
    if done.returncode != 0:
        raise ConnectionError(f"{' '.join(argv[:2])} failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout


def submit(job: SlurmJob) -> str:
    """Write and sbatch the job; returns its job id."""
    script = job.write()
    return slurm_command(["sbatch", "--parsable", str(script)]).strip().split(";")[0]


def status(name: str) -> str:
    return slurm_command(["squeue", "--name", f"jdnas-{name}", "-o", "%.10i %.9P %.30j %.8T %.10M %.6D %R"])


def cancel(name: str) -> str:
    slurm_command(["scancel", "--name", f"jdnas-{name}"])
    return f"cancelled the SLURM jobs named jdnas-{name}"
