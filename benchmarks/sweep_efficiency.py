"""A 4-trial grid through jdnas (Ray start-up, MLflow, Parquet and report included) vs the same four
trainings run by hand in a plain sequential Python loop using all cores, alternating, repeated.
Prints the wall times and a JSON line with ratio = median wall(jdnas) / median wall(plain);
target <= 1.10 at the quick preset's trial length.

    python benchmarks/sweep_efficiency.py [--models Conv-L,MB2.5-M,Conv-S,MB4-L] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from orchestrator.run.sweep import RunOptions, run_sweep
from search_spaces import get_sweep, resolve
from trainables.data.splits import splits_for_config
from trainables.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="Conv-L,MB2.5-M,Conv-S,MB4-L")
    parser.add_argument("--repeats", type=int, default=3, help="alternating jdnas / plain pairs (medians compared)")
    parser.add_argument("--one-thread-baseline", action="store_true", help="also time the loop at 1 thread")
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

    def through_jdnas() -> float:
        with tempfile.TemporaryDirectory() as workdir:
            t0 = time.perf_counter()
            outcome = run_sweep(sweep, "quick", overrides, RunOptions(workdir=workdir, verbose=0))
            seconds = time.perf_counter() - t0
        assert outcome.complete and len(outcome.rows) == len(models)
        return seconds

    plain, jdnas = [], []
    for _ in range(args.repeats):  # alternate, so drift of the machine hits both alike
        plain.append(by_hand(cores))
        jdnas.append(through_jdnas())
    ratio = statistics.median(jdnas) / statistics.median(plain)
    one_thread = by_hand(1) if args.one_thread_baseline else None
    print(f"{len(models)} trials of the quick preset ({configs[0]['epochs']} epochs, "
          f"{configs[0]['train_size']} images), "
          f"{cores} cores, {args.repeats} alternating repeats")
    print(f"  plain sequential loop, {cores} threads: " + ", ".join(f"{t:.1f}" for t in plain) + " s")
    print("  jdnas (Ray start-up included)      : " + ", ".join(f"{t:.1f}" for t in jdnas) + " s")
    if one_thread:
        print(f"  plain sequential loop, 1 thread  : {one_thread:.1f} s")
    print(json.dumps({"benchmark": "sweep_efficiency", "ratio": round(ratio, 4),
                      "jdnas_s": [round(t, 1) for t in jdnas], "plain_s": [round(t, 1) for t in plain],
                      "plain_one_thread_s": round(one_thread, 1) if one_thread else None, "trials": len(models),
                      "cores": cores, "target": "<= 1.10"}))


if __name__ == "__main__":
    main()
