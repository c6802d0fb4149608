"""Reports: the paper's FLOP columns are reproduced from the trial configs; Pareto fronts are right."""
import re

import pytest

from orchestrator.report import build_markdown, pareto_front, pareto_plots
from search_spaces import get_sweep, resolve
from trainables.paper import TABLE7, TABLE8


def fake_rows(configs, **metrics):
    """Result rows as the runner writes them; metrics are placeholders, FLOPs come from the configs."""
    rows = []
    for i, (label, config) in enumerate(configs):
        rows.append(dict(trial_id=f"t{i}", status="TERMINATED", label=f"{label} seed0", seed=0, **config,
                         test_acc=50.0 + i, test_psnr=20.0, macs=1e6 * (i + 1), latency_ms=0.1 * (i + 1),
                         **metrics))
    return rows


def table_rows(markdown, first_cell):
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("| ") and first_cell(line)]


def test_table7_report_reproduces_the_papers_flop_ratios():
    resolved = resolve(get_sweep("classifier-scaling"), "quick")
    rows = fake_rows([(name, dict(task="classifier", classifier=name)) for name in TABLE7])
    text = build_markdown(resolved, rows)
    body = table_rows(text, lambda line: re.match(r"\| [0-9-]+ \| ", line))
    assert [r[1] for r in body] == list(TABLE7)
    for row in body:
        ours, paper = float(row[7]), float(row[9])   # ratio at 3x96x96, paper ratio
        assert ours == pytest.approx(paper, rel=0.08), row[1]
        assert row[8] == str(TABLE7[row[1]][3])       # the paper's own FLOPs column, verbatim
    assert next(r for r in body if r[1] == "Conv-L")[6] == "29.95"


def test_unet_report_has_table8_with_the_papers_flops():
    resolved = resolve(get_sweep("unet-width"), "quick")
    rows = fake_rows([(name, dict(task="denoiser", unet=name)) for name in ("UNet", "UNet-S")],
                     **{f"test_psnr_s{s:g}": 20.0 for s in (0.2, 0.4, 0.8, 1)})
    text = build_markdown(resolved, rows)
    t8 = table_rows(text, lambda line: line.startswith(("| UNet |", "| UNet-S |")) and "PSNR" not in line)
    t8 = [r for r in t8 if len(r) == 9]
    assert {r[0] for r in t8} == {"UNet", "UNet-S"}
    for row in t8:
        assert float(row[1]) == pytest.approx(TABLE8[row[0]][0], rel=0.05) and row[2] == str(TABLE8[row[0]][0])


def test_pareto_front():
    points = [(1, 1), (2, 3), (3, 2), (0, 0), (2, 3)]
    assert pareto_front(points, (True, True)) == [1, 2, 4]
    assert pareto_front([(1, 5), (2, 4), (3, 6)], (False, True)) == [0, 2]


def test_pareto_plots_are_written(tmp_path):
    rows = fake_rows([(name, dict(task="classifier", classifier=name)) for name in TABLE7])
    paths = pareto_plots(rows, tmp_path, paper_table7=True)
    assert {p.name for p in paths} == {"acc_vs_flops.png", "acc_vs_latency.png"}
    assert all(p.stat().st_size > 10_000 for p in paths)
