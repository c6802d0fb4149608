"""Beyond the paper's one-axis-at-a-time grids: multi-objective, latency-aware search of its manual spaces.

Each search is an Optuna sweep (TPE by default; `--set sampler=nsga2|gp|random`) over the architecture
fields of the classifier family (expansion rate, 0 = plain conv, and width), the UNet (d, b, c, m and
Conv/MBConv blocks) or the joint model (both, plus sequential/integrated). Objectives: validation accuracy
(mean over the noise levels) up, validation PSNR (mean over the levels) up, and latency on the trial's own
device down (`latency_ms`, timed in the trial after training). `--max-latency-ms X` is a hard cap, given to
the sampler as an Optuna constraint.

Hypervolume reference point (the rule): the worst value still worth something on each axis, fixed here so
that runs of one sweep are comparable: accuracy at chance (10 % for the 10-class datasets), PSNR at 10 dB
(below any denoiser of these spaces at the preset's noise levels: the noisy input itself scores about 13 dB
averaged over σ 0..1) and the latency bound below (about 1.5 x the slowest network of the space at the quick
preset, ONNX Runtime on one core of a 2-core CPU); with a cap the latency reference is the cap.

`classifier-grid` is the classifier space as a full grid (48 networks, 1 seed): the tabular benchmark
that `benchmarks/searcher_replay.py` replays the searchers on.
"""
from __future__ import annotations

from .base import Optimize, Sweep, param_values

# cheap but still ranking (a grid of 48 in minutes on a shared 2-core machine): Fashion-MNIST resized to 16 px,
# 1024 training images, 3 epochs of batch 32, 1 thread per trial (torch threads spin-wait on a busy machine);
# the accuracy is still the mean over all 11 noise levels
QUICK_ARCH = {"quick": dict(image_size=16, fit="resize", train_size=1024, val_size=256, test_size=256, epochs=3,
                            batch_size=32, lr=5e-3, latency_min_run_time=0.1, examples=False, cpus_per_trial=1)}
QUICK_ARCH_IMAGE = {"quick": dict(train_size=1500, val_size=300, test_size=300, epochs=2, lr=2e-3,
                                  latency_min_run_time=0.2, examples=False)}

CLASSIFIER_SPACE = {"expansion": ("choice", [0.0, 1.0, 2.0, 2.5, 4.0, 6.0]), "width": ("int", 8, 64, 8)}
UNET_SPACE = {"depth": ("int", 2, 4), "base_width": ("int", 4, 32, 4), "blocks": ("int", 1, 2),
              "multiplier": ("choice", [1.0, 1.5, 2.0]), "block": ("choice", ["conv", "mbconv"])}
JOINT_SPACE = {**UNET_SPACE, **CLASSIFIER_SPACE, "joint_mode": ("choice", ["sequential", "integrated"])}

CHANCE_ACC, PSNR_FLOOR = 10.0, 10.0


def _search(name: str, trainable: str, space: dict, metrics: tuple, modes: tuple, latency_bound_ms: float,
            what: str, num_samples: int, presets: dict) -> Sweep:
    floors = {"val_acc": CHANCE_ACC, "val_psnr": PSNR_FLOOR, "latency_ms": latency_bound_ms}
    return Sweep(name=name, trainable=trainable, description=what, seeds=1, presets=presets,
                 fixed={"classifier": "MB2.5-M"} if "expansion" in space else {},
                 optimize=Optimize(params=space, metrics=metrics, modes=modes, num_samples=num_samples,
                                   reference={m: floors[m] for m in metrics}, constraint="latency_ms"),
                 metric=metrics[0], table="search")


CLASSIFIER_SEARCH = _search(
    "classifier-search", "classifier", CLASSIFIER_SPACE, ("val_acc", "latency_ms"), ("max", "min"), 0.3,
    "Pareto search of the classifier family (expansion rate x width): accuracy up, latency down", 16, QUICK_ARCH)
UNET_SEARCH = _search(
    "unet-search", "denoiser", UNET_SPACE, ("val_psnr", "latency_ms"), ("max", "min"), 30.0,
    "Pareto search of the UNet (d, b, c, m, Conv/MBConv): PSNR up, latency down", 16, QUICK_ARCH_IMAGE)
JOINT_SEARCH = _search(
    "joint-search", "joint", JOINT_SPACE, ("val_acc", "val_psnr", "latency_ms"), ("max", "max", "min"), 40.0,
    "Pareto search of the joint model (UNet x classifier x sequential/integrated): accuracy, PSNR, latency",
    24, QUICK_ARCH_IMAGE)


def grid_of(space: dict) -> dict:
    """A search space as a full grid: every value of every parameter (uniform ranges are not gridded)."""
    return {name: param_values(spec) for name, spec in space.items()}


CLASSIFIER_GRID = Sweep(
    name="classifier-grid", trainable="classifier",
    description="The classifier-search space as a full grid (6 expansion rates x 8 widths, 1 seed): the tabular "
                "benchmark of benchmarks/searcher_replay.py",
    grid=grid_of(CLASSIFIER_SPACE), fixed={"classifier": "MB2.5-M"}, seeds=1, presets=QUICK_ARCH,
    metric="val_acc", table="generic")

SWEEPS = [CLASSIFIER_SEARCH, UNET_SEARCH, JOINT_SEARCH, CLASSIFIER_GRID]
