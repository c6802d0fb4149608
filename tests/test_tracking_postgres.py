"""`jdnas tracking-server` on a real PostgreSQL (started here: tests/postgres_server.py): two sweeps running at
once log to the one server, every run and every epoch lands once (counted in the database's own tables), and
the database password shows up in no process's command line and in no log."""
import os
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cluster.local import LocalCluster, free_port, stop_process_groups
from orchestrator.secrets_masking import mask_uri, split_password

from .conftest import needs_fashion_mnist
from .postgres_server import PostgresServer, have_postgres
from .servers import wait_http
from .test_cluster import AUTH_ENV, TINY_SETS

needs_postgres = pytest.mark.skipif(not have_postgres(), reason="needs root and Debian's postgresql")


def test_the_password_leaves_the_uri_for_the_environment():
    uri, env = split_password("postgresql://ana:s%40cr%3At@db.lab:5433/mlflow?sslmode=require")
    assert uri == "postgresql://ana@db.lab:5433/mlflow?sslmode=require" and env == {"PGPASSWORD": "s@cr:t"}
    assert mask_uri("postgresql+psycopg2://ana:secret@db/mlflow") == "postgresql+psycopg2://ana:***@db/mlflow"
    assert split_password("postgresql://ana@db/mlflow") == ("postgresql://ana@db/mlflow", {})  # ~/.pgpass case
    with pytest.raises(ValueError, match="mysql://root:\\*\\*\\*@db/m"):
        split_password("mysql://root:secret@db/m")


def command_lines() -> str:
    return subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True).stdout


def epoch_rows(pg: PostgresServer) -> list[tuple[str, int]]:
    """(run name, step) of every `epoch` point in MLflow's metrics table, read with psql."""
    sql = ("SELECT r.name, m.step FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
           "WHERE m.key = 'epoch' ORDER BY r.name, m.step")
    out = subprocess.run([f"{pg.bin}/psql", pg.uri, "-At", "-F", ",", "-c", sql], capture_output=True, text=True,
                         env={**os.environ, "PGPASSWORD": pg.password}, check=True).stdout
    return [(name, int(step)) for name, step in (line.rsplit(",", 1) for line in out.splitlines())]


@pytest.fixture
def ray_cluster(tmp_path, monkeypatch):
    """One running Ray for both drivers: two Rays starting at once on a loaded 2-core machine miss Ray's
    30 s start-up limit."""
    for key, value in AUTH_ENV.items():
        monkeypatch.setenv(key, value)
    with LocalCluster(tmp_path / "ray", nodes=1, cpus_per_node=2) as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.cluster
@needs_postgres
@needs_fashion_mnist
def test_two_sweeps_log_once_each_to_one_server_on_postgresql(ray_cluster, tmp_path):
    with PostgresServer() as pg:
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        with_password = pg.uri.replace("jdnas@", f"jdnas:{pg.password}@")  # the case that must be stripped
        server = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli.main", "tracking-server", "--backend-store-uri", with_password,
             "--artifacts-destination", str(tmp_path / "artifacts"), "--port", str(port), "--workers", "2"],
            stdout=open(tmp_path / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(f"{uri}/health", timeout=120)
            drivers = [subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli.main", "run", "unet-width", "--tracking-uri", uri,
                 "--address", ray_cluster.address,
                 "--workdir", str(tmp_path / name), "--set", f"base_width={width}", "--set", "epochs=3", *TINY_SETS],
                stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT) for name, width in
                (("a", 4), ("b", 6))]
            seen = command_lines()
            while any(d.poll() is None for d in drivers):
                time.sleep(2)
                seen += command_lines()
            logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
            for path in [*tmp_path.glob("*.log"), *tmp_path.glob("*/logs/jdnas-error-*.log")]:
                print(f"--- {path}\n{path.read_text()[-4000:]}")  # pytest shows it whole on failure
            assert [d.returncode for d in drivers] == [0, 0]
            assert f"postgresql://jdnas:***@127.0.0.1:{pg.port}/mlflow" in logs["server.log"]
            assert pg.password not in seen and pg.password not in "".join(logs.values())
            assert f"postgresql://jdnas@127.0.0.1:{pg.port}/mlflow" in seen  # the server really ran on this store

            client = MlflowClient(uri)
            runs = client.search_runs([client.get_experiment_by_name("unet-width").experiment_id])
            parents = sorted(r.info.run_name for r in runs if r.data.tags["jdnas.role"] == "parent")
            children = sorted(r.info.run_name for r in runs if r.data.tags["jdnas.role"] == "trial")
            assert len(parents) == 2 and len(children) == 2, (parents, children)
            assert all(r.info.status == "FINISHED" for r in runs)
            a, b = sorted((r.info.start_time, r.info.end_time) for r in runs if r.data.tags["jdnas.role"] == "parent")
            assert b[0] < a[1]  # the two sweeps really wrote at the same time
            assert epoch_rows(pg) == [(name, step) for name in children for step in (1, 2, 3)]
        finally:
            stop_process_groups([server], grace=10)
