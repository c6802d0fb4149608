"""Reports: the paper's FLOP columns are reproduced from the trial configs; Pareto fronts are right."""
import re

import pytest

from orchestrator.pareto.front import pareto_front
from orchestrator.report.tables import build_markdown, pareto_plots
from search_spaces import get_sweep, resolve
from trainables.paper import TABLE7


def fake_rows(configs, **metrics):
    """Result rows as the runner writes them; metrics are placeholders, FLOPs come from the configs."""
    rows = []
    for i, (label, config) in enumerate(configs):
        rows.append(dict(trial_id=f"t{i}", status="TERMINATED", label=f"{label} seed0", variant_label=label, seed=0, **config,
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


def test_paper_unets_are_recognised_in_every_grid_that_builds_them():
    """Table 8's rows come from any trial whose (d, b, c, m, block) is a paper preset; the report itself is
    tested on real runs in test_paper_faithful_reports.py."""
    from trainables.models import paper_unet_name

    found = {}
    for sweep, preset in (("unet-width", "quick"), ("unet-multiplier", "quick"), ("unet-mbconv", "quick"),
                          ("unet-depth", "quick"), ("joint", "quick")):
        for config in resolve(get_sweep(sweep), preset).trial_configs:
            found.setdefault(sweep, set()).add(paper_unet_name(config))
    assert found["unet-width"] == {None, "UNet", "UNet-M"}      # b = 32 and b = 16 of d4 c2 m2
    assert found["unet-multiplier"] == {None, "UNet-S"}         # m = 1.5 of d4 b8 c2
    assert found["unet-mbconv"] == {None}                       # MBConv blocks are not the paper's UNets
    assert found["unet-depth"] == {None, "UNet", "UNet-M"}
    assert found["joint"] == {"UNet-S", "UNet-M", "UNet"}
    assert paper_unet_name(dict(task="denoiser", depth=4, base_width=32, blocks=2, multiplier=float("nan"),
                                unet="UNet")) == "UNet"         # a Parquet row's empty cells


def test_pareto_front():
    points = [(1, 1), (2, 3), (3, 2), (0, 0), (2, 3)]
    assert pareto_front(points, (True, True)) == [1, 2, 4]
    assert pareto_front([(1, 5), (2, 4), (3, 6)], (False, True)) == [0, 2]


def test_pareto_plots_are_written(tmp_path):
    rows = fake_rows([(name, dict(task="classifier", classifier=name)) for name in TABLE7])
    paths = pareto_plots(rows, tmp_path, paper_table7=True)
    assert {p.name for p in paths} == {"acc_vs_flops.png", "acc_vs_latency.png"}
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_every_table_a_sweep_may_name_has_a_layout_and_others_are_refused():
    from orchestrator.report.tables import LAYOUTS
    from search_spaces import all_sweeps
    from search_spaces.base import TABLES, Sweep, SweepError, resolve

    assert set(LAYOUTS) == set(TABLES)
    named = {sweep.table for sweep in all_sweeps()}
    assert set(TABLES) - {"generic"} <= named  # no layout left that no sweep uses
    typo = Sweep(name="mine", trainable="classifier", grid={"classifier": ["Conv-S"]}, table="tabel7")
    with pytest.raises(SweepError, match="unknown table 'tabel7'"):
        resolve(typo, check_models=False)


def test_seeds_of_a_variant_are_averaged_by_the_variant_label_column_not_the_run_name():
    """Two seeds of Conv-L and one of Conv-S: Table 7 averages by `variant_label`; the run names are free text."""
    resolved = resolve(get_sweep("classifier-scaling"), "quick")
    rows = [dict(trial_id=f"t{i}", status="TERMINATED", label=f"run {i}", variant_label=name, seed=seed, task="classifier",
                 classifier=name, test_acc=acc, macs=1e6, latency_ms=0.5)
            for i, (name, seed, acc) in enumerate([("Conv-L", 0, 60.0), ("Conv-L", 1, 70.0), ("Conv-S", 0, 50.0)])]
    body = {r[1]: r for r in table_rows(build_markdown(resolved, rows), lambda line: re.match(r"\| [0-9-]+ \| ", line))}
    assert set(body) == {"Conv-L", "Conv-S"}
    assert body["Conv-L"][-1] == "2" and body["Conv-L"][-3] == "65.0 ± 7.1"  # mean 65, sample std 7.07
    assert body["Conv-S"][-1] == "1" and body["Conv-S"][-3] == "50.0"
