"""Build any of the paper's models from a flat trial config (the same keys the sweeps use).

Keys: task (classifier | denoiser | joint);
  classifier: classifier (Table 7 preset), width, expansion (0 = plain conv);
  denoiser:   unet (preset), depth, base_width, blocks, multiplier, block (conv | mbconv),
              block_expansion, norm, residual;
  joint:      both of the above + joint_mode (sequential | integrated), attach_level;
              joint_mode searched: architecture (a NAS-derived JSON dict or its path), dropout.
"""
from __future__ import annotations

from typing import Callable, Mapping

from torch import nn

from .. import config as trial_config  # the module, read at call time: trainables.config imports this package's models
from ..tasks import MODEL_TASKS, SEARCH_TASKS, TASKS
from .classifier import CLASSIFIER_PRESETS, build_classifier
from .joint import JOINT_MODES, IntegratedJoint, SequentialJoint
from .unet import UNET_PRESETS, UNet, check_input_size, unet_hyperparameters

# The NAS-derived networks (joint_mode "searched") are defined in trainables.nas, which builds on this package;
# trainables.nas.derive registers how to build and name them here when it is imported (trainables/__init__.py
# imports it), so imports run one way: nas -> models.
SEARCHED: dict[str, Callable] = {}


def register_searched(build: Callable[[Mapping], nn.Module], label: Callable[[Mapping], str]) -> None:
    """`build(config)`: the network of config['architecture']; `label(config)`: its (or its search's) name."""
    SEARCHED.update(build=build, label=label)


UNET_KEYS = ("depth", "base_width", "blocks", "multiplier")


def _field(config: Mapping, key: str):
    """The config's value of a model field, else its default: trainables.config.FIELDS is the one home of every
    default, so a partial config (`jdnas models`, a NAS target's reference model) builds what a trial builds."""
    value = config.get(key)
    return trial_config.FIELDS[key].default if value is None else value


def _unet(config: Mapping, in_channels: int) -> UNet:
    hp = unet_hyperparameters(config.get("unet"), **{k: config.get(k) for k in UNET_KEYS})
    return UNet(**hp, block=_field(config, "block"), in_channels=in_channels,
                expansion=_field(config, "block_expansion"), norm=_field(config, "norm"),
                residual=_field(config, "residual"))


def _classifier_args(config: Mapping) -> tuple[int, float | None]:
    preset = _field(config, "classifier")
    if preset not in CLASSIFIER_PRESETS:
        raise ValueError(f"unknown classifier preset {preset!r}; choose one of {sorted(CLASSIFIER_PRESETS)}")
    width, expansion = CLASSIFIER_PRESETS[preset]
    width = config.get("width") or width
    expansion = config["expansion"] if config.get("expansion") is not None else expansion
    return width, expansion or None


def build_model(config: Mapping, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    task = config.get("task")
    norm = _field(config, "classifier_norm")
    if task == "classifier":
        if config.get("joint_mode") == "searched":  # a classifier-only NAS architecture
            return SEARCHED["build"](config)
        width, expansion = _classifier_args(config)
        return build_classifier(width=width, expansion=expansion, in_channels=in_channels, num_classes=num_classes,
                                norm=norm)
    if task == "denoiser":
        return _unet(config, in_channels)
    if task == "joint":
        mode = _field(config, "joint_mode")
        if mode not in JOINT_MODES:
            raise ValueError(f"unknown joint_mode {mode!r}; choose one of {JOINT_MODES}")
        if mode == "searched":
            return SEARCHED["build"](config)
        width, expansion = _classifier_args(config)
        unet = _unet(config, in_channels)
        if mode == "sequential":
            return SequentialJoint(unet, build_classifier(width=width, expansion=expansion, in_channels=in_channels,
                                                          num_classes=num_classes, norm=norm))
        return IntegratedJoint(unet, num_classes, width, expansion, config.get("attach_level"), norm)
    raise ValueError(f"unknown task {task!r}; choose one of {MODEL_TASKS}")


def check_model_input(model: nn.Module, size: int) -> None:
    """Raise ValueError if the model cannot take size x size inputs (UNet depth, head pooling)."""
    if hasattr(model, "check_input_size"):
        model.check_input_size(size)
    elif isinstance(model, SequentialJoint):
        model.denoiser.check_input_size(size)
    if size < 4:
        raise ValueError(f"input size {size} is too small; the classifiers need at least 4x4")


def paper_unet_name(config: Mapping) -> str | None:
    """The paper's UNet preset (UNet-S, UNet-M, UNet) whose (d, b, c, m) and Conv blocks the config builds,
    however it was given (a preset name, a grid point of a UNet study, a joint model, a user's sweep); None
    for any other model."""
    task = TASKS.get(config.get("task"))
    if task is None or not (task.built and task.image) or config.get("joint_mode") == "searched":
        return None
    if _field(config, "block") != "conv":
        return None
    try:
        hp = unet_hyperparameters(config.get("unet"), **{k: _present(config.get(k)) for k in UNET_KEYS})
    except ValueError:
        return None
    point = (hp["depth"], hp["base_width"], hp["blocks"], float(hp["multiplier"]))
    return next((name for name, preset in UNET_PRESETS.items() if point == (*preset[:3], float(preset[3]))), None)


def _present(value):
    """None for the missing cells of a result row (None or NaN)."""
    return None if value is None or value != value else value


def _unet_label(config: Mapping) -> str:
    hp = unet_hyperparameters(config.get("unet"), **{k: config.get(k) for k in UNET_KEYS})
    overridden = any(config.get(k) is not None for k in UNET_KEYS)
    label = config["unet"] if config.get("unet") and not overridden else \
        "UNet-d{depth}-b{base_width}-c{blocks}-m{multiplier:g}".format(**hp)
    return label + ("-MB" if _field(config, "block") == "mbconv" else "")


def _classifier_label(config: Mapping) -> str:
    preset = _field(config, "classifier")
    if config.get("width") or config.get("expansion") is not None:
        width, expansion = _classifier_args(config)
        return f"{preset}(w{width},e{expansion or 0:g})"
    return preset


def model_label(config: Mapping) -> str:
    """Short name for tables: the preset name, or the hyperparameters when they override it."""
    task = config.get("task")
    if task == "classifier" and config.get("joint_mode") != "searched":
        return _classifier_label(config)
    if task in SEARCH_TASKS or (task in ("joint", "classifier") and config.get("joint_mode") == "searched"):
        return SEARCHED["label"](config)
    if task == "joint":
        mode = _field(config, "joint_mode")
        if mode == "sequential" and config.get("sequential_training") == "two-stage":
            mode = "sequential-two-stage"
        return f"{mode}({_unet_label(config)}, {_classifier_label(config)})"
    return _unet_label(config)


__all__ = ["build_model", "register_searched", "check_model_input", "check_input_size", "model_label", "paper_unet_name"]
