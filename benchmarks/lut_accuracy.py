"""How well does the latency table predict the latency of derived networks on this machine?

Samples random architectures of the search space (random op, width and depth per block and stage, a
seed the table's own calibration does not use), measures each network end to end with the project's
latency timer (median of --repeats measurements) and compares it with the table's prediction.
Prints a table, then one JSON line: median_error = median |predicted - measured| / measured (target
<= 0.10), plus the same for the uncalibrated sum (fixed parts timed alone instead of in context).

    .venv/bin/python benchmarks/lut_accuracy.py                      # the quick preset's space, CPU batch 1
    .venv/bin/python benchmarks/lut_accuracy.py --fresh              # ... with a table timed just before
    .venv/bin/python benchmarks/lut_accuracy.py --size 96 --channels 3 --width-mult 1 --device cuda --batch 32
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time

import torch

from trainables.measure.latency import measure_latency
from trainables.nas import lut
from trainables.nas.derive import SearchedNet, arch_code, random_architecture
from trainables.nas.macro import Macro


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--width-mult", type=float, default=0.25)
    parser.add_argument("--op-set", type=int, default=8)
    parser.add_argument("--networks", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per end-to-end measurement")
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end measurements per network (median)")
    parser.add_argument("--cache-dir", default=None, help="LUT cache (default: the trials' default cache)")
    parser.add_argument("--fresh", action="store_true",
                        help="measure a new table in a temporary folder first, so table and networks are timed "
                             "under the same background load")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    macro = Macro.build((args.channels, args.size, args.size), args.classes, args.width_mult)
    key = lut.LatencyKey.for_device(macro, args.device, args.batch, args.threads)
    t0 = time.perf_counter()
    cache_dir = tempfile.mkdtemp(prefix="jdnas-lut-bench-") if args.fresh else args.cache_dir
    table, path = lut.load_or_build(macro, key, args.device, cache_dir)
    build_s = time.perf_counter() - t0
    isolated_base = table.calibration["null_ms"] + table.calibration["fixed_isolated_ms"]
    rng = random.Random(args.seed)
    rows = []
    print(f"{'architecture':<32}{'depths':<14}{'predicted':>10}{'measured':>10}{'error':>8}{'uncal.':>8}")
    for _ in range(args.networks):
        arch = random_architecture(macro, args.op_set, rng)
        net = SearchedNet(arch)
        measured = statistics.median(
            measure_latency(net, macro.input_shape, device=args.device, batch_size=args.batch, threads=args.threads,
                            min_run_time=args.min_run_time).median_ms for _ in range(args.repeats))
        predicted = lut.predict_ms(table, macro, arch)
        uncalibrated = isolated_base + lut.blocks_ms(table, macro, arch)
        rows.append((predicted, measured, uncalibrated))
        depths = "-".join(str(s["depth"]) for s in arch["stages"])
        print(f"{arch_code(arch):<32}{depths:<14}{predicted:>10.3f}{measured:>10.3f}"
              f"{abs(predicted - measured) / measured:>8.1%}{abs(uncalibrated - measured) / measured:>8.1%}")
    errors = [abs(p - m) / m for p, m, _ in rows]
    raw = [abs(u - m) / m for _, m, u in rows]
    result = dict(benchmark="lut_accuracy", device=key.device_name, torch=key.torch_version,
                  input="x".join(map(str, macro.input_shape)), width_mult=args.width_mult, batch=args.batch,
                  threads=args.threads, networks=len(rows), median_error=round(statistics.median(errors), 4),
                  max_error=round(max(errors), 4), median_error_uncalibrated=round(statistics.median(raw), 4),
                  mean_signed_error=round(statistics.fmean((p - m) / m for p, m, _ in rows), 4), target=0.10,
                  passed=statistics.median(errors) <= 0.10, table=str(path), fresh_table=args.fresh,
                  table_build_s=round(build_s, 1),
                  load_average=[round(v, 2) for v in os.getloadavg()])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
