"""A tracking server that misbehaves mid-sweep loses nothing: a fault-injecting proxy on 127.0.0.1 in front
of a real `mlflow server` answers 503s and drops connections for ~20 s, then recovers; before any
`sync-mlflow` every child run is FINISHED with each epoch exactly once and its model logged."""
import os
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.exits import EXIT_TRACKING
from orchestrator.tracking.models import logged_model

from .servers import FaultyProxy
from .test_cluster import TrackingServer, child_runs

EPOCHS = 4
TWO_TRIALS = ("from search_spaces import Sweep\n"
              "FLAKY = Sweep(name='flaky-store', trainable='classifier', grid={'lr': [0.001, 0.002]},\n"
              "              fixed={'classifier': 'Conv-S', 'dataset': 'synthetic'}, seeds=1)\n")
SMALL = ["--set", f"epochs={EPOCHS}", "--set", "train_size=256", "--set", "val_size=32", "--set", "test_size=64",
         "--set", "latency_min_run_time=0.02", "--set", "cpus_per_trial=1"]


@pytest.fixture
def tracking_server(tmp_path):
    (tmp_path / "tracking").mkdir()
    server = TrackingServer(tmp_path / "tracking")
    try:
        yield server.start(timeout=240)  # a loaded 2-core machine needs more than a minute
    finally:
        if server.process is not None:
            server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("trigger", ["/mlflow-artifacts/artifacts/", "/logged-models"])
def test_503s_and_dropped_connections_mid_sweep_lose_no_epoch_ending_or_model(tracking_server, tmp_path, trigger):
    """The fault starts in the middle of the first trial's ending (its first artifact upload, or its model)."""
    (tmp_path / "flaky.py").write_text(TWO_TRIALS)
    log = tmp_path / "driver.log"
    with FaultyProxy(tracking_server.uri, trigger, fault_s=20) as proxy:
        driver = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "run", f"{tmp_path}/flaky.py:FLAKY", "--workdir", str(tmp_path),
             "--tracking-uri", proxy.url, *SMALL],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=600)
        assert driver.returncode == 0, log.read_text()[-3000:]
    out = log.read_text()
    assert proxy.refused >= 4 and "unreachable" in out and "reachable again" in out, out[-3000:]
    assert "could not be sent" not in out  # nothing left for sync-mlflow

    client, parents, children = child_runs(tracking_server.uri, "flaky-store")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 2 and len({c.data.tags["jdnas.trial_id"] for c in children}) == 2
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "epoch")]
        assert steps == list(range(1, EPOCHS + 1)), (child.info.run_name, steps)
        assert child.info.status == "FINISHED" and "test_acc" in child.data.metrics
        assert logged_model(MlflowClient(tracking_server.uri), child.info.run_id) is not None
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"model.pt", "config.json"} <= artifacts, artifacts


@pytest.mark.slow
def test_an_outage_at_the_end_keeps_parquet_and_report_and_exits_4(tracking_server, tmp_path):
    """The store goes away when the exclusive latency phase starts, before its MLflow logging and the parent's
    closing: what was computed is on disk anyway, the exit code says MLflow is behind, sync-mlflow repairs."""
    (tmp_path / "flaky.py").write_text(TWO_TRIALS)
    log = tmp_path / "driver.log"
    args = ["run", f"{tmp_path}/flaky.py:FLAKY", "--workdir", str(tmp_path), "--tracking-uri", "URI",
            *SMALL, "--set", "exclusive_latency=true", "--name", "flaky-end"]
    with FaultyProxy(tracking_server.uri, trigger="never", fault_s=90) as proxy:
        args[5] = proxy.url
        driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", *args], stdout=open(log, "w"),
                                  stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + 500
        while "exclusive latency phase" not in log.read_text():
            assert driver.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        proxy.start_fault()
        assert driver.wait(timeout=300) == EXIT_TRACKING, log.read_text()[-3000:]
    out = log.read_text()
    assert "jdnas sync-mlflow" in out and proxy.refused >= 2
    rows = pq.read_table(tmp_path / "results" / "flaky-end" / "results.parquet").to_pylist()
    assert len(rows) == 2 and all(r["latency_source"] == "exclusive" for r in rows)
    assert (tmp_path / "reports" / "flaky-end" / "report.md").stat().st_size > 0

    args[5] = tracking_server.uri
    synced = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "sync-mlflow", *args[1:]],
                            capture_output=True, text=True, timeout=300)
    assert synced.returncode == 0, synced.stderr[-2000:]
    _, parents, children = child_runs(tracking_server.uri, "flaky-store")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED" and len(children) == 2
