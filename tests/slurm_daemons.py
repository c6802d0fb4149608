"""A real one-node SLURM for the tests: Debian's munged, slurmctld and slurmd, each with its own key, config,
state and log folders under a temp dir and on free ports, so nothing of the machine's own set-up is used or
touched. Client commands (sbatch, squeue, scontrol) find it through $SLURM_CONF; stop() ends only these
daemons. Needs root (slurmd starts jobs as their owner) and `make slurm`."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from orchestrator.cluster.local import free_port, stop_process_groups

from .started import Started

NODE = "jdnas-node"

SLURM_CONF = """\
ClusterName=jdnastest
SlurmctldHost={host}(127.0.0.1)
MailProg=/bin/true
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={spool}/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.log
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={node} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


def have_slurm() -> bool:
    return os.geteuid() == 0 and all(shutil.which(b) for b in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch"))


class SlurmCluster(Started):
    """munged + slurmctld + slurmd for one node with `cpus` CPUs; `env` is what a client command needs."""

    def __init__(self, root: Path, cpus: int | None = None):
        self.root, self.cpus = Path(root), cpus or os.cpu_count() or 1
        self.processes: list[subprocess.Popen] = []
        # slurmstepd's sockets live in the spool: under pytest's deep tmp_path they pass the 108-byte limit
        self.spool = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                               start_new_session=True))

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o755, parents=True)
        subprocess.run(["mungekey", "--create", "--keyfile", str(munge / "munge.key")], check=True,
                       capture_output=True)
        self._spawn("munged", ["munged", "--foreground", "--force", "--key-file", str(munge / "munge.key"),
                               "--socket", str(munge / "munge.socket"), "--pid-file", str(munge / "munged.pid"),
                               "--log-file", str(munge / "munged.log"), "--seed-file", str(munge / "seed")])
        self._wait(lambda: (munge / "munge.socket").exists(), "munged's socket")

    def start(self) -> "SlurmCluster":
        (self.root / "state").mkdir(parents=True, exist_ok=True)
        self._start_munge()
        (self.root / "slurm.conf").write_text(SLURM_CONF.format(
            node=NODE, host=socket.gethostname().split(".")[0], root=self.root, spool=self.spool, cpus=self.cpus,
            ctld_port=free_port(), slurmd_port=free_port()))
        self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-f", str(self.root / "slurm.conf")])
        self._spawn("slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(self.root / "slurm.conf")])
        self._wait(self._node_idle, "the node idle in sinfo")
        return self

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=self.env)
        return out.stdout.strip() == "idle"

    def _wait(self, predicate, what: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.5)
        logs = {p.name: p.read_text()[-800:] for p in self.root.glob("*.log") if p.is_file()}
        logs.update({p.name: p.read_text()[-800:] for p in self.root.glob("*.out")})
        raise RuntimeError(f"SLURM test set-up: no {what} after {timeout} s; logs: {logs}")

    def job_state(self, job_id: str) -> str:
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                             env=self.env).stdout
        return next((f.split("=", 1)[1] for f in out.split() if f.startswith("JobState=")), "UNKNOWN")

    def completions(self) -> list[dict[str, str]]:
        """The jobcomp/filetxt log: one dict per ended job (JobId, JobState, ExitCode, ...)."""
        path = self.root / "jobcomp.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in lines]

    def stop(self) -> None:
        """Cancel every job first (slurmd's job steps outlive slurmd), then stop the daemons."""
        if self.processes and all(p.poll() is None for p in self.processes):
            subprocess.run(["scancel", "--full", "--user", "root"], env=self.env, capture_output=True)
            self._wait_quietly(lambda: not subprocess.run(["squeue", "-h"], capture_output=True, text=True,
                                                          env=self.env).stdout.strip(), 60)
        stop_process_groups(list(reversed(self.processes)), grace=10)
        shutil.rmtree(self.spool, ignore_errors=True)

    @staticmethod
    def _wait_quietly(predicate, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and not predicate():
            time.sleep(1)
