"""The CUDA paths in one short run (CI has no GPU): paper-model latencies at the paper's setting, one
training of the shared loop, one search + retrain, and the latency table's accuracy on the GPU.

Ray-free on purpose (a GPU box may lack Ray; the trainables' Ray layer is tested on CPU):

    python3 benchmarks/gpu_check.py                 # on a CUDA machine, from the repo root
    python3 benchmarks/gpu_check.py --device cpu --small   # a dry run of the script itself

Prints a table per part and one JSON line at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from trainables.config import defaults  # noqa: E402
from trainables.data.splits import splits_for_config  # noqa: E402
from trainables.loop import train  # noqa: E402
from trainables.measure.latency import device_name, measure_latency  # noqa: E402
from trainables.models import build_model  # noqa: E402
from trainables.models.catalog import paper_model_configs  # noqa: E402
from trainables.nas.config import nas_defaults  # noqa: E402
from trainables.nas.phases import run as nas_run  # noqa: E402
from trainables.paper import TABLE7, TABLE8  # noqa: E402

PAPER_LATENCY_MS = {**{name: row[4] for name, row in TABLE7.items()}, **{name: row[1] for name, row in TABLE8.items()}}


def paper_latencies(device: str, batch: int, size: int, precisions: list[str]) -> list[dict]:
    rows = []
    for name, config in paper_model_configs().items():
        model = build_model(config, 3, 10)
        row = dict(name=name, paper_ms=PAPER_LATENCY_MS.get(name))
        for precision in precisions:
            row[precision] = measure_latency(model, (3, size, size), device=device, batch_size=batch,
                                             precision=precision, min_run_time=0.3).median_ms
        rows.append(row)
        print(f"{name:<34}" + "".join(f"{row[p]:>10.3f}" for p in precisions)
              + f"{row['paper_ms'] if row['paper_ms'] is not None else '-':>10}", flush=True)
    return rows


class Keep:
    """report(metrics, checkpoint_dir) that keeps the metrics."""

    def __init__(self):
        self.results = []

    def __call__(self, metrics, checkpoint_dir):
        self.results.append(metrics)


def joint_training(device: str, size: int, epochs: int) -> dict:
    config = {**defaults(), "task": "joint", "joint_mode": "integrated", "unet": "UNet-S", "classifier": "MB2.5-M",
              "dataset": "synthetic", "image_size": size, "channels": 3, "train_size": 512, "val_size": 64,
              "test_size": 64, "epochs": epochs, "batch_size": 32, "eval_noise_levels": [0.0, 0.5, 1.0],
              "latency_min_run_time": 0.2, "examples": False}
    keep = Keep()
    train(config, splits_for_config(config), keep, device=device)
    final = keep.results[-1]
    assert final["device"].startswith(device) and all(math.isfinite(r["train_loss"]) for r in keep.results)
    return {k: final[k] for k in ("device", "latency_device", "latency_batch_size", "latency_ms", "test_acc",
                                  "test_psnr_s0.5", "train_images_per_s")}


def search_and_retrain(device: str, size: int, width_mult: float, cache: str) -> dict:
    config = {**defaults(), **nas_defaults(), "dataset": "synthetic", "image_size": size, "channels": 3,
              "train_size": 256, "val_size": 64, "test_size": 64, "width_mult": width_mult, "search_epochs": 3,
              "warmup_epochs": 1, "search_batch_size": 32, "batch_size": 32, "retrain_epochs": 1, "epochs": 4,
              "eval_noise_levels": [0.0, 0.5], "lut_cache_dir": cache, "latency_min_run_time": 0.2,
              "examples": False, "beta_mode": "learned", "target_fraction": 0.5}
    keep = Keep()
    nas_run(config, splits_for_config(config), keep, device=device)
    final = keep.results[-1]
    return {k: final.get(k) for k in ("arch", "target_latency_ms", "predicted_latency_ms", "search_latency_ms",
                                      "latency_ms", "latency_batch_size", "latency_device", "test_acc")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="32 px, fewer networks: a dry run on a CPU")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here; pass --device cpu --small for a dry run")
    size, batch, width_mult = (32, 1, 0.25) if args.small else (96, 32, 1.0)  # one table serves both NAS parts
    result = dict(benchmark="gpu_check", device=device_name(args.device), torch=torch.__version__)
    t0 = time.perf_counter()

    precisions = ["fp32"] + (["bf16"] if args.device == "cuda" else [])
    print(f"\n== paper models, 3x{size}x{size}, batch {batch}, {result['device']} (ms)")
    print(f"{'model':<34}" + "".join(f"{p:>10}" for p in precisions) + f"{'paper':>10}")
    rows = paper_latencies(args.device, batch, size, precisions)
    result["paper_models"] = {r["name"]: {p: round(r[p], 4) for p in precisions} for r in rows}
    result["paper_models_s"] = round(time.perf_counter() - t0, 1)

    print("\n== shared loop: integrated(UNet-S, MB2.5-M), synthetic data", flush=True)
    result["joint"] = joint_training(args.device, size, epochs=2)
    print(json.dumps(result["joint"]))

    with tempfile.TemporaryDirectory(prefix="jdnas-gpu-lut-") as cache:
        print("\n== search (learned beta, real latency table) + 1 retraining epoch", flush=True)
        t1 = time.perf_counter()
        result["nas"] = search_and_retrain(args.device, size, width_mult, cache)
        result["nas"]["seconds"] = round(time.perf_counter() - t1, 1)
        print(json.dumps(result["nas"]))

        print("\n== latency table accuracy over random derived networks", flush=True)
        command = [sys.executable, str(Path(__file__).with_name("lut_accuracy.py")), "--device", args.device,
                   "--batch", str(batch), "--size", str(size), "--channels", "3", "--networks",
                   "4" if args.small else "12", "--cache-dir", cache, "--width-mult", str(width_mult)]
        root = str(Path(__file__).resolve().parents[1])  # the repo, for a machine without the editable install
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
        print(out)
        result["lut_accuracy"] = json.loads(out.strip().splitlines()[-1])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
