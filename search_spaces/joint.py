"""Section 3: sequential vs integrated joint models, and a multi-objective tuning of one of them."""
from .base import Optimize, Sweep

QUICK_JOINT = {"quick": dict(train_size=3000, val_size=500, test_size=1000, epochs=3, lr=2e-3)}

JOINT = Sweep(
    name="joint",
    trainable="joint",
    description="Sequential (end-to-end and two-stage) vs integrated x {UNet-S, UNet-M, UNet} with MB2.5-M",
    grid={"joint_mode": ["sequential", "integrated"], "sequential_training": ["end-to-end", "two-stage"],
          "unet": ["UNet-S", "UNet-M", "UNet"]},
    fixed={"classifier": "MB2.5-M"},
    presets=QUICK_JOINT,
    metric="val_acc",
    table="joint",
)

JOINT_TUNING = Sweep(
    name="joint-tuning",
    trainable="joint",
    description="Optuna multi-objective: max mean accuracy and max PSNR at sigma 0.8 over lr, weight decay, w",
    fixed={"unet": "UNet-S", "joint_mode": "integrated", "classifier": "MB2.5-M"},
    presets={**QUICK_JOINT, "paper": dict(num_samples=48)},
    seeds=1,
    optimize=Optimize(params={"lr": ("loguniform", 1e-4, 1e-2), "weight_decay": ("loguniform", 1e-6, 1e-2),
                              "loss_weight": ("loguniform", 0.1, 10.0)},
                      metrics=("val_acc", "val_psnr_s0.8"), modes=("max", "max"), num_samples=8),
    metric="val_acc",
    table="tuning",
)

SWEEPS = [JOINT, JOINT_TUNING]
