"""What runs inside a `jdnas slurm` allocation (the batch script execs `python -m orchestrator.cluster.slurm_job SPEC`).

On the first node: a Ray head, the MLflow tracking server (unless the job was given one) and the sweep's
driver (`jdnas run --address HEAD`); on the other nodes, one Ray worker each through `srun`. Two jobs that
share a node must not clash, so every Ray port is chosen when the node starts (free ports, and a worker-port
range claimed with a lock file), each node gets its own short temp dir (Ray's unix socket paths must stay
under 107 bytes; SLURM's $TMPDIR can be long) and a fresh Ray token is made for each run of the job and
handed to the nodes and the driver through the environment (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN).

Not `ray symmetric-run`: it refuses a node where any Ray runs already and ends with `ray stop`, which would
stop every other job's Ray on that node too.

A stop signal (SIGUSR1 from `--signal` before the time limit, SIGTERM on preemption or requeue) interrupts the
driver the way Ctrl-C does: Tune saves the experiment and `jdnas run` exits 130. After SIGUSR1 the job then
requeues itself; the next run resumes. The job's exit code is the driver's.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.cluster.local import free_port, stop_process_groups
from orchestrator.cluster.slurm import SlurmJob
from orchestrator.exits import EXIT_INTERRUPTED
from orchestrator.tracking.auth import admin_credentials

PORT_LOCKS = Path(tempfile.gettempdir()) / "jdnas-ray-ports"
WORKER_PORT_BLOCKS = 20      # 1,000-port worker ranges from 11000 up, below the kernel's ephemeral ports


def claim_worker_ports() -> tuple[IO, int]:
    """A 1,000-port range for Ray's workers no other jdnas node on this machine holds (a lock file, freed
    when this process ends, however it ends). Returns the open lock and the range's first port."""
    PORT_LOCKS.mkdir(mode=0o1777, parents=True, exist_ok=True)
    for block in range(WORKER_PORT_BLOCKS):
        lock = open(PORT_LOCKS / f"{block}.lock", "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock, 11000 + 1000 * block
        except BlockingIOError:
            lock.close()
    raise RuntimeError(f"all {WORKER_PORT_BLOCKS} Ray worker-port ranges on this node are taken")


@dataclass
class RayNode:
    """One `ray start --block` of this job, in its own process group, temp dir and port range."""
    process: subprocess.Popen
    temp_dir: str
    lock: IO

    def stop(self) -> None:
        stop_process_groups([self.process], grace=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.lock.close()


def start_ray_node(python: str, cpus: int, gpus: int, ip: str, log: Path, head_port: int | None = None,
                   address: str | None = None) -> RayNode:
    """A head (head_port given) or a worker joining `address`; every port picked here, none of Ray's defaults."""
    lock, base = claim_worker_ports()
    temp_dir = tempfile.mkdtemp(prefix=f"rj{os.environ.get('SLURM_JOB_ID', '')}-", dir=tempfile.gettempdir())
    ports = {flag: str(free_port()) for flag in ("--node-manager-port", "--object-manager-port",
                                                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                                                 "--runtime-env-agent-port", "--metrics-export-port")}
    argv = [str(Path(python).with_name("ray")), "start", "--block", "--disable-usage-stats", "--temp-dir", temp_dir,
            "--num-cpus", str(cpus), "--num-gpus", str(gpus), "--node-ip-address", ip,
            "--min-worker-port", str(base), "--max-worker-port", str(base + 999),
            *[item for pair in ports.items() for item in pair]]
    if head_port:
        argv += ["--head", "--port", str(head_port), "--ray-client-server-port", str(free_port()),
                 "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(free_port())]
    else:
        argv += ["--address", address]
    process = subprocess.Popen(argv, stdout=open(log, "a"), stderr=subprocess.STDOUT, start_new_session=True)
    return RayNode(process, temp_dir, lock)


def head_ip(nodes: int) -> str:
    """Loopback for a one-node job; else $JDNAS_SLURM_HEAD_IP or the address this host's name resolves to."""
    if nodes == 1:
        return "127.0.0.1"
    return os.environ.get("JDNAS_SLURM_HEAD_IP") or socket.gethostbyname(socket.getfqdn())


def wait_until(ready, what: str, processes: list[subprocess.Popen], timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"{what}: a process it needs exited")
        time.sleep(1)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")


def port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def wait_for_ray(address: str, count: int, head: subprocess.Popen, timeout: float = 300) -> None:
    """Until the head answers and `count` nodes are alive."""
    wait_until(lambda: port_open(address), "the Ray head", [head], timeout)
    import ray  # lazy: only the head's launcher talks to Ray

    ray.init(address=address, logging_level="error", log_to_driver=False)
    try:
        wait_until(lambda: sum(node["Alive"] for node in ray.nodes()) >= count, f"{count} Ray nodes", [head],
                   timeout)
    finally:
        ray.shutdown()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_workers(job: SlurmJob, address: str) -> list[subprocess.Popen]:
    """One Ray worker on each other node of the allocation, through srun (it inherits the token)."""
    if job.nodes == 1:
        return []
    others = job.nodes - 1
    argv = ["srun", f"--nodes={others}", f"--ntasks={others}", "--ntasks-per-node=1",
            f"--exclude={os.environ['SLURMD_NODENAME']}", "--kill-on-bad-exit=0",
            job.python, "-m", "orchestrator.cluster.slurm_job", "--worker", address, str(job.cpus_per_node),
            str(job.gpus_per_node)]
    log = open(job.folder / f"{job.name}-{os.environ.get('SLURM_JOB_ID', 'local')}-workers.log", "a")
    return [subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)]


def job_admin_credentials(job: SlurmJob) -> Path:
    """The job's tracking admin (USER:PASSWORD, mode 0600 in the job's folder): made once, so a requeued run
    logs in to the users database its first run created."""
    path = job.folder / f"{job.name}-tracking-admin"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"jdnas:{secrets.token_hex(24)}\n")
    return path


def start_tracking_server(job: SlurmJob) -> tuple[str, list[subprocess.Popen]]:
    """The job's MLflow server on the head, loopback only (the driver, on this node, is its one writer), with
    MLflow's basic auth (docs/security.md): other users of the node get a 401."""
    if job.tracking_uri:
        return job.tracking_uri, []
    port = free_port()
    store = job.backend_store_uri or f"sqlite:///{Path(job.workdir).resolve() / 'mlflow.db'}"
    credentials = job_admin_credentials(job)
    argv = [job.python, "-m", "orchestrator.cli.main", "tracking-server", "--backend-store-uri", store,
            "--artifacts-destination", str(Path(job.workdir).resolve() / "mlartifacts"), "--port", str(port),
            "--auth", "--auth-dir", str(job.folder / f"{job.name}-tracking-auth"), "--admin-credentials",
            str(credentials)]
    user, password = admin_credentials(credentials)
    os.environ.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)  # the driver's, never argv
    log = open(job.folder / f"{job.name}-tracking-server.log", "a")
    server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{uri}/health"), "the MLflow tracking server", [server], timeout=120)
    return uri, [server]


class StopSignals:
    """SIGUSR1 (time limit near) and SIGTERM (preemption, requeue, scancel) interrupt the driver like Ctrl-C;
    only SIGUSR1 asks the job to requeue itself (SLURM requeues a preempted job on its own)."""

    def __init__(self):
        self.driver: subprocess.Popen | None = None
        self.requeue = False
        self.install()

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requeue = self.requeue or signum == signal.SIGUSR1
        print(f"[jdnas slurm] {signal.Signals(signum).name}: stopping the sweep (Tune saves its state)", flush=True)
        if self.driver is None:  # still starting: unwind, so the nodes started so far are stopped
            raise SystemExit(EXIT_INTERRUPTED)
        if self.driver.poll() is None:
            self.driver.send_signal(signal.SIGINT)


def requeue_self() -> None:
    job_id = os.environ["SLURM_JOB_ID"]
    print(f"[jdnas slurm] requeueing job {job_id}: it resumes the sweep when it runs again", flush=True)
    subprocess.run(["scontrol", "requeue", job_id], check=False)


def run_head(job: SlurmJob) -> int:
    """The whole job on its first node; returns the driver's exit code."""
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))  # this run's token, not argv
    job_id = os.environ.get("SLURM_JOB_ID", "local")
    print(f"[jdnas slurm] job {job_id} (run {int(os.environ.get('SLURM_RESTART_COUNT', 0)) + 1}) on "
          f"{os.environ.get('SLURM_JOB_NODELIST', socket.gethostname())}", flush=True)
    if job.nodes == 1:  # Ray would advertise the host's network address; one node needs only loopback
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ip, port = head_ip(job.nodes), free_port()
    address = f"{ip}:{port}"
    head = start_ray_node(job.python, job.cpus_per_node, job.gpus_per_node, ip,
                          job.folder / f"{job.name}-{job_id}-head.log", head_port=port)
    others: list[subprocess.Popen] = []
    signals = StopSignals()
    try:
        others += start_workers(job, address)
        wait_for_ray(address, job.nodes, head.process)
        signals.install()  # again: ray.init put in its own
        uri, servers = start_tracking_server(job)
        others += servers
        print(f"[jdnas slurm] Ray at {address} ({job.nodes} node{'s' if job.nodes > 1 else ''}), MLflow at {uri}",
              flush=True)
        signals.driver = subprocess.Popen([job.python, "-m", "orchestrator.cli.main", *job.run_args, "--address", address,
                                           "--tracking-uri", uri], env={**os.environ, "PYTHONUNBUFFERED": "1"})
        code = signals.driver.wait()
    except RuntimeError as err:
        print(f"[jdnas slurm] could not start the cluster: {err}; logs in {job.folder}", flush=True)
        code = 1
    finally:
        stop_process_groups(list(reversed(others)), grace=10)
        head.stop()
    if signals.requeue and code == EXIT_INTERRUPTED:
        requeue_self()
    return code


def run_worker(address: str, cpus: str, gpus: str) -> int:
    """One srun task (its folder is the run folder): this node's Ray worker, until the job ends."""
    job_id = os.environ.get("SLURM_JOB_ID", "local")
    node = start_ray_node(sys.executable, int(cpus), int(gpus), socket.gethostbyname(socket.getfqdn()),
                          Path("slurm") / f"ray-worker-{job_id}-{socket.gethostname()}.log", address=address)
    signal.signal(signal.SIGTERM, lambda *_: node.stop())
    try:
        return node.process.wait()
    finally:
        node.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        return run_worker(*argv[1:4])
    return run_head(SlurmJob.load(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
