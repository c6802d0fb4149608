"""results.parquet gives back what was written (list, dict and mixed-type columns included), in a local
folder and in S3; the NAS report finds the joint sweep's Parquet through the same storage layer."""
import pyarrow.parquet as pq

from orchestrator.records.results import export_parquet, read_parquet
from orchestrator.records.storage import resolve_storage
from orchestrator.report.nas import latency_plot, manual_from_parquet
from orchestrator.report.tables import build_markdown, write_report
from search_spaces import get_sweep, resolve

from .servers import AWS_ENV, moto_s3

ROWS = [
    dict(trial_id="a", status="TERMINATED", eval_noise_levels=[0.0, 0.5], arch={"stages": [1, 2]}, mixed=3,
         width=None, augment=True, lr=1e-3, seed=0),
    dict(trial_id="b", status="ERROR", eval_noise_levels=[], arch=None, mixed="auto", width=8, augment=False,
         lr=2, seed=1, error="Traceback\nRuntimeError: boom", nested=[[1, 2], {"a": None}]),
]


def test_parquet_gives_back_lists_dicts_and_mixed_types(tmp_path):
    storage = resolve_storage(tmp_path)
    export_parquet(ROWS, storage, "exp")
    back = read_parquet(storage, "exp")
    expected = [{**dict.fromkeys(k for r in ROWS for k in r), **r} for r in ROWS]  # missing cells read as None
    assert back == expected
    assert [type(r["mixed"]) for r in back] == [int, str] and back[0]["eval_noise_levels"] == [0.0, 0.5]
    assert back[1]["nested"] == [[1, 2], {"a": None}] and back[0]["arch"] == {"stages": [1, 2]}
    table = pq.read_table(tmp_path / "exp" / "results.parquet")  # other tools see typed scalar columns
    assert str(table.schema.field("lr").type) == "double" and str(table.schema.field("width").type) == "int64"


def joint_row(i, **changes):
    return {**dict(trial_id=f"j{i}", status="TERMINATED", label=f"integrated(UNet-S, MB2.5-M) seed{i}",
                   variant_label="integrated(UNet-S, MB2.5-M)", seed=i, task="joint",
                   test_acc=70.0 + i, test_acc_s0=80.0 + i, latency_ms=1.5 + i, latency_device="cpu x",
                   image_shape="1x32x32", latency_batch_size=1, latency_threads=1,
                   train_noise_levels=[0.0], eval_noise_levels=[0.0, 0.5]), **changes}


def nas_row(seed):
    return dict(trial_id=f"n{seed}", status="TERMINATED", task="nas", beta_mode="removed", seed=seed, op_set=8,
                target_latency_ms=1.0, predicted_latency_ms=1.1, latency_ms=1.2, test_acc_s0=82.0, test_acc=61.0,
                depths="2-3-4-4-4-1", arch="00|000|0000|0000|0000|0", train_noise_levels=[0.0],
                eval_noise_levels=[0.0, 0.5], latency_device="cpu x", image_shape="1x32x32", latency_batch_size=1,
                latency_threads=1, label=f"searched seed{seed}", variant_label="searched", **{"test_psnr_s0.8": 20.0})


def timed_alone(row, **manual):
    """A NAS row as the exclusive latency phase leaves it (orchestrator.run.exclusive_latency.apply_to_rows)."""
    return dict(row, latency_in_trial_ms=row["latency_ms"], latency_ms=0.9, latency_source="exclusive",
                manual_latency_ms=manual)


def test_the_report_from_parquet_equals_the_report_from_the_rows(tmp_path):
    storage = resolve_storage(tmp_path)
    nas = [timed_alone(nas_row(0), **{"integrated(UNet-S, MB2.5-M)": 0.7}), nas_row(1)]
    for sweep, rows in (("nas-beta", nas), ("joint", [joint_row(0), joint_row(1, seed=None)])):
        resolved = resolve(get_sweep(sweep), "quick")
        export_parquet(rows, storage, resolved.name)
        assert build_markdown(resolved, read_parquet(storage, resolved.name)) == build_markdown(resolved, rows)
    # the whole report, the NAS plot's note (the manual models' latencies) included: what the runner wrote
    # from its rows, `jdnas report` writes from the Parquet, timing nothing (no joint sweep in this storage:
    # the manual models appear with the latencies the phase took)
    resolved, storage = resolve(get_sweep("nas-beta"), "quick"), resolve_storage(tmp_path / "nas-only")
    export_parquet(nas, storage, resolved.name)
    runner = write_report(resolved, nas, tmp_path / "runner", storage).read_text()
    assert "0.700 ms" in runner and "| LAT in trial ms |" in runner
    assert write_report(resolved, read_parquet(storage, resolved.name), tmp_path / "cli", storage).read_text() == runner


def test_manual_points_take_the_latency_timed_beside_the_searched_networks(tmp_path):
    storage = resolve_storage(tmp_path)
    export_parquet([joint_row(0), joint_row(1, variant_label="sequential(UNet-S, MB2.5-M)")], storage, "joint-quick")
    ref = timed_alone(nas_row(0), **{"integrated(UNet-S, MB2.5-M)": 0.7})
    assert manual_from_parquet(storage, ref, "test_acc") == [("integrated(UNet-S, MB2.5-M)", 0.7, 70.0)]
    assert manual_from_parquet(storage, nas_row(0), "test_acc") == [  # not re-timed: the joint trials' own
        ("integrated(UNet-S, MB2.5-M)", 1.5, 70.0), ("sequential(UNet-S, MB2.5-M)", 2.5, 71.0)]


def test_nas_report_finds_the_joint_sweeps_parquet_in_s3(tmp_path, monkeypatch):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    with moto_s3("sweeps") as (endpoint, s3):
        storage = resolve_storage("s3://sweeps/jdnas", endpoint)
        export_parquet([joint_row(0), joint_row(1, latency_device="another GPU")], storage, "joint-quick")
        export_parquet([joint_row(2)], storage, "joint-quick-1a2b3c")
        export_parquet([dict(joint_row(3), trial_id="u")], storage, "unet-width-quick")  # not a joint sweep
        ref = nas_row(0)
        assert manual_from_parquet(storage, ref, "test_acc") == [("integrated(UNet-S, MB2.5-M)", 1.5, 70.0),
                                                                 ("integrated(UNet-S, MB2.5-M)", 3.5, 72.0)]
        (tmp_path / "reports" / "nas-beta-quick").mkdir(parents=True)
        path, note = latency_plot([ref], tmp_path / "reports" / "nas-beta-quick", storage)
        assert path.exists() and note.startswith("Manual joint models: from the `joint` sweep's results")
        assert not (tmp_path / "results").exists()


def _reporting_trial(config):
    """Five results whose values a reader can predict from the seed alone."""
    from ray import tune

    for epoch in range(1, 6):
        tune.report({"epoch": epoch, "val_acc": 10.0 * config["seed"] + epoch})


def test_rows_come_from_the_saved_state_without_reading_every_trials_result_file(tmp_path):
    """The rows need each trial's last result, which the experiment state holds. Tune's ExperimentAnalysis
    also reads every trial's result.json into a DataFrame (a file read and tens of KB a trial at cluster
    trial counts, issue 21); the rows' reader must not."""
    import tempfile

    import fsspec.implementations.local
    import pyarrow.fs as pafs
    import ray
    from ray import tune

    from orchestrator.cluster.ray_auth import loopback_only, use_token_auth
    from orchestrator.records.results import rows_from_experiment
    from orchestrator.records.storage import Storage

    use_token_auth()
    with loopback_only():
        ray.init(_temp_dir=tempfile.mkdtemp(prefix="jdrows-"), include_dashboard=False, num_cpus=1,
                 object_store_memory=100_000_000, logging_level="error", log_to_driver=False)
    try:
        tune.Tuner(_reporting_trial, param_space={"seed": tune.grid_search([0, 1, 2])},
                   run_config=tune.RunConfig(name="rows", storage_path=str(tmp_path), verbose=0)).fit()
    finally:
        ray.shutdown()

    opened = []

    class CountingLocal(fsspec.implementations.local.LocalFileSystem):
        cachable = False

        def _open(self, path, mode="rb", **kwargs):
            opened.append(str(path))
            return super()._open(path, mode, **kwargs)

    storage = Storage(str(tmp_path), str(tmp_path), pafs.PyFileSystem(pafs.FSSpecHandler(CountingLocal())))
    rows = rows_from_experiment(storage, "rows")
    assert sorted((r["seed"], r["epoch"], r["val_acc"], r["status"]) for r in rows) == \
        [(0, 5, 5.0, "TERMINATED"), (1, 5, 15.0, "TERMINATED"), (2, 5, 25.0, "TERMINATED")]
    assert opened and all("experiment_state" in path for path in opened), opened


def _ending_or_interrupting_trial(config):
    import os
    import signal
    import time

    from ray import tune

    for epoch in range(1, 4):
        tune.report({"epoch": epoch, "val_acc": 10.0 * config["seed"] + epoch})
        if config["seed"] == config.get("fail_seed"):
            raise RuntimeError("this trial fails for good")
        if config["seed"] == config.get("interrupt_seed") and epoch == 2:
            os.kill(config["driver_pid"], signal.SIGINT)  # Ctrl-C in the driver, as a user would
            time.sleep(120)


def test_a_run_whose_trials_all_ended_gives_its_live_trials_and_an_interrupted_one_does_not(tmp_path):
    """Rows of a finished run come from Tune's live trials (EndedTrials), which must equal what Tune saved;
    after a Ctrl-C the running trial reads TERMINATED in memory, so the rows must come from the saved state."""
    import os
    import tempfile

    import ray
    from ray import tune

    from orchestrator.cluster.ray_auth import loopback_only, use_token_auth
    from orchestrator.records.results import EndedTrials, rows_from_experiment
    from orchestrator.records.storage import Storage

    def fit(name, **config):
        ended = EndedTrials()
        tune.Tuner(_ending_or_interrupting_trial, param_space={"seed": tune.grid_search([0, 1, 2]), **config},
                   tune_config=tune.TuneConfig(max_concurrent_trials=1),
                   run_config=tune.RunConfig(name=name, storage_path=str(tmp_path), verbose=0, callbacks=[ended],
                                             failure_config=tune.FailureConfig(max_failures=0))).fit()
        return ended

    def summary(rows):
        return sorted((r["seed"], r["status"], r.get("epoch"), bool(r.get("error_log"))) for r in rows)

    use_token_auth()
    with loopback_only():
        ray.init(_temp_dir=tempfile.mkdtemp(prefix="jdrows-"), include_dashboard=False, num_cpus=1,
                 object_store_memory=100_000_000, logging_level="error", log_to_driver=False)
    try:
        finished = fit("finished", fail_seed=1)
        interrupted = fit("interrupted", interrupt_seed=1, driver_pid=os.getpid())
    finally:
        ray.shutdown()
    storage = Storage(str(tmp_path), str(tmp_path), None)
    saved = rows_from_experiment(storage, "finished")
    assert summary(saved) == [(0, "TERMINATED", 3, False), (1, "ERROR", 1, True), (2, "TERMINATED", 3, False)]
    assert finished.trials is not None and summary(finished.rows(storage, "finished")) == summary(saved)
    assert interrupted.trials is None
    statuses = [r["status"] for r in sorted(interrupted.rows(storage, "interrupted"), key=lambda r: r["seed"])]
    assert statuses[:2] == ["TERMINATED", "PENDING"] and set(statuses[2:]) <= {"PENDING"}  # the grid is lazy
