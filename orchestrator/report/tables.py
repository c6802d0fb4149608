"""Rebuild the paper's tables from a sweep's result rows, with the paper's numbers in adjacent
columns, and draw the Pareto fronts (accuracy vs FLOPs, accuracy vs latency, PSNR vs FLOPs).

Rows of one grid point (several seeds) are averaged: mean and std over seeds.
"""
from __future__ import annotations

import functools
import math
import statistics
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from search_spaces import Sweep
from trainables.config import MODEL_FIELDS
from trainables.measure.flops import count_cost
from trainables.models import build_model, paper_unet_name
from trainables.paper import TABLE7, TABLE8
from trainables.tasks import MODEL_TASKS

from orchestrator.atomic import write_atomic
from orchestrator.pareto.front import pareto_front
from orchestrator.report.claims import claims_section, judge_sweep, smoke_test_line, write_claims
from orchestrator.report.formatting import PAPER_LATENCY, PAPER_SHORT, device_note, fmt, markdown_table, short_label
from orchestrator.report.nas import latency_plot, nas_table
from orchestrator.report.rank_agreement import kendall_tau_b
from orchestrator.report.search import search_plots, search_table
from orchestrator.report.setting import setting_block

PAPER_SHAPE = (3, 96, 96)
PSNR_SIGMAS = (0.2, 0.4, 0.8, 1)


def finished(rows: Iterable[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") == "TERMINATED" and r.get("test_acc", r.get("test_psnr")) is not None]


def best_rows(rows: list[dict], metric: str, mode: str, n: int = 3) -> list[dict]:
    scored = [r for r in rows if isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
    return sorted(scored, key=lambda r: r[metric], reverse=mode == "max")[:n]


def group(rows: list[dict]) -> "OrderedDict[str, list[dict]]":
    """Rows of one network (its seeds) together, by `variant_label`; rows written before that column existed
    stand alone under their run name."""
    groups: OrderedDict[str, list[dict]] = OrderedDict()
    for row in rows:
        groups.setdefault(row.get("variant_label") or row.get("label") or row["trial_id"], []).append(row)
    return groups


def stat(rows: list[dict], key: str) -> tuple[float, float] | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    if not values:
        return None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@functools.lru_cache(maxsize=256)
def _paper_shape_macs(config_items: tuple) -> int | None:
    try:
        return count_cost(build_model(dict(config_items), 3, 10), PAPER_SHAPE).macs
    except (ValueError, RuntimeError):
        return None


def paper_shape_macs(row: dict) -> int | None:
    """Our MAC count for the row's model at the paper's 3x96x96 input (the run may use another size)."""
    if row.get("task") not in MODEL_TASKS:
        return None
    return _paper_shape_macs(tuple((k, row.get(k)) for k in MODEL_FIELDS if row.get(k) is not None))


def table7(rows: list[dict]) -> str:
    groups = group(rows)
    conv_l = groups.get("Conv-L")
    ref_run = stat(conv_l, "macs")[0] if conv_l and stat(conv_l, "macs") else None
    ref_96 = paper_shape_macs(conv_l[0]) if conv_l else None
    body = []
    for name, (exp, size, e, kflops, lat, acc) in TABLE7.items():
        members = groups.get(name)
        if not members:
            continue
        macs = stat(members, "macs")
        macs96 = paper_shape_macs(members[0])
        body.append([exp, name, size, "-" if e is None else f"{e:g}",
                     fmt(macs[0] / 1e6 if macs else None), fmt(macs[0] / ref_run if macs and ref_run else None, 3),
                     fmt(macs96 / 1e6 if macs96 else None), fmt(macs96 / ref_96 if macs96 and ref_96 else None, 3),
                     f"{kflops}", f"{kflops / TABLE7['Conv-L'][3]:.3f}",
                     fmt(stat(members, "latency_ms"), 3), f"{lat:.3f}",
                     fmt(stat(members, "test_acc"), 1), f"{acc:.1f}", str(len(members))])
    ours = short_label(rows)
    header = ["Exp.", "Model", "Size", "Exp. rate", f"MACs (M, {ours})", "ratio", "MACs 3x96x96 (M)", "ratio",
              f"FLOPs (K, {PAPER_SHORT}, as printed)", "paper ratio", f"Lat. ms ({ours})", f"Lat. ms ({PAPER_LATENCY})",
              f"Acc % ({ours})", f"Acc % ({PAPER_SHORT})", "seeds"]
    return ("### Table 7: classifier scaling (accuracy averaged over the 11 noise levels)\n\n"
            + markdown_table(header, body)
            + "\n\nRatios are to Conv-L. The paper's absolute FLOPs (K) follow a convention that could not be "
              "recovered (docs/paper.md §9.3); compare the ratio columns. " + device_note(rows)
            + accuracy_order_line(groups))


def accuracy_order_line(groups) -> str:
    """Kendall's tau-b between this run's mean test accuracy and Table 7's, over the models both have."""
    ours = {name: stat(groups[name], "test_acc") for name in TABLE7 if name in groups}
    pairs = [(acc[0], TABLE7[name][5]) for name, acc in ours.items() if acc]
    tau = kendall_tau_b([mean for mean, _ in pairs], [paper for _, paper in pairs])  # None below 2 models
    if tau is None:
        return ""
    return (f"\n\nAccuracy order against Table 7's: Kendall tau-b = {tau:+.2f} over {len(pairs)} models "
            "(+1: the paper's order, 0: unrelated, -1: reversed).")


def table8(rows: list[dict]) -> str | None:
    """Table 8 from the denoiser rows whose (d, b, c, m, block) is UNet or UNet-S, however they were named."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        name = paper_unet_name(row) if row.get("task") == "denoiser" else None
        if name in TABLE8:
            groups.setdefault(name, []).append(row)
    present = [n for n in TABLE8 if n in groups]
    if not present:
        return None
    body = []
    for name in present:
        members, (flops_m, lat) = groups[name], TABLE8[name]
        macs96 = paper_shape_macs(members[0])
        cells = [f"{fmt(stat(members, f'test_psnr_s{s:g}'))} / {fmt(stat(members, f'test_ssim_s{s:g}'), 3)}"
                 for s in PSNR_SIGMAS]
        body.append([name, fmt(macs96 / 1e6 if macs96 else None, 1), f"{flops_m}",
                     fmt(stat(members, "latency_ms"), 3), f"{lat:.2f}", *cells])
    ours = short_label(rows)
    header = ["Model", "MACs 3x96x96 (M)", f"FLOPs (M, {PAPER_SHORT}; our count meets it at 3x96x96)", f"Lat. ms ({ours})",
              f"Lat. ms ({PAPER_LATENCY})",
              *[f"PSNR / SSIM σ={s:g} ({ours})" for s in PSNR_SIGMAS]]
    return ("### Table 8: baseline vs reduced UNet\n\n" + markdown_table(header, body)
            + "\n\nRows are the trials whose (d, b, c, m) and Conv blocks equal UNet {d4 b32 c2 m2} or UNet-S "
              "{d4 b8 c2 m1.5}, whatever grid produced them (seeds averaged). The paper's PSNR/SSIM cells are "
              "missing from the available text. " + device_note(rows))


def unet_table(rows: list[dict], title: str) -> str:
    body = []
    for name, members in group(rows).items():
        r = members[0]
        macs, macs96 = stat(members, "macs"), paper_shape_macs(r)
        preset = paper_unet_name(r)
        name = f"{name} (= {preset})" if preset and preset != name else name
        body.append([name, r.get("depth") or "", r.get("base_width") or "", r.get("blocks") or "",
                     f"{r['multiplier']:g}" if r.get("multiplier") else "", r.get("block", "conv"),
                     fmt(macs[0] / 1e6 if macs else None), fmt(macs96 / 1e6 if macs96 else None, 1),
                     fmt(stat(members, "params"), 0), fmt(stat(members, "latency_ms"), 3),
                     *[fmt(stat(members, f"test_psnr_s{s:g}")) for s in PSNR_SIGMAS],
                     fmt(stat(members, "test_ssim_s0.8"), 3), str(len(members))])
    ours = short_label(rows)
    header = ["UNet", "d", "b", "c", "m", "block", f"MACs (M, {ours})", "MACs 3x96x96 (M)", "params",
              f"Lat. ms ({ours})", *[f"PSNR σ={s:g} ({ours})" for s in PSNR_SIGMAS], "SSIM σ=0.8", "seeds"]
    out = f"### {title}\n\n" + markdown_table(header, body)
    t8 = table8(rows)
    return out + ("\n\n" + t8 if t8 else "\n\n" + device_note(rows))


def joint_table(rows: list[dict]) -> str:
    body = []
    for name, members in group(rows).items():
        r = members[0]
        macs, macs96 = stat(members, "macs"), paper_shape_macs(r)
        mode = r.get("joint_mode")
        if mode == "sequential":
            mode += f" ({r.get('sequential_training') or 'end-to-end'}" + \
                (f", +{r['finetune_epochs']} joint epochs)" if r.get("finetune_epochs") and
                 r.get("sequential_training") == "two-stage" else ")")
        body.append([mode, paper_unet_name(r) or r.get("unet") or name, r.get("classifier"),
                     fmt(macs[0] / 1e6 if macs else None), fmt(macs96 / 1e6 if macs96 else None, 1),
                     fmt(stat(members, "latency_ms"), 3), fmt(stat(members, "test_acc"), 1),
                     *[fmt(stat(members, f"test_psnr_s{s:g}")) for s in PSNR_SIGMAS],
                     fmt(stat(members, "test_ssim_s0.8"), 3), str(len(members))])
    ours = short_label(rows)
    header = ["mode (training)", "denoiser", "classifier", f"MACs (M, {ours})", "MACs 3x96x96 (M)", f"Lat. ms ({ours})",
              f"Acc % ({ours})", *[f"PSNR σ={s:g}" for s in PSNR_SIGMAS], "SSIM σ=0.8", "seeds"]
    return ("### Joint models: sequential vs integrated\n\n" + markdown_table(header, body)
            + "\n\nSequential models say how they were trained: end-to-end (CE + w * Charbonnier from scratch) or "
              "two-stage (the denoiser alone on Charbonnier, then frozen while the classifier trains on its outputs, "
              "then optional joint epochs). The paper's main-text numbers for this comparison are not available. "
            + device_note(rows))


def tuning_table(rows: list[dict], metrics: tuple[str, str] = ("val_acc", "val_psnr_s0.8")) -> str:
    scored = [r for r in rows if all(isinstance(r.get(m), (int, float)) for m in metrics)]
    front = set(pareto_front([(r[metrics[0]], r[metrics[1]]) for r in scored], (True, True)))
    body = [["*" if i in front else "", r["trial_id"], f"{r.get('lr', 0):.2e}", f"{r.get('weight_decay', 0):.2e}",
             f"{r.get('loss_weight', 0):.3g}", fmt(r[metrics[0]]), fmt(r[metrics[1]]),
             fmt(r.get("test_acc")), fmt(r.get("test_psnr_s0.8"))]
            for i, r in sorted(enumerate(scored), key=lambda ir: -ir[1][metrics[0]])]
    header = ["Pareto", "trial", "lr", "weight decay", "w", metrics[0], metrics[1], "test_acc", "test_psnr_s0.8"]
    return (f"### Multi-objective tuning: {len(front)} Pareto-optimal of {len(scored)} trials "
            f"(maximise {metrics[0]} and {metrics[1]})\n\n" + markdown_table(header, body))


def generic_table(rows: list[dict], metric: str) -> str:
    body = [[name, fmt(stat(m, metric), 3), fmt(stat(m, "test_acc"), 1), fmt(stat(m, "test_psnr")),
             fmt(stat(m, "macs"), 0), fmt(stat(m, "latency_ms"), 3), str(len(m))] for name, m in group(rows).items()]
    return "### Results\n\n" + markdown_table(["trial", metric, "test_acc", "test_psnr", "MACs", "Lat. ms", "seeds"], body)


def accuracy_label(rows: list[dict]) -> str:
    """The accuracy axis says over which evaluation noise levels the rows averaged (not always 11)."""
    counts = sorted({len(levels) for r in rows if isinstance(levels := r.get("eval_noise_levels"), list)})
    if not counts:
        return "accuracy (%, mean over the evaluated σ)"
    return f"accuracy (%, mean of {'/'.join(map(str, counts))} σ)"


def pareto_plots(rows: list[dict], out_dir: Path, paper_table7: bool = False) -> list[Path]:
    """Scatter + Pareto front for each (x, y) pair the rows have; Table 7's own points beside ours."""
    import matplotlib  # lazy (~0.45 s with pyplot): only drawing needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the Agg backend is chosen

    acc = accuracy_label(rows)
    specs = [("macs", "test_acc", "MACs (M)", acc, "acc_vs_flops.png", 1e6),
             ("latency_ms", "test_acc", "latency (ms)", acc, "acc_vs_latency.png", 1),
             ("macs", "test_psnr_s0.8", "MACs (M)", "PSNR at σ=0.8 (dB)", "psnr_vs_flops.png", 1e6)]
    written = []
    for x_key, y_key, x_label, y_label, filename, scale in specs:
        points = [(name, stat(m, x_key), stat(m, y_key)) for name, m in group(rows).items()]
        points = [(n, x[0] / scale, y[0]) for n, x, y in points if x and y]
        if len(points) < 2:
            continue
        with_paper = paper_table7 and y_key == "test_acc" and x_key in ("macs", "latency_ms")
        fig, axes = plt.subplots(1, 2 if with_paper else 1, figsize=(11 if with_paper else 6, 4.2), squeeze=False)
        _scatter(axes[0][0], points, x_label, y_label, "this run")
        if with_paper:
            column = 3 if x_key == "macs" else 4
            paper = [(n, v[column], v[5]) for n, v in TABLE7.items()]
            _scatter(axes[0][1], paper, "FLOPs (K)" if x_key == "macs" else "latency (ms)", y_label, "paper, Table 7")
        fig.tight_layout()
        path = out_dir / filename
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _scatter(ax, points, x_label, y_label, title):
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    front = sorted((points[i] for i in pareto_front([(-x, y) for x, y in zip(xs, ys)], (True, True))),
                   key=lambda p: p[1])
    ax.scatter(xs, ys, color="tab:blue", zorder=3)
    ax.plot([p[1] for p in front], [p[2] for p in front], color="tab:red", lw=1.5, label="Pareto front")
    for name, x, y in points:
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel=x_label, ylabel=y_label, title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


@dataclass(frozen=True)
class Layout:
    """One report layout (`Sweep.table` names it): the table built from the sweep's rows (all of them; each
    builder keeps the ones it shows), whether the paper's Table 7 points are drawn beside ours, and a plot
    the layout adds (rows, out_dir, storage) -> (path or None, note)."""
    table: Callable[[Sweep, list[dict]], str]
    paper_points: bool = False
    extra_plot: Callable[..., tuple[Path | None, str]] | None = None
    sweep_plots: Callable[..., list[Path]] | None = None  # (sweep, rows, out_dir, storage, experiment name)


LAYOUTS: dict[str, Layout] = {
    "table7": Layout(lambda sweep, rows: table7(finished(rows)), paper_points=True),
    "table8": Layout(lambda sweep, rows: table8(finished(rows)) or "### Table 8\n\nNo finished UNet or UNet-S trial."),
    "unet": Layout(lambda sweep, rows: unet_table(finished(rows), f"UNet study: {sweep.description}")),
    "joint": Layout(lambda sweep, rows: joint_table(finished(rows))),
    "tuning": Layout(lambda sweep, rows: tuning_table(finished(rows), tuple(sweep.optimize.metrics))),
    "nas": Layout(lambda sweep, rows: nas_table(rows), extra_plot=latency_plot),
    "search": Layout(search_table, sweep_plots=search_plots),
    "generic": Layout(lambda sweep, rows: generic_table(finished(rows), sweep.metric)),
}


def layout_of(sweep: Sweep) -> Layout:
    """The sweep's layout (`resolve` refuses a table name outside search_spaces.base.TABLES)."""
    return LAYOUTS[sweep.table]


def build_markdown(resolved, rows: list[dict]) -> str:
    sweep = resolved.sweep
    done = finished(rows)
    verdicts = judge_sweep(sweep.name, rows)
    parts = [f"# {resolved.name}: {sweep.description or sweep.name}", smoke_test_line(verdicts),
             f"{len(done)} of {len(rows)} trials finished; preset `{resolved.preset}`; data "
             f"{done[0].get('dataset') if done else '?'} at {done[0].get('image_shape') if done else '?'}.",
             setting_block(done or rows, resolved.preset), layout_of(sweep).table(sweep, rows),
             claims_section(verdicts)]
    parts = [p for p in parts if p]
    failed = [r for r in rows if r.get("status") == "ERROR"]
    if failed:
        parts.append("### Failed trials\n\n" + "\n".join(
            f"- {r['label']}: {(r.get('error') or '').strip().splitlines()[-1:] or ['?']}" for r in failed))
    return "\n\n".join(parts) + "\n"


def write_report(resolved, rows: list[dict], out_dir: Path, storage=None) -> Path:
    """report.md and plots in out_dir; `storage` (the sweep's) is where other sweeps' results are looked up."""
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = layout_of(resolved.sweep)
    text = build_markdown(resolved, rows)
    write_claims(judge_sweep(resolved.sweep.name, rows), out_dir)  # beside report.md: an MLflow artifact too
    plots = pareto_plots(finished(rows), out_dir, paper_table7=layout.paper_points)
    if layout.extra_plot:
        plot, note = layout.extra_plot(rows, out_dir, storage)
        plots, text = ([plot] if plot else []) + plots, text + (f"\n{note}\n" if note else "")
    if layout.sweep_plots:
        plots = layout.sweep_plots(resolved.sweep, rows, out_dir, storage, resolved.name) + plots
    if plots:
        text += "\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    path = out_dir / "report.md"
    write_atomic(path, text.encode())
    print("\n" + text, flush=True)
    return path
