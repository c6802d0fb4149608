"""Is a NAS sweep's latency target reachable on the trial's device? Asked before the run (`jdnas plan`, and
`jdnas run` before Ray starts), so a target outside the space's range fails in seconds with the range and
the nearest reachable ratio, instead of in every trial after the cluster was paid for.

The check builds (or reads from the cache the trials share) the trial's latency table on this machine's copy
of the trial's device, times the target's reference model as the trial would, and compares the target with
the reachable range of both β modes (orchestrator.run.plan has no NAS estimate; this is its NAS part). A device
this machine lacks (a GPU sweep planned on a laptop) is not checked: the trial checks it when it starts.
"""
from __future__ import annotations

import os

import torch

from search_spaces import ResolvedSweep, SweepError
from trainables.config import data_key
from trainables.kinds import KINDS
from trainables.nas import lut
from trainables.nas.ops import op_set
from trainables.nas.target import reference_latency
from trainables.nas.trial_table import latency_table

BETA_MODES = ("removed", "learned")
SETTING_KEYS = ("op_set", "beta_mode", "search_kind", "width_mult", "target_latency_ms", "target_ratio",
                "target_reference", "target_fraction", "target_range", "lut_batch_size", "lut_device")


def trial_device(resolved: ResolvedSweep) -> torch.device | None:
    """The trial's device on this machine, or None when this machine has none."""
    if resolved.run["gpus_per_trial"] > 0:
        return torch.device("cuda") if torch.cuda.is_available() else None
    return torch.device("cpu")


def _target(config: dict, splits, device, timing: dict) -> tuple[float | None, float | None, str]:
    """(target ms, reference ms, how it was set); a target_fraction target needs no check (None)."""
    if config["target_latency_ms"] is not None:
        return float(config["target_latency_ms"]), None, f"absolute {config['target_latency_ms']:g} ms"
    if config.get("target_ratio") is not None:
        ref = reference_latency(config, splits, device, timing)
        return config["target_ratio"] * ref, ref, f"{config['target_ratio']:.3f} x {config['target_reference']} " \
                                                   f"({ref:.3f} ms here)"
    return None, None, f"{config['target_fraction']:g} of the {config['target_range']} range"


def check_setting(config: dict, splits, device: torch.device, threads: int) -> str:
    """One line on this setting's target against both β modes' ranges; SweepError when the trial's own β
    cannot reach it."""
    macro, key, table, _, timing = latency_table(config, splits, device, threads)
    ranges = {mode: lut.reachable_range(table, macro, op_set(config["op_set"]), mode) for mode in BETA_MODES}
    target, ref, how = _target(config, splits, device, timing)
    spans = "; ".join(f"{mode} β [{low:.3f}, {high:.3f}] ms"
                      + ("" if target is None else " reachable" if low <= target <= high else " UNREACHABLE")
                      for mode, (low, high) in ranges.items())
    line = f"[jdnas] NAS target {how}{'' if target is None else f' = {target:.3f} ms'} on {key.describe()}: {spans}"
    own = ranges.get(config["beta_mode"], ranges["removed"])  # fixed β keeps every block, like removed
    if target is not None and not own[0] <= target <= own[1]:
        nearest = min(max(target, own[0]), own[1])
        ratio = f"; nearest reachable ratio {nearest / ref:.3f} x {config['target_reference']} (--set target_ratio=" \
                f"{nearest / ref:.3f})" if ref else f"; nearest reachable target {nearest:.3f} ms"
        raise SweepError(f"{line}. The target lies outside {config['beta_mode']} β's range{ratio}")
    return line


def check_targets(resolved: ResolvedSweep, data: dict) -> list[str]:
    """Lines for every distinct NAS setting of the sweep (SweepError at the first unreachable one); nothing for
    other sweeps, one line when this machine lacks the trial's device."""
    if KINDS[resolved.sweep.trainable].fixed_network:
        return []
    device = trial_device(resolved)
    if device is None:
        return ["[jdnas] NAS target not checked before the run: this machine has no GPU (each trial checks its own)"]
    threads = max(1, int(min(resolved.run["cpus_per_trial"], os.cpu_count() or 1)))
    seen, lines = set(), []
    for config in resolved.trial_configs:
        setting = tuple(str(config.get(k)) for k in SETTING_KEYS)
        if setting not in seen:
            seen.add(setting)
            lines.append(check_setting(config, data[data_key(config)], device, threads))
    return lines
