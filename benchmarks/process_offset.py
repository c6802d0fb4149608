"""Does a latency measured in one process hold in another? The same networks timed in fresh processes.

A latency table is built once and cached; the networks it prices are timed later, in other processes (a
trial, a re-timing phase). If every network runs a few percent slower or faster in one process than in
another, the table inherits that offset and no calibration inside the table can remove it. This starts
`--processes` fresh interpreters per backend, each timing the same random networks of the quick search
space in interleaved passes (the fastest pass, as lut_accuracy.py measures them), and reports each
process's median ratio to the per-network median over processes:

- process_offsets: one number per process (1.0 = like the typical process);
- offset_spread: max - min of them (what a table can be off by from the process it was built in);
- within_process_noise: median |pass / fastest pass - 1| inside the processes, for comparison.

Prints one JSON line per backend and a final one with both spreads side by side.

    .venv/bin/python benchmarks/process_offset.py                       # torch and onnxruntime, 5 processes
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys

import torch

from trainables.nas import lut
from trainables.nas.derive import SearchedNet, random_architecture
from trainables.nas.macro import Macro


def time_in_this_process(backend: str, networks: int, passes: int, min_run_time: float, seed: int) -> list[list[float]]:
    torch.set_num_threads(1)
    macro = Macro.build((1, 32, 32), 10, 0.25)
    rng = random.Random(seed)
    jobs = [(SearchedNet(random_architecture(macro, 8, rng)), macro.input_shape) for _ in range(networks)]
    timing = dict(device="cpu", batch_size=1, threads=1, min_run_time=min_run_time, backend=backend)
    return lut.interleaved_times(jobs, timing, passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--min-run-time", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a backend: time in this process, print JSON
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_in_this_process(args.child, args.networks, args.passes, args.min_run_time, args.seed)))
        return

    spreads = {}
    for backend in args.backends:
        runs = []
        for _ in range(args.processes):  # one backend after the other, each process fresh
            out = subprocess.run([sys.executable, __file__, "--child", backend, "--networks", str(args.networks),
                                  "--passes", str(args.passes), "--min-run-time", str(args.min_run_time),
                                  "--seed", str(args.seed)], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        fastest = [[min(times) for times in run] for run in runs]
        typical = [statistics.median(column) for column in zip(*fastest)]
        offsets = [statistics.median(f / t for f, t in zip(run, typical)) for run in fastest]
        noise = statistics.median(abs(t / min(times) - 1) for run in runs for times in run for t in times)
        spreads[backend] = round(max(offsets) - min(offsets), 4)
        print(json.dumps(dict(benchmark="process_offset", backend=backend, processes=args.processes,
                              networks=args.networks, process_offsets=[round(o, 4) for o in offsets],
                              offset_spread=spreads[backend], within_process_noise=round(noise, 4),
                              load_average=[round(v, 2) for v in os.getloadavg()])), flush=True)
    print(json.dumps(dict(benchmark="process_offset", offset_spread=spreads)))


if __name__ == "__main__":
    main()
