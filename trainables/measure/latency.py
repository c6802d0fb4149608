"""Inference latency with torch.utils.benchmark: warm-up, then median and IQR per forward of a batch.

The paper times a batch of 32 on a GPU (docs/paper.md §6); CPU users usually want batch 1. Device,
batch, threads, precision and backend are arguments and come back with the result, because a latency
without its device is meaningless. Backends: `torch` (eager PyTorch) or `onnxruntime` (the model exported
to ONNX and run by ONNX Runtime on the CPU, fp32; see measure/ort_latency.py and docs/deploy.md), or
`auto`, the trials' default: ONNX Runtime where it can time the request (CPU, fp32), since eager PyTorch on a
CPU mostly times framework overhead that no deployed runtime pays, and PyTorch elsewhere (GPU, bf16/fp16).
"""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils import benchmark

from .ort_latency import ort_timer, ort_version

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
BACKENDS = ("auto", "torch", "onnxruntime")


@dataclass(frozen=True)
class Latency:
    median_ms: float
    iqr_ms: float
    device: str
    device_name: str
    batch_size: int
    threads: int
    precision: str
    torch_version: str
    backend: str = "torch"
    backend_version: str = torch.__version__

    def as_dict(self) -> dict:
        return asdict(self)


def device_name(device: torch.device | str) -> str:
    """Human-readable name of the device, e.g. 'NVIDIA H100 80GB HBM3' or the CPU model string."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_backend(backend: str, device: torch.device | str = "cpu", precision: str = "fp32") -> str:
    """The backend that times a request: `auto` is onnxruntime for fp32 on a CPU and torch otherwise; an
    explicit onnxruntime request for anything else is refused here, the one place that decides."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown latency backend {backend!r}; choose one of {list(BACKENDS)}")
    on_cpu_fp32 = torch.device(device).type == "cpu" and precision == "fp32"
    if backend == "onnxruntime" and not on_cpu_fp32:
        raise ValueError(f"the onnxruntime latency backend times fp32 on the CPU, not {precision} on "
                         f"{torch.device(device).type}")
    if backend != "auto":
        return backend
    return "onnxruntime" if on_cpu_fp32 else "torch"


def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], *, device: str = "cpu",
                    batch_size: int = 1, threads: int = 1, precision: str = "fp32",
                    warmup: int = 10, min_run_time: float = 0.5, backend: str = "torch") -> Latency:
    """Median and IQR (ms) of one forward pass of `batch_size` images of `input_shape`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {sorted(PRECISIONS)}")
    dev = torch.device(device)
    if resolve_backend(backend, dev, precision) == "onnxruntime":
        return _onnxruntime_latency(model, input_shape, dev, batch_size, threads, precision, warmup, min_run_time)
    if dev.type == "cpu" and precision == "fp16":
        raise ValueError("fp16 latency needs a CUDA device; use bf16 or fp32 on CPU")
    model = model.to(dev).eval()
    x = torch.randn(batch_size, *input_shape, device=dev)
    dtype = PRECISIONS[precision]

    def forward():
        with torch.no_grad(), torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            model(x)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            forward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        timer = benchmark.Timer(stmt="forward()", globals={"forward": forward}, num_threads=threads)
        measurement = timer.blocked_autorange(min_run_time=min_run_time)
    finally:
        torch.set_num_threads(previous_threads)
    return Latency(median_ms=measurement.median * 1e3, iqr_ms=measurement.iqr * 1e3, device=str(dev),
                   device_name=device_name(dev), batch_size=batch_size, threads=threads,
                   precision=precision, torch_version=torch.__version__)


def _onnxruntime_latency(model: nn.Module, input_shape: tuple[int, int, int], dev: torch.device, batch_size: int,
                         threads: int, precision: str, warmup: int, min_run_time: float) -> Latency:
    median_ms, iqr_ms = ort_timer(model, input_shape, batch_size, threads, warmup, min_run_time)()
    return Latency(median_ms=median_ms, iqr_ms=iqr_ms, device=str(dev), device_name=device_name(dev),
                   batch_size=batch_size, threads=threads, precision=precision, torch_version=torch.__version__,
                   backend="onnxruntime", backend_version=ort_version())


def latency_timer(model: nn.Module, input_shape: tuple[int, int, int], **timing) -> Callable[[], float]:
    """A repeatable measurement (median ms) of one model under `timing` (measure_latency's keywords), for
    interleaved timing of many models: with onnxruntime the export and the session are made once."""
    dev = timing.get("device", "cpu")
    if resolve_backend(timing.get("backend", "torch"), dev, timing.get("precision", "fp32")) == "onnxruntime":
        measure = ort_timer(model, input_shape, timing.get("batch_size", 1), timing.get("threads", 1),
                            timing.get("warmup", 10), timing.get("min_run_time", 0.5))
        return lambda: measure()[0]
    return lambda: measure_latency(model, input_shape, **timing).median_ms


def interleaved(timers: list[Callable[[], float]], rounds: int, on_step: Callable[[], None] | None = None
                ) -> list[list[float]]:
    """`rounds` passes, each calling every timer once: load from other processes spreads over all timers."""
    times: list[list[float]] = [[] for _ in timers]
    for _ in range(rounds):
        for i, timer in enumerate(timers):
            times[i].append(timer())
            if on_step is not None:
                on_step()
    return times
