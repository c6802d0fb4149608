"""Compact progress lines while a sweep runs (Tune's own tables come back with --verbose 2)."""
from __future__ import annotations

import time

from ray import tune

from orchestrator.records.trials import run_label


class ProgressCallback(tune.Callback):
    def __init__(self, total: int, metric: str, epochs: int):
        self.total, self.metric, self.epochs = total, metric, epochs
        self.done = self.failed = 0
        self.t0 = time.time()
        self.running: set[str] = set()
        self.counted_restored = False

    def __getstate__(self):  # Tune pickles callbacks with the experiment; clocks restart on resume
        return {"total": self.total, "metric": self.metric, "epochs": self.epochs}

    def __setstate__(self, state):
        self.__init__(**state)

    def _print(self, text: str) -> None:
        minutes, seconds = divmod(int(time.time() - self.t0), 60)
        print(f"[jdnas {minutes:3d}:{seconds:02d}] {self.done + self.failed}/{self.total} done, "
              f"{len(self.running)} running | {text}", flush=True)

    def on_trial_start(self, iteration, trials, trial, **info):
        if not self.counted_restored:  # a resumed sweep: the trials that ended before count as done
            self.counted_restored = True
            self.done = sum(t.status == "TERMINATED" for t in trials if t is not trial)
            self.failed = sum(t.status == "ERROR" for t in trials if t is not trial)
        self.running.add(trial.trial_id)
        self._print(f"start {run_label(trial)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        value = result.get(self.metric)
        shown = f"{self.metric} {value:.3f}" if isinstance(value, (int, float)) else ""
        self._print(f"{run_label(trial):<34} epoch {result.get('epoch', '?')}/{self.epochs} {shown} "
                    f"({result.get('epoch_time_s', 0):.1f} s/epoch)")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._print(f"{run_label(trial)} failed; retrying from its last checkpoint")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.done += 1
        r = trial.last_result or {}
        parts = [f"{k} {r[k]:.3f}" for k in ("test_acc", "test_psnr", "latency_ms") if isinstance(r.get(k), float)]
        self._print(f"finished {run_label(trial)}: " + ", ".join(parts))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.failed += 1
        self._print(f"FAILED {run_label(trial)} (details: {trial.error_file})")
