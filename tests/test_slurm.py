"""`jdnas slurm` against a real one-node SLURM (Debian's munged, slurmctld and slurmd, started here on free
ports with their own config and state; see tests/slurm_daemons.py): the job starts Ray, an MLflow server and
the driver, ends COMPLETED, and the store holds one parent and one child per trial with every epoch once;
two jobs share the node without clashing; a job stopped mid-run (the signal SLURM sends before a time
limit) requeues itself and resumes without duplicate runs."""
import re
import subprocess
import time

import pytest
from mlflow.tracking import MlflowClient

from .conftest import needs_fashion_mnist
from .slurm_daemons import SlurmCluster, have_slurm
from .test_cluster import jdnas

needs_slurm = pytest.mark.skipif(not have_slurm(), reason="needs root and Debian's SLURM + munge (make slurm)")
TINY = ["--set", "seeds=1", "--set", "cpus_per_trial=1", "--set", "val_size=64", "--set", "test_size=128",
        "--set", "latency_min_run_time=0.05", "--set", "batch_size=32", "--set", "exclusive_latency=false"]
SMALL_OBJECT_STORE = {"RAY_DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES": str(300 * 1024 ** 2)}


def test_dry_run_prints_a_requeueable_script_without_secrets(tmp_path):
    result = jdnas("slurm", "unet-width", "--set", "epochs=1", "--nodes", "3", "--gpus-per-node", "2",
                   "--time", "2:00:00", "--partition", "gpu", "--account", "lab", "--sbatch=--mem=64G",
                   "--workdir", str(tmp_path), "--dry-run", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    script = result.stdout
    for line in ("--nodes=3", "--ntasks-per-node=1", "--gpus-per-node=2", "--time=2:00:00", "--partition=gpu",
                 "--account=lab", "--mem=64G", "--requeue", "--signal=B:USR1@180", "--open-mode=append"):
        assert f"#SBATCH {line}" in script, line
    assert re.search(r"exec \S+python\S* -m orchestrator.cluster.slurm_job \S+/slurm/unet-width-quick-\w+\.json", script)
    assert "RAY_AUTH_TOKEN" not in script and not (tmp_path / "slurm").exists()  # printed, nothing written


def test_bad_input_is_refused_before_sbatch(tmp_path):
    unknown = jdnas("slurm", "unet-width", "--set", "epochz=1", "--workdir", str(tmp_path), timeout=120)
    assert unknown.returncode == 2 and "unknown field 'epochz'" in unknown.stderr
    sqlite = jdnas("slurm", "unet-width", "--tracking-uri", "sqlite:////tmp/x.db", "--workdir", str(tmp_path),
                   timeout=120)
    assert sqlite.returncode == 2 and "logs to an MLflow server" in sqlite.stderr
    assert not (tmp_path / "slurm").exists()


@pytest.fixture
def slurm(tmp_path):
    with SlurmCluster(tmp_path / "slurmd") as cluster:  # this machine's CPUs, one node
        yield cluster


def submit(slurm, workdir, *sets):
    result = jdnas("slurm", "classifier-scaling", "--cpus-per-node", "1", "--workdir", str(workdir), *TINY, *sets,
                   env=slurm.env | SMALL_OBJECT_STORE, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return re.search(r"as SLURM job (\d+)", result.stdout).group(1)


def job_log(workdir) -> str:
    return "".join(p.read_text() for p in sorted((workdir / "slurm").glob("*.out")))


def wait_for(predicate, what, detail, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise TimeoutError(f"{what} after {timeout} s; {detail()}")


def store_runs(workdir):
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("classifier-scaling").experiment_id])
    parents = [r for r in runs if r.data.tags.get("jdnas.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("jdnas.role") == "trial"]
    return client, parents, children


def assert_each_epoch_once(workdir, trials, epochs):
    client, parents, children = store_runs(workdir)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == trials and len({c.data.tags["jdnas.trial_id"] for c in children}) == trials
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "epoch")]
        assert steps == list(range(1, epochs + 1)), (child.info.run_name, steps)
        assert child.info.status == "FINISHED" and "test_acc" in child.data.metrics


@pytest.mark.slow
@pytest.mark.cluster
@needs_slurm
@needs_fashion_mnist
def test_two_jobs_share_the_node_and_a_stopped_job_requeues_and_resumes(slurm, tmp_path):
    plain, stopped = tmp_path / "plain", tmp_path / "stopped"
    plain_id = submit(slurm, plain, "--set", "classifier=Conv-S,MB1-S", "--set", "epochs=2", "--set", "train_size=512")
    stopped_id = submit(slurm, stopped, "--set", "classifier=Conv-S", "--set", "epochs=6", "--set", "train_size=2048")
    detail = lambda: f"jobs {slurm.completions()}; logs {job_log(plain)[-1500:]!r} {job_log(stopped)[-2500:]!r}"  # noqa
    wait_for(lambda: slurm.job_state(plain_id) == slurm.job_state(stopped_id) == "RUNNING", "both jobs running",
             detail)
    wait_for(lambda: "epoch 2/6" in job_log(stopped), "the stopped job's second epoch", detail)
    # what SLURM sends GRACE seconds before the time limit (--signal=B:USR1@GRACE), sent now
    subprocess.run(["scancel", "--batch", "--signal=USR1", stopped_id], check=True, env=slurm.env)
    wait_for(lambda: "(run 2)" in job_log(stopped), "the requeued job's second run", detail)
    # jobcomp/filetxt logs a requeued run's end as PENDING; the job's last line is its real end
    ended = lambda job: [c for c in slurm.completions() if c["JobId"] == job and c["JobState"] != "PENDING"]  # noqa
    wait_for(lambda: ended(plain_id) and ended(stopped_id), "both jobs ended", detail)
    assert [c["JobState"] for c in ended(plain_id) + ended(stopped_id)] == ["COMPLETED", "COMPLETED"], detail()
    assert [c["JobState"] for c in slurm.completions() if c["JobId"] == stopped_id][0] == "PENDING"  # requeued once

    assert_each_epoch_once(plain, trials=2, epochs=2)
    assert_each_epoch_once(stopped, trials=1, epochs=6)
    log = job_log(stopped)
    assert "requeueing job" in log and "resuming" in log, log[-3000:]
    first_run = log.split("(run 2)")[0]
    assert "epoch 6/6" not in first_run  # the stop really landed mid-sweep


@pytest.mark.slow
@needs_slurm
def test_status_and_cancel_find_the_sweeps_job(slurm, tmp_path):
    later = ["unet-width", "--set", "epochs=1", "--workdir", str(tmp_path), "--sbatch=--begin=now+1hour"]
    submitted = jdnas("slurm", *later, env=slurm.env, timeout=120)
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    job_id = re.search(r"as SLURM job (\d+)", submitted.stdout).group(1)
    status = jdnas("slurm", *later, "--status", env=slurm.env, timeout=120)
    pending = rf"{job_id}\s+debug\s+jdnas-unet-width-quick-\w+\s+PENDING"
    assert status.returncode == 0 and re.search(pending, status.stdout), status.stdout + status.stderr
    cancelled = jdnas("slurm", *later, "--cancel", env=slurm.env, timeout=120)
    assert cancelled.returncode == 0 and slurm.job_state(job_id) == "CANCELLED", cancelled.stdout + cancelled.stderr
