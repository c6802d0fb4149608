"""Every experiment of the paper as a sweep definition, plus a registry users can add to.

    from search_spaces import Sweep, register
    register(Sweep(name="my-unet", trainable="denoiser", grid={"base_width": [8, 12]},
                   fixed={"depth": 3, "blocks": 2, "multiplier": 2.0}, metric="val_psnr"))
"""
from __future__ import annotations

from . import architecture, classifier, joint, nas, unet
from .base import PRESETS, RUN_FIELDS, Optimize, ResolvedSweep, Sweep, SweepError, parse_override, resolve

_REGISTRY: dict[str, Sweep] = {}


def register(sweep: Sweep) -> Sweep:
    _REGISTRY[sweep.name] = sweep
    return sweep


def get_sweep(name: str) -> Sweep:
    if name not in _REGISTRY:
        raise SweepError(f"unknown sweep {name!r}; choose one of {sorted(_REGISTRY)} (jdnas list)")
    return _REGISTRY[name]


def all_sweeps() -> list[Sweep]:
    return list(_REGISTRY.values())


for _module in (classifier, unet, joint, nas, architecture):
    for _sweep in _module.SWEEPS:
        register(_sweep)

__all__ = ["PRESETS", "RUN_FIELDS", "Optimize", "ResolvedSweep", "Sweep", "SweepError", "parse_override",
           "resolve", "register", "get_sweep", "all_sweeps"]
