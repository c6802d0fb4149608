"""A real, tiny, latency-capped architecture search: Ray Tune + Optuna TPE over the classifier family on
Fashion-MNIST, MLflow on SQLite. The cap sits between the smallest and the largest network of the space as
timed here, so it excludes part of the space."""
import json
import math

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli.main import main as jdnas
from orchestrator.run.sweep import RunOptions, run_sweep
from trainables.measure.latency import measure_latency
from trainables.models import build_model

from .conftest import TINY, needs_fashion_mnist

moocore = pytest.importorskip("moocore")
pytestmark = [pytest.mark.slow]


def latency_here(width: int, expansion: float) -> float:
    """As the trials time it: ONNX Runtime, batch 1, the quick preset's 2 threads, 32 px grey input."""
    model = build_model(dict(task="classifier", classifier="MB2.5-M", width=width, expansion=expansion), 1, 10)
    return measure_latency(model, (1, 32, 32), threads=2, min_run_time=0.2, backend="onnxruntime").median_ms


def pareto_by_hand(points):
    """(acc up, latency down): the points no other point is at least as good as on both and better on one."""
    return {p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)}


@needs_fashion_mnist
def test_capped_search_scores_every_trial_and_keeps_infeasible_points_off_the_front(tmp_path):
    cap = math.sqrt(latency_here(8, 0.0) * latency_here(64, 6.0))  # geometric middle: ~4x from either end
    overrides = dict(TINY, num_samples=7, max_latency_ms=cap)
    outcome = run_sweep("classifier-search", "quick", overrides, RunOptions(workdir=tmp_path))
    assert outcome.complete and len(outcome.rows) == 7
    rows = outcome.rows
    feasible = [r for r in rows if r["latency_ms"] <= cap]
    assert feasible, [r["latency_ms"] for r in rows]  # the searcher finds networks under the cap
    assert len(feasible) < len(rows), (cap, [r["latency_ms"] for r in rows])  # and the cap did exclude some

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db", registry_uri=f"sqlite:///{tmp_path}/mlflow.db")
    parent = client.get_run(outcome.parent_run_id)
    history = sorted(client.get_metric_history(parent.info.run_id, "hypervolume"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(1, 8))  # one point per finished trial
    values = [m.value for m in history]
    assert all(b >= a for a, b in zip(values, values[1:])) and values[-1] > 0
    # the last value against moocore on the feasible points (minimisation form, reference: chance, the cap)
    points = [(-r["val_acc"], r["latency_ms"]) for r in feasible]
    assert values[-1] == pytest.approx(moocore.hypervolume(points, ref=(-10.0, cap)), rel=1e-9)

    front_path = client.download_artifacts(parent.info.run_id, "front.json", str(tmp_path / "dl"))
    logged = json.loads(open(front_path).read())
    front = {(p["val_acc"], p["latency_ms"]) for p in logged["front"]}
    assert front == pareto_by_hand({(r["val_acc"], r["latency_ms"]) for r in feasible})
    assert all(lat <= cap for _, lat in front) and logged["max_latency_ms"] == pytest.approx(cap)

    # the sampler saw the cap as an Optuna constraint: latency - cap on every trial, > 0 for the infeasible ones
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch()
    searcher.restore_from_dir(str(tmp_path / "results" / outcome.name))
    constraints = sorted(t.constraints["latency_ms"] for t in searcher._ot_study.trials)
    assert constraints == pytest.approx(sorted(r["latency_ms"] - cap for r in rows))

    # `jdnas report` rebuilds the curve, the plots and the front from the Parquet alone
    report_dir = tmp_path / "reports" / outcome.name
    for path in report_dir.iterdir():
        path.unlink()
    assert jdnas(["report", "classifier-search", "--workdir", str(tmp_path), *sum(
        (["--set", f"{k}={v}"] for k, v in overrides.items()), [])]) == 0
    assert {"hypervolume_vs_trials.png", "front_acc_vs_latency.png", "front.json", "report.md"} <= \
        {p.name for p in report_dir.iterdir()}
    rebuilt = json.loads((report_dir / "front.json").read_text())
    assert rebuilt["hypervolume"] == pytest.approx(values[-1]) and rebuilt["front"] == logged["front"]
    assert f"Pareto-optimal of {len(feasible)} feasible / 7 finished" in (report_dir / "report.md").read_text()

    # `jdnas best` registers exactly that front (the search's own objectives and cap)
    assert jdnas(["best", "classifier-search", "--workdir", str(tmp_path), *sum(
        (["--set", f"{k}={v}"] for k, v in overrides.items()), [])]) == 0
    versions = client.search_model_versions(f"name = '{outcome.name}'")
    assert {client.get_run(v.run_id).data.tags["jdnas.trial_id"] for v in versions} == \
        {p["trial_id"] for p in logged["front"]}
