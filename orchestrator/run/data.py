"""A sweep's data, read and split once in the driver: `jdnas run` hands it to every trial, `jdnas plan` times
steps on it."""
from __future__ import annotations

from typing import Any

from search_spaces import ResolvedSweep
from trainables.config import data_key
from trainables.data.splits import splits_for_config


def prepare_data(resolved: ResolvedSweep) -> dict[tuple, Any]:
    """One prepared DataSplits per distinct data setting of the sweep (normally exactly one)."""
    configs = resolved.trial_configs or [resolved.base]
    data = {}
    for config in configs:
        key = data_key(config)
        if key not in data:
            data[key] = splits_for_config(config)
    return data
