"""The trial config: every field a trainable reads, its default and what values it accepts.

Sweeps are validated against this schema in the driver, before Ray starts, so a typo or an invalid
value fails in a second with the allowed values instead of on a worker an hour later.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .data.noise import NOISE_LEVELS
from .data.registry import DATASETS
from .models.classifier import CLASSIFIER_NORMS, CLASSIFIER_PRESETS
from .models.joint import JOINT_MODES
from .models.unet import BLOCK_TYPES, UNET_PRESETS
from .tasks import MODEL_TASKS


@dataclass(frozen=True)
class Field:
    default: Any
    kind: type | tuple[type, ...]
    doc: str
    choices: tuple | None = None
    check: Callable[[Any], bool] | None = None
    rule: str = ""          # human wording of `check`, shown in errors
    optional: bool = False  # None allowed

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable, or None."""
        if value is None:
            return None if self.optional else "must not be empty"
        if self.choices is not None:
            return None if value in self.choices else f"must be one of {list(self.choices)}"
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"must be of type {'/'.join(k.__name__ for k in kinds)}"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be finite"
        if self.check is not None and not self.check(value):
            return f"must be {self.rule}"
        return None


# the value checks the trial and run schemas share (trainables/nas/config.py, search_spaces/base.py)
positive = dict(check=lambda v: v > 0, rule="> 0")
at_least_one = dict(check=lambda v: v >= 1, rule=">= 1")
non_negative = dict(check=lambda v: v >= 0, rule=">= 0")
sigma_list = dict(check=lambda v: len(v) > 0 and all(isinstance(s, (int, float)) and s >= 0 for s in v),
                  rule="a non-empty list of sigmas >= 0")

FIELDS: dict[str, Field] = {
    # what is trained
    "task": Field("classifier", str, " | ".join(MODEL_TASKS), choices=MODEL_TASKS),
    "classifier": Field("MB2.5-M", str, "Table 7 classifier preset", choices=tuple(CLASSIFIER_PRESETS)),
    "width": Field(None, int, "classifier conv width (overrides the preset)", optional=True, **at_least_one),
    "expansion": Field(None, float, "classifier MBConv expansion e; 0 = plain conv", optional=True,
                       check=lambda v: v == 0 or v >= 1, rule="0 or >= 1"),
    "unet": Field(None, str, "UNet preset", choices=tuple(UNET_PRESETS), optional=True),
    "depth": Field(None, int, "UNet depth d", optional=True, **at_least_one),
    "base_width": Field(None, int, "UNet base width b", optional=True, **at_least_one),
    "blocks": Field(None, int, "UNet blocks per level c", optional=True, **at_least_one),
    "multiplier": Field(None, float, "UNet channel multiplier m", optional=True, **at_least_one),
    "block": Field("conv", str, "UNet block type", choices=BLOCK_TYPES),
    "block_expansion": Field(4.0, float, "expansion rate of MBConv UNet blocks", **at_least_one),
    "norm": Field("batch", str, "UNet normalisation", choices=("batch", "group", "none")),
    "residual": Field(True, bool, "UNet output is added to its input (residual learning); false predicts the "
                                  "clean image directly, which learns far slower (same FLOPs)"),
    "joint_mode": Field("integrated", str, "how the joint model is wired", choices=JOINT_MODES),
    "attach_level": Field(None, int, "encoder level of the integrated classifier head (default: bottleneck)",
                          optional=True, **non_negative),
    "classifier_norm": Field("group1", str, "classifier GroupNorm: group1 = one group at every width (the same norm "
                             "across the Table 7 family); group = largest divisor of the width <= 8",
                             choices=CLASSIFIER_NORMS),
    "sequential_training": Field("end-to-end", str, "sequential joint model: end-to-end (CE + w * Charbonnier from "
                                 "scratch) or two-stage (denoiser alone on Charbonnier for `epochs`, frozen, then the "
                                 "classifier on its outputs for `epochs`, then `finetune_epochs` end to end)",
                                 choices=("end-to-end", "two-stage")),
    "finetune_epochs": Field(0, int, "two-stage sequential training: joint fine-tuning epochs at the end",
                             **non_negative),
    # losses
    "loss_weight": Field(1.0, float, "w in CE + w * Charbonnier for joint models", **non_negative),
    "charbonnier_eps": Field(1e-3, float, "epsilon of the Charbonnier loss", **positive),
    # data
    "dataset": Field("fashion-mnist", str, "dataset registry name", choices=tuple(DATASETS)),
    "data_dir": Field(None, str, "where datasets live (default $JDNAS_DATA or ~/.cache/jdnas/data)", optional=True,
                      check=lambda v: bool(v.strip()), rule="a folder (not empty)"),
    "image_size": Field(None, int, "fit images to this size (default: native)", optional=True,
                        check=lambda v: 1 <= v <= 4096, rule="in [1, 4096]"),
    "fit": Field("pad", str, "how images are fitted to image_size", choices=("pad", "resize")),
    "channels": Field(3, int, "image channels (imagefolder and synthetic only)", choices=(1, 3)),
    "grey_as_rgb": Field(False, bool, "replicate a grey dataset's channel into three (R = G = B), so models see "
                                      "the paper's RGB input shape and FLOPs; noise is then drawn independently per "
                                      "channel, as on a colour image"),
    "val_fraction": Field(0.1, float, "share of the train images held out for validation",
                          check=lambda v: 0 < v < 1, rule="in (0, 1)"),
    "train_size": Field(None, int, "subsample the train split", optional=True, **at_least_one),
    "val_size": Field(None, int, "subsample the validation split", optional=True, **at_least_one),
    "test_size": Field(None, int, "subsample the test split", optional=True, **at_least_one),
    "split_seed": Field(0, int, "seed of the train/val split and subsampling", **non_negative),
    "train_noise_levels": Field(list(NOISE_LEVELS), list, "sigmas drawn per training image ([0.0] = clean)",
                                **sigma_list),
    "eval_noise_levels": Field(list(NOISE_LEVELS), list, "sigmas of validation and test evaluation", **sigma_list),
    "eval_seed": Field(0, int, "seed of the fixed evaluation noise", **non_negative),
    "noise_clip": Field(False, bool, "clip the noisy input to [0, 1] (training and evaluation); the default keeps "
                                     "the unclipped Gaussian noise statistics"),
    "augment": Field(True, bool, "random flip + 4-px pad-crop on training images"),
    # optimisation
    "optimizer": Field("adam", str, "weight optimiser", choices=("adam", "adamw", "sgd")),
    "lr": Field(1e-3, float, "peak learning rate (cosine decay to 0)", **positive),
    "weight_decay": Field(0.0, float, "weight decay", **non_negative),
    "momentum": Field(0.9, float, "SGD momentum", **non_negative),
    "grad_clip": Field(0.0, float, "max gradient norm; 0 = off", **non_negative),
    "epochs": Field(200, int, "training epochs", **at_least_one),
    "batch_size": Field(64, int, "training batch size", **at_least_one),
    "seed": Field(0, int, "training seed (weights, shuffling, noise)", **non_negative),
    "precision": Field("fp32", str, "training forward pass: fp32, or autocast to bf16 / fp16 (fp16 with a grad "
                                    "scaler); evaluation, PSNR and SSIM stay fp32", choices=("fp32", "bf16", "fp16")),
    "channels_last": Field(False, bool, "train in channels-last memory format (faster convolutions on GPUs)"),
    "data_on_device": Field(None, bool, "keep the uint8 splits on the trial's device and gather batches there "
                                        "(default: on for CUDA, off on CPU)", optional=True),
    # measurement
    "latency_batch_size": Field(None, int, "latency batch (default: 1 on CPU, 32 on GPU)", optional=True,
                                **at_least_one),
    "latency_precision": Field("fp32", str, "latency precision", choices=("fp32", "fp16", "bf16")),
    "latency_backend": Field("auto", str, "what runs the timed forwards: onnxruntime (the model exported to ONNX, "
                             "CPU fp32), torch (eager PyTorch) or auto (onnxruntime for fp32 on a CPU, else torch); "
                             "docs/deploy.md compares them", choices=("auto", "torch", "onnxruntime")),
    "latency_min_run_time": Field(1.0, float, "seconds of timed forwards per latency measurement",
                                  check=lambda v: 0 < v <= 600, rule="in (0, 600] seconds"),
    "examples": Field(True, bool, "save a PNG of noisy / denoised / clean test images at the end"),
    "max_latency_ms": Field(None, float, "hard latency cap of an architecture search (an Optuna constraint: trials "
                                         "over it steer the search and never join the front)", optional=True,
                            **positive),
    # testing the fault tolerance
    "fail_at_epoch": Field(None, int, "raise once at this epoch unless resumed from a checkpoint (retry tests)",
                           optional=True, **at_least_one),
    "corrupt_checkpoint_at_epoch": Field(None, int, "write this epoch's checkpoint truncated unless resumed (retry "
                                         "tests: the retry must fall back to the checkpoint before)",
                                         optional=True, **at_least_one),
}

# the fields that define a built network: the model factory reads these and nothing else of a config
MODEL_FIELDS = ("task", "classifier", "width", "expansion", "unet", "depth", "base_width", "blocks", "multiplier", "block",
                "block_expansion", "joint_mode", "attach_level", "norm", "residual", "classifier_norm")
DATA_FIELDS = ("dataset", "data_dir", "image_size", "fit", "channels", "grey_as_rgb", "val_fraction", "train_size", "val_size",
               "test_size", "split_seed")


def defaults() -> dict:
    return {name: (list(f.default) if isinstance(f.default, list) else f.default) for name, f in FIELDS.items()}


def field_problems(config: Mapping, extra: Mapping[str, Field] | None = None) -> dict[str, str]:
    """field -> what is wrong with its value, for every known field present in `config`."""
    schema = {**FIELDS, **(extra or {})}
    return {k: p for k, v in config.items() if k in schema and (p := schema[k].problem(v))}


def data_key(config: Mapping) -> tuple:
    """Trials with equal data settings share one prepared copy of the data."""
    return tuple((k, config.get(k, FIELDS[k].default)) for k in DATA_FIELDS)


def effective_config(config: Mapping) -> dict:
    """The trial's config with its grid point merged in (union grids arrive as a nested 'variant')."""
    config = dict(config)
    return {**config, **config.pop("variant", {})}
