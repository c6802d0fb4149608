"""This trial's latency table: the one a target device's probe measured (`jdnas lut import`), else one built on
the trial's own device, or read from the cache it was built into before."""
from __future__ import annotations

import torch

from ..data.splits import DataSplits
from ..loop import default_latency_batch
from . import lut
from .lut_bundle import find_device_table
from .macro import Macro


def latency_settings(config: dict, device: torch.device, threads: int) -> dict:
    batch = config["lut_batch_size"] or default_latency_batch(config, device)
    return dict(batch_size=batch, threads=threads, precision=config["latency_precision"],
                backend=config["latency_backend"])


def latency_table(config: dict, data: DataSplits, device: torch.device, threads: int):
    """(macro, key, table, table file, timing settings) of this trial's search space on this device."""
    macro = Macro.build(data.image_shape, data.num_classes, config["width_mult"],
                        decoder=config["search_kind"] == "joint")
    timing = latency_settings(config, device, threads)
    if config["lut_device"]:  # a table measured on the target device by its probe (trainables/nas/lut_bundle.py)
        table, key, table_file = find_device_table(macro, config["lut_device"], timing["batch_size"],
                                                   config["lut_cache_dir"])
        return macro, key, table, table_file, timing
    key = lut.LatencyKey.for_device(macro, device, **timing)
    table, table_file = lut.load_or_build(macro, key, device, config["lut_cache_dir"], config["lut_min_run_time"],
                                          config["lut_rounds"], config["lut_path"])
    return macro, key, table, table_file, timing
