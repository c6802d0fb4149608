"""How every report writes numbers, tables and setting labels: one place, so the paper tables, Table 10 and
the setting block print "n/a", "mean ± std" and "(ours: ...)" headers alike."""
from __future__ import annotations

import math
from typing import Iterable

# column-header tags of the paper's numbers as printed: the appendix states neither their input size (96 px is
# our inference from Table 8's FLOPs) nor the device that timed them
PAPER_SHORT = "paper"
PAPER_LATENCY = "paper, device not named"
PAPER_UNET_RATIO = "paper LAT ÷ its UNet (same device as Table 8 assumed)"


def fmt(value, digits: int = 2) -> str:
    """A number with `digits` decimals, "mean ± std" for a (mean, std) pair (just the mean when std is 0),
    "n/a" for a missing, non-numeric or non-finite cell."""
    if isinstance(value, tuple):
        mean, std = value
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if std else f"{mean:.{digits}f}"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "n/a"


def markdown_table(header: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def values_of(rows: list[dict], key: str) -> list[str]:
    """The distinct values of a column, as sorted text (missing cells left out)."""
    return sorted({str(r.get(key)) for r in rows if r.get(key) is not None})


def joined(values: Iterable) -> str:
    return ", ".join(values) or "n/a"


def short_label(rows: list[dict]) -> str:
    """'ours: fashion-mnist 32 px' for column headers."""
    sizes = sorted({str(r["image_shape"]).split("x")[-1] for r in rows if r.get("image_shape")})
    return f"ours: {joined(values_of(rows, 'dataset'))} {'/'.join(sizes) or '?'} px"


def device_note(rows: list[dict]) -> str:
    """The sentence under a table saying where (and how) its latencies were measured."""
    devices = sorted({f"{r.get('latency_device')} (batch {r.get('latency_batch_size')}, "
                      f"{r.get('latency_threads')} thread(s), {r.get('latency_precision')}, "
                      f"{r.get('latency_backend') or 'torch'})"
                      for r in rows if r.get("latency_device")})
    return "Latency measured on " + "; ".join(devices) if devices else "No latency measured."
