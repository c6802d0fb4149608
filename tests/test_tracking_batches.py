"""SweepTracker on a real SQLite store: log_epochs sends queued epochs in as few log_batch calls as MLflow's
1,000-metric limit allows (a resumed or re-synced sweep has many) and still logs each epoch exactly once; two
sweeps started at once share their experiment."""
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
