"""Trials per hour on one GPU: a UNet-S joint model at the quick preset's size (Fashion-MNIST padded to
32x32, 8000 training images, 11-sigma validation and test), trained by the jdnas loop in k processes at
once on the same GPU (k = 1, 2, 4: what `gpus_per_trial` = 1, 0.5, 0.25 does under Ray), and one trial
with the data kept on the device and a bf16 forward pass against today's default path (host batches,
fp32). Prints a JSON line with packing_speedup_4 = trials/hour at 4 per GPU / at 1 per GPU and
pipeline_speedup = time of the default path / time with data on device + bf16 (channels_last_speedup:
what channels-last adds on top). CUDA only: without a GPU it prints a JSON line saying it skipped and
exits 0.

    python benchmarks/gpu_packing.py [--epochs 2] [--train-size 8000]
    python benchmarks/gpu_packing.py --device cpu --epochs 1 --train-size 128 --eval-size 64   # checks it runs
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

import torch

WORKLOAD = dict(task="joint", unet="UNet-S", joint_mode="integrated", classifier="MB2.5-M",
                dataset="fashion-mnist", image_size=32, fit="pad", val_size=1000, test_size=2000, batch_size=64,
                lr=3e-3, latency_min_run_time=0.2, examples=False)


def _splits(config: dict):
    from trainables.data import DatasetNotFound
    from trainables.data.splits import splits_for_config

    try:
        return splits_for_config(config)
    except DatasetNotFound:  # same sizes, synthetic images
        return splits_for_config({**config, "dataset": "synthetic", "channels": 1})


def one_trial(config: dict, device: str = "cuda") -> float:
    """Seconds for one full trial of the loop on the device (data preparation excluded)."""
    from trainables.loop import train

    data = _splits(config)
    t0 = time.perf_counter()
    train(config, data, lambda metrics, checkpoint_dir: None, device=device, threads=1)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def trials_per_hour(config: dict, per_gpu: int, device: str) -> float:
    """`per_gpu` trials started together in their own processes (as Ray runs packed trials)."""
    context = mp.get_context("spawn")
    with context.Pool(per_gpu) as pool:
        t0 = time.perf_counter()
        pool.starmap(one_trial, [({**config, "seed": seed}, device) for seed in range(per_gpu)])
        wall = time.perf_counter() - t0
    return per_gpu * 3600 / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--eval-size", type=int, default=None, help="validation and test images (default 1000 / 2000)")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to check the script runs")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps(dict(benchmark="gpu_packing", skipped=True, reason="no CUDA device visible to torch")))
        return
    today = dict(WORKLOAD, epochs=args.epochs, train_size=args.train_size, data_on_device=False, precision="fp32")
    if args.eval_size:
        today.update(val_size=args.eval_size, test_size=args.eval_size)
    fast = dict(today, data_on_device=True, precision="bf16")
    tph = {k: trials_per_hour(today, k, args.device) for k in (1, 2, 4)}
    default_s, fast_s = one_trial(today, args.device), one_trial(fast, args.device)
    channels_last_s = one_trial(dict(fast, channels_last=True), args.device)
    for k, value in tph.items():
        print(f"{k} trial(s) per GPU: {value:.0f} trials/hour")
    print(f"one trial: today's path {default_s:.1f} s, data on device + bf16 {fast_s:.1f} s, "
          f"and channels_last too {channels_last_s:.1f} s")
    print(json.dumps(dict(benchmark="gpu_packing", device=torch.cuda.get_device_name() if args.device == "cuda" else "cpu", epochs=args.epochs,
                          train_size=args.train_size, trials_per_hour={str(k): round(v, 1) for k, v in tph.items()},
                          packing_speedup_4=round(tph[4] / tph[1], 3), trial_s_today=round(default_s, 2),
                          trial_s_device_bf16=round(fast_s, 2), pipeline_speedup=round(default_s / fast_s, 3),
                          channels_last_speedup=round(fast_s / channels_last_s, 3))))


if __name__ == "__main__":
    main()
