"""Nothing lost at the edges of a run: SIGTERM stops it like Ctrl-C and the same command resumes; a second
driver of the same experiment is refused naming the first; an edited sweep file is not resumed as the old
experiment; a failure after the run started exits 3 with its traceback in a log. Real Ray, real MLflow
(SQLite), real sweep files."""
import os
import signal
import socket
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.exits import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED

SWEEP = ("from search_spaces import Sweep\n"
         "EDGE = Sweep(name='edge', trainable='classifier', grid={{'lr': {lrs}}},\n"
         "             fixed={{'classifier': 'Conv-S', 'dataset': 'synthetic'}}, seeds=1)\n")
SMALL = ["--set", "train_size=256", "--set", "val_size=32", "--set", "test_size=64",
         "--set", "latency_min_run_time=0.02", "--set", "cpus_per_trial=1"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def command(tmp_path, *extra):
    return [sys.executable, "-m", "orchestrator.cli.main", "run", f"{tmp_path}/edge.py:EDGE", "--workdir", str(tmp_path),
            *SMALL, *extra]


def wait_for_text(log, text, driver, timeout=300):
    deadline = time.time() + timeout
    while text not in log.read_text():
        assert driver.poll() is None and time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)


def runs(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("edge")
    found = client.search_runs([experiment.experiment_id])
    return client, [r for r in found if r.data.tags["jdnas.role"] == "parent"], \
        [r for r in found if r.data.tags["jdnas.role"] == "trial"]


@pytest.mark.slow
def test_second_driver_refused_then_sigterm_then_the_same_command_resumes_without_duplicates(tmp_path):
    (tmp_path / "edge.py").write_text(SWEEP.format(lrs=[0.001, 0.002, 0.003]))
    # long enough that the first driver still runs after the second's refusal (up to 60 s below): 8 epochs
    # after the first, ~8 s each on a 2-core machine (Conv-S on 256 images: 0.3 s, and in CI the whole run had
    # ended before the SIGTERM)
    args = command(tmp_path, "--set", "epochs=3", "--set", "max_concurrent=1", "--set", "train_size=4000",
                   "--set", "classifier=Conv-L", "--set", "image_size=64")
    log = tmp_path / "first.log"
    first = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=ENV)
    try:
        wait_for_text(log, "epoch 1/3", first)
        started = time.time()
        second = subprocess.run(args, capture_output=True, text=True, timeout=120, env=ENV)
        assert second.returncode == EXIT_BAD_INPUT and time.time() - started < 60, second.stdout[-2000:]
        line, = second.stderr.strip().splitlines()  # one line, no traceback
        assert f"host {socket.gethostname()}, pid {first.pid}" in line and "being run by another driver" in line, line

        assert first.poll() is None, "the first driver ended before the test could interrupt it: " + log.read_text()[-800:]
        first.send_signal(signal.SIGTERM)  # what `ray job stop` or a scheduler's preemption sends
        assert first.wait(timeout=180) == EXIT_INTERRUPTED, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert "interrupted" in log.read_text()
    client, _, children = runs(tmp_path)
    assert len(children) < 3 or any(c.info.status != "FINISHED" for c in children)  # really cut short

    again = subprocess.run(args, capture_output=True, text=True, timeout=600, env=ENV)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming" in again.stdout and "finished: 3/3 trials" in again.stdout
    client, parents, children = runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(c.data.params["lr"] for c in children) == ["0.001", "0.002", "0.003"]
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "epoch")]
        assert steps == [1, 2, 3] and child.info.status == "FINISHED", (child.info.run_name, steps)


@pytest.mark.slow
def test_an_edited_sweep_file_is_not_resumed_as_the_old_experiment(tmp_path):
    (tmp_path / "edge.py").write_text(SWEEP.format(lrs=[0.001]))
    args = command(tmp_path, "--set", "epochs=1")
    first = subprocess.run(args, capture_output=True, text=True, timeout=600, env=ENV)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    parquet, = (tmp_path / "results").glob("edge-quick*/results.parquet")
    rows_before = pq.read_table(parquet).to_pylist()

    (tmp_path / "edge.py").write_text(SWEEP.format(lrs=[0.001, 0.01]))  # the user adds a grid point
    edited = subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)
    assert edited.returncode == EXIT_BAD_INPUT, edited.stdout[-2000:] + edited.stderr[-2000:]
    line, = edited.stderr.strip().splitlines()
    assert parquet.parent.name in line and "other trials (1 trials added)" in line and "--name NEW" in line, line
    assert "trials of" not in edited.stdout and pq.read_table(parquet).to_pylist() == rows_before


@pytest.mark.slow
def test_a_failure_after_the_run_started_exits_3_and_saves_its_traceback(tmp_path):
    (tmp_path / "edge.py").write_text(SWEEP.format(lrs=[0.001]))
    args = command(tmp_path, "--set", "epochs=1", "--name", "edge-broken")
    (tmp_path / "results" / "edge-broken" / "results.parquet").mkdir(parents=True)  # Parquet cannot be written
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == EXIT_INTERNAL, result.stdout[-3000:] + result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("jdnas: internal error: InternalError: could not write the results of edge-broken"), line
    log = line.rsplit("(traceback: ", 1)[1].rstrip(")")
    assert "Traceback (most recent call last)" in open(log).read() and "export_parquet" in open(log).read()
    assert log.startswith(str(tmp_path / "logs"))
