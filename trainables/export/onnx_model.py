"""A trained model as an ONNX graph with named inputs/outputs and a dynamic batch axis, and its check.

Input `image` (N, C, H, W); outputs by task: classifier `logits`, denoiser `denoised`, joint
`denoised` and `logits`. The TorchScript exporter (`dynamo=False`) is used: it takes ~0.2 s per model
against ~3 s for the dynamo exporter, which matters when the latency table exports hundreds of blocks,
and both give graphs that agree with PyTorch to ~1e-6 on these models.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import torch
from torch import nn

from ..tasks import TASKS
from .probe import cpu_session

INPUT_NAME = "image"
OUTPUT_NAMES = {name: ("denoised",) * task.image + ("logits",) * task.logits for name, task in TASKS.items() if task.built}
TOLERANCE = 1e-4  # max abs difference ORT vs PyTorch in fp32
OPSET = 17


class _Tuple(nn.Module):
    """Joint models return a NamedTuple; the exporter wants plain tensors or tuples."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return tuple(out) if isinstance(out, tuple) else out


def output_names(task: str) -> tuple[str, ...]:
    if task not in OUTPUT_NAMES:
        raise ValueError(f"cannot export task {task!r}; one of {sorted(OUTPUT_NAMES)}")
    return OUTPUT_NAMES[task]


def to_onnx(model: nn.Module, input_shape: tuple[int, ...], outputs: tuple[str, ...] = ("output",),
            inputs: tuple | None = None, dynamic_batch: bool = True) -> bytes:
    """Serialised ONNX model of `model` in eval mode (batch 1 trace, batch axis dynamic unless told).
    `inputs`: example arguments other than one image (they are named input_0, input_1, ... then)."""
    model = _Tuple(model).eval().cpu()
    example = inputs if inputs is not None else (torch.zeros(1, *input_shape),)
    flat = [t for arg in example for t in (arg if isinstance(arg, (list, tuple)) else [arg])]
    names = [INPUT_NAME] if len(flat) == 1 else [f"input_{i}" for i in range(len(flat))]
    axes = {name: {0: "batch"} for name in (*names, *outputs)} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, buffer, input_names=names, output_names=list(outputs),
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    return buffer.getvalue()


def torch_outputs(model: nn.Module, images: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        out = _Tuple(model).eval()(images)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def check_export(model: nn.Module, model_bytes: bytes, images: np.ndarray, tolerance: float = TOLERANCE) -> float:
    """onnx.checker, then ONNX Runtime vs PyTorch on `images` (a real batch); returns the max abs
    difference over all outputs, ValueError when it exceeds `tolerance`."""
    onnx.checker.check_model(onnx.load_from_string(model_bytes), full_check=True)
    images = np.ascontiguousarray(images, dtype=np.float32)
    ort_out = cpu_session(model_bytes, 1).run(None, {INPUT_NAME: images})
    ref = torch_outputs(model, torch.from_numpy(images))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ort_out, ref))
    if not diff <= tolerance:
        raise ValueError(f"ONNX Runtime output differs from PyTorch by {diff:.3g} (> {tolerance:g}); "
                         "the export is not faithful")
    return diff
