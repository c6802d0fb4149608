"""A fake CUDA layer for the GPU branches CI cannot reach otherwise: torch.cuda's availability, device count,
name, memory and synchronisation answer as a machine with `count` GPUs of `memory_mb` would. Nothing runs on
a GPU: code that puts tensors on one still fails, so tests give such paths their measurements (docs/testing.md
lists what stays untested on hardware)."""
from __future__ import annotations

from types import SimpleNamespace

import torch

FAKE_GPU = "Fake GPU 80GB"


def install(monkeypatch, count: int = 2, memory_mb: float = 80_000, peak_mb: float = 0.0) -> None:
    props = SimpleNamespace(name=FAKE_GPU, total_memory=int(memory_mb * 1e6), major=9, minor=0,
                            multi_processor_count=132)
    for name, value in dict(is_available=lambda: True, device_count=lambda: count,
                            get_device_name=lambda device=None: FAKE_GPU,
                            get_device_properties=lambda device=None: props,
                            mem_get_info=lambda device=None: (int(memory_mb * 1e6), int(memory_mb * 1e6)),
                            max_memory_allocated=lambda device=None: int(peak_mb * 1e6),
                            reset_peak_memory_stats=lambda device=None: None,
                            synchronize=lambda device=None: None).items():
        monkeypatch.setattr(torch.cuda, name, value)
