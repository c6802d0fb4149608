"""On a cluster the driver may wait for nodes an autoscaler adds; say once a minute which trials wait for
what and for how long, since a waiting Tune driver otherwise prints nothing."""
from __future__ import annotations

import time

import ray
from ray import tune


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
        free = {k: v for k, v in ray.available_resources().items() if k in ("CPU", "GPU")}
        total = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        minutes, seconds = divmod(int(waited_s), 60)
        return (f"[jdnas] {pending} trials pending for {minutes} min {seconds:02d} s, each waiting for "
                f"{describe(self.request)}; the cluster has {describe(free)} free of {describe(total)} "
                "(waiting for nodes, e.g. from the autoscaler; Ctrl-C stops, the same command resumes)")
