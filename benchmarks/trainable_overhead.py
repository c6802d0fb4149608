"""Training throughput inside the jdnas trainable (a real Ray Tune trial) vs a minimal hand-written
loop on the same model, data, batch size and threads. Prints both and a JSON line; target ratio >= 0.95.

    python benchmarks/trainable_overhead.py [--model MB2.5-M] [--epochs 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from mlflow.tracking import MlflowClient

from orchestrator.run.sweep import RunOptions, run_sweep
from search_spaces import Sweep, resolve
from trainables.data.noise import NOISE_LEVELS
from trainables.data.splits import splits_for_config
from trainables.models import build_model


def minimal_loop(config: dict, data, epochs: int) -> list[float]:
    """What a researcher writes by hand: uint8 -> float, per-image noise, forward, CE, step, cosine."""
    torch.manual_seed(0)
    model = build_model(config, data.image_shape[0], data.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    images, labels = torch.from_numpy(data.train_images), torch.from_numpy(data.train_labels)
    batch = config["batch_size"]
    steps = len(images) // batch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps)
    levels = torch.tensor(NOISE_LEVELS)
    speeds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(images))
        for i in range(steps):
            idx = order[i * batch:(i + 1) * batch]
            x = images[idx].float() / 255
            x = x + levels[torch.randint(len(levels), (len(x),))].view(-1, 1, 1, 1) * torch.randn_like(x)
            loss = F.cross_entropy(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        speeds.append(steps * batch / (time.perf_counter() - t0))
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="MB2.5-M")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=8000)
    args = parser.parse_args()

    settings = dict(train_size=args.train_size, val_size=256, test_size=256, epochs=args.epochs, augment=False,
                    latency_min_run_time=0.05, examples=False, cpus_per_trial=args.threads, max_failures=0)
    sweep = Sweep(name="bench-overhead", trainable="classifier", grid={"classifier": [args.model]}, seeds=1)
    config = resolve(sweep, "quick", settings).trial_configs[0]
    data = splits_for_config(config)

    torch.set_num_threads(args.threads)
    plain = minimal_loop(config, data, args.epochs)
    with tempfile.TemporaryDirectory() as workdir:
        outcome = run_sweep(sweep, "quick", settings, RunOptions(workdir=workdir, verbose=0))
        client = MlflowClient(outcome.tracking_uri)
        child = client.search_runs([client.get_experiment_by_name(sweep.name).experiment_id],
                                   "tags.`jdnas.role` = 'trial'")[0]
        trial_speeds = [m.value for m in sorted(client.get_metric_history(child.info.run_id, "train_images_per_s"),
                                                key=lambda m: m.step)]
    # first epochs warm up allocators and caches in both loops: compare the medians of the rest
    trial = statistics.median(trial_speeds[1:] or trial_speeds)
    plain_speed = statistics.median(plain[1:] or plain)
    ratio = trial / plain_speed
    print(f"model {args.model}, {args.threads} thread(s), batch {config['batch_size']}, {len(data.train_images)} images")
    print(f"  minimal loop   : {plain_speed:8.1f} images/s (per epoch: {', '.join(f'{s:.0f}' for s in plain)})")
    print(f"  jdnas trainable: {trial:8.1f} images/s (per epoch: {', '.join(f'{s:.0f}' for s in trial_speeds)}; "
          "inside a Ray Tune trial)")
    print(json.dumps({"benchmark": "trainable_overhead", "ratio": round(ratio, 4), "trainable_images_per_s":
                      round(trial, 1), "minimal_images_per_s": round(plain_speed, 1), "model": args.model,
                      "threads": args.threads, "target": ">= 0.95"}))


if __name__ == "__main__":
    main()
