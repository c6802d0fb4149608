"""Where a quick-preset trial's time goes: one training epoch, one validation pass (11 sigmas), the test
pass, latency timing and a checkpoint, per classifier of the quick main job, at the trial's threads; and
evaluation in CPU slices of 64 against one forward per 256-image chunk (the previous behaviour), timed
alternately in the same run. Prints a JSON line with eval_slice_speedup (median over networks and repeats)
and the share of each phase in a trial.

    python benchmarks/quick_breakdown.py [--threads 2] [--models Conv-L,MB2.5-M,Conv-S] [--repeats 3]
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import time

import torch

from search_spaces import get_sweep, resolve
from trainables import evaluate as ev
from trainables.data.batches import batches
from trainables.data.splits import splits_for_config
from trainables.loop import batch_loss, make_optimizer
from trainables.measure.latency import measure_latency
from trainables.models import build_model
from trainables.precision import TrainingPrecision


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="Conv-L,MB2.5-M,Conv-S")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="training steps timed (scaled to an epoch)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    resolved = resolve(get_sweep("classifier-scaling"), "quick")
    data, cpu = splits_for_config(resolved.base), torch.device("cpu")
    shares, speedups, networks = {}, [], {}
    for name in args.models.split(","):
        config = {**resolved.base, "classifier": name}
        model = build_model(config, data.image_shape[0], data.num_classes)
        optimizer, precision = make_optimizer(model, config), TrainingPrecision("fp32", False, cpu)
        rng = torch.Generator().manual_seed(0)

        def train_steps():
            for step, (clean, labels) in enumerate(batches(data.train_images, data.train_labels, config["batch_size"],
                                                           cpu, shuffle=True, generator=rng, drop_last=True)):
                if step == args.steps:
                    break
                loss, _, _ = batch_loss(model, config, precision, clean, labels, rng)
                optimizer.zero_grad(set_to_none=True)
                precision.step(loss, optimizer, model, 0.0)

        def validate():
            ev.evaluate(model, "classifier", data.val_images, data.val_labels, config["eval_noise_levels"],
                        device=cpu, seed=1)

        epoch = timed(train_steps) * (len(data.train_images) // config["batch_size"]) / args.steps
        sliced, whole = [], []
        for _ in range(args.repeats):  # alternate the two evaluation layouts
            ev.CPU_FORWARD_BATCH = 64
            sliced.append(timed(validate))
            ev.CPU_FORWARD_BATCH = 10 ** 9
            whole.append(timed(validate))
        ev.CPU_FORWARD_BATCH = 64
        val = statistics.median(sliced)
        speedups.append(statistics.median(whole) / val)
        test = val * len(data.test_images) / len(data.val_images)
        latency = timed(lambda: measure_latency(model, data.image_shape, min_run_time=config["latency_min_run_time"]))
        checkpoint = timed(lambda: torch.save({"m": model.state_dict(), "o": optimizer.state_dict()}, io.BytesIO()))
        phases = dict(train=config["epochs"] * epoch, validation=config["epochs"] * val, test=test, latency=latency,
                      checkpoints=config["epochs"] * checkpoint)
        trial = sum(phases.values())
        networks[name] = dict(trial_s=round(trial, 1), **{k: round(v, 2) for k, v in phases.items()},
                              validation_before_s=round(config["epochs"] * statistics.median(whole), 2))
        for key, value in phases.items():
            shares.setdefault(key, []).append(value / trial)
        print(f"{name}: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) +
              f" | validation before: {config['epochs'] * statistics.median(whole):.1f} s", flush=True)
    print(json.dumps(dict(benchmark="quick_breakdown", threads=args.threads, networks=networks,
                          share={k: round(statistics.mean(v), 3) for k, v in shares.items()},
                          eval_slice_speedup=round(statistics.median(speedups), 3))))


if __name__ == "__main__":
    main()
