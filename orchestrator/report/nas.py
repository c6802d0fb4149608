"""Report parts of the NAS sweeps: the Table 10 layout beside the paper's numbers, and accuracy vs
measured latency of the searched networks next to the manual joint models on the same device.

Manual points come from a `joint` sweep's Parquet in the same run folder when it was measured on the same
device, input, batch and threads; otherwise the paper's manual integrated and sequential models appear as
latencies only (vertical lines), because latencies from another device mean nothing here. Every latency
shown comes from the rows: the runner's exclusive latency phase (orchestrator.run.exclusive_latency) timed the
searched networks, their reference and the manual models alone, alike, when it had the trials' device (the
trials' own timings kept as `latency_in_trial_ms`); this module never times anything.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from trainables.paper import PAPER_TARGET_RATIO, TABLE8, TABLE10, TABLE10_TARGET_MS

from orchestrator.records.results import joint_sweep_rows
from orchestrator.records.storage import resolve_storage
from orchestrator.records.timing import same_setting
from orchestrator.report.formatting import PAPER_LATENCY, PAPER_SHORT, PAPER_UNET_RATIO, fmt, markdown_table, short_label

BETA_ORDER = {"removed": 0, "learned": 1, "fixed": 2}
# How jdnas reads Table 10 (docs/design.md, `search_kind`): clean images and accuracy only, so the classifier alone
# was searched; and its input is the 96 px RGB that Table 8's FLOPs pin down.
PAPER_SEARCH_KIND, PAPER_INPUT = "classifier", "3x96x96"
PAPER_SPREAD = {"removed": (0.04, 0.2), "learned": (0.57, 1.4)}  # Appendix C: between the two searches


def _clean_acc(row: dict):
    return row.get("test_acc_s0", row.get("test_acc"))


def nas_rows(rows: list[dict]) -> list[dict]:
    done = [r for r in rows if r.get("status") == "TERMINATED" and r.get("arch")]
    return sorted(done, key=lambda r: (BETA_ORDER.get(r.get("beta_mode"), 9), r.get("op_set") or 0,
                                       r.get("target_latency_ms") or 0, r.get("seed") or 0))


def search_kind(row: dict) -> str:
    return "classifier only" if row.get("search_kind") == "classifier" else "joint"


def target_text(row: dict) -> str:
    """How the row's target was set: an absolute ms, a fraction of a reference model, or of a range."""
    if row.get("config_target_latency_ms") is not None:
        return f"absolute {row['config_target_latency_ms']:g} ms"
    if row.get("target_ratio") is not None:
        return f"{row['target_ratio']:.3f} × {row.get('target_reference') or 'UNet'}"
    return f"{row.get('target_fraction', 0.5):g} of the {row.get('target_range') or 'reachable'} range"


def paper_counterpart(row: dict) -> tuple[tuple | None, str]:
    """(Table 10's (LAT ms, Acc %), '') when the row ran the paper's configuration (8 ops, removed or learned
    β, the 6 ms target read as 6 / 7.10 of the UNet on the trial's device, clean training, search 1 or 2, the
    classifier-only search, a 3x96x96 input), else (None, what differs)."""
    beta, search_id = row.get("beta_mode"), int(row.get("seed") or 0) + 1
    differs = []
    if row.get("op_set") != 8:
        differs.append(f"{row.get('op_set')} ops (paper: 8)")
    if beta not in ("removed", "learned"):
        differs.append(f"{beta} β (paper: removed, learned)")
    ratio = row.get("target_ratio")
    if row.get("config_target_latency_ms") is not None or ratio is None or row.get("target_reference") != "UNet" \
            or abs(ratio - PAPER_TARGET_RATIO) > 1e-3:
        differs.append(f"target {target_text(row)} (paper: {PAPER_TARGET_RATIO:.3f} × UNet)")
    if not _trained_clean(row):
        differs.append("noisy training (paper: clean)")
    if row.get("search_kind", "joint") != PAPER_SEARCH_KIND:
        differs.append("joint search (paper, as jdnas reads Table 10: classifier only)")
    if row.get("image_shape") not in (None, PAPER_INPUT):
        differs.append(f"input {row.get('image_shape')} (paper: {PAPER_INPUT}, inferred from Table 8)")
    if search_id not in (1, 2):
        differs.append(f"search {search_id} (paper: 1, 2)")
    return (None, "; ".join(differs)) if differs else (TABLE10[(beta, search_id)], "")


def nas_title(rows: list[dict]) -> str:
    """Table 10's layout, titled by what the sweep's rows vary (β, op set, target), not always "β"."""
    varied = []
    for key, words in (("beta_mode", lambda v: " vs ".join(f"{b}" for b in v) + " β"),
                       ("op_set", lambda v: " vs ".join(str(o) for o in v) + " ops (Table 9 spaces)"),
                       ("target_fraction", lambda v: " vs ".join(f"{t:g}" for t in v) + " of the range as target")):
        values = sorted({r.get(key) for r in rows if r.get(key) is not None}, key=lambda v: BETA_ORDER.get(v, v)
                        if isinstance(v, str) else v)
        if len(values) > 1:
            varied.append(words(values))
    return f"### Table 10 layout: searched models ({'; '.join(varied) or 'one setting'})"


def nas_table(rows: list[dict]) -> str:
    """Table 10 layout (type, search id, latency, accuracy) with our LUT prediction and details; the paper's
    numbers only beside rows that ran its configuration."""
    rows = nas_rows(rows)
    retimed = any(r.get("latency_source") == "exclusive" for r in rows)
    body = [_nas_cells(r, retimed) for r in rows]
    ours = short_label(rows)
    header = ["Type", "Search id", "search", "ops", "target ms", "target × ref.", "LUT ms", f"LAT ms ({ours})",
              "LAT × ref.", f"Acc % σ=0 ({ours})", "Acc % (mean σ)", "PSNR σ=0.8",
              *(["LAT in trial ms"] if retimed else []), "depths", "ops per stage (Table 9 index)",
              f"LAT ms ({PAPER_LATENCY}, target {TABLE10_TARGET_MS:g} ms)", f"Acc % σ=0 ({PAPER_SHORT})",
              PAPER_UNET_RATIO, "paper counterpart"]
    parts = [nas_title(rows), markdown_table(header, body),
             f"ref. = the reference model of the row's target (timed in the trial on its device with the latency "
             f"table's batch, threads and precision, which set the target; LAT × ref. divides by it re-timed beside "
             f"LAT when LAT was re-timed). The paper's numbers appear only beside rows that ran "
             f"its configuration: 8 ops, removed or learned β, a target of {PAPER_TARGET_RATIO:.3f} × UNet (its "
             f"{TABLE10_TARGET_MS:g} ms against its UNet's {TABLE8['UNet'][1]:.2f} ms), clean training, searches 1 "
             f"and 2, the classifier-only search (Table 10 trained on clean images and reports accuracy only: jdnas's "
             f"reading, the appendix does not say whether the decoder was searched) and a 3x96x96 input (inferred "
             f"from Table 8's FLOPs)."]
    if spread := _spread_rows(rows):
        parts.append("Spread between searches (the paper: removed β is the more stable):\n\n" + markdown_table(
            ["Type", "search", "ops", "target", "searches", "mean LAT ms", "ΔLAT ms", "mean Acc % (σ=0)", "ΔAcc %",
             "paper ΔLAT ms / ΔAcc %"], spread))
    parts.append(_latency_note(rows, retimed))
    return "\n\n".join(parts)


def _nas_cells(r: dict, retimed: bool) -> list:
    """One searched network's row of the Table 10 layout."""
    beta, search_id = r.get("beta_mode", "?"), int(r.get("seed") or 0) + 1
    paper, differs = paper_counterpart(r)
    ref = r.get("reference_latency_ms")
    return [f"{beta.capitalize()} β", search_id, search_kind(r), r.get("op_set", ""),
            fmt(r.get("target_latency_ms"), 3),
            f"{fmt(r.get('target_vs_reference'), 3)} × {r.get('target_reference') or 'UNet'}"
            if isinstance(r.get("target_vs_reference"), (int, float)) else "n/a",
            fmt(r.get("predicted_latency_ms"), 3), fmt(r.get("latency_ms"), 3),
            fmt(r["latency_ms"] / ref, 3) if isinstance(ref, (int, float)) and
            isinstance(r.get("latency_ms"), (int, float)) else "n/a",
            fmt(_clean_acc(r), 1), fmt(r.get("test_acc"), 1), fmt(r.get("test_psnr_s0.8")),
            *([fmt(r.get("latency_in_trial_ms"), 3)] if retimed else []), r.get("depths", ""),
            f"`{r.get('arch', '')}`",
            f"{paper[0]:.2f}" if paper else "-", f"{paper[1]:.1f}" if paper else "-",
            f"{paper[0] / TABLE8['UNet'][1]:.3f}" if paper else "-",
            "same setting" if paper else f"none: {differs}"]


def _spread_rows(rows: list[dict]) -> list[list]:
    """Mean and range of latency and accuracy over the searches of one setting (two searches or more)."""
    spread = []
    for beta in sorted({r.get("beta_mode") for r in rows}, key=lambda b: BETA_ORDER.get(b, 9)):
        members = [r for r in rows if r.get("beta_mode") == beta]
        setting = lambda r: (search_kind(r), r.get("op_set"), target_text(r))  # noqa: E731 - searches of one setting
        for kind, op_set, target in sorted({setting(r) for r in members}, key=str):
            group = [r for r in members if setting(r) == (kind, op_set, target)]
            lats = [r["latency_ms"] for r in group if isinstance(r.get("latency_ms"), (int, float))]
            accs = [a for a in map(_clean_acc, group) if isinstance(a, (int, float))]
            if len(group) < 2 or not lats or not accs:
                continue
            paper = PAPER_SPREAD.get(beta) if all(paper_counterpart(r)[0] for r in group) else None
            spread.append([f"{beta.capitalize()} β", kind, op_set, target, len(group),
                           fmt(statistics.fmean(lats), 3), fmt(max(lats) - min(lats), 3),
                           fmt(statistics.fmean(accs), 1), fmt(max(accs) - min(accs), 1),
                           f"{paper[0]:.2f} / {paper[1]:.1f}" if paper else "-"])
    return spread


def _latency_note(rows: list[dict], retimed: bool) -> str:
    """Where LAT and LUT come from, and how far apart they are."""
    errors = [abs(r["predicted_latency_ms"] - r["latency_ms"]) / r["latency_ms"] for r in rows
              if isinstance(r.get("predicted_latency_ms"), (int, float)) and isinstance(r.get("latency_ms"), (int, float))]
    devices = sorted({f"{r.get('latency_device')} (batch {r.get('latency_batch_size')}, {r.get('latency_threads')} "
                      f"thread(s))" for r in rows if r.get("latency_device")})
    how = ("re-timed alone after the sweep (the trials' own timings, taken beside other trials, Ray and the "
           "MLflow logging, are the in-trial column)") if retimed else \
        "timed in its trial (not re-timed alone: the exclusive latency phase was off or lacked that device)"
    lut_devices = sorted({d for r in rows if (d := lut_device_of(r))})
    return (f"LAT is the derived network's measured latency on {'; '.join(devices) or '?'}, {how}; LUT is the "
            f"latency table's prediction" + (f" (median error {statistics.median(errors):.1%})" if errors else "")
            + f" from a table measured on {'; '.join(lut_devices) or '?'}"
            + ". Acc (σ=0) is clean test accuracy (Table 10's measure); Acc (mean σ) averages the evaluation "
              "noise levels. The paper's numbers are for its own GPU and a 6 ms target: compare the "
              "ordering, the spread and the × ref. columns, not the milliseconds.")


def _trained_clean(row: dict) -> bool:
    levels = row.get("train_noise_levels")
    if isinstance(levels, str):
        levels = json.loads(levels)
    return levels is not None and all(float(s) == 0 for s in levels)


def manual_from_parquet(storage, ref: dict, metric: str) -> list[tuple[str, float, float]]:
    """(variant, latency, accuracy) of finished joint-sweep trials measured like `ref`. When the searched
    networks were timed alone, the manual ones are shown with the latency the same phase took for them
    (`manual_latency_ms`), and trials it did not time (a joint sweep run later) are left out."""
    rows = [row for row in joint_sweep_rows(storage) if same_setting(row, ref) and row.get(metric) is not None]
    if ref.get("latency_source") != "exclusive":
        return [(row["variant_label"], row["latency_ms"], row[metric]) for row in rows]
    alike = ref.get("manual_latency_ms") or {}
    return [(row["variant_label"], alike[row["variant_label"]], row[metric]) for row in rows if row.get("variant_label") in alike]


def latency_plot(rows: list[dict], out_dir: Path, storage=None) -> tuple[Path | None, str]:
    """Accuracy vs measured latency: searched networks beside the manual joint models on the same device
    (the `joint` sweeps' results in `storage`, the sweep's own; the run folder's results/ when None)."""
    import matplotlib  # lazy (~0.45 s with pyplot): only drawing needs it, as in report.pareto_plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the Agg backend is chosen

    rows = [r for r in nas_rows(rows) if isinstance(r.get("latency_ms"), (int, float)) and r.get("test_acc") is not None]
    if not rows:
        return None, ""
    ref = rows[0]
    # clean-trained searches (Table 10) are compared on clean accuracy, noisy ones on the mean over sigmas
    metric, y_label = ("test_acc_s0", "clean test accuracy (%)") if all(map(_trained_clean, rows)) else \
        ("test_acc", "test accuracy (%, mean over evaluation σ)")
    rows = [r for r in rows if r.get(metric) is not None]
    if storage is None:
        storage = resolve_storage(out_dir.parent.parent / "results")
    measured = manual_from_parquet(storage, ref, metric)
    timed = [] if measured else list((ref.get("manual_latency_ms") or {}).items())
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    colours = {"removed": "tab:blue", "learned": "tab:orange", "fixed": "tab:green"}
    for beta, colour in colours.items():
        group = [r for r in rows if r.get("beta_mode") == beta]
        if group:
            ax.scatter([r["latency_ms"] for r in group], [r[metric] for r in group], color=colour, zorder=3,
                       label=f"searched, {beta} β")
            for r in group:
                ax.annotate(f"{r.get('op_set')}ops s{int(r.get('seed') or 0) + 1}", (r["latency_ms"], r[metric]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
    if measured:
        ax.scatter([p[1] for p in measured], [p[2] for p in measured], marker="s", color="tab:gray", label="manual joint")
        for name, x, y in measured:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, -9), textcoords="offset points")
    for name, x in timed:
        ax.axvline(x, color="tab:gray", lw=0.8, ls="--")
        ax.text(x, ax.get_ylim()[0], " " + name, rotation=90, fontsize=6, va="bottom", color="tab:gray")
    how = "re-timed alone" if ref.get("latency_source") == "exclusive" else "measured in trial"
    ax.set(xlabel=f"latency (ms, {how}), {ref.get('latency_device')}, batch {ref.get('latency_batch_size')}",
           ylabel=y_label, title="searched vs manual joint models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over points or labels
    fig.tight_layout()
    path = out_dir / "nas_acc_vs_latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if measured:
        note = "Manual joint models: from the `joint` sweep's results measured on the same device and settings."
    elif timed:
        note = ("Manual joint models timed alone after the sweep with the same settings (dashed lines; run the `joint` sweep "
                "in this folder to place their accuracy too): " + ", ".join(f"{n} {x:.3f} ms" for n, x in timed) + ".")
    else:
        note = "The manual joint models were not timed with these settings (no exclusive latency phase on this device)."
    return path, note


def lut_device_of(row: dict) -> str | None:
    """The device (and runtime) the row's latency table was measured on, from its architecture's LUT key."""
    arch = json.loads(row["architecture_json"]) if row.get("architecture_json") else {}
    key = arch.get("lut") or {}
    return f"{key['device_name']} ({key.get('torch_version')})" if key.get("device_name") else None
