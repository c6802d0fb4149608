"""A real PostgreSQL for the tests: Debian's server binaries, a fresh data dir (initdb) under /tmp owned by
the `postgres` user (the server refuses to run as root), listening on 127.0.0.1 on a free port, password
authentication (scram) for a database user made here. stop() ends this server only and removes its data."""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from orchestrator.cluster.local import free_port, stop_process_groups

from .started import Started

USER, DATABASE = "jdnas", "mlflow"


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def have_postgres() -> bool:
    return os.geteuid() == 0 and postgres_bin() is not None and shutil.which("runuser") is not None


class PostgresServer(Started):
    """`uri` has no password; `password` is what a client passes through PGPASSWORD."""

    def __init__(self):
        self.bin, self.port, self.password = postgres_bin(), free_port(), secrets.token_urlsafe(18)
        self.root = Path(tempfile.mkdtemp(prefix="i21pg-"))
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _as_postgres(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True,
                              text=True, **kwargs)

    def _psql(self, sql: str) -> None:
        self._as_postgres(str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-d", "postgres",
                          "-v", "ON_ERROR_STOP=1", "-f", "-", input=sql)  # stdin: the password stays off argv

    def start(self) -> "PostgresServer":
        shutil.chown(self.root, "postgres")
        data = self.root / "data"
        self._as_postgres(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                          "--auth-host=scram-sha-256")
        log = open(self.root / "server.log", "w")
        shutil.chown(self.root / "server.log", "postgres")
        self.process = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=60"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'server.log').read_text()[-1500:]}")
            time.sleep(0.5)
        self._psql(f"CREATE USER {USER} PASSWORD '{self.password}'")
        self._psql(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        return self

    def stop(self) -> None:
        if self.process:
            stop_process_groups([self.process], grace=10)
        shutil.rmtree(self.root, ignore_errors=True)
