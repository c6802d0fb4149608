"""The "setting" block every report opens with: what this run did beside what the paper did, so a table's
numbers are never read against the paper's without the differences in view (the short names the tables'
column headers carry, "(ours: fashion-mnist 32 px)" vs "(paper: 96 px)", live in orchestrator.report.formatting).

The paper's column marks each cell: read (with its place in the appendix), inferred (with the inference), or
not given.
"""
from __future__ import annotations

import json

from orchestrator.report.formatting import joined, markdown_table, values_of

# Each paper cell says whether it is read (and where in the appendix) or inferred (and from what).
PAPER_SETTING = {
    "dataset": "not given (the appendix names no dataset)",
    "image size": "inferred: 96 x 96 RGB, the only size at which Table 8's FLOPs come out (docs/paper.md §9.1)",
    "training images": "not given",
    "epochs": "not given",
    "training noise": "read: 11 noise levels (A.1); inferred: σ = 0, 0.1 ... 1, the only 11-value grid holding "
                      "Table 8's 0.2, 0.4, 0.8, 1; read: Table 10 trained on clean images (its caption)",
    "latency device": "not given (no device is named; a GPU if timed as TF-NAS's code does: inferred)",
    "latency batch / threads / precision": "inferred: 32 / - / fp32, TF-NAS's timing code (the appendix gives no "
                                           "timing protocol)",
}


def _size(rows: list[dict]) -> str:
    sizes = values_of(rows, "image_shape")
    return joined(s.split("x", 1)[1].replace("x", " x ") + f" ({s.split('x')[0]} ch)" for s in sizes)


def _epochs(rows: list[dict]) -> str:
    def one(r):
        if r.get("task") == "nas":
            return f"{r.get('search_epochs')} search + {r.get('retrain_epochs')} retrain"
        if r.get("sequential_training") == "two-stage" and r.get("joint_mode") == "sequential":
            return f"{r.get('epochs')} denoiser + {r.get('epochs')} classifier + {r.get('finetune_epochs') or 0} joint"
        return str(r.get("epochs"))
    return joined(sorted({one(r) for r in rows}))


def _noise(rows: list[dict]) -> str:
    def one(r):
        levels = r.get("train_noise_levels")
        levels = json.loads(levels) if isinstance(levels, str) else levels
        if not levels:
            return "?"
        return "clean" if all(float(s) == 0 for s in levels) else \
            f"{len(levels)} levels σ = {min(levels):g} ... {max(levels):g}"
    return joined(sorted({one(r) for r in rows}))


def our_setting(rows: list[dict]) -> dict[str, str]:
    timing = sorted({f"{r.get('latency_batch_size')} / {r.get('latency_threads')} / {r.get('latency_precision')}"
                     for r in rows if r.get("latency_device")})
    return {
        "dataset": joined(values_of(rows, "dataset")),
        "image size": _size(rows),
        "training images": joined(values_of(rows, "train_size")) if values_of(rows, "train_size") else "all",
        "epochs": _epochs(rows),
        "training noise": _noise(rows),
        "latency device": joined(values_of(rows, "latency_device")),
        "latency batch / threads / precision": joined(timing),
    }


def setting_block(rows: list[dict], preset: str) -> str:
    ours = our_setting(rows)
    body = [[name, value, PAPER_SETTING[name]] for name, value in ours.items()]
    return ("### Setting\n\n" + markdown_table(["", f"this run (preset `{preset}`)", "paper"], body)
            + "\n\nColumns marked *ours* come from this run; in the *paper* column, *read* cells are stated by the "
              "appendix, *inferred* cells are jdnas's reading of it. The two were measured in different settings, so "
              "compare orderings and ratios, not absolute values.")
