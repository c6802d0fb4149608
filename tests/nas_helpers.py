"""Small search spaces, synthetic latency tables and tiny data for the NAS tests.

A synthetic table has the real shape (every entry the supernet can pick, real MACs) with latencies derived
from the MACs, so tests of the search logic do not spend seconds timing blocks; the real timing is
covered by the slow LUT test and benchmarks/lut_accuracy.py.
"""
from __future__ import annotations

import torch

from trainables.config import defaults
from trainables.data.splits import splits_for_config
from trainables.nas import lut
from trainables.nas.config import nas_defaults
from trainables.nas.macro import Macro


def tiny_macro(size: int = 16, channels: int = 1, classes: int = 10, width_mult: float = 0.1) -> Macro:
    return Macro.build((channels, size, size), classes, width_mult)


def cpu_key(macro: Macro, **changes) -> lut.LatencyKey:
    import dataclasses

    return dataclasses.replace(lut.LatencyKey.for_device(macro, "cpu", 1, 1), **changes)


def synthetic_table(macro: Macro, key: lut.LatencyKey | None = None, base_ms: float = 0.5) -> lut.LatencyTable:
    """Entries = 0.02 ms + 1 ms per 100k MACs: monotone in width and op size, like a real table."""
    table = lut.cost_table(macro, key or cpu_key(macro))
    for slot_key, ops in table.macs.items():
        for name, macs in ops.items():
            table.entries[slot_key][name] = [0.02 + m / 1e5 for m in macs]
    table.base_ms = base_ms
    return table


def tiny_config(tmp_path, **changes) -> dict:
    """A complete trial config for a seconds-long search on synthetic 16x16 images."""
    return {**defaults(), **nas_defaults(), "dataset": "synthetic", "image_size": 16, "channels": 1,
            "train_size": 96, "val_size": 32, "test_size": 32, "width_mult": 0.1, "search_epochs": 3,
            "warmup_epochs": 1, "search_batch_size": 16, "batch_size": 16, "retrain_epochs": 0, "epochs": 2,
            "eval_noise_levels": [0.0, 0.5], "train_noise_levels": [0.0, 0.5], "lut_cache_dir": str(tmp_path / "lut"),
            "latency_min_run_time": 0.01, "examples": False, "seed": 0, "lut_reanchor": False, **changes}


def tiny_data(config: dict):
    return splits_for_config(config)


def cache_synthetic_table(config: dict, data) -> lut.LatencyTable:
    """Put a synthetic table into the trial's LUT cache under this machine's real key (no timing)."""
    macro = Macro.build(data.image_shape, data.num_classes, config["width_mult"],
                        decoder=config.get("search_kind", "joint") == "joint")
    key = lut.LatencyKey.for_device(macro, "cpu", 1, 1, config["latency_precision"], config["latency_backend"])
    table = synthetic_table(macro, key)
    lut.store_table(table, key, config["lut_cache_dir"])
    return table


def one_hot(index: list[int], n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(index), n).float()




