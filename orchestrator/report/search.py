"""Report of an architecture search (layout `search`): its feasible Pareto front, hypervolume vs trials, and
the front against latency (accuracy, PSNR) beside the paper's manual models and NAS-derived networks from the
other sweeps in the same storage, where those were timed alike (same device, input, batch, threads, runtime).

Everything is rebuilt from the rows (the Parquet): the hypervolume curve follows the order the trials finished,
with the sweep's reference point and the cap the trials ran under (`max_latency_ms`, in every row).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from orchestrator.pareto import score as search_score
from orchestrator.records.results import PARQUET_NAME, read_parquet
from orchestrator.records.timing import same_setting
from orchestrator.report.formatting import fmt, markdown_table

MANUAL_PREFIXES = ("classifier-scaling-", "unet-width-", "unet-depth-", "unet-blocks-", "unet-multiplier-",
                   "unet-mbconv-", "joint-quick", "joint-paper", "nas-")
AXES = {"val_acc": ("val_acc", "test_acc", "accuracy (%, mean over σ)", "acc"),
        "val_psnr": ("val_psnr", "test_psnr", "PSNR (dB, mean over σ)", "psnr")}


def cap_of(rows: list[dict]) -> float | None:
    caps = {r.get("max_latency_ms") for r in rows if r.get("max_latency_ms") is not None}
    return caps.pop() if len(caps) == 1 else None


def search_table(sweep, rows: list[dict]) -> str:
    optimize, cap = sweep.optimize, cap_of(rows)
    done = [r for r in rows if r.get("status") == "TERMINATED"]
    feasible = [r for r in done if search_score.feasible(r, optimize, cap)]
    front = search_score.front(rows, optimize, cap)
    record = search_score.front_record(rows, optimize, cap)
    body = [[r.get("variant_label") or r.get("trial_id"), *[fmt(r.get(p), 3) for p in optimize.params],
             *[fmt(r.get(m), 3) for m in optimize.metrics], fmt(r.get("test_acc")), fmt(r.get("test_psnr")),
             fmt(r.get("macs", 0) / 1e6, 2)] for r in front]
    header = ["network", *optimize.params, *optimize.metrics, "test_acc", "test_psnr", "MACs (M)"]
    reference = ", ".join(f"{m} {v:g}" for m, v in record["reference"].items())
    return (f"### Architecture search: {len(front)} Pareto-optimal of {len(feasible)} feasible / {len(done)} finished "
            f"trials\n\nObjectives: " + ", ".join(f"{m} ({mode})" for m, mode in zip(optimize.metrics, optimize.modes))
            + f"; latency timed in each trial on its device ({_device(done)}); cap: "
            + (f"{cap:g} ms" if cap is not None else "none") + f". Hypervolume {record['hypervolume']:.4g} w.r.t. "
            f"the reference point ({reference}).\n\n" + markdown_table(header, body))


def _device(rows: list[dict]) -> str:
    devices = sorted({f"{r.get('latency_device')}, {r.get('latency_backend')}" for r in rows if r.get("latency_device")})
    return "; ".join(devices) or "unknown"


def others(storage, ref: dict, own_name: str | None) -> list[dict]:
    """Finished rows of the manual-model and NAS sweeps in the storage, timed like `ref`."""
    if storage is None:
        return []
    found = []
    for name in storage.folders():
        if name != own_name and name.startswith(MANUAL_PREFIXES) and storage.exists(name, PARQUET_NAME):
            found += [dict(r, source=name) for r in read_parquet(storage, name)
                      if r.get("status") == "TERMINATED" and same_setting(r, ref)]
    return found


def search_plots(sweep, rows: list[dict], out_dir: Path, storage=None, own_name: str | None = None) -> list[Path]:
    """hypervolume_vs_trials.png and one front plot per quality objective against latency."""
    import matplotlib  # lazy, as in report.pareto_plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the Agg backend is chosen

    optimize, cap = sweep.optimize, cap_of(rows)
    record = search_score.front_record(rows, optimize, cap)
    (out_dir / "front.json").write_text(json.dumps(record, indent=1, default=str) + "\n")  # the parent run's too
    written = []
    hv = search_score.curve(rows, optimize, cap)
    if hv:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(1, len(hv) + 1), hv, marker="o", ms=3)
        ax.set(xlabel="trials finished", ylabel="hypervolume", title=f"{sweep.name}: hypervolume vs trials")
        ax.grid(alpha=0.3)
        written.append(_save(fig, plt, out_dir / "hypervolume_vs_trials.png"))
    front = search_score.front(rows, optimize, cap)
    feasible = [r for r in rows if search_score.feasible(r, optimize, cap)]
    extra = others(storage, feasible[0], own_name) if feasible else []
    for metric in (m for m in optimize.metrics if m in AXES):
        _, test_key, label, short = AXES[metric]
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        ax.scatter([r["latency_ms"] for r in feasible], [r[metric] for r in feasible], color="tab:blue", s=14,
                   label="searched (feasible)")
        line = sorted(front, key=lambda r: r["latency_ms"])
        ax.plot([r["latency_ms"] for r in line], [r[metric] for r in line], color="tab:red", marker="o", ms=4,
                label="Pareto front")
        _others(ax, extra, metric, test_key)
        if cap is not None:
            ax.axvline(cap, color="black", ls="--", lw=0.8, label=f"cap {cap:g} ms")
        ax.set(xlabel=f"latency (ms, in trial), {_device(feasible)}", ylabel=label, title=f"{sweep.name}: {short} vs latency")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        written.append(_save(fig, plt, out_dir / f"front_{short}_vs_latency.png"))
    return written


def _others(ax, extra: list[dict], metric: str, test_key: str) -> None:
    """Manual and NAS points: their validation metric if they have it, else their test metric (marked so)."""
    for kind, marker, colour in (("nas-", "^", "tab:green"), ("", "s", "tab:gray")):
        group = [r for r in extra if r["source"].startswith(kind) and (kind or not r["source"].startswith("nas-"))]
        points = [(r, r.get(metric, r.get(test_key))) for r in group]
        points = [(r, v) for r, v in points if isinstance(v, (int, float)) and math.isfinite(v)
                  and isinstance(r.get("latency_ms"), (int, float))]
        if points:
            ax.scatter([r["latency_ms"] for r, _ in points], [v for _, v in points], marker=marker, color=colour,
                       label="NAS-derived" if kind else "paper's manual models")
            for r, v in points:
                ax.annotate(r.get("variant_label") or "", (r["latency_ms"], v), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")


def _save(fig, plt, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
