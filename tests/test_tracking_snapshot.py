"""A head's tracking store kept off the head: snapshot a live MLflow SQLite store and its artifacts, lose
the head's files, restore them. Real MLflow (SQLite store), real files; the cluster-scale round trip
(2-node Ray, `mlflow server`, S3, registered versions) is in test_cluster.py."""
import shutil
import sqlite3
import subprocess
import sys
import threading

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.records.storage import resolve_storage
from orchestrator.tracking.snapshot import TrackingFiles, restore, snapshot


def make_store(root, runs=3):
    """An MLflow SQLite store with artifacts in a local folder, as `mlflow server` keeps them on a head."""
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    experiment = client.create_experiment("edge", artifact_location=str(root / "artifacts" / "edge"))
    made = {}
    for i in range(runs):
        run = client.create_run(experiment, run_name=f"trial-{i}")
        for step in (1, 2):
            client.log_metric(run.info.run_id, "val_acc", 10.0 * i + step, step=step)
        (root / f"model-{i}.pt").write_bytes(bytes([i]) * (1000 + i))
        client.log_artifact(run.info.run_id, str(root / f"model-{i}.pt"))
        client.set_terminated(run.info.run_id)
        made[run.info.run_id] = 10.0 * i + 2
    return client, experiment, made


def test_a_live_store_survives_the_loss_of_the_head_and_restore_refuses_to_overwrite(tmp_path):
    head = tmp_path / "head"
    head.mkdir()
    client, experiment, made = make_store(head)
    (head / "auth").mkdir()  # the basic-auth app's users, as `tracking-server --auth` keeps them
    with sqlite3.connect(head / "auth" / "basic_auth.db") as users:
        users.execute("CREATE TABLE users (username TEXT, password_hash TEXT)")
        users.execute("INSERT INTO users VALUES ('alice', 'pbkdf2:sha256:...')")
    files = TrackingFiles.of_server(f"sqlite:///{head}/mlflow.db", str(head / "artifacts"), head / "auth")
    target = resolve_storage(tmp_path / "snapshots")

    # a writer keeps logging while the snapshot reads: the copy is one consistent state, never a torn file
    writer_run = client.create_run(experiment, run_name="writing").info.run_id
    stop = threading.Event()

    def keep_writing():
        step = 0
        while not stop.is_set():
            step += 1
            client.log_metric(writer_run, "loss", 1.0 / step, step=step)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        first = snapshot(files, target)
    finally:
        stop.set()
        writer.join()
    assert first["artifacts"] == 3 and first["artifacts_copied"] == 3 and first["databases"]["mlflow.db"] > 0
    again = snapshot(files, target)  # artifacts are written once: the second snapshot copies none
    assert again["artifacts"] == 3 and again["artifacts_copied"] == 0
    first_run = next(iter(made))
    (head / "model-0.pt").write_bytes(b"retrained" * 300)  # unless one is logged again (a rebuilt report, say)
    client.log_artifact(first_run, str(head / "model-0.pt"))
    assert snapshot(files, target)["artifacts_copied"] == 1

    shutil.rmtree(head / "artifacts")  # the head is gone
    shutil.rmtree(head / "auth")
    (head / "mlflow.db").unlink()
    (tmp_path / "snapshots" / "artifacts" / ".model.pt.999.tmp").write_bytes(b"half")  # a killed upload's leftover
    done = restore(target, files)
    assert done["artifacts_fetched"] == 3

    restored = MlflowClient(f"sqlite:///{head}/mlflow.db")
    runs = {r.info.run_id: r for r in restored.search_runs([experiment])}
    assert set(made) <= set(runs) and writer_run in runs
    for run_id, last in made.items():
        assert runs[run_id].info.status == "FINISHED" and runs[run_id].data.metrics["val_acc"] == last
        assert [m.step for m in restored.get_metric_history(run_id, "val_acc")] == [1, 2]
        name, = [a.path for a in restored.list_artifacts(run_id)]
        index = int(name.split("-")[1].split(".")[0])
        (tmp_path / "dl").mkdir(exist_ok=True)
        local = restored.download_artifacts(run_id, name, str(tmp_path / "dl"))
        assert open(local, "rb").read() == (b"retrained" * 300 if index == 0 else bytes([index]) * (1000 + index))
    assert not list((head / "artifacts").rglob(".*tmp*"))
    assert oct((head / "mlflow.db").stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(head / "auth" / "basic_auth.db") as users:
        assert users.execute("SELECT username FROM users").fetchall() == [("alice",)]
    assert oct((head / "auth").stat().st_mode & 0o777) == "0o700"

    with pytest.raises(ValueError, match="already exist here; pass --force"):
        restore(target, files)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_restore_command_for_a_heads_start_up_is_a_no_op_without_a_snapshot_or_with_a_store(tmp_path):
    store = ["--backend-store-uri", f"sqlite:///{tmp_path}/head/mlflow.db", "--artifacts-destination",
             str(tmp_path / "head" / "artifacts"), "--auth-dir", str(tmp_path / "head" / "auth")]
    first_boot = cli("tracking-restore", "--from", str(tmp_path / "snaps"), "--if-missing", *store)
    assert first_boot.returncode == 0 and "nothing to restore" in first_boot.stdout, first_boot.stderr
    asked = cli("tracking-restore", "--from", str(tmp_path / "snaps"), *store)
    assert asked.returncode == 2 and asked.stderr.strip() == f"jdnas: error: no tracking snapshot at " \
                                                             f"{tmp_path}/snaps/snapshot.json"

    (tmp_path / "head").mkdir()
    make_store(tmp_path / "head", runs=1)
    snapshot(TrackingFiles.of_server(f"sqlite:///{tmp_path}/head/mlflow.db", str(tmp_path / "head" / "artifacts")),
             resolve_storage(tmp_path / "snaps"))
    kept = cli("tracking-restore", "--from", str(tmp_path / "snaps"), "--if-missing", *store)
    assert kept.returncode == 0 and "kept the tracking store already here" in kept.stdout
    refused = cli("tracking-restore", "--from", str(tmp_path / "snaps"), *store)
    assert refused.returncode == 2 and "--force" in refused.stderr and len(refused.stderr.splitlines()) == 1
    forced = cli("tracking-restore", "--from", str(tmp_path / "snaps"), "--force", *store)
    assert forced.returncode == 0 and "restored the tracking snapshot of" in forced.stdout, forced.stderr
