"""`jdnas best`: the Pareto-best trials of a finished sweep, read from its MLflow child runs, registered in
the MLflow Model Registry as versions of one registered model per sweep experiment.

Quality is test accuracy and/or test PSNR (mean over the noise levels), cost is latency or FLOPs; a trial
is kept when no other trial is at least as good on every objective and better on one. Registering is
idempotent: a run that already has a version of the registered model is not registered again.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from orchestrator.pareto.front import pareto_front
from orchestrator.tracking.filters import literal
from orchestrator.tracking.models import MODEL_NAME, log_trial_model, logged_model

QUALITY = {"acc": "test_acc", "psnr": "test_psnr"}
COST = {"latency": "latency_ms", "flops": "flops"}


@dataclass
class BestTrial:
    run_id: str
    label: str
    metrics: dict[str, float]
    tags: dict[str, str]
    version: str | None = None
    new: bool = False


def finished_trial_runs(client: MlflowClient, sweep_name: str, experiment_name: str) -> list:
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id],
                              f"tags.`jdnas.experiment` = {literal(experiment_name)} and tags.`jdnas.role` = 'trial' "
                              "and attributes.status = 'FINISHED'", max_results=10000)


def quality_metrics(runs: list, objective: str) -> list[str]:
    """'acc', 'psnr', 'both', or 'auto': every quality metric all runs carry (accuracy, PSNR or both)."""
    if objective != "auto":
        return [QUALITY[o] for o in (("acc", "psnr") if objective == "both" else (objective,))]
    return [m for m in QUALITY.values() if runs and all(m in r.data.metrics for r in runs)]


def pareto_best(runs: list, quality: list[str], cost: str, max_latency_ms: float | None = None) -> list[BestTrial]:
    """The non-dominated runs (quality up, cost down), cheapest first."""
    keys = [*quality, COST[cost]]
    scored = [r for r in runs if all(math.isfinite(r.data.metrics.get(k, math.nan)) for k in keys)]
    if max_latency_ms is not None:
        scored = [r for r in scored if r.data.metrics.get("latency_ms", math.inf) <= max_latency_ms]
    front = pareto_front([tuple(r.data.metrics[k] for k in keys) for r in scored],
                         tuple([True] * len(quality) + [False]))
    chosen = sorted((scored[i] for i in front), key=lambda r: r.data.metrics[COST[cost]])
    return [BestTrial(r.info.run_id, r.info.run_name, dict(r.data.metrics), dict(r.data.tags)) for r in chosen]


def search_front(runs: list, optimize, cap: float | None) -> list[BestTrial]:
    """An architecture search's own front (its objectives, feasible under the cap), cheapest first: what its
    `hypervolume` scored, so `jdnas best` registers exactly that front."""
    from orchestrator.pareto.score import front  # lazy: only architecture searches need it

    by_row = [(dict(r.data.metrics, status="TERMINATED"), r) for r in runs]
    kept = {id(row) for row in front([row for row, _ in by_row], optimize, cap)}
    chosen = sorted((r for row, r in by_row if id(row) in kept), key=lambda r: r.data.metrics.get("latency_ms", 0))
    return [BestTrial(r.info.run_id, r.info.run_name, dict(r.data.metrics), dict(r.data.tags)) for r in chosen]


def version_tags(trial: BestTrial, sweep_name: str, experiment_name: str) -> dict[str, str]:
    m, t = trial.metrics, trial.tags
    counts = {k: f"{m[k]:.0f}" for k in ("flops", "macs", "params", "latency_batch_size", "latency_threads") if k in m}
    measured = {k: f"{m[k]:.4g}" for k in ("latency_ms", *QUALITY.values()) if k in m}
    return {"sweep": sweep_name, "experiment": experiment_name, "trial": trial.label,
            "trial_id": t.get("jdnas.trial_id", ""), "device": t.get("latency_device", "unknown"),
            "train_device": t.get("device", "unknown"), "backend": t.get("latency_backend", "torch"),
            **counts, **measured}


def ensure_logged_model(client: MlflowClient, tracking_uri: str, run_id: str) -> str:
    """The run's MLflow model id, logging it from the run's model.pt and config.json if it is missing."""
    if (model := logged_model(client, run_id)) is not None:
        return model.model_id
    with tempfile.TemporaryDirectory(prefix="jdnas-best-") as directory:
        for name in ("model.pt", "config.json"):
            client.download_artifacts(run_id, name, directory)
        model_id = log_trial_model(tracking_uri, run_id, directory)
    if model_id is None:
        raise ValueError(f"run {run_id} has no model.pt/config.json to build its model from")
    return model_id


def register(client: MlflowClient, tracking_uri: str, model_name: str, trials: list[BestTrial], sweep_name: str,
             experiment_name: str) -> list[BestTrial]:
    """A registry version per trial that has none yet (found by run id); fills each trial's version."""
    if client.search_registered_models(f"name = {literal(model_name)}"):
        existing = {v.run_id: v for v in client.search_model_versions(f"name = {literal(model_name)}")}
    else:
        client.create_registered_model(model_name, tags={"sweep": sweep_name, "experiment": experiment_name},
                                       description=f"Pareto-best trials of the jdnas sweep {experiment_name}")
        existing = {}
    for trial in trials:
        if trial.run_id in existing:
            trial.version = existing[trial.run_id].version
            continue
        model_id = ensure_logged_model(client, tracking_uri, trial.run_id)
        with _use_tracking_uri(tracking_uri):  # the registry resolves models:/ARTIFACTS via the global store
            version = client.create_model_version(model_name, source=f"models:/{model_id}", run_id=trial.run_id,
                                                  tags=version_tags(trial, sweep_name, experiment_name),
                                                  model_id=model_id, description=f"{trial.label} ({MODEL_NAME})")
        trial.version, trial.new = version.version, True
    return trials
