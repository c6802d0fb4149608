"""Direct MLflow UI addresses of jdnas experiments, printed by `jdnas ui` before it starts the server.

jdnas experiments created before jdnas tagged them as model training get the tag here, so an old store also
opens on "Training runs" rather than MLflow's GenAI overview.
"""
from __future__ import annotations

from mlflow import MlflowClient

from orchestrator.tracking.runs import EXPERIMENT_KIND, MODEL_TRAINING


def experiment_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table in MLflow's model-training layout. The layout toggle (GenAI or model
    training) is kept in the browser's localStorage and starts on GenAI, whose experiment page is a traces
    overview; the address names the layout so a fresh browser opens on the runs too."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def is_jdnas(client: MlflowClient, experiment_id: str) -> bool:
    return bool(client.search_runs([experiment_id], "tags.`jdnas.role` = 'parent'", max_results=1))


def experiment_links(tracking_uri: str, base: str, sweep_name: str | None = None) -> list[str]:
    """One 'name: address' line per jdnas experiment (only `sweep_name` when given)."""
    client = MlflowClient(tracking_uri)
    if sweep_name:
        experiment = client.get_experiment_by_name(sweep_name)
        if experiment is None:
            return [f"  no experiment {sweep_name!r} in {tracking_uri} yet (run `jdnas run {sweep_name}` first)"]
        experiments = [experiment]
    else:
        experiments = [e for e in client.search_experiments() if e.name != "Default"]
    lines = []
    for experiment in experiments:
        if experiment.tags.get(EXPERIMENT_KIND) != MODEL_TRAINING and is_jdnas(client, experiment.experiment_id):
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        lines.append(f"  {experiment.name}: {experiment_url(base, experiment.experiment_id)}")
    return lines
