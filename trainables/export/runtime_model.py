"""An ONNX Runtime session behind the nn.Module interface, so the project's one evaluation
(trainables.evaluate) scores exported and quantised models exactly as it scores the PyTorch ones."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models.joint import JointOutput
from ..tasks import task_spec
from .onnx_model import INPUT_NAME
from .probe import cpu_session


class RuntimeModel(nn.Module):
    def __init__(self, model_bytes: bytes, task: str, threads: int = 1):
        super().__init__()
        self.session, self.task = cpu_session(model_bytes, threads), task

    def forward(self, x: torch.Tensor):
        outputs = [torch.from_numpy(o) for o in
                   self.session.run(None, {INPUT_NAME: np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32)})]
        return JointOutput(*outputs) if task_spec(self.task).joint else outputs[0]
