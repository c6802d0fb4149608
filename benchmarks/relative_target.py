"""Does a relative NAS target land where the equivalent absolute one does? (issue 9, point 3)

Builds (or reuses) the latency table of the quick NAS space on this machine, picks the paper model whose
latency makes `--ratio` x its latency fall inside the reachable range (or `--reference`), then runs the same
quick search twice, Ray-free: once with target_ratio (the reference timed inside the search) and once with
the absolute target_latency_ms = ratio x the reference timed here beforehand. For both it prints the derived
network's latency as a fraction of the reference: the search's own numbers, and both networks re-timed side
by side afterwards (interleaved rounds), so the two can be compared with each other and with the ratio asked
for. One JSON line at the end.

    python benchmarks/relative_target.py [--ratio 0.5] [--reference NAME] [--epochs 3] [--train-size 800]

Load from other processes moves every millisecond; the fractions move far less, which is the point of a
relative target. Take final numbers on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from trainables.config import defaults  # noqa: E402
from trainables.data.splits import splits_for_config  # noqa: E402
from trainables.models import build_model  # noqa: E402
from trainables.models.catalog import paper_model_configs  # noqa: E402
from trainables.measure.latency import measure_latency  # noqa: E402
from trainables.nas import lut  # noqa: E402
from trainables.nas.config import nas_defaults  # noqa: E402
from trainables.nas.derive import SearchedNet  # noqa: E402
from trainables.nas.ops import op_set  # noqa: E402
from trainables.nas.phases import run  # noqa: E402
from trainables.nas.trial_table import latency_table  # noqa: E402


def quick_config(args, cache: str) -> dict:
    return {**defaults(), **nas_defaults(), "dataset": "fashion-mnist", "image_size": 32, "fit": "pad",
            "train_size": args.train_size, "val_size": 200, "test_size": 200, "width_mult": 0.25,
            "search_epochs": args.epochs, "warmup_epochs": 1, "search_batch_size": 64, "search_optimizer": "adam",
            "weight_lr": 3e-3, "tau_decay": 0.8, "retrain_epochs": 0, "latency_min_run_time": 0.2,
            "train_noise_levels": [0.0], "eval_noise_levels": [0.0], "lut_cache_dir": cache, "beta_mode": "removed",
            "op_set": 8, "seed": args.seed}


def reference_ms(name: str, data, timing: dict) -> float:
    model = build_model(paper_model_configs()[name], data.image_shape[0], data.num_classes)
    return measure_latency(model, data.image_shape, device="cpu", min_run_time=0.5, **timing).median_ms


def search_once(config: dict, data) -> dict:
    final = {}

    def report(metrics, _checkpoint_dir):
        final.update(metrics)

    t0 = time.time()
    run(config, data, report, device="cpu", threads=1)
    ref = final["reference_latency_ms"]
    # the derived network and the reference re-timed side by side (interleaved rounds): their ratio is what
    # the target asked for, and interleaving keeps a change of load from landing on one of them only
    derived = SearchedNet(json.loads(final["architecture_json"]))
    reference = build_model(paper_model_configs()[config["target_reference"]], data.image_shape[0], data.num_classes)
    timing = dict(device="cpu", batch_size=1, threads=1, min_run_time=0.3)
    pairs = [(measure_latency(derived, data.image_shape, **timing).median_ms,
              measure_latency(reference, data.image_shape, **timing).median_ms) for _ in range(5)]
    return dict(target_ms=final["target_latency_ms"], reference_ms=ref, target_vs_reference=final["target_vs_reference"],
                in_search_measured_vs_reference=final["search_latency_ms"] / ref,
                predicted_vs_reference=final["predicted_latency_ms"] / ref,
                retimed_vs_reference=statistics.median(d / r for d, r in pairs),
                seconds=round(time.time() - t0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratio", type=float, default=None, help="target as a fraction of the reference")
    parser.add_argument("--reference", default=None, help="paper model the ratio refers to")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lut-cache", default=os.environ.get("JDNAS_LUT_CACHE") or tempfile.mkdtemp(prefix="lut-"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = quick_config(args, args.lut_cache)
    data = splits_for_config(config)
    macro, key, table, _, timing = latency_table(config, data, torch.device("cpu"), 1)
    low, high = lut.reachable_range(table, macro, op_set(8), "removed")
    middle = (low + high) / 2
    if args.reference is None:  # the paper model whose latency sits closest above the middle of the range
        candidates = {n: reference_ms(n, data, timing) for n in ("MB2.5-M", "Conv-L", "UNet-S", "UNet-M", "UNet")}
        args.reference = min(candidates, key=lambda n: abs(candidates[n] - middle / (args.ratio or 0.85)))
    ref_here = reference_ms(args.reference, data, timing)
    ratio = args.ratio or round(middle / ref_here, 3)
    print(f"reachable {low:.3f}-{high:.3f} ms; reference {args.reference} {ref_here:.3f} ms; ratio {ratio}", flush=True)

    relative = search_once({**config, "target_reference": args.reference, "target_ratio": ratio}, data)
    print("relative:", relative, flush=True)
    absolute = search_once({**config, "target_reference": args.reference, "target_latency_ms": ratio * ref_here}, data)
    print("absolute:", absolute, flush=True)
    print(json.dumps(dict(benchmark="relative_target", reference=args.reference, ratio=ratio,
                          reachable_ms=[round(low, 4), round(high, 4)], reference_ms_before=round(ref_here, 4),
                          relative=relative, absolute=absolute,
                          band_relative=round(abs(relative["retimed_vs_reference"] - ratio) / ratio, 4),
                          band_absolute=round(abs(absolute["retimed_vs_reference"] - ratio) / ratio, 4),
                          loadavg=os.getloadavg())))


if __name__ == "__main__":
    main()
