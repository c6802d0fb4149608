"""Latency of a PyTorch model run by ONNX Runtime (CPU), timed like `measure_latency` times eager PyTorch.

Eager PyTorch at batch 1 on a CPU spends much of a small network's time in Python and dispatcher overhead
that an edge deployment (a runtime executing a graph) never pays; ONNX Runtime times what a device runs.
Blocks of consecutive calls are timed (each block >= ~1 ms, like torch.utils.benchmark's
blocked_autorange), and the median and IQR of the per-call means of the blocks come back.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn


def ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def time_session(run, min_run_time: float, warmup: int = 10) -> tuple[float, float]:
    """(median, IQR) in seconds per call of `run()`: warm-up, then blocks of calls for `min_run_time`."""
    for _ in range(warmup):
        run()
    t0 = time.perf_counter()
    run()
    single = max(time.perf_counter() - t0, 1e-6)
    per_block = max(1, int(1e-3 / single))
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < min_run_time or len(samples) < 3:
        t0 = time.perf_counter()
        for _ in range(per_block):
            run()
        samples.append((time.perf_counter() - t0) / per_block)
    q1, median, q3 = np.percentile(samples, [25, 50, 75])
    return float(median), float(q3 - q1)


def ort_latency(model: nn.Module, input_shape: tuple[int, int, int], batch_size: int, threads: int,
                warmup: int, min_run_time: float) -> tuple[float, float]:
    """(median ms, IQR ms) of one ONNX Runtime forward of `batch_size` images (fp32, CPU)."""
    from ..export.onnx_model import INPUT_NAME, session, to_onnx

    graph = to_onnx(model.cpu(), input_shape, dynamic_batch=False,
                    inputs=(torch.zeros(batch_size, *input_shape),))
    sess = session(graph, threads)
    image = np.random.default_rng(0).standard_normal((batch_size, *input_shape), dtype=np.float32)
    feed = {INPUT_NAME: image} if sess.get_inputs() else {}  # a part replayed on fixed inputs has none
    median, iqr = time_session(lambda: sess.run(None, feed), min_run_time, warmup)
    return median * 1e3, iqr * 1e3
