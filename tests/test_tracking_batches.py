"""SweepTracker.log_epochs sends queued epochs in as few log_batch calls as MLflow's 1,000-metric limit allows
(a resumed or re-synced sweep has many), on a real SQLite store, and still logs each epoch exactly once."""
from mlflow.tracking import MlflowClient

from orchestrator.tracking import SweepTracker


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
