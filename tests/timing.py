"""Timing comparisons that hold on a loaded machine: both sides are measured in alternating rounds (so a
burst of load from other processes lands on both) and compared by their fastest round (load only ever adds
time). BAND is how far two honest timings of the same work may still differ on a busy 2-core box."""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import numpy as np
import onnxruntime as ort
import torch

BAND = (0.5, 2.0)


def fastest_alternated(rounds: int, sides: dict[str, Callable[[], dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each side returns {name: ms}; per side and name, the smallest value over `rounds` alternating rounds."""
    best: dict[str, dict[str, float]] = {side: {} for side in sides}
    for _ in range(rounds):
        for side, measure in sides.items():
            for name, ms in measure().items():
                best[side][name] = min(best[side].get(name, math.inf), ms)
    return best


def within_band(value: float, reference: float) -> bool:
    return BAND[0] * reference < value < BAND[1] * reference


def plain_forward_ms(model: torch.nn.Module, x: torch.Tensor, min_run_time: float = 0.1,
                     block_s: float = 0.01) -> float:
    """Milliseconds per `model(x)` under no_grad from a bare perf_counter loop: blocks of about `block_s`
    of calls for `min_run_time`, the median block; the statistic a latency backend reports, measured the
    same way so that the load of other processes inflates both alike."""
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        model(x)  # warm-up, and the size of a block
        calls = max(1, math.ceil(block_s / (time.perf_counter() - t0)))
        per_block, start = [], time.perf_counter()
        while time.perf_counter() - start < min_run_time or len(per_block) < 3:
            t0 = time.perf_counter()
            for _ in range(calls):
                model(x)
            per_block.append((time.perf_counter() - t0) / calls * 1e3)
    return statistics.median(per_block)


def plain_ort_ms(path) -> float:
    """Milliseconds per session.run of an ONNX file on a 1-thread CPU session, the median of ~1 ms blocks over
    20 ms: the reference the ONNX Runtime timings (probe, latency table) are held to."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {i.name: np.zeros([int(d) for d in i.shape], np.float32) for i in session.get_inputs()}
    for _ in range(5):
        session.run(None, feed)
    t0 = time.perf_counter()
    session.run(None, feed)
    calls = max(1, int(1e-3 / max(time.perf_counter() - t0, 1e-6)))
    blocks, start = [], time.perf_counter()
    while time.perf_counter() - start < 0.02 or len(blocks) < 3:
        t0 = time.perf_counter()
        for _ in range(calls):
            session.run(None, feed)
        blocks.append((time.perf_counter() - t0) / calls * 1e3)
    return statistics.median(blocks)
