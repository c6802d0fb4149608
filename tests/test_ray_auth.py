"""Every Ray jdnas starts asks for a token: a real local `jdnas run` and a real `jdnas local-cluster`, probed
while they run with job submissions to their job APIs on 127.0.0.1, with and without the token. All traffic
goes to loopback."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orchestrator.cluster.local import free_port, stop_process_groups
from orchestrator.run.sweep import ray_temp_dir

pytestmark = [pytest.mark.slow]

# a sweep on synthetic data long enough (~1 min) to probe while it runs
SLOW_SWEEP = ("from search_spaces import Sweep\n"
              "SLOW = Sweep(name='auth-probe', trainable='classifier',\n"
              "             fixed={'classifier': 'Conv-S', 'dataset': 'synthetic'}, seeds=1)\n")
SLOW_SETS = ["--set", "epochs=30", "--set", "train_size=512", "--set", "val_size=32", "--set", "test_size=32",
             "--set", "latency_min_run_time=0.02"]


def env_without_token(home: Path) -> dict:
    """No token of the user's: jdnas has to make one (HOME elsewhere hides ~/.ray/auth_token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    return {**env, "HOME": str(home), "PYTHONUNBUFFERED": "1"}


def submit_job(url: str, marker: Path, token: str | None) -> int:
    """POST a job that would create `marker`; returns the HTTP status."""
    body = json.dumps({"entrypoint": f"touch {marker}", "submission_id": f"probe-{time.time_ns()}"}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def assert_job_api_needs(url: str, token: str, tmp_path: Path) -> None:
    refused, accepted = tmp_path / "refused", tmp_path / "accepted"
    assert submit_job(url, refused, None) == 401
    assert submit_job(url, refused, "wrong-" + token) == 403
    assert submit_job(url, accepted, token) == 200
    deadline = time.time() + 90
    while not accepted.exists() and time.time() < deadline:
        time.sleep(0.5)
    assert accepted.exists(), "the authenticated job did not run"
    assert not refused.exists()  # the refused submissions executed nothing


def wait_for(predicate, what: str, process: subprocess.Popen, timeout: float = 180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        assert process.poll() is None, f"exited with {process.returncode} before {what}"
        time.sleep(0.5)
    raise TimeoutError(what)


def listening_addresses(session_id: int) -> set[str]:
    """Local addresses of the TCP listeners held by the processes of one session (from /proc)."""
    inodes = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getsid(int(pid)) != session_id:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except (OSError, ProcessLookupError):
            continue
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                addresses.add(fields[1].rsplit(":", 1)[0])
    return addresses


def ray_process_environ(session_id: int) -> dict:
    """The environment the driver gave the Ray processes it started (the driver's own /proc entry shows the
    environment it started with, not what it set later)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(pid) != session_id and os.getsid(int(pid)) == session_id:
                raw = Path(f"/proc/{pid}/environ").read_text()
                if "RAY_AUTH_TOKEN=" in raw:
                    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        except (OSError, ProcessLookupError):
            continue
    raise AssertionError("no Ray process of the run holds a token")


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1 in /proc/net/tcp and tcp6


def agent_port(temp_dir: str) -> int | None:
    files = list(Path(temp_dir, "session_latest").glob("dashboard_agent_listen_port_*"))
    text = files[0].read_text().strip() if files else ""
    return int(text) if text.lstrip("-").isdigit() else None  # -1: the agent could not bind its port


@pytest.mark.may_skip_in_ci  # only when another Ray holds port 52365; the token and loopback checks run first
def test_a_local_run_binds_loopback_and_its_job_api_needs_the_runs_token(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_SWEEP)
    workdir = tmp_path / "run"
    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "run", f"{tmp_path}/slow.py:SLOW",
                               "--workdir", str(workdir), *SLOW_SETS], stdout=open(tmp_path / "run.log", "w"),
                              stderr=subprocess.STDOUT, env=env_without_token(tmp_path), start_new_session=True)
    try:
        port = wait_for(lambda: agent_port(ray_temp_dir(workdir.resolve())), "Ray's agent port", driver)
        environ = ray_process_environ(driver.pid)
        token = environ["RAY_AUTH_TOKEN"]
        assert environ["RAY_AUTH_MODE"] == "token" and len(token) >= 32
        listeners = listening_addresses(driver.pid)
        assert listeners and listeners <= LOOPBACK, listeners
        assert not (tmp_path / ".ray" / "auth_token").exists()  # the token never went to a file
        if port == -1:  # Ray's agent port (52365) is fixed for ray.init; on a shared machine it may be taken
            pytest.skip("another Ray on this machine holds the dashboard agent's port 52365: job API not probed")
        assert_job_api_needs(f"http://127.0.0.1:{port}/api/job_agent/jobs/", token, tmp_path)
        assert driver.poll() is None, "the sweep ended before the probes did: make SLOW_SETS longer"
    finally:
        stop_process_groups([driver], grace=20)


def test_local_cluster_asks_for_its_token(tmp_path):
    logs, port = tmp_path / "logs", free_port()
    cluster = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "local-cluster", "--nodes", "1",
                                "--dashboard-port", str(port), "--logs", str(logs)],
                               stdout=open(tmp_path / "cluster.log", "w"), stderr=subprocess.STDOUT,
                               env=env_without_token(tmp_path), start_new_session=True)
    try:
        wait_for(lambda: "Ctrl-C" in (tmp_path / "cluster.log").read_text(), "the cluster's banner", cluster)
        token_file = logs / "auth_token"
        assert f"export RAY_AUTH_TOKEN_PATH={token_file}" in (tmp_path / "cluster.log").read_text()
        assert token_file.stat().st_mode & 0o077 == 0  # only its owner reads it
        token = token_file.read_text()
        assert token not in (tmp_path / "cluster.log").read_text()
        assert_job_api_needs(f"http://127.0.0.1:{port}/api/jobs/", token, tmp_path)
    finally:
        stop_process_groups([cluster], grace=20)


def test_no_file_of_the_project_switches_ray_auth_off():
    """Issue 18: nothing jdnas ships (code, benchmarks, scripts, tests, cluster configs) starts a Ray without a
    token. Read from git's list of tracked files, so a new file is covered without naming it here."""
    root = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=root, check=True).stdout.split()
    switched_off = []
    for name in tracked:
        if name.endswith((".py", ".sh", ".yaml", ".yml", ".toml")) or name in ("Makefile", ".ci/run"):
            text = (root / name).read_text(errors="replace")
            for needle in ('RAY_AUTH_MODE="disabled"', "RAY_AUTH_MODE=disabled", "RAY_AUTH_MODE='disabled'"):
                if needle in text and name != "tests/test_ray_auth.py":
                    switched_off.append(name)
    assert switched_off == []


def test_a_process_keeps_one_fresh_token_even_when_its_environment_is_reset(monkeypatch, tmp_path):
    """Ray's C++ side keeps the first token a process reads; a second local Ray of the same process (a notebook,
    this suite, which restores os.environ between tests) must get that token again, not a fresh one."""
    from orchestrator.cluster.ray_auth import MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV, use_token_auth

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token of the user's
    for name in (MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV):
        monkeypatch.delenv(name, raising=False)
    first = use_token_auth()
    assert os.environ[MODE_ENV] == "token" and os.environ[TOKEN_ENV] == first and len(first) == 64
    for name in (MODE_ENV, TOKEN_ENV):
        del os.environ[name]
    assert use_token_auth() == first
    assert not (tmp_path / ".ray" / "auth_token").exists()  # and no token file was written
