"""A 4-trial grid through jdnas (Ray start-up, MLflow, Parquet and report included) vs the same four
trainings run by hand in a plain sequential Python loop using all cores (and, stricter, one thread).
Prints the wall times and a JSON line with ratio = wall(jdnas) / wall(plain, all cores);
target <= 1.10 at the quick preset's trial length.

    python benchmarks/sweep_efficiency.py [--models Conv-L,MB2.5-M,Conv-S,MB4-L]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from orchestrator.runner import RunOptions, run_sweep
from search_spaces import get_sweep, resolve
from trainables.data.splits import splits_for_config
from trainables.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="Conv-L,MB2.5-M,Conv-S,MB4-L")
    args = parser.parse_args()
    models = args.models.split(",")
    overrides = {"classifier": models, "seeds": 1}
    sweep = get_sweep("classifier-scaling")
    configs = resolve(sweep, "quick", overrides).trial_configs
    cores = os.cpu_count()

    data = splits_for_config(configs[0])

    def by_hand(threads: int) -> float:
        """The same loop, same data, one training after another with `threads` torch threads."""
        t0 = time.perf_counter()
        torch.set_num_threads(threads)
        for config in configs:
            train(config, data, lambda metrics, checkpoint_dir: None, threads=threads)
        return time.perf_counter() - t0

    plain = by_hand(cores)  # the baseline the target is set against: all cores
    plain_one = by_hand(1)  # small convs often run faster on one thread: the stricter baseline

    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        outcome = run_sweep(sweep, "quick", overrides, RunOptions(workdir=workdir, verbose=0))
        jdnas = time.perf_counter() - t0
    assert outcome.complete and len(outcome.rows) == len(models)
    print(f"{len(models)} trials of the quick preset ({configs[0]['epochs']} epochs, "
          f"{configs[0]['train_size']} images), {cores} cores")
    print(f"  plain sequential loop, {cores} threads: {plain:7.1f} s")
    print(f"  plain sequential loop, 1 thread  : {plain_one:7.1f} s")
    print(f"  jdnas (Ray start-up included)      : {jdnas:7.1f} s")
    print(json.dumps({"benchmark": "sweep_efficiency", "ratio": round(jdnas / plain, 4),
                      "ratio_vs_one_thread": round(jdnas / plain_one, 4), "jdnas_s": round(jdnas, 1),
                      "plain_s": round(plain, 1), "plain_one_thread_s": round(plain_one, 1), "trials": len(models),
                      "cores": cores, "target": "<= 1.10"}))


if __name__ == "__main__":
    main()
