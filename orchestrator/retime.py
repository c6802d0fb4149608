"""Re-time the networks of finished trials on this machine, one at a time, away from the sweep's load.

A trial times its network where it trained: in a process whose allocator has just served a training run
(+10 % on a batch-1 CPU latency after 150 training steps, no Ray involved), beside other trials, the Ray
worker's threads and the driver logging to MLflow. On 2 cores that reads 10-20 % high (a derived network
at 3.43 ms alone, 4.23 ms in its trial), while the latency table was built at the trial's start, so table
error and searched-vs-manual comparisons come out skewed. The report therefore re-times
each network here when this machine has the device the trial measured on, with the trial's batch,
threads and precision, and says which numbers it shows. Parquet and MLflow keep the in-trial values.
"""
from __future__ import annotations

import json
import statistics
from typing import Mapping


TIMING_KEYS = ("latency_device", "latency_batch_size", "latency_threads", "latency_precision", "image_shape",
               "latency_backend")


def local_device(latency_device: str | None) -> str | None:
    """'cpu' or 'cuda' when this machine has the device a latency was measured on, else None."""
    import torch

    from trainables.measure.latency import device_name

    if not latency_device:
        return None
    if latency_device == device_name("cpu"):
        return "cpu"
    if torch.cuda.is_available() and latency_device == device_name("cuda"):
        return "cuda"
    return None


def network_of(row: Mapping, shape: tuple[int, int, int]):
    """The network a result row describes: a derived architecture (`architecture_json`) or a model built
    from the row's config; None for rows that carry neither, or whose model cannot take the input (a manual
    joint model beside a NAS sweep on small images)."""
    from trainables.models import build_model, check_model_input
    from trainables.tasks import MODEL_TASKS

    if row.get("architecture_json"):
        config = dict(task="joint", joint_mode="searched", architecture=json.loads(row["architecture_json"]))
    elif row.get("task") in MODEL_TASKS:
        config = dict(row)
    else:
        return None
    model = build_model(config, shape[0], 10)
    try:
        check_model_input(model, shape[-1])
    except ValueError:
        return None
    return model


def image_shape(row: Mapping) -> tuple[int, int, int]:
    return tuple(int(v) for v in str(row["image_shape"]).split("x"))


def retime(rows: list[Mapping], rounds: int = 3, min_run_time: float = 0.2) -> dict[str, float]:
    """trial_id -> median over `rounds` of the row's latency measured here now (rows this machine cannot
    time, another device or no network, are left out)."""
    from trainables.measure.latency import measure_latency

    out = {}
    for row in rows:
        device = local_device(row.get("latency_device"))
        shape = image_shape(row) if device and row.get("image_shape") else None
        network = network_of(row, shape) if shape else None
        if network is None:
            continue
        timing = dict(device=device, batch_size=int(row["latency_batch_size"]), threads=int(row["latency_threads"]),
                      precision=row.get("latency_precision") or "fp32", min_run_time=min_run_time,
                      backend=row.get("latency_backend") or "torch")
        out[row["trial_id"]] = statistics.median(
            measure_latency(network, shape, **timing).median_ms for _ in range(rounds))
    return out
