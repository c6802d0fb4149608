"""The one table of trial kinds: for each trainable a sweep may name, what runs, how its checkpoint loads, the config
fields it takes, the task it trains and where its network comes from. Sweeps, `jdnas plan`, the exclusive latency
phase, the NAS target checks and the Tune trainables all read it, so a kind is added in one place."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from .config import FIELDS, Field
from .loop import load_state, train
from .nas import phases
from .nas.config import NAS_FIELDS, SEARCH_FIELDS

NETWORKS = ("built", "searched", "derived")


@dataclass(frozen=True)
class TrialKind:
    name: str                    # what a sweep names as its `trainable`
    description: str
    run: Callable                # run(config, data, report, device=, threads=, state=): trains and reports
    load: Callable[[str], dict]  # a checkpoint folder -> the state `run` resumes from
    fields: Mapping[str, Field]  # every config field the kind takes, with its default
    task: str | None             # the config's `task` (trainables.tasks); None: the config says which
    network: str                 # built: the model factory builds it from the config; searched: the trial searches
    #                              it; derived: a searched architecture the config gives (config['architecture'])

    def __post_init__(self):
        assert self.network in NETWORKS, self.network

    @property
    def fixed_network(self) -> bool:
        """The config fixes the network, so it is built, costed and priced before the trial runs."""
        return self.network != "searched"


KINDS: dict[str, TrialKind] = {k.name: k for k in (
    TrialKind("classifier", "Table 7 classifier family on noisy images (cross-entropy)", train, load_state, FIELDS,
              "classifier", "built"),
    TrialKind("denoiser", "UNet denoiser (Charbonnier loss)", train, load_state, FIELDS, "denoiser", "built"),
    TrialKind("joint", "Sequential or integrated joint model (CE + w * Charbonnier)", train, load_state, FIELDS,
              "joint", "built"),
    TrialKind("nas_search", "Latency-constrained search of the integrated model on this trial's device, then "
              "(retrain_epochs > 0) the derived network trained from scratch; resumes either phase from its checkpoint",
              phases.run, phases.load_checkpoint, {**FIELDS, **SEARCH_FIELDS}, "nas", "searched"),
    TrialKind("nas_retrain", "A derived architecture (config['architecture']: the JSON dict or its path) trained "
              "from scratch", phases.retrain_only, load_state, {**FIELDS, **NAS_FIELDS}, None, "derived"),
)}


def trial_kind(name: str) -> TrialKind:
    if name not in KINDS:
        raise ValueError(f"unknown trainable {name!r}; choose one of {list(KINDS)}")
    return KINDS[name]
