"""End-to-end sweeps on a real local Ray with a real SQLite MLflow store and real Fashion-MNIST."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.records.results import rows_from_experiment
from orchestrator.records.storage import resolve_storage
from orchestrator.run.plan import TRIAL_OVERHEAD_S, make_plan
from orchestrator.run.sweep import RunOptions, run_sweep
from search_spaces import Sweep, get_sweep, resolve
from trainables.data import NOISE_LEVELS

from .conftest import TINY, needs_fashion_mnist

pytestmark = [pytest.mark.slow]


def runs_of(workdir, experiment):
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("jdnas.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("jdnas.role") == "trial"]
    return client, parents, children


def epochs_logged(client, run):
    return [m.step for m in client.get_metric_history(run.info.run_id, "epoch")]


@needs_fashion_mnist
def test_tiny_sweep_gives_one_parent_and_a_child_per_trial_with_all_metrics(tmp_path):
    overrides = dict(TINY, classifier=["Conv-S", "MB1-S", "Conv-L"], seeds=1)
    outcome = run_sweep("classifier-scaling", "quick", overrides, RunOptions(workdir=tmp_path))
    assert outcome.complete and len(outcome.rows) == 3

    client, parents, children = runs_of(tmp_path, "classifier-scaling")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"report.md", "acc_vs_flops.png"}
    for child in children:
        metrics, params, tags = child.data.metrics, child.data.params, child.data.tags
        assert {f"test_acc_s{s:g}" for s in NOISE_LEVELS} | {"test_acc", "macs", "flops", "params", "latency_ms"} \
            <= metrics.keys()
        assert params["classifier"] in {"Conv-S", "MB1-S", "Conv-L"} and params["epochs"] == "2"
        assert params["dataset"] == "fashion-mnist" and tags["latency_device"] and tags["device"] == "cpu"
        assert tags["torch_version"] and tags["ray_version"] and tags["git_commit"] and tags["seed"] == "0"
        assert epochs_logged(client, child) == [1, 2]
        assert len(client.get_metric_history(child.info.run_id, "val_acc")) == 2
        per_sigma = [metrics[f"test_acc_s{s:g}"] for s in NOISE_LEVELS]  # the headline is their plain mean
        assert metrics["test_acc"] == pytest.approx(sum(per_sigma) / len(NOISE_LEVELS), abs=1e-6)
        assert {a.path for a in client.list_artifacts(child.info.run_id)} >= {"model.pt", "config.json"}
    by_model = {c.data.params["classifier"]: c.data.metrics["macs"] for c in children}
    # each trial built its own model (that it trained is the epoch and val_acc histories above; 2 epochs on
    # 256 images leave these networks near the 10 % of a guess, so accuracy says nothing here)
    assert by_model["Conv-S"] < by_model["Conv-L"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert {len(c.data.tags["git_commit"]) >= 7 and head.startswith(c.data.tags["git_commit"]) for c in children} == {True}

    table = pq.read_table(tmp_path / "results" / outcome.name / "results.parquet").to_pylist()
    assert len(table) == 3 and {r["status"] for r in table} == {"TERMINATED"}
    assert all(r["test_acc_s0.5"] is not None and r["classifier"] for r in table)
    # the network and the seed are columns of their own (the run name is for people only)
    assert sorted(r["variant_label"] for r in table) == ["Conv-L", "Conv-S", "MB1-S"] and {r["seed"] for r in table} == {0}
    assert {r["variant_label"]: r["classifier"] for r in table} == {v: v for v in ("Conv-L", "Conv-S", "MB1-S")}
    report = (tmp_path / "reports" / outcome.name / "report.md").read_text()
    assert "| Exp. | Model | Size | Exp. rate |" in report and "| 1-3 | Conv-L | L | - |" in report

    # `jdnas plan`'s price of each trial against the trial's own wall clock (start of the trainable to its
    # last report: the plan's per-trial scheduling and logging overhead lies outside it); one real run beside
    # two other trials on a loaded machine, hence the wide band
    plan = make_plan(resolve(get_sweep("classifier-scaling"), "quick", overrides), cpus=os.cpu_count())
    priced = {n.label: s - TRIAL_OVERHEAD_S for n, s in zip(plan.networks, plan.trial_seconds)}
    took = {r["variant_label"]: r["reported_at"] - r["trial_started_at"] for r in table}
    assert all(0.25 < took[name] / priced[name] < 8 for name in took), (took, priced)  # 8: a busy 2-core box

    # the same command again: the sweep is complete, nothing runs and no MLflow run is added; the exclusive
    # latency phase's file is reused, not re-timed (a value planted in it is what the rows then carry)
    phase_file = tmp_path / "results" / outcome.name / "exclusive_latency.json"
    phase = json.loads(phase_file.read_text())
    assert len(phase) == 3 and {r["latency_source"] for r in table} == {"exclusive"}
    assert {e["variant"]["classifier"]: e["latency_ms"] for e in phase} == \
        {r["variant_label"]: r["latency_ms"] for r in table}
    for number, entry in enumerate(phase):
        entry["latency_ms"] = 100.0 + number
    phase_file.write_text(json.dumps(phase))
    again = run_sweep("classifier-scaling", "quick", overrides, RunOptions(workdir=tmp_path))
    assert again.complete and sorted(r["trial_id"] for r in again.rows) == sorted(r["trial_id"] for r in table)
    assert sorted(r["latency_ms"] for r in again.rows) == [100.0, 101.0, 102.0]
    _, parents_after, children_after = runs_of(tmp_path, "classifier-scaling")
    assert ({r.info.run_id for r in parents_after}, {r.info.run_id for r in children_after}) == \
        ({parent.info.run_id}, {c.info.run_id for c in children})


def test_an_experiment_from_before_an_optional_field_existed_resumes_under_tune(tmp_path, monkeypatch):
    """A jdnas upgrade that adds an unset (None) field must not strand the experiments started before it:
    Tune's restore wants the original param_space keys, and the rerun gets them (it exited 3 on a 32-trial
    sweep started the same day)."""
    import orchestrator.run.sweep as runner

    overrides = dict(TINY, dataset="synthetic", classifier="Conv-S", epochs=1, seeds=1, latency_min_run_time=0.02)
    real_resolve = runner.resolve

    def as_an_older_jdnas(*args, **kwargs):
        resolved = real_resolve(*args, **kwargs)
        assert resolved.base.pop("corrupt_checkpoint_at_epoch", "absent") is None
        return resolved

    monkeypatch.setattr(runner, "resolve", as_an_older_jdnas)
    first = run_sweep("classifier-scaling", "quick", overrides, RunOptions(workdir=tmp_path))
    monkeypatch.setattr(runner, "resolve", real_resolve)
    again = run_sweep("classifier-scaling", "quick", overrides, RunOptions(workdir=tmp_path))
    assert first.complete and again.complete and [r["trial_id"] for r in again.rows] == [r["trial_id"] for r in first.rows]
    client, parents, children = runs_of(tmp_path, "classifier-scaling")
    assert len(parents) == 1 and len(children) == 1 and epochs_logged(client, children[0]) == [1]


def test_a_retry_whose_latest_checkpoint_is_corrupt_resumes_from_the_one_before(tmp_path):
    # epoch 2's checkpoint is written truncated, then the trial fails before epoch 3: the retry cannot load the
    # latest and must go on from epoch 1's (Tune keeps two), not fail again on every retry
    overrides = dict(TINY, dataset="synthetic", classifier="Conv-S", epochs=3, seeds=1, corrupt_checkpoint_at_epoch=2,
                     fail_at_epoch=2, max_failures=1, latency_min_run_time=0.02)
    outcome = run_sweep("classifier-scaling", "quick", overrides, RunOptions(workdir=tmp_path))
    row, = outcome.rows
    # resumed (restarts 1, so fail_at_epoch did not fire again) and finished: without the fallback the retry
    # fails on the truncated file and the sweep ends with an errored trial
    assert outcome.complete and row["status"] == "TERMINATED" and row["restarts"] == 1 and row["epoch"] == 3
    client, parents, children = runs_of(tmp_path, "classifier-scaling")
    assert len(children) == 1 and epochs_logged(client, children[0]) == [1, 2, 3]


@needs_fashion_mnist
def test_joint_trial_retried_from_its_checkpoint_keeps_one_run(tmp_path):
    overrides = dict(TINY, epochs=3, unet="UNet-S", joint_mode="sequential", sequential_training="end-to-end", seeds=1,
                     fail_at_epoch=1,
                     max_failures=1, cpus_per_trial=2)
    outcome = run_sweep("joint", "quick", overrides, RunOptions(workdir=tmp_path))
    row = outcome.rows[0]
    assert outcome.complete and row["status"] == "TERMINATED"
    assert row["restarts"] == 1 and row["epoch"] == 3  # resumed from the epoch-1 checkpoint, not restarted
    assert row["latency_threads"] == 2                 # torch threads = CPUs granted to the trial

    client, parents, children = runs_of(tmp_path, "joint")
    assert len(parents) == 1 and len(children) == 1
    child = children[0]
    assert child.info.status == "FINISHED" and epochs_logged(client, child) == [1, 2, 3]
    assert {f"test_psnr_s{s:g}" for s in NOISE_LEVELS} | {f"test_ssim_s{s:g}" for s in NOISE_LEVELS} \
        <= child.data.metrics.keys()
    assert "denoising_examples.png" in {a.path for a in client.list_artifacts(child.info.run_id)}


@needs_fashion_mnist
def test_nan_loss_ends_the_trial_as_an_error_with_the_reason(tmp_path):
    sweep = Sweep(name="nan-check", trainable="classifier", grid={"classifier": ["Conv-S"]},
                  fixed={"optimizer": "sgd", "lr": 1e30, "max_failures": 0}, seeds=1)
    outcome = run_sweep(sweep, "quick", TINY, RunOptions(workdir=tmp_path))
    row = outcome.rows[0]
    assert row["status"] == "ERROR" and "non-finite training loss" in row["error"]
    client, _, children = runs_of(tmp_path, "nan-check")
    assert children[0].info.status == "FAILED" and "non-finite" in children[0].data.tags["jdnas.error"]


@needs_fashion_mnist
def test_interrupted_optuna_sweep_resumes_the_same_study_without_duplicate_runs(tmp_path):
    from ray.tune.search.optuna import OptunaSearch

    args = [sys.executable, "-m", "orchestrator.cli.main", "run", "joint-tuning", "--workdir", str(tmp_path),
            "--set", "num_samples=4", "--set", "epochs=2", "--set", "train_size=512", "--set", "val_size=64",
            "--set", "test_size=128", "--set", "latency_min_run_time=0.05"]
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        driver = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.time() + 180
        while "finished" not in log.read_text() and time.time() < deadline and driver.poll() is None:
            time.sleep(0.5)
        driver.send_signal(signal.SIGINT)  # Ctrl-C after the first trial finished
        assert driver.wait(timeout=120) == 130, log.read_text()[-3000:]
    assert "interrupted" in log.read_text() and "finished " in log.read_text()
    experiment = next((tmp_path / "results").iterdir())
    saved = rows_from_experiment(resolve_storage(tmp_path / "results"), experiment.name)
    done_before = {r["trial_id"] for r in saved if r["status"] == "TERMINATED"}
    assert 1 <= len(done_before) < 4  # a trial had finished, and the sweep was really cut short

    second = subprocess.run(args, capture_output=True, text=True, timeout=480)  # 180 + 120 + 480 < 900 s
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming" in second.stdout and "finished: 4/4 trials" in second.stdout
    assert "Pareto-optimal of 4 trials" in second.stdout  # the report shows the front found

    searcher = OptunaSearch()
    searcher.restore_from_dir(str(experiment))
    study = searcher._ot_study
    assert len(study.trials) == 4 and {t.state.name for t in study.trials} == {"COMPLETE"}
    # two objectives, both maximised, fed with each trial's final (val_acc, val_psnr_s0.8) as Tune saw them
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]
    rows = rows_from_experiment(resolve_storage(tmp_path / "results"), experiment.name)
    assert sorted(tuple(t.values) for t in study.trials) == sorted((r["val_acc"], r["val_psnr_s0.8"]) for r in rows)
    points = [tuple(t.values) for t in study.trials]
    front = {p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points)}
    assert {tuple(t.values) for t in study.best_trials} == front  # the Pareto front, by hand
    assert done_before <= {r["trial_id"] for r in rows if r["status"] == "TERMINATED"}  # kept, not re-run

    client, parents, children = runs_of(tmp_path, "joint-tuning")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4 and len({c.data.tags["jdnas.trial_id"] for c in children}) == 4
    for child in children:
        assert child.info.status == "FINISHED" and epochs_logged(client, child) == [1, 2]
        assert 1e-4 <= float(child.data.params["lr"]) <= 1e-2  # sampled by Optuna within the space


@needs_fashion_mnist
def test_asha_stops_the_bad_trials_early(tmp_path):
    # two good learning rates first, then four hopeless ones: ASHA has the good ones' scores at each rung
    sweep = Sweep(name="asha-check", trainable="classifier", grid={"lr": [3e-3, 2e-3, 1e-7, 2e-7, 3e-7, 4e-7]},
                  fixed={"classifier": "Conv-S", "max_concurrent": 2}, seeds=1)
    clean = dict(train_noise_levels=[0.0], eval_noise_levels=[0.0])  # learning shows after one epoch
    outcome = run_sweep(sweep, "quick", dict(TINY, epochs=4, train_size=1024, val_size=128, **clean),
                        RunOptions(workdir=tmp_path, scheduler="asha"))
    epochs = [row["epoch"] for row in outcome.rows]
    assert outcome.complete and {r["status"] for r in outcome.rows} == {"TERMINATED"}
    assert [r["lr"] for r in outcome.rows] == [3e-3, 2e-3, 1e-7, 2e-7, 3e-7, 4e-7]  # rows in grid order
    assert epochs[0] == 4 and min(epochs[2:]) < 4  # the first trial ran to the end, a hopeless one was cut
