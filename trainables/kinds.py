"""The one table of trial kinds: for each trainable a sweep may name, what runs, how its checkpoint loads, the config
fields it takes, the task it trains and where its network comes from. Sweeps, `jdnas plan`, the exclusive latency
phase, the NAS target checks and the Tune trainables all read it, so a kind is added in one place."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Mapping

from .config import FIELDS, Field
from .nas.config import NAS_FIELDS, SEARCH_FIELDS

NETWORKS = ("built", "searched", "derived")


@dataclass(frozen=True)
class TrialKind:
    name: str                    # what a sweep names as its `trainable`
    description: str
    runner: str                  # "module:function" of run(config, data, report, device=, threads=, state=)
    loader: str                  # "module:function" from a checkpoint folder to the state `run` resumes from
    fields: Mapping[str, Field]  # every config field the kind takes, with its default
    task: str | None             # the config's `task` (trainables.tasks); None: the config says which
    network: str                 # built: the model factory builds it from the config; searched: the trial searches
    #                              it; derived: a searched architecture the config gives (config['architecture'])

    def __post_init__(self):
        assert self.network in NETWORKS, self.network

    @property
    def run(self) -> Callable:
        return _imported(self.runner)

    @property
    def load(self) -> Callable[[str], dict]:
        return _imported(self.loader)

    @property
    def fixed_network(self) -> bool:
        """The config fixes the network, so it is built, costed and priced before the trial runs."""
        return self.network != "searched"


def _imported(target: str) -> Callable:
    """The function a "module:function" names, imported when a trial starts: the loop and the NAS phases load ONNX
    Runtime (~0.5 s), which resolving a sweep (`jdnas list`, every check before Ray) never needs."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


TRAIN, LOAD_STATE = "trainables.loop:train", "trainables.loop:load_state"
KINDS: dict[str, TrialKind] = {k.name: k for k in (
    TrialKind("classifier", "Table 7 classifier family on noisy images (cross-entropy)", TRAIN, LOAD_STATE, FIELDS,
              "classifier", "built"),
    TrialKind("denoiser", "UNet denoiser (Charbonnier loss)", TRAIN, LOAD_STATE, FIELDS, "denoiser", "built"),
    TrialKind("joint", "Sequential or integrated joint model (CE + w * Charbonnier)", TRAIN, LOAD_STATE, FIELDS,
              "joint", "built"),
    TrialKind("nas_search", "Latency-constrained search of the integrated model on this trial's device, then "
              "(retrain_epochs > 0) the derived network trained from scratch; resumes either phase from its checkpoint",
              "trainables.nas.phases:run", "trainables.nas.phases:load_checkpoint", {**FIELDS, **SEARCH_FIELDS}, "nas",
              "searched"),
    TrialKind("nas_retrain", "A derived architecture (config['architecture']: the JSON dict or its path) trained "
              "from scratch", "trainables.nas.phases:retrain_only", LOAD_STATE, {**FIELDS, **NAS_FIELDS}, None,
              "derived"),
)}
