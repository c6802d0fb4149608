"""A trial's final network as an MLflow model named `model` on its child run.

Flavour: PyTorch, serialised with `torch.export` (`.pt2`): no pickle, so nothing runs on load, and it
works for every jdnas network once joint outputs are a plain dict (MLflow's default pickle path would
need `weights_only=False`). A signature (float32 NCHW, dynamic batch) and an input example travel with
it; the `python_function` loader shipped inside (`jdnas_pyfunc`) returns an array, or {image, logits}
for joint networks, so `mlflow.pyfunc.load_model("runs:/RUN/model").predict(batch)` works everywhere.

The driver logs it from the trial's last checkpoint (`model.pt` + `config.json`): one MLflow writer, and
a model already logged for the run is never logged again (resume, retry, `sync-mlflow`, `jdnas best`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow.onnx
import mlflow.pytorch
import numpy as np
import onnx
import torch
from mlflow import MlflowClient
from mlflow.models import Model, ModelSignature
from mlflow.tracking._tracking_service.utils import _use_tracking_uri
from mlflow.types import Schema, TensorSpec

from orchestrator.tracking.filters import literal
from torch import nn

from trainables.models import build_model

MODEL_NAME = "model"
ONNX_MODEL_NAME = "onnx_model"
LOADER = Path(__file__).with_name("jdnas_pyfunc.py")
EXAMPLE_BATCH = 2  # torch.export fixes size-1 dimensions; 2 keeps the batch axis dynamic


class ServingNet(nn.Module):
    """The trained network with plain outputs: a tensor, or {'image', 'logits'} for joint networks
    (torch.export cannot save the JointOutput named tuple without jdnas on the loading side)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor):
        out = self.net(x)
        return out if isinstance(out, torch.Tensor) else {"image": out.image, "logits": out.logits}


def trial_network(directory: str | Path) -> tuple[nn.Module, dict]:
    """The network of a finished trial (eval mode, CPU) and its config, from `model.pt` and `config.json`."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    data = config.get("data", {})
    net = build_model(config, data.get("channels", 3), data.get("num_classes", 10))
    net.load_state_dict(torch.load(directory / "model.pt", map_location="cpu", weights_only=True))
    return net.eval(), config


def input_shape(config: dict) -> tuple[int, int, int]:
    data = config["data"]
    return data.get("channels", 3), data["image_size"], data["image_size"]


def signature_and_example(net: nn.Module, shape: tuple[int, int, int]):
    example = np.random.default_rng(0).random((EXAMPLE_BATCH, *shape), dtype=np.float32)
    with torch.no_grad():
        out = ServingNet(net)(torch.from_numpy(example))
    outputs = out if isinstance(out, dict) else {None: out}
    spec = lambda value, name=None: TensorSpec(np.dtype(np.float32), (-1, *value.shape[1:]), name)
    return ModelSignature(Schema([spec(example)]), Schema([spec(v, k) for k, v in outputs.items()])), example


def save_model(path, mlflow_model, pytorch_model, **kwargs) -> None:
    """Flavour hook for `Model.log`: MLflow's PyTorch flavour, with our pyfunc loader in place of its own."""
    kwargs.pop("validate_serving_input", None)
    mlflow.pytorch.save_model(pytorch_model, path, mlflow_model=mlflow_model, **kwargs)
    mlflow_model.flavors["python_function"]["loader_module"] = LOADER.stem
    mlflow_model.save(str(Path(path) / "MLmodel"))


def logged_model(client, run_id: str, name: str = MODEL_NAME):
    """The READY logged model `name` of a run, or None."""
    run = client.get_run(run_id)
    found = client.search_logged_models([run.info.experiment_id],
                                        filter_string=f"source_run_id = {literal(run_id)} AND name = {literal(name)}")
    return next((m for m in found if str(m.status) in ("READY", "LoggedModelStatus.READY")), None)


def log_trial_model(tracking_uri: str, run_id: str, checkpoint_dir: str | Path) -> str | None:
    """Log the trial's network as the run's model (once); returns its model id, None without weights."""
    if not (Path(checkpoint_dir) / "model.pt").exists() or not (Path(checkpoint_dir) / "config.json").exists():
        return None
    client = MlflowClient(tracking_uri)
    if (existing := logged_model(client, run_id)) is not None:
        return existing.model_id
    net, config = trial_network(checkpoint_dir)
    signature, example = signature_and_example(net, input_shape(config))
    run = client.get_run(run_id)
    model = client.create_logged_model(run.info.experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                       params=dict(run.data.params), model_type=config.get("task"))
    step = int(run.data.metrics.get("epoch", 0))  # the model carries the run's final metrics
    with _use_tracking_uri(tracking_uri):
        Model.log(name=MODEL_NAME, artifact_path=None, flavor=sys.modules[__name__], flavor_name="pytorch",
                  run_id=run_id, model_id=model.model_id, step=step, pytorch_model=ServingNet(net),
                  serialization_format="pt2", signature=signature, input_example=example,
                  code_paths=[str(LOADER)], pip_requirements=[f"torch=={torch.__version__}", "numpy"],
                  validate_serving_input=False)  # MLflow would only warn; saves the driver ~1.5 s a trial
    client.finalize_logged_model(model.model_id, "READY")
    return model.model_id


def log_onnx_model(tracking_uri: str, run_id: str, onnx_path: str | Path) -> str:
    """The one place an exported ONNX file joins its trial's run, as MLflow's ONNX flavour (`onnx_model`)."""
    client = MlflowClient(tracking_uri)
    if (existing := logged_model(client, run_id, ONNX_MODEL_NAME)) is not None:
        return existing.model_id
    run = client.get_run(run_id)
    model = client.create_logged_model(run.info.experiment_id, name=ONNX_MODEL_NAME, source_run_id=run_id)
    with _use_tracking_uri(tracking_uri):
        mlflow.onnx.log_model(onnx.load(str(onnx_path)), name=ONNX_MODEL_NAME, run_id=run_id, model_id=model.model_id)
    client.finalize_logged_model(model.model_id, "READY")
    return model.model_id
