"""`python_function` loader of the MLflow models jdnas logs. It travels inside every logged model
(`code/jdnas_pyfunc.py`), so `mlflow.pyfunc.load_model` works where only torch and mlflow are
installed: it imports nothing from jdnas.

The network itself is the PyTorch flavour's `torch.export` program (pickle-free `.pt2`). MLflow's own
PyTorch pyfunc accepts a single output tensor only; joint networks return the denoised image and the
logits, so this loader hands back a numpy array for one output and a dict of arrays for several.
"""
from __future__ import annotations

from typing import Any

import mlflow.pytorch
import numpy as np
import torch


class JdnasPredictor:
    def __init__(self, module, device: str):
        self.module, self.device = module, device

    def get_raw_model(self):
        return self.module

    def predict(self, data, params: dict[str, Any] | None = None):
        batch = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(self.device)
        with torch.no_grad():
            output = self.module(batch)
        if isinstance(output, dict):
            return {name: value.cpu().numpy() for name, value in output.items()}
        return output.cpu().numpy()


def _load_pyfunc(path: str, model_config: dict | None = None) -> JdnasPredictor:
    wrapper = mlflow.pytorch._load_pyfunc(path, model_config)  # device choice and the pt2 safety checks
    return JdnasPredictor(wrapper.get_raw_model(), wrapper.device)
