"""A real multi-node Ray cluster on one machine: a head and N-1 worker nodes, each a `ray start --block`
process with its own temp dir, ports and process group. For trying cluster commands locally
(`jdnas local-cluster`), for the cluster tests and for the scaling benchmark.

Killing one node's process group is a real node failure; `stop()` ends only this cluster's
processes (never `ray stop`, which would end every Ray process on the machine).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.cluster.ray_auth import LOOPBACK_ENV, TOKEN_ENV, auth_header, token_env


def stop_process_groups(processes: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM each process group, SIGKILL whatever is left after `grace` seconds; never raises for
    groups that are already gone."""
    def signal_group(process, sig):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    for process in processes:
        signal_group(process, signal.SIGTERM)
    deadline = time.time() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait(timeout=30)


def without_loopback_switch(env) -> dict:
    """`ray start --address` (a worker node) refuses to run under Ray's single-machine switch."""
    return {k: v for k, v in env.items() if k != LOOPBACK_ENV}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    root: Path
    nodes: int = 2
    cpus_per_node: int = 1
    separate_hosts: bool = False    # node i on 127.0.0.(i+2): Ray then sees as many hosts as nodes, as on a
                                    # real multi-machine cluster (still loopback only)
    object_store_bytes: int = 200 * 1024 ** 2
    env: dict = field(default_factory=dict)
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    processes: list = field(default_factory=list)
    temp_dirs: list = field(default_factory=list)

    def __post_init__(self):
        """Token auth always on: the caller's token in `env`, else the user's own, else a fresh one."""
        self.env = {**self.env, **token_env(self.env.get(TOKEN_ENV))}

    @property
    def token(self) -> str:
        return self.env[TOKEN_ENV]

    @property
    def client_env(self) -> dict[str, str]:
        """Environment for a driver or job client of this cluster."""
        return token_env(self.token)

    @property
    def address(self) -> str:
        """For `ray.init` / `jdnas run --address`."""
        return f"{self.node_ip(0)}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        """For the Jobs API / `jdnas submit --address`."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def node_ip(self, index: int) -> str:
        """A loopback address other than 127.0.0.1: `ray start` rewrites 127.0.0.1 (as a node address and in
        --address) to the machine's LAN address, and the nodes then reach each other through it."""
        return f"127.0.0.{index + 2}" if self.separate_hosts else "127.0.0.2"

    def _ray(self) -> str:
        """This Python's `ray` script; a venv that reuses the system's packages has none, PATH's then."""
        beside = Path(sys.executable).with_name("ray")
        return str(beside) if beside.exists() else shutil.which("ray") or str(beside)

    def _start_node(self, index: int) -> subprocess.Popen:
        name = "head" if index == 0 else f"worker{index}"
        # Ray's unix sockets live under the temp dir and cap its path length: keep it short, in /tmp
        temp_dir = Path(tempfile.mkdtemp(prefix=f"jdnas-{name}-"))
        self.temp_dirs.append(temp_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        # disjoint worker-port ranges per node, below the kernel's ephemeral range (32768+) where free_port()
        # picks the other components' ports, so the two can never collide
        base = 12000 + 1000 * ((index + os.getpid()) % 20)
        args = [self._ray(), "start", "--block", "--disable-usage-stats", "--temp-dir", str(temp_dir),
                "--num-cpus", str(self.cpus_per_node), "--num-gpus", "0", "--node-ip-address", self.node_ip(index),
                "--object-store-memory", str(self.object_store_bytes),
                "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port()),
                "--min-worker-port", str(base), "--max-worker-port", str(base + 999)]
        if index == 0:
            args += ["--head", "--port", str(self.gcs_port), "--include-dashboard", "true",
                     "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port)]
        else:
            args += ["--address", self.address]
        log = open(self.root / f"{name}.log", "w")
        # like a real node (cluster.yaml puts the venv on PATH): job entrypoints find `jdnas`
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**without_loopback_switch(os.environ), "PATH": path, **self.env})

    def alive_nodes(self) -> list[dict]:
        """Nodes the head sees alive (state API over the dashboard)."""
        request = urllib.request.Request(f"{self.dashboard_url}/api/v0/nodes?limit=100",
                                         headers=auth_header(self.token))
        with urllib.request.urlopen(request, timeout=5) as response:
            nodes = json.load(response)["data"]["result"]["result"]
        return [n for n in nodes if n["state"] == "ALIVE"]

    def wait_for_nodes(self, count: int, timeout: float = 120) -> list[dict]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                nodes = self.alive_nodes()
                if len(nodes) >= count:
                    return nodes
            except OSError:
                pass
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError(f"a Ray node exited during start-up; see {self.root}/*.log")
            time.sleep(1)
        raise TimeoutError(f"{count} Ray nodes not alive after {timeout} s; see logs in {self.root}")

    def start(self) -> "LocalCluster":
        self.processes.append(self._start_node(0))
        self.wait_for_nodes(1)
        self.processes += [self._start_node(i) for i in range(1, self.nodes)]
        self.wait_for_nodes(self.nodes)
        return self

    def worker_node_ids(self) -> list[str]:
        return [n["node_id"] for n in self.alive_nodes() if not n.get("is_head_node")]

    def kill_node(self, index: int) -> None:
        """A hard node failure: SIGKILL every process of that node, no chance to drain."""
        process = self.processes[index]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop(self, grace: float = 5.0) -> None:
        """Stop every node (a head drains for 30 s on SIGTERM, so SIGKILL follows after `grace`)."""
        stop_process_groups(list(reversed(self.processes)), grace)
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
