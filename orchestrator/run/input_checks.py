"""Checks of a run's inputs that need more than the field schema (the data as loaded, the latency tables on
this machine): each refuses in one line before Ray starts, instead of a run that reports zero training
steps as a success or a trial that fails an hour later."""
from __future__ import annotations

import json
from pathlib import Path

from search_spaces import ResolvedSweep
from trainables.config import data_key

from orchestrator.exits import BadInput


def check_batches_fit(resolved: ResolvedSweep, data: dict) -> None:
    """Training drops the last incomplete batch: a batch larger than the train split trains on nothing."""
    for config in resolved.trial_configs or [resolved.base]:
        images = len(data[data_key(config)].train_images)
        if config["batch_size"] > images:
            raise BadInput(f"{resolved.name}: batch_size={config['batch_size']} is larger than the train split "
                           f"({images} images): no training step would run; lower batch_size or raise train_size")


def imported_devices(cache_dir: str | None) -> set[str]:
    from trainables.nas.lut import default_cache_dir  # lazy: only NAS sweeps name a device
    from trainables.nas.lut_bundle import REMOTE

    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    names = set()
    for key_file in root.glob("*/key.json"):
        try:
            stored = json.loads(key_file.read_text())
        except (OSError, ValueError):
            continue
        if stored.get("device_type") == REMOTE:
            names.add(stored.get("device_name"))
    return names


def check_lut_devices(resolved: ResolvedSweep) -> None:
    """A NAS sweep's `lut_device` must name a table `jdnas lut import` cached on this machine."""
    for config in resolved.trial_configs or [resolved.base]:
        device = config.get("lut_device")
        if device and device not in (known := imported_devices(config.get("lut_cache_dir"))):
            raise BadInput(f"{resolved.name}: lut_device={device!r} has no imported latency table here (devices: "
                           f"{sorted(known) or 'none'}); `jdnas lut bundle`, run its probe.py on the device, then "
                           "`jdnas lut import`")
