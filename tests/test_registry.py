"""`jdnas best` on a hand-made SQLite MLflow store (no Ray): which trials are Pareto-best for each cost and
latency cap, their registry versions and tags, no duplicates on a second call, and models logged from a
run's plain artifacts when the sweep could not log them. Also the ONNX flavour hook."""
import json

import mlflow
from mlflow.tracking._tracking_service.utils import _use_tracking_uri
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from orchestrator.cli.main import main
from orchestrator.tracking.models import log_onnx_model, log_trial_model
from orchestrator.tracking.registry import finished_trial_runs, pareto_best
from trainables.models import build_model

# label -> (test_acc, latency_ms, flops); by hand: C is slower and worse than A; D has the most FLOPs and
# less accuracy than B, but is the fastest.
TRIALS = {"A": (80.0, 2.0, 300.0), "B": (70.0, 1.0, 100.0), "C": (75.0, 3.0, 200.0), "D": (60.0, 0.5, 400.0)}
CONFIG = {"task": "classifier", "classifier": "Conv-S", "data": {"channels": 1, "image_size": 8, "num_classes": 3}}


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("classifier-scaling", artifact_location=str(tmp_path / "artifacts"))
    client.create_run(experiment, run_name="mine", tags={"jdnas.role": "parent", "jdnas.experiment": "mine"})
    torch.manual_seed(0)
    nets = {}
    for label, (acc, latency, flops) in TRIALS.items():
        run = client.create_run(experiment, run_name=label, tags={
            "jdnas.role": "trial", "jdnas.experiment": "mine", "jdnas.trial_id": f"t{label}",
            "latency_device": "test cpu"})
        run_id = run.info.run_id
        for key, value in dict(test_acc=acc, latency_ms=latency, flops=flops, epoch=2).items():
            client.log_metric(run_id, key, value, step=2)
        nets[label] = build_model(CONFIG, 1, 3).eval()
        folder = tmp_path / label
        folder.mkdir()
        torch.save(nets[label].state_dict(), folder / "model.pt")
        (folder / "config.json").write_text(json.dumps(CONFIG))
        for name in ("model.pt", "config.json"):  # what a trial leaves even when logging its model failed
            client.log_artifact(run_id, str(folder / name))
        client.set_terminated(run_id, "FINISHED")
    return tmp_path, uri, client, nets


def chosen(client, **kwargs):
    return sorted(t.label for t in pareto_best(finished_trial_runs(client, "classifier-scaling", "mine"), ["test_acc"],
                                               **kwargs))


def test_pareto_best_per_cost_and_latency_cap(store):
    _, _, client, _ = store
    assert chosen(client, cost="latency") == ["A", "B", "D"]
    assert chosen(client, cost="flops") == ["A", "B", "C"]
    assert chosen(client, cost="latency", max_latency_ms=1.5) == ["B", "D"]
    assert chosen(client, cost="latency", max_latency_ms=0.1) == []


def test_best_registers_versions_with_tags_once_and_they_predict(store, capsys):
    tmp_path, uri, client, nets = store
    args = ["best", "classifier-scaling", "--name", "mine", "--workdir", str(tmp_path), "--model-name", "mine-best"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 Pareto-best of 4 finished trials" in out and out.count(" new ") == 3
    versions = client.search_model_versions("name = 'mine-best'")
    by_trial = {v.tags["trial"]: v for v in versions}
    assert sorted(by_trial) == ["A", "B", "D"]
    expected = {"sweep": "classifier-scaling", "flops": "100", "latency_ms": "1", "device": "test cpu",
                "backend": "torch", "test_acc": "70", "trial_id": "tB", "experiment": "mine"}
    assert {k: by_trial["B"].tags.get(k) for k in expected} == expected
    batch = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    for label, version in by_trial.items():
        with _use_tracking_uri(uri):
            model = mlflow.pyfunc.load_model(f"models:/mine-best/{version.version}")
        predicted = model.predict(batch)
        assert model.metadata.saved_input_example_info["type"] == "ndarray"
        with torch.no_grad():
            np.testing.assert_allclose(predicted, nets[label](torch.from_numpy(batch)).numpy(), atol=1e-5)

    assert main(args) == 0  # again: the same three versions, nothing new
    assert " new " not in capsys.readouterr().out
    assert len(client.search_model_versions("name = 'mine-best'")) == 3
    assert main(args[:-2] + ["--cost", "flops"]) == 0  # the default model name, FLOPs as the cost
    assert sorted(v.tags["trial"] for v in client.search_model_versions("name = 'mine'")) == ["A", "B", "C"]


def test_a_run_gets_its_model_once(store):
    tmp_path, uri, client, _ = store
    run = finished_trial_runs(client, "classifier-scaling", "mine")[0]
    first = log_trial_model(uri, run.info.run_id, tmp_path / run.info.run_name)
    assert log_trial_model(uri, run.info.run_id, tmp_path / run.info.run_name) == first  # resume, retry, sync
    models = client.search_logged_models([run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    assert [m.model_id for m in models] == [first]
    assert log_trial_model(uri, run.info.run_id, tmp_path / "no-such-checkpoint") is None  # e.g. a failed trial


def test_an_onnx_file_joins_its_run_as_the_onnx_flavour(store):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    tmp_path, uri, client, nets = store
    run = finished_trial_runs(client, "classifier-scaling", "mine")[0]
    net = nets[run.info.run_name]
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(path), input_names=["image"], output_names=["logits"],
                      dynamo=False)
    model_id = log_onnx_model(uri, run.info.run_id, path)
    assert log_onnx_model(uri, run.info.run_id, path) == model_id
    with _use_tracking_uri(uri):
        loaded = mlflow.onnx.load_model(f"runs:/{run.info.run_id}/onnx_model")
    session = onnxruntime.InferenceSession(loaded.SerializeToString())
    batch = np.random.default_rng(2).random((1, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {"image": batch})[0], net(torch.from_numpy(batch)).numpy(),
                                   atol=1e-5)
