"""A search's latency target in ms, fixed once when the search starts: an absolute target, a ratio of a paper
model timed on this device, or a fraction of a range (the space's reachable one, or the manual integrated models'),
refused before any training where the space cannot reach it or this machine cannot time it."""
from __future__ import annotations

import statistics

import torch

from ..data.splits import DataSplits
from ..measure.latency import measure_latency
from ..models import build_model, check_model_input
from ..models.catalog import paper_model_configs
from . import lut
from .macro import Macro
from .ops import op_set


MANUAL_BRACKET = ("UNet-S", "UNet")


def manual_latencies(data: DataSplits, device: torch.device, timing: dict, min_run_time: float) -> dict[str, float]:
    """Latency of the manual integrated(UNet-x, MB2.5-M) models under the table's timing settings."""
    out = {}
    for unet in MANUAL_BRACKET:
        config = paper_model_configs()[f"integrated({unet}, MB2.5-M)"]
        model = build_model(config, data.image_shape[0], data.num_classes)
        out[f"manual_{unet.replace('-', '_')}_ms"] = measure_latency(model, data.image_shape, device=str(device),
                                                                     min_run_time=min_run_time, **timing).median_ms
    return out


def reference_latency(config: dict, data: DataSplits, device: torch.device, timing: dict) -> float | None:
    """Latency of `target_reference` (a paper model) on this device with the table's timing settings; None
    where that model cannot take this input (e.g. a UNet depth the image size does not divide)."""
    model_config = paper_model_configs()[config["target_reference"]]
    try:
        model = build_model(model_config, data.image_shape[0], data.num_classes)
        check_model_input(model, data.image_shape[-1])
    except ValueError:
        if config["target_ratio"] is not None:
            raise
        return None
    return statistics.median(  # rounds like the table's entries: a burst of load spoils one, not the target
        measure_latency(model, data.image_shape, device=str(device), min_run_time=config["latency_min_run_time"],
                        **timing).median_ms for _ in range(config["lut_rounds"]))


def resolve_target(config: dict, table: lut.LatencyTable, macro: Macro, ops, key: lut.LatencyKey,
                   manual: dict[str, float] | None = None, reference_ms: float | None = None) -> dict:
    """The target in ms (target_latency_ms; else target_ratio x the reference model's latency on this device;
    else target_fraction of the range named by target_range), checked against the reachable range: a
    ValueError naming the range if it lies outside, before any training. The target is also given as a
    fraction of the reference model (`target_vs_reference`) so every report can print both."""
    low, high = lut.reachable_range(table, macro, ops, config["beta_mode"])
    if config["target_latency_ms"] is not None:
        target = float(config["target_latency_ms"])
    elif config.get("target_ratio") is not None:
        target = config["target_ratio"] * reference_ms
    else:
        span = list(manual.values()) if manual else lut.reachable_range(table, macro, ops, "removed")
        target = span[0] + config["target_fraction"] * (span[-1] - span[0])
    if not low <= target <= high:
        raise ValueError(f"target_latency_ms={target:.3f} is outside the reachable range [{low:.3f}, {high:.3f}] ms "
                         f"of the {config['op_set']}-op space with {config['beta_mode']} beta "
                         f"(width_mult {config['width_mult']}) on {key.describe()}; pick a target in that range "
                         f"or use target_fraction")
    relative = dict(target_reference=config.get("target_reference", "UNet"), reference_latency_ms=reference_ms,
                    target_vs_reference=target / reference_ms) if reference_ms else {}
    return dict(target_latency_ms=target, reachable_min_ms=low, reachable_max_ms=high, **relative, **(manual or {}),
                lut_device=key.device_name)


def search_goal(config: dict, data: DataSplits, device: torch.device, table: lut.LatencyTable, macro: Macro,
                key: lut.LatencyKey, timing: dict) -> dict:
    """The target (and the latencies it was taken from), fixed once when the search starts; a ValueError
    before any training where it cannot be met or cannot be timed here."""
    if config["lut_device"] and config["target_range"] == "manual" and config["target_latency_ms"] is None:
        raise ValueError(f"target_range='manual' times the manual models on this machine, not on lut_device "
                         f"{config['lut_device']!r}; give target_latency_ms or use target_range='reachable'")
    if config["lut_device"] and config["target_ratio"] is not None and config["target_latency_ms"] is None:
        raise ValueError(f"target_ratio times {config['target_reference']} on this machine, not on lut_device "
                         f"{config['lut_device']!r}; give target_latency_ms (that ratio x its latency there)")
    manual = manual_latencies(data, device, timing, config["latency_min_run_time"]) \
        if config["target_range"] == "manual" and config["target_latency_ms"] is None else None
    reference = None if config["lut_device"] else reference_latency(config, data, device, timing)
    return resolve_target(config, table, macro, op_set(config["op_set"]), key, manual, reference)
