"""Cluster helpers: submit a sweep through the Ray Jobs API, and the MLflow tracking server for a head node."""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # lean: 2 processes, ~0.5 GB instead of 9


def tracking_server_argv(backend_store_uri: str, artifacts_destination: str, host: str = "127.0.0.1",
                         port: int = 5000, workers: int = 1) -> list[str]:
    """`mlflow server` suited to a head node: SQLite (local disk, never NFS) or PostgreSQL behind it,
    artifacts proxied by the server (clients need no S3 credentials), bound to loopback by default.
    One uvicorn worker: with several, uvicorn hands the workers a listening socket created without its TCP
    protocol number, asyncio then leaves Nagle on, and each request on a kept-alive connection (MLflow's
    client keeps them) waits for a delayed ACK: 44 ms against 0.8 ms with one worker, measured."""
    if backend_store_uri.startswith("sqlite:///"):
        Path(backend_store_uri[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif not backend_store_uri.startswith(("postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://",
                                           "mysql://")):
        raise ValueError(f"backend store {backend_store_uri!r}: use sqlite:///ABSOLUTE/PATH.db or postgresql://...")
    if "://" not in artifacts_destination:
        Path(artifacts_destination).expanduser().mkdir(parents=True, exist_ok=True)
        artifacts_destination = str(Path(artifacts_destination).expanduser().resolve())
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri,
            "--artifacts-destination", artifacts_destination, "--serve-artifacts", "--host", host,
            "--port", str(port), "--workers", str(workers)]


def shell_word(part: str) -> str:
    """One shell word; a leading ~/ stays unquoted so the head's shell expands it (`~/'my dir'`)."""
    if part.startswith("~/") and part[2:]:
        return "~/" + shlex.quote(part[2:])
    return part if part in ("~", "~/") else shlex.quote(part)


def run_command(sweep: str, preset: str, sets: list[str], *, tracking_uri: str | None, storage: str | None,
                s3_endpoint: str | None, workdir: str, scheduler: str | None, allow_local_storage: bool,
                name: str | None = None) -> str:
    """The `jdnas run` command line the job executes on the cluster (driver on the head node); every part
    quoted, no credential in it (those travel in the job's environment, see job_env)."""
    parts = ["jdnas", "run", sweep, "--address", "auto", "--preset", preset, "--workdir", workdir]
    for item in sets or []:
        parts += ["--set", item]
    for flag, value in (("--tracking-uri", tracking_uri), ("--storage", storage), ("--s3-endpoint", s3_endpoint),
                        ("--scheduler", scheduler)):
        if value:
            parts += [flag, value]
    if allow_local_storage:
        parts.append("--allow-local-storage")
    if name:
        parts += ["--name", name]
    return " ".join(shell_word(p) for p in parts)


# credentials a job's driver needs, handed on through the job's environment, never its command line
JOB_CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def job_env() -> dict[str, str]:
    return {key: os.environ[key] for key in JOB_CREDENTIALS if os.environ.get(key)}


def submit(address: str, entrypoint: str, name: str, working_dir: str | None = None) -> str:
    """Submit the entrypoint as a Ray job; returns the job id."""
    from ray.job_submission import JobSubmissionClient  # lazy: Ray (~1.5 s); the CLI imports this module

    client = JobSubmissionClient(address)
    runtime_env = {"working_dir": working_dir} if working_dir else {}
    if job_env():
        runtime_env["env_vars"] = job_env()
    submission_id = f"jdnas-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return client.submit_job(entrypoint=entrypoint, submission_id=submission_id, runtime_env=runtime_env or None,
                             metadata={"jdnas.sweep": name})


def _transient(err: Exception) -> bool:
    """A dashboard that does not answer for a while (head restarting, network blip, 5xx), not a wrong job."""
    return isinstance(err, OSError) or (isinstance(err, RuntimeError) and "status code 5" in str(err))


def wait_for_job(address: str, job_id: str, timeout: float | None = None, poll: float = 2.0,
                 unreachable_s: float = 600.0) -> str | None:
    """Block until the job ends and return its final status name, or None after `timeout` seconds (the job
    runs on). Paper sweeps take days: no timeout by default. A dashboard that stops answering is asked again
    with back-off for up to `unreachable_s` seconds in a row before the error is raised."""
    from ray.job_submission import JobStatus, JobSubmissionClient  # lazy: Ray (~1.5 s), off --help

    deadline = None if timeout is None else time.monotonic() + timeout
    client, failing_since, backoff = None, None, poll
    while deadline is None or time.monotonic() < deadline:
        try:
            client = client or JobSubmissionClient(address)
            status = client.get_job_status(job_id)
        except Exception as err:  # noqa: BLE001 - sorted below: transient ones are retried
            if not _transient(err):
                raise
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > unreachable_s:
                raise ConnectionError(f"the Ray dashboard at {address} did not answer for {unreachable_s:g} s "
                                      f"({type(err).__name__}: {str(err)[:200]}); the job may still run: "
                                      f"ray job status --address {address} {job_id}") from None
            print(f"jdnas: the dashboard does not answer ({type(err).__name__}); asking again in {backoff:.0f} s",
                  file=sys.stderr, flush=True)
            client, backoff = None, min(backoff * 2, 60.0)
            time.sleep(backoff)
            continue
        failing_since, backoff = None, poll
        if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
            return status.value
        time.sleep(poll)
    return None


def server_env() -> dict[str, str]:
    return {**os.environ, **SERVER_ENV}
