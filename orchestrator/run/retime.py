"""Time the networks of finished trials again, one at a time, away from the sweep's load: the step of the
exclusive latency phase (orchestrator.run.exclusive_latency) for sweeps whose trials derive their network.

A trial times its network where it trained: in a process whose allocator has just served a training run
(+10 % on a batch-1 CPU latency after 150 training steps, no Ray involved), beside other trials, the Ray
worker's threads and the driver logging to MLflow. On 2 cores that reads 10-20 % high (a derived network
at 3.43 ms alone, 4.23 ms in its trial), while the latency table was built at the trial's start, so table
error and searched-vs-manual comparisons come out skewed. After the last trial, on a machine that has the
device the trial measured on, each derived network is timed alone with the trial's batch, threads and
precision, and beside it, taken alike, the target's reference model and the manual joint models the NAS
plot compares with. The results go into the rows (Parquet) and MLflow; the report only reads them.
"""
from __future__ import annotations

import json
import time
from typing import Mapping

import torch

from trainables.measure.latency import device_name, measure_latency
from trainables.models import build_model, check_model_input
from trainables.tasks import MODEL_TASKS
from trainables.models.catalog import paper_model_configs


TIMING_KEYS = ("latency_device", "latency_batch_size", "latency_threads", "latency_precision", "image_shape",
               "latency_backend")


def local_device(latency_device: str | None) -> str | None:
    """'cpu' or 'cuda' when this machine has the device a latency was measured on, else None."""
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


def time_row(row: Mapping, rounds: int = 3, min_run_time: float = 0.2) -> dict | None:
    """The row's network timed here now with the row's settings: latency_ms and latency_iqr_ms of the median
    of `rounds` measurements, and when; None when this machine cannot time it (another device, no network)."""
    device = local_device(row.get("latency_device"))
    shape = image_shape(row) if device and row.get("image_shape") else None
    network = network_of(row, shape) if shape else None
    if network is None:
        return None
    timing = dict(device=device, batch_size=int(row["latency_batch_size"]), threads=int(row["latency_threads"]),
                  precision=row.get("latency_precision") or "fp32", min_run_time=min_run_time,
                  backend=row.get("latency_backend") or "torch")
    runs = sorted((measure_latency(network, shape, **timing) for _ in range(rounds)), key=lambda m: m.median_ms)
    middle = runs[len(runs) // 2]
    return {"latency_ms": middle.median_ms, "latency_iqr_ms": middle.iqr_ms, "latency_measured_at": time.time()}


def time_derived(rows: list[dict], manual: list[dict], manual_rounds: int = 3) -> list[dict]:
    """One entry per finished row whose network this machine can time: {'trial_id', latency_ms, latency_iqr_ms,
    latency_measured_at, 'reference_latency_ms' (the target's reference model, when the row has one),
    'manual_latency_ms': {variant: ms} of the `manual` networks (configs with a `variant_label`) timed alike}.
    Reference and manual networks are timed once per distinct setting (device, batch, threads, ...)."""
    references, manuals, entries = {}, {}, []
    for row in rows:
        timed = time_row(row) if row.get("status") == "TERMINATED" and row.get("latency_ms") is not None else None
        if timed is None:
            continue
        setting = {k: row.get(k) for k in TIMING_KEYS}
        key = tuple(setting.values())
        if key not in manuals:
            manuals[key] = {m["variant_label"]: t["latency_ms"] for m in manual
                            if (t := time_row({**m, **setting}, rounds=manual_rounds))}
        entry = {"trial_id": row["trial_id"], **timed, "manual_latency_ms": manuals[key]}
        reference = row.get("target_reference")
        if row.get("reference_latency_ms") and reference in paper_model_configs():
            if (key, reference) not in references:
                references[key, reference] = time_row({**paper_model_configs()[reference], **setting})
            if references[key, reference]:
                entry["reference_latency_ms"] = references[key, reference]["latency_ms"]
        entries.append(entry)
    return entries


def paper_joint_models() -> list[dict]:
    """The paper's manual joint models as configs with their `variant_label` (the NAS plot's comparison)."""
    return [{**config, "variant_label": name} for name, config in paper_model_configs().items() if config["task"] == "joint"]
