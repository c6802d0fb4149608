"""Will the sweep's trials ever start? A local Ray asked for GPUs the machine lacks waits forever without
a word, so that case fails here, before Ray (or even its import) starts; on a cluster, where an autoscaler
may add GPU nodes, the driver waits but reports (orchestrator.run.pending)."""
from __future__ import annotations

import os

import torch


def local_gpus(num_gpus: float | None) -> float:
    """GPUs a local Ray gets: the `--num-gpus` given (virtual GPUs included), else those torch sees."""
    if num_gpus is not None:
        return num_gpus
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_local_resources(sweep_name: str, run: dict, num_gpus: float | None) -> None:
    """Raise (one line, before Ray starts) when no trial of the sweep could ever be placed on this machine.
    Too many CPUs per trial is not fatal: the runner gives trials the machine's CPUs instead."""
    need, have = run["gpus_per_trial"], local_gpus(num_gpus)
    if need > have:
        raise ValueError(
            f"sweep {sweep_name!r}: trials ask for {need:g} GPU each, but this machine has {have:g} GPUs "
            f"(and {os.cpu_count()} CPUs), so a local Ray would wait forever; pass --set gpus_per_trial=0 to train "
            "on the CPUs, or --address to a Ray cluster with GPU nodes")
