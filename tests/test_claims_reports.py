"""Claims and labels read from the reports of tiny REAL sweeps (real Ray, real Fashion-MNIST, SQLite MLflow,
the real runner, then `jdnas report` from Parquet): the Claims section, the smoke-test line, claims.json and
the parent run's tags agree with verdicts worked out here from the rows; Table 7's and Table 8's paper columns
say what they are; Table 8 shows both UNets from the `table8` sweep."""
import json
import math
import statistics
import tempfile

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli import main as cli
from orchestrator.report.tables import accuracy_label
from orchestrator.run.sweep import RunOptions, run_sweep
from trainables.data.registry import DEBIAN_FASHION_MNIST
from trainables.paper import TABLE7, TABLE8

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason="needs dataset-fashion-mnist")]

TINY = dict(train_size=200, val_size=50, test_size=100, epochs=1, seeds=2, examples=False, latency_min_run_time=0.05,
            eval_noise_levels=[0.0, 0.5])


@pytest.fixture(scope="module")
def ray_once():
    """One local Ray for the module, started as `jdnas run` starts it (this process's token, loopback)."""
    import ray

    from orchestrator.cluster.ray_auth import loopback_only, use_token_auth

    use_token_auth()
    with loopback_only():
        ray.init(_temp_dir=tempfile.mkdtemp(prefix="jdr22-"), include_dashboard=False, num_cpus=2,
                 object_store_memory=300_000_000, logging_level="warning", log_to_driver=False)
    yield
    ray.shutdown()


def _cli_args(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}")]


def _by_model(rows, key):
    out = {}
    for r in rows:
        out.setdefault(r["classifier"], {})[r["seed"]] = r[key]
    return out


def _claim_row(report: str, claim_id: str) -> list[str]:
    line = next(l for l in report.split("### Claims", 1)[1].splitlines() if l.startswith(f"| {claim_id} "))
    return [c.strip() for c in line.strip("|").split("|")]


def test_classifier_report_judges_its_claims_and_labels_the_papers_columns(ray_once, tmp_path):
    overrides = dict(TINY, classifier=["Conv-L", "MB2.5-M"])
    outcome = run_sweep("classifier-scaling", "quick", overrides, RunOptions(workdir=tmp_path, verbose=0))
    assert outcome.complete and len(outcome.rows) == 4
    report = outcome.report_path.read_text()
    claims = json.loads((outcome.report_path.parent / "claims.json").read_text())
    verdicts = {c["claim"]["id"]: c for c in claims["claims"]}

    # the verdicts, worked out from the rows by hand
    acc, macs = _by_model(outcome.rows, "test_acc"), _by_model(outcome.rows, "macs")
    diffs = [acc["MB2.5-M"][s] - acc["Conv-L"][s] for s in (0, 1)]
    half = 12.7062 * statistics.stdev(diffs) / math.sqrt(2)  # t(0.975; 1)
    mean = statistics.fmean(diffs)
    expected = "holds" if mean - half > 0 else "contradicted" if mean + half < 0 else "unresolved"
    assert verdicts["a1-mb25m-beats-convl"]["verdict"] == expected
    assert verdicts["a1-mb25m-beats-convl"]["mean"] == pytest.approx(mean)
    assert _claim_row(report, "a1-mb25m-beats-convl")[3].startswith(f"{mean:.2f} pp [{mean - half:.2f}, ")
    assert verdicts["a1-mb25m-fewer-flops"]["verdict"] == ("holds" if macs["MB2.5-M"][0] < macs["Conv-L"][0]
                                                          else "contradicted") == "holds"
    assert verdicts["a1-mb4l-beats-convl"]["verdict"] == "no rows"  # MB4-L did not run
    resolved = [c for c in claims["claims"] if c["measured"] and c["verdict"] in ("holds", "contradicted")]
    assert claims["smoke_test"] == (not resolved)
    second = report.splitlines()[2]  # the title, a blank line, then the smoke-test line when nothing resolved
    assert second.startswith("> **Smoke test of the pipeline, not a replication:**") == claims["smoke_test"]

    # labels: what the paper printed, what is read and what is inferred
    assert "| FLOPs (K, paper, as printed) | paper ratio |" in report and "| Lat. ms (paper, device not named) |" in report
    assert "| Acc % (paper) |" in report and "paper: 96 px" not in report
    assert "| image size | 32 x 32 (3 ch) | inferred: 96 x 96 RGB" in report
    assert "read: 11 noise levels (A.1)" in report and "| inferred: 32 / - / fp32" in report
    assert accuracy_label(outcome.rows) == "accuracy (%, mean of 2 σ)"
    # like for like: 3 channels, so the run's FLOP ratio to Conv-L is within 6 % of Table 7's
    paper_ratio = TABLE7["MB2.5-M"][3] / TABLE7["Conv-L"][3]
    assert abs(macs["MB2.5-M"][0] / macs["Conv-L"][0] / paper_ratio - 1) < 0.06
    # latency: every trial's network re-timed after the trials, in interleaved rounds
    assert all(r["latency_source"] == "exclusive" and r["latency_rounds"] == 5 and r["latency_in_trial_ms"] > 0
               for r in outcome.rows)

    client = MlflowClient(outcome.tracking_uri)
    parent = client.get_run(outcome.parent_run_id)
    assert parent.data.tags["jdnas.claim.a1-mb25m-beats-convl"] == expected
    assert parent.data.tags["jdnas.smoke_test"] == str(claims["smoke_test"]).lower()
    assert "claims.json" in {a.path for a in client.list_artifacts(outcome.parent_run_id)}

    again = tmp_path / "again"
    assert cli.main(["report", "classifier-scaling", "--workdir", str(again), "--storage", str(tmp_path / "results"),
                     *_cli_args(overrides)]) == 0
    assert (again / "reports" / outcome.name / "report.md").read_text() == report
    assert json.loads((again / "reports" / outcome.name / "claims.json").read_text()) == claims


def test_table8_sweep_renders_both_unets_and_their_claims(ray_once, tmp_path):
    overrides = dict(TINY, seeds=2, train_size=100, val_size=20, test_size=20, latency_min_run_time=0.02)
    overrides.pop("eval_noise_levels")  # the sweep's own: Table 8's 0.2, 0.4, 0.8, 1
    outcome = run_sweep("table8", "quick", overrides, RunOptions(workdir=tmp_path, verbose=0))
    assert outcome.complete and {r["unet"] for r in outcome.rows} == {"UNet", "UNet-S"}
    report = outcome.report_path.read_text()
    section = report.split("### Table 8", 1)[1].split("\n\n", 2)[1].splitlines()
    assert "| FLOPs (M, paper; our count meets it at 3x96x96) |" in section[0]
    assert "| Lat. ms (paper, device not named) |" in section[0]
    names = {line.strip("|").split("|")[0].strip(): line for line in section[2:]}
    assert set(names) == {"UNet", "UNet-S"}
    assert f"| {TABLE8['UNet'][0]} |" in names["UNet"] and f"| {TABLE8['UNet-S'][0]} |" in names["UNet-S"]
    assert "PSNR / SSIM σ=0.8" in section[0] and "n/a" not in names["UNet-S"]
    claims = {c["claim"]["id"]: c for c in json.loads((outcome.report_path.parent / "claims.json").read_text())["claims"]}
    assert set(claims) == {"t8-similar-psnr", "t8-lower-latency", "t8-fewer-flops"}
    assert claims["t8-fewer-flops"]["verdict"] == "holds" and claims["t8-similar-psnr"]["seeds"] == [2, 2]
