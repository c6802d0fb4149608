"""Which rows' latencies may be compared: the report, the search score and the exclusive phase put two latencies
side by side only when both were timed alike."""
from __future__ import annotations

from typing import Mapping


def same_setting(row: Mapping, ref: Mapping) -> bool:
    """Two rows timed alike: same device, input, batch, threads and runtime."""
    return all(row.get(k) == ref.get(k) for k in ("latency_device", "image_shape", "latency_batch_size",
                                                   "latency_threads")) \
        and (row.get("latency_backend") or "torch") == (ref.get("latency_backend") or "torch")
