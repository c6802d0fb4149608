"""SweepTracker on a real SQLite store: log_epochs sends queued epochs in as few log_batch calls as MLflow's
1,000-metric limit allows (a resumed or re-synced sweep has many) and still logs each epoch exactly once; two
sweeps started at once share their experiment; the callback queues and one sender thread writes."""
import threading
import time
from types import SimpleNamespace

from mlflow.tracking import MlflowClient

from orchestrator.tracking.runs import MLflowCallback, SweepTracker


def test_queued_epochs_go_in_few_calls_and_each_once(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = SweepTracker(uri, "batches", "batches-1", str(tmp_path / "artifacts"))
    run_id = tracker.child_run(tracker.parent_run({}, {}), "t1", "t1", {"seed": 0}, {})
    calls = []
    log_batch = tracker.client.log_batch
    monkeypatch.setattr(tracker.client, "log_batch",  # a spy: every call still reaches the real store
                        lambda *a, **k: calls.append(len(k["metrics"])) or log_batch(*a, **k))
    results = [{"epoch": e, **{f"m{i}": e + i for i in range(39)}} for e in range(1, 31)]  # 30 x 40 metrics
    assert tracker.log_epochs(run_id, results + results[:5]) == 30  # a replayed result is not sent twice
    assert calls == [880, 320]  # 22 + 8 whole epochs, under the 900-metric batch
    assert tracker.log_epochs(run_id, results) == 0
    history = MlflowClient(uri).get_metric_history(run_id, "m38")
    assert sorted(m.step for m in history) == list(range(1, 31)) and {m.value - m.step for m in history} == {38}


def test_a_sweep_whose_experiment_another_driver_created_meanwhile_joins_it(tmp_path, monkeypatch):
    """Two sweeps started at once: both look the experiment up, find none, and both create it; the loser
    of that race joins the winner's experiment (CI saw it exit 3 on RESOURCE_ALREADY_EXISTS instead)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    winner, loser = (SweepTracker(uri, "race", f"race-{i}", str(tmp_path / "artifacts")) for i in (1, 2))
    lookup = loser.client.get_experiment_by_name
    looked_up = []

    def lookup_before_the_winner_creates(name):  # the race, forced: the winner creates right after our lookup
        found = lookup(name)
        if not looked_up:
            looked_up.append(winner.experiment_id)
        return found

    monkeypatch.setattr(loser.client, "get_experiment_by_name", lookup_before_the_winner_creates)
    assert loser.experiment_id == looked_up[0]
    loser.child_run(loser.parent_run({}, {}), "t1", "t1", {"seed": 0}, {})
    assert [e.name for e in MlflowClient(uri).search_experiments()] == ["race", "Default"]


def test_tunes_loop_never_waits_on_a_hung_store_and_what_queued_meanwhile_goes_in_one_batch(tmp_path, monkeypatch):
    """The callback only queues: while the store hangs (the first send blocks until released), every result
    of a trial is accepted at once; then the queue drains in two sends, not one per result, each epoch once,
    and the ending is written after them."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    parent = SweepTracker(uri, "hung", "hung-1", str(tmp_path / "artifacts")).parent_run({}, {})
    callback = MLflowCallback(uri, "hung", "hung-1", parent, str(tmp_path / "artifacts"))
    store_answers, sends = threading.Event(), []
    log_batch = callback.tracker.client.log_batch

    def hung_log_batch(run_id, metrics=(), **kwargs):  # a spy: every call still reaches the real store
        if metrics:
            sends.append(sorted({m.step for m in metrics}))
            assert store_answers.wait(timeout=10)
        return log_batch(run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(callback.tracker.client, "log_batch", hung_log_batch)
    trial = SimpleNamespace(trial_id="t1", config={"seed": 0, "label": "sleeper"}, checkpoint=None,
                            last_result={"epoch": 30})
    callback.on_trial_start(0, [], trial)
    for epoch in range(1, 31):
        callback.on_trial_result(0, [], trial, {"epoch": epoch, "val_acc": epoch / 100})
        if epoch == 1:
            while not sends:  # the sender holds epoch 1 and waits for the store
                time.sleep(0.01)
    assert sends == [[1]] and callback.unsent == 30  # all 30 accepted while the first send still hangs
    callback.on_trial_complete(0, [], trial)
    store_answers.set()
    callback.on_experiment_end([])
    assert callback.unsent == 0 and sends == [[1], list(range(2, 31))]
    client = MlflowClient(uri)
    run = client.get_run(callback.runs["t1"])
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == list(range(1, 31))
