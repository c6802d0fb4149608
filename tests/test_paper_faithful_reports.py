"""Reports of tiny REAL sweeps (real Ray, real Fashion-MNIST, SQLite MLflow, the real runner and `jdnas report`):
Table 8 recognises the paper's UNets in the UNet studies' grids, Table 10 shows the paper's numbers only
beside the paper's configuration, every report opens with its setting block, and every child run records
the open-choice fields. One Ray for the module; 1 epoch on a few hundred images."""
import subprocess
import sys
import tempfile

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.run.sweep import RunOptions, run_sweep
from trainables.open_choices import MODEL_CHOICES, NAS_CHOICES
from trainables.paper import TABLE8, TABLE10

from .conftest import needs_fashion_mnist

pytestmark = [pytest.mark.slow, needs_fashion_mnist]

TINY_UNET = dict(train_size=200, val_size=50, test_size=50, epochs=1, seeds=1, examples=False,
                 latency_min_run_time=0.05, eval_noise_levels=[0.0, 0.2, 0.4, 0.8, 1.0])


@pytest.fixture(scope="module")
def ray_once():
    import ray

    from orchestrator.cluster.ray_auth import loopback_only, use_token_auth

    use_token_auth()
    temp = tempfile.mkdtemp(prefix="jdray9-")
    with loopback_only():
        ray.init(_temp_dir=temp, include_dashboard=False, num_cpus=2, object_store_memory=300_000_000,
                 logging_level="warning", log_to_driver=False)
    yield
    ray.shutdown()


def children(workdir, experiment):
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], "tags.`jdnas.role` = 'trial'")


def table8_rows(report: str) -> dict[str, list[str]]:
    section = report.split("### Table 8", 1)[1].split("\n\n", 2)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()[2:]]
    return {r[0]: r for r in rows}


def check_setting_block(report: str) -> None:
    assert "### Setting" in report.split("### Table", 1)[0]  # before any table
    assert "| dataset | fashion-mnist | not given (the appendix names no dataset) |" in report
    assert "| image size | 32 x 32 (3 ch) | inferred: 96 x 96 RGB" in report


def test_unet_studies_render_table8_from_their_grid_points(ray_once, tmp_path):
    width = run_sweep("unet-width", "quick", dict(TINY_UNET, base_width=[16, 32]), RunOptions(workdir=tmp_path, verbose=0))
    assert width.complete and {r["variant_label"] for r in width.rows} == \
        {"UNet-d4-b16-c2-m2", "UNet-d4-b32-c2-m2"}  # the study names its points by (d, b, c, m), not "UNet"
    report = width.report_path.read_text()
    rows = table8_rows(report)
    assert set(rows) == {"UNet"}
    b32 = next(r for r in width.rows if r["base_width"] == 32)
    assert rows["UNet"][2] == str(TABLE8["UNet"][0]) and rows["UNet"][3] == f"{b32['latency_ms']:.3f}"
    assert rows["UNet"][5].startswith(f"{b32['test_psnr_s0.2']:.2f}")
    assert "| UNet-d4-b32-c2-m2 (= UNet) |" in report
    check_setting_block(report)

    multiplier = run_sweep("unet-multiplier", "quick", dict(TINY_UNET, multiplier=1.5),
                           RunOptions(workdir=tmp_path, verbose=0))
    rows = table8_rows(multiplier.report_path.read_text())
    assert set(rows) == {"UNet-S"} and rows["UNet-S"][2] == str(TABLE8["UNet-S"][0])
    assert rows["UNet-S"][3] == f"{multiplier.rows[0]['latency_ms']:.3f}"

    for run in children(tmp_path, "unet-width") + children(tmp_path, "unet-multiplier"):
        assert set(MODEL_CHOICES) <= set(run.data.params), set(MODEL_CHOICES) - set(run.data.params)
        assert run.data.params["residual"] == "True" and run.data.params["sequential_training"] == "end-to-end"

    cli = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "report", "unet-multiplier", "--preset", "quick",
                          "--workdir", str(tmp_path), *[a for k, v in dict(TINY_UNET, multiplier=1.5).items()
                                                        for a in ("--set", f"{k}={_cli(v)}")]],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-2000:]
    check_setting_block(cli.stdout)
    assert "### Table 8" in cli.stdout


def _cli(value) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def test_nas_opset_report_keeps_the_papers_numbers_away_from_other_op_sets(ray_once, tmp_path):
    overrides = dict(train_size=96, val_size=32, test_size=32, width_mult=0.1, search_epochs=2, warmup_epochs=1,
                     search_batch_size=32, batch_size=32, retrain_epochs=1, epochs=3, seeds=1, op_set=[4, 6],
                     eval_noise_levels=[0.0, 0.5], lut_rounds=1, lut_min_run_time=0.001, latency_min_run_time=0.02,
                     lut_cache_dir=str(tmp_path / "lut"), examples=False)
    outcome = run_sweep("nas-opset", "quick", overrides, RunOptions(workdir=tmp_path, verbose=0))
    assert outcome.complete and {r["op_set"] for r in outcome.rows} == {4, 6}
    report = outcome.report_path.read_text()
    check_setting_block(report)
    assert "### Table 10 layout: searched models (4 vs 6 ops (Table 9 spaces))" in report  # not "β": β is fixed
    assert "| paper LAT ÷ its UNet (same device as Table 8 assumed) |" in report
    table = report.split("### Table 10", 1)[1]
    lines = [line for line in table.splitlines() if line.startswith("| Removed β")]
    assert len(lines) == 2
    paper_cells = {f"{v:.2f}" for v, _ in TABLE10.values()} | {f"{a:.1f}" for _, a in TABLE10.values()}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[-4:-1] == ["-", "-", "-"] and cells[-1].startswith("none: ")
        assert "ops (paper: 8)" in cells[-1] and not paper_cells & set(cells[-4:])
        assert "| classifier only |" in line and "× UNet" in line  # search kind, target as a fraction of the UNet
    for run in children(tmp_path, "nas-opset"):
        assert set(MODEL_CHOICES) | set(NAS_CHOICES) <= set(run.data.params)
        assert run.data.params["search_kind"] == "classifier"
