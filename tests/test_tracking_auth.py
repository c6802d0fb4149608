"""`jdnas tracking-server --auth`: a real MLflow basic-auth server. Anonymous calls are refused, a user
cannot delete another user's runs, a sweep with credentials logs as usual, and no password shows in `ps`
or in the server's log."""
import base64
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from orchestrator.cluster.local import free_port, stop_process_groups
from orchestrator.tracking.auth import admin_credentials

from .servers import wait_http

SWEEP = ("from search_spaces import Sweep\n"
         "TWO = Sweep(name='auth-sweep', trainable='classifier', grid={'classifier': ['Conv-S', 'MB1-S']},\n"
         "            fixed={'dataset': 'synthetic'}, seeds=1)\n")


def call(url: str, body: dict | None = None, user: tuple[str, str] | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(user).encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def command_lines() -> str:
    """Every process's full command line, as `ps -eww -o args` shows it (read where ps reads it)."""
    lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return "\n".join(lines)


@pytest.fixture
def auth_server(tmp_path):
    port, admin = free_port(), ("admin", secrets.token_urlsafe(16))
    log = tmp_path / "tracking-server.log"
    env = {**os.environ, "MLFLOW_AUTH_ADMIN_USERNAME": admin[0], "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1]}
    server = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "tracking-server", "--auth", "--auth-dir", str(tmp_path / "auth"),
         "--backend-store-uri", f"sqlite:///{tmp_path}/mlflow.db", "--artifacts-destination", str(tmp_path / "art"),
         "--port", str(port), "--workers", "1"], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
        start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=240)  # a loaded 2-core machine needs minutes
        yield f"http://127.0.0.1:{port}", admin, log
    finally:
        stop_process_groups([server], grace=10)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_an_auth_server_refuses_strangers_and_keeps_users_apart(auth_server, tmp_path, monkeypatch):
    uri, admin, log = auth_server
    api = f"{uri}/api/2.0/mlflow"
    assert call(f"{api}/experiments/search?max_results=1") == 401  # anonymous
    assert call(f"{api}/experiments/search?max_results=1", user=(admin[0], "wrong")) == 401
    alice, bob = ("alice", secrets.token_urlsafe(16)), ("bob", secrets.token_urlsafe(16))
    for user in (alice, bob):
        assert call(f"{api}/users/create", {"username": user[0], "password": user[1]}, user=admin) == 200
    assert call(f"{api}/users/create", {"username": "eve", "password": "x" * 16}, user=bob) == 403  # not an admin

    (tmp_path / "two.py").write_text(SWEEP)
    run = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "run", f"{tmp_path}/two.py:TWO", "--tracking-uri", uri,
         "--workdir", str(tmp_path / "run"), "--set", "epochs=1", "--set", "train_size=128", "--set", "val_size=32",
         "--set", "test_size=32", "--set", "latency_min_run_time=0.02"],
        capture_output=True, text=True, timeout=1000,
        env={**os.environ, "MLFLOW_TRACKING_USERNAME": alice[0], "MLFLOW_TRACKING_PASSWORD": alice[1]})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert alice[1] not in run.stdout + run.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", alice[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", alice[1])
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("auth-sweep").experiment_id])
    parents = [r for r in runs if r.data.tags.get("jdnas.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("jdnas.role") == "trial"]
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}

    body = {"run_id": parents[0].info.run_id}
    assert call(f"{api}/runs/delete", body, user=bob) == 403  # bob reads alice's runs but may not delete them
    assert call(f"{api}/runs/get?run_id={parents[0].info.run_id}", user=bob) == 200
    assert client.get_run(parents[0].info.run_id).info.lifecycle_stage == "active"

    everything_visible = command_lines() + log.read_text()
    for password in (admin[1], alice[1], bob[1]):
        assert password not in everything_visible
    assert "--app-name basic-auth" in command_lines()  # the server was there to be looked at


def test_admin_credentials_come_from_the_environment_or_a_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="MLFLOW_AUTH_ADMIN_PASSWORD"):
        admin_credentials()
    secret = tmp_path / "admin"
    secret.write_text("root:s3cret-s3cret\n")
    secret.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others: chmod 600"):
        admin_credentials(secret)
    secret.chmod(0o600)
    assert admin_credentials(secret) == ("root", "s3cret-s3cret")
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "from-env-123456")
    assert admin_credentials() == ("admin", "from-env-123456")
