"""How well does the latency table predict the latency of derived networks on this machine?

Samples random architectures of the search space (random op, width and depth per block and stage, a seed
the table's own calibration does not use) and times them all in interleaved passes (pass r times every
network once, for --min-run-time seconds each), the same way the table times its entries, so load from
other processes spreads over all networks instead of spoiling a few. The measured latency is the fastest
pass (the table's own rule, lut.settled); the spread of the passes around their median is the
measurement noise, reported apart from the error of the prediction, so the two can be told apart:

- noise_median: median over networks of the median |pass / median pass - 1| (what one pass is off by);
- median_error, within_10pct, max_error: |predicted - measured| / measured over the networks;
- fit_slope / fit_intercept_ms: measured regressed on predicted (1 and 0 when the table has no bias that
  grows with the network; a slope off 1 is what a sum of isolated blocks misses).

Prints a table, then one JSON line (target: median_error <= 0.05 and within_10pct >= 0.9).

    .venv/bin/python benchmarks/lut_accuracy.py --fresh                          # torch, 100 networks
    .venv/bin/python benchmarks/lut_accuracy.py --fresh --backend onnxruntime
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

from trainables.nas import lut
from trainables.nas.derive import SearchedNet, arch_code, random_architecture
from trainables.nas.macro import Macro


def linear_fit(x: list[float], y: list[float]) -> tuple[float, float]:
    mx, my = statistics.fmean(x), statistics.fmean(y)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / max(sum((a - mx) ** 2 for a in x), 1e-12)
    return slope, my - slope * mx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--width-mult", type=float, default=0.25)
    parser.add_argument("--op-set", type=int, default=8)
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-run-time", type=float, default=0.05, help="seconds per network and pass")
    parser.add_argument("--passes", type=int, default=5, help="interleaved passes over the networks (median)")
    parser.add_argument("--lut-min-run-time", type=float, default=0.01, help="seconds per table entry and round")
    parser.add_argument("--lut-rounds", type=int, default=3, help="interleaved rounds of the table build")
    parser.add_argument("--cache-dir", default=None, help="LUT cache (default: the trials' default cache)")
    parser.add_argument("--fresh", action="store_true",
                        help="measure a new table in a temporary folder first, so table and networks are timed "
                             "under the same background load")
    parser.add_argument("--no-reanchor", dest="reanchor", action="store_false",
                        help="use the table as built, without scaling it to this process first (lut.reanchor, "
                             "which a search does unless lut_reanchor=false)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--quiet", action="store_true", help="only the JSON line")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    macro = Macro.build((args.channels, args.size, args.size), args.classes, args.width_mult)
    key = lut.LatencyKey.for_device(macro, args.device, args.batch, args.threads, backend=args.backend)
    t0 = time.perf_counter()
    cache_dir = tempfile.mkdtemp(prefix="jdnas-lut-bench-") if args.fresh else args.cache_dir
    table, path = lut.load_or_build(macro, key, args.device, cache_dir, args.lut_min_run_time, args.lut_rounds)
    build_s = time.perf_counter() - t0
    anchor = lut.reanchor(table, macro, dict(device=args.device, batch_size=args.batch, threads=args.threads,
                                             min_run_time=args.lut_min_run_time, backend=args.backend)) \
        if args.reanchor else None

    rng = random.Random(args.seed)
    archs = [random_architecture(macro, args.op_set, rng) for _ in range(args.networks)]
    timing = dict(device=args.device, batch_size=args.batch, threads=args.threads, min_run_time=args.min_run_time,
                  backend=args.backend)
    t0 = time.perf_counter()
    passes = lut.interleaved_times([(SearchedNet(arch), macro.input_shape) for arch in archs], timing, args.passes)
    measure_s = time.perf_counter() - t0
    isolated_base = table.calibration["null_ms"] + table.calibration["fixed_isolated_ms"]
    rows = []
    if not args.quiet:
        print(f"{'architecture':<32}{'depths':<14}{'predicted':>10}{'measured':>10}{'error':>8}{'noise':>8}")
    for arch, times in zip(archs, passes):
        measured = lut.settled(times)  # the fastest pass, as the table's entries
        predicted = lut.predict_ms(table, macro, arch)
        noise = statistics.median(abs(t / statistics.median(times) - 1) for t in times)
        rows.append(dict(predicted=predicted, measured=measured, noise=noise,
                         uncalibrated=isolated_base + lut.blocks_ms(table, macro, arch)))
        if not args.quiet:
            depths = "-".join(str(s["depth"]) for s in arch["stages"])
            print(f"{arch_code(arch):<32}{depths:<14}{predicted:>10.3f}{measured:>10.3f}"
                  f"{abs(predicted - measured) / measured:>8.1%}{noise:>8.1%}")
    errors = [abs(r["predicted"] - r["measured"]) / r["measured"] for r in rows]
    slope, intercept = linear_fit([r["predicted"] for r in rows], [r["measured"] for r in rows])
    result = dict(benchmark="lut_accuracy", backend=args.backend, device=key.device_name, runtime=key.torch_version,
                  input="x".join(map(str, macro.input_shape)), width_mult=args.width_mult, batch=args.batch,
                  threads=args.threads, networks=len(rows), passes=args.passes,
                  median_error=round(statistics.median(errors), 4),
                  within_10pct=round(sum(e <= 0.10 for e in errors) / len(errors), 3),
                  max_error=round(max(errors), 4),
                  mean_signed_error=round(statistics.fmean((r["predicted"] - r["measured"]) / r["measured"]
                                                           for r in rows), 4),
                  noise_median=round(statistics.median(r["noise"] for r in rows), 4),
                  median_error_uncalibrated=round(statistics.median(
                      abs(r["uncalibrated"] - r["measured"]) / r["measured"] for r in rows), 4),
                  fit_slope=round(slope, 3), fit_intercept_ms=round(intercept, 3),
                  measured_ms_range=[round(min(r["measured"] for r in rows), 3),
                                     round(max(r["measured"] for r in rows), 3)],
                  target=dict(median_error=0.05, within_10pct=0.9),
                  passed=statistics.median(errors) <= 0.05 and sum(e <= 0.10 for e in errors) >= 0.9 * len(errors),
                  table=str(path), fresh_table=args.fresh, anchor_factor=anchor, table_build_s=round(build_s, 1),
                  measure_s=round(measure_s, 1), load_average=[round(v, 2) for v in os.getloadavg()])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
