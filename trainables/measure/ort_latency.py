"""Latency of a PyTorch model run by ONNX Runtime (CPU), timed like `measure_latency` times eager PyTorch.

Eager PyTorch at batch 1 on a CPU spends much of a small network's time in Python and dispatcher overhead
that an edge deployment (a runtime executing a graph) never pays; ONNX Runtime times what a device runs.
Timed by the device probe's own timer (export/probe.py): blocks of consecutive calls, each >= ~1 ms like
torch.utils.benchmark's blocked_autorange; median and IQR of the blocks' per-call means.
"""
from __future__ import annotations

import numpy as np
import onnxruntime
import torch
from torch import nn

from ..export.onnx_model import INPUT_NAME, to_onnx
from ..export.probe import cpu_session, time_session  # the probe's session and timer: device and local tables agree


def ort_version() -> str:
    return onnxruntime.__version__


def ort_timer(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int, threads: int, warmup: int,
              min_run_time: float):
    """A repeatable measurement of one model: export and session made once, then each call returns
    (median ms, IQR ms) of one ONNX Runtime forward of `batch_size` images (fp32, CPU)."""
    graph = to_onnx(model.cpu(), input_shape, dynamic_batch=False,
                    inputs=(torch.zeros(batch_size, *input_shape),))
    sess = cpu_session(graph, threads)
    image = np.random.default_rng(0).standard_normal((batch_size, *input_shape), dtype=np.float32)
    feed = {INPUT_NAME: image} if sess.get_inputs() else {}  # a part replayed on fixed inputs has none

    def measure() -> tuple[float, float]:
        median, iqr = time_session(lambda: sess.run(None, feed), min_run_time, warmup)
        return median * 1e3, iqr * 1e3

    return measure
