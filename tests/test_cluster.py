"""Cluster scale on one machine with real parts: a multi-node Ray cluster (`ray start` processes, each
with its own temp dir), a real `mlflow server` started through `jdnas tracking-server`, a real
S3-compatible endpoint (moto in server mode), and real failures (killed node, killed driver,
stopped tracking server)."""
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient

from orchestrator.cluster.local import LocalCluster, free_port, stop_process_groups
from orchestrator.exits import EXIT_TRACKING

from .conftest import needs_fashion_mnist
from .servers import AWS_ENV, FaultyProxy, moto_s3, wait_http

ROOT = Path(__file__).resolve().parents[1]
TINY_SETS = ["--set", "seeds=1", "--set", "cpus_per_trial=1", "--set", "train_size=512", "--set", "val_size=64", "--set", "test_size=128",
             "--set", "latency_min_run_time=0.05", "--set", "batch_size=32"]
AUTH_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "jdnas-test-token-" + "0" * 16}


def jdnas(*args, timeout=900, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kwargs)


class TrackingServer:
    """`jdnas tracking-server` on a free port; stop() and start() again keep the same store."""

    def __init__(self, root, *extra):
        self.root, self.port, self.process, self.extra = root, free_port(), None, list(extra)

    @property
    def uri(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli.main", "tracking-server", "--backend-store-uri",
             f"sqlite:///{self.root}/mlflow.db", "--artifacts-destination", str(self.root / "artifacts"),
             "--port", str(self.port), "--workers", "1", *self.extra],
            stdout=open(self.root / "server.log", "a"), stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **AWS_ENV})
        wait_http(f"{self.uri}/health", timeout)
        return self

    def stop(self):
        stop_process_groups([self.process], grace=30)  # a --snapshot-to server snapshots after the stop


@pytest.fixture
def tracking_server(tmp_path):
    (tmp_path / "tracking").mkdir()
    server = TrackingServer(tmp_path / "tracking").start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    for key, value in AUTH_ENV.items():  # token auth on, as on a real cluster
        monkeypatch.setenv(key, value)
    with LocalCluster(tmp_path / "ray", nodes=2, cpus_per_node=1) as c:
        # the nodes know each other by a loopback address, so the tests' traffic never leaves loopback
        assert {n["node_ip"] for n in c.alive_nodes()} == {"127.0.0.2"}
        yield c


def child_runs(tracking_uri, experiment):
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    return client, [r for r in runs if r.data.tags.get("jdnas.role") == "parent"], \
        [r for r in runs if r.data.tags.get("jdnas.role") == "trial"]


def assert_complete_and_unique(client, children, trials, epochs, metric="test_acc"):
    assert len(children) == trials and len({c.data.tags["jdnas.trial_id"] for c in children}) == trials
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "epoch")]
        assert steps == list(range(1, epochs + 1)), (child.info.run_name, steps)
        assert child.info.status == "FINISHED" and {metric, "latency_ms"} <= child.data.metrics.keys()


def test_cluster_yaml_validates_against_rays_schema_and_holds_no_secrets():
    from ray.autoscaler._private.util import prepare_config, validate_config

    text = (ROOT / "cluster.yaml").read_text()
    config = yaml.safe_load(text)
    validate_config(prepare_config(copy.deepcopy(config)))
    broken = copy.deepcopy(config)
    broken["available_node_types"]["head"]["InstanceType"] = "m6i.large"  # misplaced key
    with pytest.raises(Exception, match="InstanceType"):
        validate_config(prepare_config(broken))
    lowered = text.lower()
    assert "aws_secret_access_key" not in lowered and "aws_access_key_id" not in lowered and "password" not in lowered
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "RAY_AUTH_MODE=token" in head and "jdnas tracking-server" in head
    assert "--host" not in head[head.index("nohup"):]  # the tracking server keeps its loopback default
    assert "tracking-server --auth --admin-credentials ~/.jdnas/tracking-admin" in head  # users, from a head file
    # the store outlives `ray down`: restored before the server starts, snapshotted by it
    restore_at, serve_at = head.index("jdnas tracking-restore --if-missing --from s3://"), head.index("nohup")
    assert restore_at < serve_at and "--snapshot-to s3://" in head[serve_at:]
    assert "gpu_worker" in config["available_node_types"] and config["available_node_types"]["gpu_worker"]["min_workers"] == 0


@pytest.mark.slow
@pytest.mark.cluster
@needs_fashion_mnist
def test_sweep_on_two_nodes_with_s3_storage_and_a_tracking_server_whose_store_outlives_the_head(cluster, tmp_path):
    (tmp_path / "tracking").mkdir()
    with moto_s3("sweeps") as (endpoint, s3):
        tracking_server = TrackingServer(tmp_path / "tracking", "--snapshot-to", "s3://sweeps/tracking",
                                         "--s3-endpoint", endpoint, "--snapshot-every", "3600").start()
        sweep = ["classifier-scaling", "--set", "classifier=Conv-S,MB1-S", "--set", "epochs=2", *TINY_SETS]
        result = jdnas("run", *sweep, "--address", cluster.address, "--storage", "s3://sweeps/jdnas",
                       "--s3-endpoint", endpoint, "--tracking-uri", tracking_server.uri, "--workdir", str(tmp_path),
                       env=AWS_ENV)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

        client, parents, children = child_runs(tracking_server.uri, "classifier-scaling")
        assert len(parents) == 1
        assert_complete_and_unique(client, children, trials=2, epochs=2)
        assert len({c.data.tags["node_id"] for c in children}) == 2  # one trial per node
        assert {"model.pt", "config.json"} <= {a.path for a in client.list_artifacts(children[0].info.run_id)}
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="sweeps", Prefix="jdnas/")["Contents"]}
        parquet = next(k for k in keys if k.endswith("results.parquet"))
        assert any("checkpoint_" in k for k in keys)  # trials checkpoint into S3
        s3.download_file("sweeps", parquet, str(tmp_path / "r.parquet"))
        assert [r["status"] for r in pq.read_table(tmp_path / "r.parquet").to_pylist()] == ["TERMINATED"] * 2
        assert not (tmp_path / "results").exists()  # nothing went to a head-local path

        # the head is destroyed after `jdnas best` registered the front: the documented restore brings it back
        best = jdnas("best", *sweep, "--tracking-uri", tracking_server.uri, "--workdir", str(tmp_path))
        assert best.returncode == 0 and " new " in best.stdout, best.stdout + best.stderr
        versions = {(v.name, v.version, v.run_id) for v in client.search_model_versions()}
        runs = {c.info.run_id: c.data.metrics["test_acc"] for c in children}
        assert versions and {v[2] for v in versions} <= set(runs)
        tracking_server.stop()  # `ray down`: the server's last act is a snapshot
        assert "tracking snapshot to s3://sweeps/tracking: mlflow.db" in (tmp_path / "tracking" / "server.log").read_text()
        (tmp_path / "tracking" / "mlflow.db").unlink()
        shutil.rmtree(tmp_path / "tracking" / "artifacts")

        restored = jdnas("tracking-restore", "--from", "s3://sweeps/tracking", "--s3-endpoint", endpoint,
                         "--backend-store-uri", f"sqlite:///{tmp_path}/tracking/mlflow.db",
                         "--artifacts-destination", str(tmp_path / "tracking" / "artifacts"), env=AWS_ENV)
        assert restored.returncode == 0 and "restored the tracking snapshot" in restored.stdout, restored.stderr
        tracking_server.start()
        client, parents, children = child_runs(tracking_server.uri, "classifier-scaling")
        assert len(parents) == 1 and {c.info.run_id: c.data.metrics["test_acc"] for c in children} == runs
        assert_complete_and_unique(client, children, trials=2, epochs=2)
        assert {(v.name, v.version, v.run_id) for v in client.search_model_versions()} == versions
        name, version, run_id = sorted(versions)[0]
        model_dir = client.download_artifacts(run_id, "model.pt", str(tmp_path))  # the artifacts came back too
        assert Path(model_dir).stat().st_size > 0
        again = jdnas("best", *sweep, "--tracking-uri", tracking_server.uri, "--workdir", str(tmp_path))
        assert again.returncode == 0 and " new " not in again.stdout, again.stdout  # lists them, registers none
        assert f"models:/{name}/" in again.stdout
        tracking_server.stop()


@pytest.mark.slow
@pytest.mark.cluster
@needs_fashion_mnist
def test_submit_runs_the_sweep_as_a_ray_job(cluster, tracking_server, tmp_path):
    result = jdnas("submit", "unet-width", "--address", cluster.dashboard_url, "--tracking-uri", tracking_server.uri,
                   "--remote-workdir", str(tmp_path / "remote"), "--set", "base_width=4", "--set", "epochs=1",
                   *TINY_SETS, "--wait", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "submitted unet-width-quick-" in result.stdout and "ray job logs" in result.stdout
    assert "SUCCEEDED" in result.stdout
    client, parents, children = child_runs(tracking_server.uri, "unet-width")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert_complete_and_unique(client, children, trials=1, epochs=1, metric="test_psnr_s0.8")
    assert list((tmp_path / "remote" / "reports").glob("*/report.md"))


FAILING = ("from search_spaces import Sweep\n"
           "FAILING = Sweep(name='fail-check', trainable='classifier', grid={'lr': [0.001]},\n"
           "                fixed={'classifier': 'Conv-S', 'dataset': 'synthetic', 'fail_at_epoch': 1,\n"
           "                       'max_failures': 0}, seeds=1)\n")


@pytest.mark.slow
@pytest.mark.cluster
def test_submit_wait_rides_out_a_dashboard_outage_and_exits_1_for_a_failed_job_and_124_at_its_timeout(
        cluster, tracking_server, tmp_path):
    (tmp_path / "failing.py").write_text(FAILING)
    common = [f"{tmp_path}/failing.py:FAILING", "--tracking-uri", tracking_server.uri, "--remote-workdir",
              str(tmp_path / "remote"), "--set", "epochs=2", *TINY_SETS]
    # the dashboard answers 503 or drops the connection for 15 s from the first status query on
    with FaultyProxy(cluster.dashboard_url, trigger="/api/jobs/jdnas-", fault_s=15) as proxy:
        failed = jdnas("submit", *common, "--address", proxy.url, "--wait", timeout=600)
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert proxy.refused >= 2 and "the dashboard does not answer" in failed.stderr
    assert ": FAILED" in failed.stdout and "injected failure at epoch 1" in failed.stdout  # the job's log tail
    assert "Traceback" not in failed.stderr

    started = time.monotonic()
    waiting = jdnas("submit", *common, "--name", "fail-check-timeout", "--address", cluster.dashboard_url,
                    "--wait", "--timeout", "2", timeout=300)
    assert waiting.returncode == 124 and "still running after --timeout 2 s; it goes on" in waiting.stdout, \
        waiting.stdout[-2000:] + waiting.stderr[-2000:]
    assert time.monotonic() - started < 120
    job_id = waiting.stdout.split("still running")[0].split("job ")[-1].strip(" :")
    # asked from a fresh process: Ray caches the first token a process reads, and this one may hold another's
    ray_cli = str(Path(sys.executable).with_name("ray"))
    status = subprocess.run([ray_cli, "job", "status", "--address", cluster.dashboard_url, job_id],
                            capture_output=True, text=True, timeout=120, env={**os.environ, **AUTH_ENV})
    assert "PENDING" in status.stdout + status.stderr or "RUNNING" in status.stdout + status.stderr, \
        status.stdout + status.stderr  # it went on
    subprocess.run([ray_cli, "job", "stop", "--no-wait", "--address", cluster.dashboard_url, job_id],
                   capture_output=True, timeout=120, env={**os.environ, **AUTH_ENV})


@pytest.mark.slow
@pytest.mark.cluster
@needs_fashion_mnist
def test_a_head_local_storage_is_refused_on_several_hosts_unless_the_user_says_it_is_shared(tmp_path, monkeypatch):
    for key, value in AUTH_ENV.items():
        monkeypatch.setenv(key, value)
    sweep = ["unet-width", "--set", "base_width=4", "--set", "epochs=1", *TINY_SETS, "--workdir", str(tmp_path)]
    with LocalCluster(tmp_path / "ray", nodes=2, cpus_per_node=1, separate_hosts=True) as two_hosts:
        refused = jdnas("run", *sweep, "--address", two_hosts.address)
        assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
        line, = refused.stderr.strip().splitlines()
        assert "spans 2 hosts (127.0.0.2, 127.0.0.3)" in line and "--allow-local-storage" in line, line
        # an NFS path mounted on every node is the user's to vouch for (here both "hosts" share the disk)
        allowed = jdnas("run", *sweep, "--address", two_hosts.address, "--allow-local-storage")
        assert allowed.returncode == 0, allowed.stdout[-3000:] + allowed.stderr[-3000:]
        assert "finished: 1/1 trials, 0 errored" in allowed.stdout


def test_submit_refuses_bad_input_before_reaching_the_cluster(tmp_path):
    result = jdnas("submit", "unet-width", "--address", "http://127.0.0.1:9", "--set", "base_widht=4")
    assert result.returncode == 2 and "unknown field 'base_widht'" in result.stderr


def wait_for(predicate, timeout=300, interval=0.5, message="condition", detail=lambda: ""):
    """Poll `predicate`; on timeout, `detail()` says what the test saw (CI keeps nothing else)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{message} (after {timeout} s) {detail()}")


def results_by_trial(results_dir, pattern="*/*/result.json") -> dict[str, list[dict]]:
    """Every result Tune wrote so far, per trial folder, in order."""
    return {path.parent.name: [json.loads(line) for line in path.read_text().splitlines() if line]
            for path in Path(results_dir).glob(pattern)}


def driver_results(cluster) -> dict[str, list[dict]]:
    """The driver's own result files, written as each result arrives. The copies under the storage path
    come seconds later (Tune syncs them with its experiment snapshots): too late to catch a trial mid-run."""
    return results_by_trial(cluster.temp_dirs[0], "session_*/artifacts/*/*/driver_artifacts/*/result.json")


def trials_on_node(results, node_id) -> set[str]:
    return {trial for trial, history in results.items() if any(r.get("node_id") == node_id for r in history)}


def epochs_by_node(history) -> list[tuple]:
    return [(r["epoch"], r["node_id"][:8], r.get("done")) for r in history]


EPOCHS = 6


@pytest.mark.slow
@pytest.mark.cluster
@needs_fashion_mnist
def test_killed_worker_node_and_killed_driver_lose_nothing(cluster, tracking_server, tmp_path):
    args = [sys.executable, "-m", "orchestrator.cli.main", "run", "classifier-scaling", "--address", cluster.address,
            "--tracking-uri", tracking_server.uri, "--workdir", str(tmp_path), "--set", "classifier=Conv-S,MB1-S,Conv-M",
            "--set", f"epochs={EPOCHS}", *TINY_SETS, "--set", "train_size=2048"]  # ~1 s epochs: the kill lands mid-trial
    worker = cluster.worker_node_ids()[0]
    log = open(tmp_path / "driver1.log", "w")
    driver = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen = lambda: f"driver saw {({t: epochs_by_node(h) for t, h in driver_results(cluster).items()})}; " \
                   f"driver log ends: {(tmp_path / 'driver1.log').read_text()[-1500:]!r}"  # noqa: E731
    wait_for(lambda: trials_on_node(driver_results(cluster), worker), message="an epoch on the worker node", detail=seen)
    cluster.kill_node(1)  # node failure: its trial must resume from its checkpoint on the head
    moved, = trials_on_node(driver_results(cluster), worker)
    last_on_worker = [r for r in driver_results(cluster)[moved] if r["node_id"] == worker][-1]
    assert not last_on_worker.get("done") and last_on_worker["epoch"] < EPOCHS, last_on_worker  # killed mid-trial
    wait_for(lambda: any(r["node_id"] != worker for r in driver_results(cluster)[moved]),
             message="the killed node's trial going on elsewhere", detail=seen)
    # before the driver is touched: the trial went on from a checkpoint (restarts 1, a later epoch than the
    # first), not from scratch, so the node failure alone caused this resume. (Its last epoch on the dead node
    # may be missing from result.json: the checkpoint can land while the result line does not.)
    history = driver_results(cluster)[moved]
    elsewhere = [r for r in history if r["node_id"] != worker]
    assert elsewhere[0]["epoch"] > 1 and elsewhere[0]["restarts"] == 1, epochs_by_node(history)
    wait_for(lambda: "finished" in (tmp_path / "driver1.log").read_text(), message="a finished trial", detail=seen)
    os.killpg(driver.pid, signal.SIGKILL)  # driver failure: a killed job
    driver.wait(timeout=30)

    second = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming" in second.stdout and "finished: 3/3 trials" in second.stdout
    client, parents, children = child_runs(tracking_server.uri, "classifier-scaling")
    assert len(parents) == 1
    assert_complete_and_unique(client, children, trials=3, epochs=EPOCHS)
    rows = pq.read_table(next((tmp_path / "results").glob("*/results.parquet"))).to_pylist()
    assert next(r for r in rows if r["trial_id"] == moved)["restarts"] >= 1  # its resume is in the Parquet too


@pytest.mark.slow
@pytest.mark.cluster
@needs_fashion_mnist
def test_tracking_server_outage_loses_no_metric(tracking_server, tmp_path):
    args = ["run", "joint", "--tracking-uri", tracking_server.uri, "--workdir", str(tmp_path),
            "--set", "unet=UNet-S", "--set", "joint_mode=integrated", "--set", f"epochs={EPOCHS}",
            *TINY_SETS]  # ~1 s epochs: the outage lands mid-run
    log = tmp_path / "driver.log"
    driver = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", *args], stdout=open(log, "w"),
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1", "JDNAS_MLFLOW_FINAL_WAIT_S": "5"})
    wait_for(lambda: f"epoch 1/{EPOCHS}" in log.read_text(), message="first epoch",
             detail=lambda: log.read_text()[-1500:])
    tracking_server.stop()  # outage: trials go on, results are queued
    assert driver.wait(timeout=600) == EXIT_TRACKING, log.read_text()[-3000:]  # results written, MLflow behind
    assert "unreachable" in log.read_text() and "jdnas sync-mlflow" in log.read_text()

    tracking_server.start()
    client, _, children = child_runs(tracking_server.uri, "joint")
    logged = [m.step for c in children for m in client.get_metric_history(c.info.run_id, "epoch")]
    assert len(logged) < EPOCHS  # the outage really cost the store some epochs
    synced = jdnas("sync-mlflow", "joint", *args[2:])
    assert synced.returncode == 0, synced.stderr[-3000:]
    client, parents, children = child_runs(tracking_server.uri, "joint")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert_complete_and_unique(client, children, trials=1, epochs=EPOCHS)
    assert "test_ssim_s0.8" in children[0].data.metrics
    again = jdnas("sync-mlflow", "joint", *args[2:])  # idempotent: nothing left to send
    assert "0 epochs sent, 0 runs completed" in again.stdout
