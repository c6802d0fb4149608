"""Ray Tune function trainables. Thin: resources -> threads/device, checkpoint -> resume, then the
shared loop. Only the `ray.tune` API is used here (Ray Train V2 is the default in Ray 2.60).

The prepared data arrives through `tune.with_parameters`, i.e. Ray's object store: one copy per
node, zero-copy numpy views in every trial, never re-read from disk per trial.
"""
from __future__ import annotations

import functools
import sys
import time
from typing import Callable, Mapping

import pyarrow.fs as pafs
import ray
import torch
from ray import tune

from .config import data_key, effective_config
from .data.splits import DataSplits
from .kinds import KINDS, TrialKind


def trial_device_and_threads() -> tuple[str, int]:
    """CUDA when the trial was granted a GPU; torch threads = the CPUs the trial was granted."""
    resources = tune.get_context().get_trial_resources().required_resources
    threads = max(1, int(resources.get("CPU", 1)))
    device = "cuda" if resources.get("GPU", 0) > 0 and torch.cuda.is_available() else "cpu"
    return device, threads


def _tune_report(metrics: dict, checkpoint_dir: str, started_at: float) -> None:
    metrics = {**metrics, "node_id": ray.get_runtime_context().get_node_id(),  # which node ran this epoch
               "trial_started_at": started_at, "reported_at": time.time()}  # wall clock: packing is visible
    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))


def _older_checkpoints(latest: tune.Checkpoint) -> list[tune.Checkpoint]:
    """The trial's other kept checkpoints (the checkpoint_NNNNNN folders beside the latest), newest first."""
    parent, name = latest.path.rstrip("/").rsplit("/", 1)
    found = latest.filesystem.get_file_info(pafs.FileSelector(parent, allow_not_found=True))
    older = sorted((f.base_name for f in found if f.type == pafs.FileType.Directory
                    and f.base_name.startswith("checkpoint_") and f.base_name < name), reverse=True)
    return [tune.Checkpoint(f"{parent}/{n}", filesystem=latest.filesystem) for n in older]


def _resume_state(loader: Callable[[str], dict]) -> dict | None:
    """The state of the trial's latest checkpoint; one that does not load (cut short by a full disk or a
    kill during its upload) gives way to the kept one before it, instead of failing every retry alike."""
    latest = tune.get_checkpoint()
    if latest is None:
        return None
    for checkpoint in [latest, *_older_checkpoints(latest)]:
        try:
            with checkpoint.as_directory() as directory:
                return loader(directory)
        except Exception as err:  # noqa: BLE001 - any unreadable state: try the one before
            print(f"[jdnas] checkpoint {checkpoint.path} does not load ({type(err).__name__}: {str(err)[:200]}); "
                  "trying the one before it", file=sys.stderr, flush=True)
    raise RuntimeError(f"none of this trial's kept checkpoints loads (the latest: {latest.path})")


def _run(config: dict, data: Mapping[tuple, DataSplits], kind: TrialKind) -> None:
    """Threads and device from the trial's resources, state from its checkpoint, then the kind's `run`."""
    device, threads = trial_device_and_threads()
    torch.set_num_threads(threads)
    config = effective_config(config) | ({"task": kind.task} if kind.task else {})
    report = functools.partial(_tune_report, started_at=time.time())
    kind.run(config, data[data_key(config)], report, device=device, threads=threads, state=_resume_state(kind.load))


def _trainable(kind: TrialKind) -> Callable:
    """The Tune function trainable of one kind, named after it (Tune names the trials so)."""
    def trainable(config: dict, data: Mapping[tuple, DataSplits]) -> None:
        _run(config, data, kind)

    trainable.__name__ = trainable.__qualname__ = kind.name
    trainable.__doc__ = kind.description
    return trainable


TRAINABLES: dict[str, Callable] = {name: _trainable(kind) for name, kind in KINDS.items()}
