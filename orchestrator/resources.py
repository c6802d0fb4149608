"""Will the sweep's trials ever start? A local Ray asked for GPUs the machine lacks waits forever without
a word, so that case fails before Ray starts; on a cluster (where an autoscaler may add GPU nodes) the
driver waits, but says once a minute which trials wait for what, and for how long."""
from __future__ import annotations

import os
import time

from ray import tune


def local_gpus(num_gpus: float | None) -> float:
    """GPUs a local Ray gets: the `--num-gpus` given (virtual GPUs included), else those torch sees."""
    if num_gpus is not None:
        return num_gpus
    import torch

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


def describe(resources: dict) -> str:
    return ", ".join(f"{value:g} {name}" for name, value in sorted(resources.items()) if value) or "nothing"


class PendingTrialsReporter(tune.Callback):
    """Every `interval_s` while trials are pending and none runs: how many, for how long, what each asks
    for and what the cluster has free (a Tune driver otherwise prints nothing while it waits)."""

    def __init__(self, request: dict, interval_s: float = 60.0):
        self.request, self.interval_s = request, interval_s
        self.waiting_since: float | None = None
        self.last_report = 0.0

    def __getstate__(self):
        return {"request": self.request, "interval_s": self.interval_s}

    def __setstate__(self, state):
        self.__init__(**state)

    def on_step_end(self, iteration, trials, **info):
        pending = sum(t.status == "PENDING" for t in trials)
        if not pending or any(t.status == "RUNNING" for t in trials):
            self.waiting_since = None
            return
        now = time.monotonic()
        if self.waiting_since is None:
            self.waiting_since = self.last_report = now
        if now - self.last_report >= self.interval_s:
            self.last_report = now
            print(self.message(pending, now - self.waiting_since), flush=True)

    def message(self, pending: int, waited_s: float) -> str:
        import ray

        free = {k: v for k, v in ray.available_resources().items() if k in ("CPU", "GPU")}
        total = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        minutes, seconds = divmod(int(waited_s), 60)
        return (f"[jdnas] {pending} trials pending for {minutes} min {seconds:02d} s, each waiting for "
                f"{describe(self.request)}; the cluster has {describe(free)} free of {describe(total)} "
                "(waiting for nodes, e.g. from the autoscaler; Ctrl-C stops, the same command resumes)")
