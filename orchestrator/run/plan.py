"""`jdnas plan`: what a sweep costs before it runs. Each distinct network of the sweep trains a few timed
steps on this machine's device (the loop's own `batch_loss` and optimiser step, in the trial's precision
and threads) and evaluates one chunk at every noise level; from those rates and the sweep's sizes come
the time per trial, the total, the wall time on N devices with the chosen packing, and on a GPU the
packing to recommend (trials per GPU, from how throughput grows with the work in flight and from memory).
`jdnas run` prints the same estimate first, so a mispriced run can be stopped before it costs anything."""
from __future__ import annotations

import heapq
import io
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from search_spaces import ResolvedSweep
from trainables.data.noise import EVAL_CHUNK
from trainables.evaluate import evaluate
from trainables.measure.latency import device_name
from trainables.loop import batch_loss, make_optimizer
from trainables.stages import total_epochs
from trainables.kinds import KINDS
from trainables.models import build_model, model_label
from trainables.precision import TrainingPrecision

from orchestrator.run.data import prepare_data

RAY_START_S = 8.0         # import, init, shutdown of a local Ray, the Parquet export and the report
EXCLUSIVE_OVERHEAD_S = 0.3  # latency phase: per network and round beyond its timed forwards (warm-up, export)
TRIAL_OVERHEAD_S = 2.0    # scheduling, reporting, MLflow logging, actor reuse per trial
PACKINGS = (1, 2, 4, 8)   # trials per GPU considered
CUDA_CONTEXT_MB = 500     # what each trial process holds on a GPU before it allocates anything


@dataclass
class NetworkRate:
    label: str
    variant: dict
    step_s: float                 # one training step at the trial's batch size
    eval_chunk_s: float           # evaluate() on EVAL_CHUNK images at every eval noise level
    checkpoint_s: float
    peak_memory_mb: float | None  # CUDA only
    packing_speedup: dict = field(default_factory=dict)  # k -> throughput of k batches at once / one batch

    @property
    def train_images_per_s(self) -> float:
        return self.batch_size / self.step_s

    batch_size: int = 64


@dataclass
class Plan:
    sweep: str
    preset: str
    trials: int
    device: str
    device_name: str
    devices: int
    trials_per_device: float
    networks: list[NetworkRate]
    trial_seconds: list[float]          # per trial, in launch order
    wall_s: float
    recommended_packing: int | None
    note: str = ""
    measure_s: float = 0.0              # what measuring took (`jdnas run` spends it too; part of wall_s)

    @property
    def total_s(self) -> float:
        return sum(self.trial_seconds)

    def as_dict(self) -> dict:
        return dict(sweep=self.sweep, preset=self.preset, trials=self.trials, device=self.device,
                    device_name=self.device_name, devices=self.devices, trials_per_device=self.trials_per_device,
                    trial_s=self.trial_seconds, total_s=self.total_s, wall_s=self.wall_s,
                    recommended_packing=self.recommended_packing, measure_s=self.measure_s,
                    networks=[dict(label=n.label, train_images_per_s=n.train_images_per_s,
                                   eval_chunk_s=n.eval_chunk_s, peak_memory_mb=n.peak_memory_mb,
                                   packing_speedup=n.packing_speedup) for n in self.networks])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fastest_of(rounds: int, run) -> float:
    """Seconds of `run()`, the fastest of `rounds`: other load only ever slows a measurement down."""
    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def _timed_steps(model, config, precision, optimizer, batch, labels, rng, steps: int, rounds: int = 2) -> float:
    """Seconds per training step (after one untimed warm-up step)."""
    def step():
        loss, _, _ = batch_loss(model, config, precision, batch, labels, rng)
        optimizer.zero_grad(set_to_none=True)
        precision.step(loss, optimizer, model, config["grad_clip"])

    def timed_steps():
        for _ in range(steps):
            step()
        _sync(batch.device)

    step()
    _sync(batch.device)
    return _fastest_of(rounds, timed_steps) / steps


def measure_network(config: dict, input_shape: tuple, num_classes: int, device: torch.device,
                    steps: int = 4, packing: bool = False) -> NetworkRate:
    """Time a few training steps, one evaluation chunk and one checkpoint of this config's network."""
    torch.manual_seed(0)
    bs, shape = config["batch_size"], tuple(input_shape)
    model = build_model(config, shape[0], num_classes).to(device)
    precision = TrainingPrecision(config["precision"], config["channels_last"], device)
    model = precision.prepare(model)
    optimizer = make_optimizer(model, config)
    rng = torch.Generator(device).manual_seed(0)

    def inputs(n):
        return torch.rand(n, *shape, device=device), torch.randint(num_classes, (n,), device=device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_s = _timed_steps(model, config, precision, optimizer, *inputs(bs), rng, steps)
    peak = torch.cuda.max_memory_allocated(device) / 1e6 if device.type == "cuda" else None
    speedup = {1: 1.0}
    if packing:  # k batches at once approximates k trials sharing the device
        for k in PACKINGS[1:]:
            try:
                speedup[k] = k * step_s / _timed_steps(model, config, precision, optimizer, *inputs(k * bs), rng, steps)
            except torch.cuda.OutOfMemoryError:
                break
    images = np.random.default_rng(0).integers(0, 256, (EVAL_CHUNK, *shape), dtype=np.uint8)
    labels = np.zeros(EVAL_CHUNK, dtype=np.int64)
    levels = config["eval_noise_levels"]

    def evaluate_one_level():  # every level costs alike
        evaluate(model, config["task"], images, labels, levels[:1], device=device, seed=0, clip=config["noise_clip"])
        _sync(device)

    evaluate(model, config["task"], images[:8], labels[:8], levels[:1], device=device, seed=0)  # warm-up
    eval_chunk_s = _fastest_of(2, evaluate_one_level) * len(levels)
    checkpoint_s = _fastest_of(1, lambda: torch.save({"model": model.state_dict(),
                                                      "optimizer": optimizer.state_dict()}, io.BytesIO()))
    return NetworkRate(model_label(config), {}, step_s, eval_chunk_s, checkpoint_s, peak, speedup, batch_size=bs)


def trial_seconds(config: dict, rate: NetworkRate, sizes: dict) -> float:
    """Training, per-epoch validation and checkpoint, then test evaluation and latency timing."""
    steps = max(1, sizes["train"] // config["batch_size"])
    # evaluation costs by the image (a last, partial chunk is cheaper: a 64-image set priced as 256 was 4x over)
    epoch = steps * rate.step_s + sizes["val"] / EVAL_CHUNK * rate.eval_chunk_s + rate.checkpoint_s
    final = sizes["test"] / EVAL_CHUNK * rate.eval_chunk_s + 1.5 * config["latency_min_run_time"] + 0.3
    return total_epochs(config) * epoch + final + TRIAL_OVERHEAD_S  # every training stage (two-stage: 2x+)


def list_schedule(durations: list[float], slots: int) -> float:
    """Makespan of trials started in order on the first free slot (what Tune does)."""
    free = [0.0] * max(1, slots)
    for d in durations:
        heapq.heapreplace(free, free[0] + d)
    return max(free)


def recommend_packing(rates: list[NetworkRate], memory_mb: float | None) -> int:
    """The smallest trials-per-GPU within 10 % of the best measured throughput that fits in memory."""
    def fits(k):
        return memory_mb is None or all(k * ((r.peak_memory_mb or 0) + CUDA_CONTEXT_MB) < 0.9 * memory_mb for r in rates)

    candidates = [k for k in PACKINGS if all(k in r.packing_speedup for r in rates) and fits(k)] or [1]
    gain = {k: min(r.packing_speedup[k] for r in rates) for k in candidates}
    best = max(gain.values())
    return min(k for k in candidates if gain[k] >= 0.9 * best)


def split_sizes(resolved: ResolvedSweep, data) -> dict:
    """Images per split: from the prepared data when given, else from the config (loading if unset)."""
    if data is None:
        data = prepare_data(resolved)
    splits = next(iter(data.values()))
    return dict(train=len(splits.train_images), val=len(splits.val_images), test=len(splits.test_images),
                shape=splits.image_shape, num_classes=splits.num_classes)


def make_plan(resolved: ResolvedSweep, *, gpus: int | None = None, cpus: int | None = None, data=None,
              steps: int = 4) -> Plan:
    """Measure every distinct network on this machine's device and price the sweep on N devices."""
    # lazy: exclusive_latency's imports (results, tracking) load Ray and MLflow, which `jdnas plan` never uses
    from orchestrator.run.exclusive_latency import ROUNDS, wanted as exclusive_phase

    started = time.perf_counter()
    run, sweep = resolved.run, resolved.sweep
    want_gpu = gpus is not None or (cpus is None and run["gpus_per_trial"] > 0)
    device = torch.device("cuda" if want_gpu and torch.cuda.is_available() else "cpu")
    note = "no CUDA device here: rates measured on this CPU stand in for the GPU's" \
        if want_gpu and device.type == "cpu" else ""
    if not KINDS[sweep.trainable].fixed_network:
        return Plan(sweep.name, resolved.preset, resolved.num_trials, str(device), device_name(device), 0, 0, [], [],
                    float("nan"), None, f"no estimate for {sweep.trainable!r} trials (their network is searched)")
    sizes = split_sizes(resolved, data)
    threads = max(1, int(min(run["cpus_per_trial"], os.cpu_count() or 1)))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rates, variants = [], resolved.variants or [{}]  # an Optuna sweep: its base config stands for every trial
        for variant in variants:
            config = {**resolved.base, **variant, "seed": 0}
            rate = measure_network(config, sizes["shape"], sizes["num_classes"], device, steps, device.type == "cuda")
            rate.variant = variant
            rates.append(rate)
    finally:
        torch.set_num_threads(previous)
    seconds_of = [trial_seconds({**resolved.base, **v}, r, sizes) for v, r in zip(variants, rates)]
    per_trial = [seconds_of[variants.index({k: v for k, v in point.items() if k != "seed"})]
                 for point in resolved.trial_points] or seconds_of[:1] * resolved.num_trials
    recommended = None
    if want_gpu:
        devices = gpus or 1
        memory = torch.cuda.get_device_properties(device).total_memory / 1e6 if device.type == "cuda" else None
        recommended = recommend_packing(rates, memory)
        packing = max(1, int(1 / run["gpus_per_trial"])) if run["gpus_per_trial"] > 0 else recommended
        speedups = [min(r.packing_speedup.get(packing, 1.0), packing) for r in rates]
        slowdown = packing / (sum(speedups) / len(speedups))  # each trial runs this much slower when packed
        durations, slots = [t * slowdown for t in per_trial], devices * packing
    else:
        devices = cpus or os.cpu_count() or 1
        packing = max(1, int(devices // min(run["cpus_per_trial"], devices)))
        durations, slots = per_trial, packing
    measure_s = time.perf_counter() - started
    wall = measure_s + RAY_START_S + list_schedule(durations, slots)
    if exclusive_phase(resolved):  # every trial's network, ROUNDS interleaved rounds (warm-up and export each)
        wall += resolved.num_trials * ROUNDS * (resolved.base["latency_min_run_time"] + EXCLUSIVE_OVERHEAD_S)
    return Plan(sweep.name, resolved.preset, resolved.num_trials, str(device), device_name(device), devices,
                packing if want_gpu else packing / devices, rates, per_trial, wall, recommended, note, measure_s)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_plan(plan: Plan, brief: bool = False) -> str:
    """The estimate as text: per network, then the totals (`brief`: the totals only, for `jdnas run`)."""
    lines = []
    if plan.note and not plan.networks:
        return f"[jdnas] plan: {plan.trials} trials; {plan.note}"
    if not brief:
        lines.append(f"{plan.sweep} --preset {plan.preset}: {plan.trials} trials; rates measured on "
                     f"{plan.device} ({plan.device_name})" + (f"; {plan.note}" if plan.note else ""))
        lines.append(f"  {'network':<34}{'train img/s':>12}{'eval chunk':>12}{'peak MB':>9}  packing speedup")
        for n in plan.networks:
            speed = " ".join(f"{k}x:{v:.2f}" for k, v in n.packing_speedup.items() if k > 1) or "-"
            peak = f"{n.peak_memory_mb:.0f}" if n.peak_memory_mb is not None else "-"
            lines.append(f"  {n.label:<34}{n.train_images_per_s:>12.0f}{n.eval_chunk_s:>11.2f}s{peak:>9}  {speed}")
    unit = "GPU" if plan.recommended_packing is not None else "CPU"
    at_once = plan.trials_per_device * plan.devices
    layout = (f"{plan.devices} GPU(s) x {plan.trials_per_device:g} trials per GPU" if unit == "GPU"
              else f"{plan.devices} CPUs, {at_once:g} trial{'s' if at_once != 1 else ''} at a time")
    lines.append(f"[jdnas] estimate: {_duration(plan.total_s / max(plan.trials, 1))} per trial on average, "
                 f"{_duration(plan.total_s)} of trial time in total; wall time about {_duration(plan.wall_s)} "
                 f"on {layout}")
    if plan.recommended_packing is not None:
        lines.append(f"[jdnas] recommended packing: {plan.recommended_packing} trials per GPU "
                     f"(--set gpus_per_trial={1 / plan.recommended_packing:g})")
    return "\n".join(lines)


def estimate_for_run(resolved: ResolvedSweep, data: dict, local: bool) -> str:
    """The lines `jdnas run` prints before Ray starts: the plan's totals, measured quickly (2 steps)."""
    if resolved.run["gpus_per_trial"] > 0 and not torch.cuda.is_available():
        return (f"[jdnas] estimate: the trials run on GPUs this machine lacks; `jdnas plan {resolved.sweep.name} "
                f"--preset {resolved.preset} --gpus N` on a GPU machine prices them")
    where = "" if local else " (rates of the driver's machine; the cluster's nodes may differ)"
    return format_plan(make_plan(resolved, data=data, steps=2), brief=True) + where
