"""The probe table `jdnas lut import` reads came from another machine: its shape and numbers are checked
before any of it becomes a latency table. A NaN, infinite, zero or negative time (or a boolean, which JSON
readers take for 0/1) would otherwise price a block as free or as always best."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_ms(where: str, key: str, value: Any) -> None:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"probe table {where}: {key} = {value!r} must be a finite positive number")


def read_probe(path: str | Path) -> dict:
    """The probe JSON at `path`, checked; ValueError on one line naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"probe table {path} does not exist")
    try:
        probe = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"probe table {path} is not JSON: {err}") from None
    if not isinstance(probe, dict):
        raise ValueError(f"probe table {path}: expected a JSON object, found {type(probe).__name__}")
    for key, kind in (("format", str), ("manifest_sha256", str), ("times_ms", dict), ("device", dict)):
        if not isinstance(probe.get(key), kind):
            raise ValueError(f"probe table {path}: key {key!r} missing or not a {kind.__name__}")
    for file, ms in probe["times_ms"].items():
        _positive_ms(str(path), f"times_ms[{file!r}]", ms)
    device = probe["device"]
    for key in ("name", "onnxruntime"):
        if not isinstance(device.get(key), str) or not device[key]:
            raise ValueError(f"probe table {path}: key device.{key} missing or not a string")
    if not isinstance(device.get("threads"), int) or isinstance(device["threads"], bool) or device["threads"] < 1:
        raise ValueError(f"probe table {path}: device.threads = {device.get('threads')!r} must be a whole number >= 1")
    for key in ("rounds", "min_run_time"):
        if probe.get(key) is not None:
            _positive_ms(str(path), key, probe[key])
    return probe
