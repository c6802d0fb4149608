"""What a training run needs to go on after an interruption, as one object shared by the training loop
(trainables/loop.py) and the NAS search (trainables/nas/search_loop.py).

Both train a model's weights with an optimiser and a per-step cosine schedule, shuffle with a CPU generator
and draw noise (and augmentation) from a generator on the device; the search adds an architecture optimiser
and a generator for its path sampling, the loop a grad scaler (fp16) and its training stage. A resumed run
restores all of it and is bit-identical to an uninterrupted one (tests/test_loop.py, tests/test_nas_search.py).

Saved as one flat dict of tensors and plain values, read back with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn


@dataclass
class TrainingState:
    model: nn.Module
    optimizer: torch.optim.Optimizer                 # the weights'
    scheduler: torch.optim.lr_scheduler.LRScheduler  # the weights' learning rate, stepped per batch
    order_rng: torch.Generator                       # shuffling, on CPU
    noise_rng: torch.Generator                       # noise and augmentation, on the device
    arch_optimizer: torch.optim.Optimizer | None = None  # the search's alpha (and beta)
    arch_rng: torch.Generator | None = None              # the search's sampled paths and Gumbel noise
    grad_scaler: object | None = None                    # anything with state_dict / load_state_dict (fp16)
    epoch: int = -1                                  # the last finished epoch (0-based)
    elapsed_s: float = 0.0                           # training time so far, over every restart
    restarts: int = 0                                # how often the run resumed from a checkpoint
    resumed: bool = False
    notes: dict = field(default_factory=dict)        # plain values kept with it: the stage, the search's target
    model_name: str = "model"                        # the model's key in the saved dict (the search: "supernet")

    @property
    def first_epoch(self) -> int:
        """The epoch this (maybe resumed) run trains first."""
        return self.epoch + 1

    def _stateful(self) -> dict:
        parts = {self.model_name: self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
                 "arch_optimizer": self.arch_optimizer, "grad_scaler": self.grad_scaler}
        return {name: part for name, part in parts.items() if part is not None}

    def _rngs(self) -> dict[str, torch.Generator]:
        rngs = dict(order_rng=self.order_rng, noise_rng=self.noise_rng, arch_rng=self.arch_rng)
        return {name: rng for name, rng in rngs.items() if rng is not None}

    def state_dict(self) -> dict:
        return {**{name: part.state_dict() for name, part in self._stateful().items()},
                **{name: rng.get_state() for name, rng in self._rngs().items()},
                "epoch": self.epoch, "elapsed_s": self.elapsed_s, "restarts": self.restarts, "notes": self.notes}

    def restore(self, saved: dict, optimizers: bool = True) -> None:
        """Continue from `saved` (a `state_dict()`); the optimisers and the schedule only if `optimizers`
        (a new training stage starts its own)."""
        for name, part in self._stateful().items():
            if optimizers or name not in ("optimizer", "scheduler", "arch_optimizer"):
                part.load_state_dict(saved[name])
        for name, rng in self._rngs().items():
            rng.set_state(saved[name])
        self.epoch, self.elapsed_s, self.restarts = saved["epoch"], saved["elapsed_s"], saved["restarts"] + 1
        self.notes, self.resumed = dict(saved["notes"]), True

    def save(self, path: str | Path) -> None:
        torch.save(self.state_dict(), path)

    def load(self, path: str | Path) -> None:
        self.restore(read_state(path))


def read_state(path: str | Path) -> dict:
    """A saved state as plain tensors and values (no pickled code: weights_only)."""
    return torch.load(path, map_location="cpu", weights_only=True)
