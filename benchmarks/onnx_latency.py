"""ONNX Runtime vs eager PyTorch CPU latency of the paper's models, batch 1, side by side in one run.

Every paper model (Table 7 classifiers, the UNets, sequential and integrated joint models) at each input
size is timed by both backends (trainables.measure.latency, backend torch | onnxruntime) in interleaved
passes (each pass times every model with both backends once; medians over passes), so load from other
processes hits both alike. Prints a table, then one JSON line: per model `torch_ms`, `onnxruntime_ms` and
`ratio` = median ORT / median torch; overall `ratio` = median of the per-model ratios (per size too); and
whether the latency ranking of the models changes (Spearman's rho between the two orderings, the pairs
that swap).

    .venv/bin/python benchmarks/onnx_latency.py                       # 32x32 and 96x96, 1 thread
    .venv/bin/python benchmarks/onnx_latency.py --sizes 96 --threads 2 --passes 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics

import torch

from trainables.measure.latency import interleaved, latency_timer
from trainables.models import build_model
from trainables.models.catalog import paper_model_configs

BACKENDS = ("torch", "onnxruntime")


def ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0] * len(values)
    for rank, i in enumerate(order):
        out[i] = rank
    return out


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb, n = ranks(a), ranks(b), len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1)) if n > 1 else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 96])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per model, backend and pass")
    parser.add_argument("--models", nargs="*", help="subset of the paper models (default: all)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    configs = {k: v for k, v in paper_model_configs().items() if not args.models or k in args.models}
    jobs = [(name, size, backend) for size in args.sizes for name in configs for backend in BACKENDS]
    timers = [latency_timer(build_model(configs[name], args.channels).eval(), (args.channels, size, size),
                            backend=backend, threads=args.threads, min_run_time=args.min_run_time)
              for name, size, backend in jobs]
    medians = {job: statistics.median(t) for job, t in zip(jobs, interleaved(timers, args.passes))}

    models, per_size = [], {}
    print(f"{'model':<34}{'size':>5}{'torch ms':>10}{'ORT ms':>10}{'ratio':>8}")
    for size in args.sizes:
        rows = []
        for name in configs:
            t, o = medians[(name, size, "torch")], medians[(name, size, "onnxruntime")]
            rows.append(dict(model=name, size=size, torch_ms=round(t, 4), onnxruntime_ms=round(o, 4),
                             ratio=round(o / t, 4)))
            print(f"{name:<34}{size:>5}{t:>10.3f}{o:>10.3f}{o / t:>8.3f}")
        torch_ms, ort_ms = [r["torch_ms"] for r in rows], [r["onnxruntime_ms"] for r in rows]
        swapped = [(a["model"], b["model"]) for i, a in enumerate(rows) for b in rows[i + 1:]
                   if (a["torch_ms"] - b["torch_ms"]) * (a["onnxruntime_ms"] - b["onnxruntime_ms"]) < 0]
        per_size[str(size)] = dict(ratio=round(statistics.median(r["ratio"] for r in rows), 4),
                                   spearman_rank=round(spearman(torch_ms, ort_ms), 4), swapped_pairs=swapped)
        models += rows
    result = dict(benchmark="onnx_latency", batch=1, threads=args.threads, channels=args.channels,
                  passes=args.passes, torch=torch.__version__, onnxruntime=__import__("onnxruntime").__version__,
                  ratio=round(statistics.median(r["ratio"] for r in models), 4), per_size=per_size, models=models,
                  load_average=[round(v, 2) for v in os.getloadavg()])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
