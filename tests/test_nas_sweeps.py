"""NAS sweeps: definitions and validation, the Table 10 report layout, and one real end-to-end sweep
(Ray, SQLite MLflow, Parquet, report) marked slow."""
import json
from pathlib import Path

import pytest

from search_spaces import SweepError, get_sweep, resolve
from orchestrator.report.nas import nas_table
from trainables.paper import TABLE10


def test_nas_sweeps_resolve_with_their_presets():
    quick = resolve(get_sweep("nas-beta"), "quick")
    assert quick.num_trials == 6 and {v["beta_mode"] for v in quick.variants} == {"removed", "learned", "fixed"}
    assert quick.base["task"] == "nas" and quick.base["train_noise_levels"] == [0.0]  # Table 10: clean images
    assert quick.base["image_size"] == 32 and quick.base["retrain_epochs"] > 0 and quick.run["cpus_per_trial"] == 1
    paper = resolve(get_sweep("nas-beta"), "paper")
    assert paper.base["target_latency_ms"] is None and paper.base["lut_batch_size"] == 32  # relative, not 6 ms
    assert paper.base["target_reference"] == "UNet" and paper.base["target_ratio"] == pytest.approx(6 / 7.10)
    assert (paper.base["dataset"], paper.base["image_size"], paper.base["search_epochs"], paper.base["warmup_epochs"]) \
        == ("stl10", 96, 90, 10)
    assert resolve(get_sweep("nas-opset"), "quick").products[0] == {"op_set": [4, 6, 8], "search_kind": ["classifier"]}
    assert resolve(get_sweep("nas-beta-joint"), "quick").products[0]["search_kind"] == ["joint"]
    targets = resolve(get_sweep("nas-targets"), "paper")
    assert targets.base["target_range"] == "manual" and targets.base["target_latency_ms"] is None
    assert targets.base["target_ratio"] is None


def test_asha_stops_a_nas_trial_at_its_search_plus_retraining_epochs_whatever_the_preset_writes():
    from orchestrator.run.sweep import max_epochs

    assert max_epochs(resolve(get_sweep("nas-beta"), "quick")) == 4 + 4       # the quick preset's 4 + 4
    assert max_epochs(resolve(get_sweep("nas-beta"), "paper")) == 90 + 200    # TF-NAS's 90, the paper's 200
    # a longer retraining moves the end; the preset's own `epochs` (8) is not what a NAS trial reports
    assert max_epochs(resolve(get_sweep("nas-beta"), "quick", {"retrain_epochs": 20})) == 24
    assert max_epochs(resolve(get_sweep("classifier-scaling"), "quick", {"epochs": 3})) == 3


def test_nas_beta_and_opset_run_either_search_kind():
    for name, trials in (("nas-beta", 12), ("nas-opset", 12)):
        both = resolve(get_sweep(name), "quick", dict(search_kind=["joint", "classifier"]))
        assert both.num_trials == trials and {v["search_kind"] for v in both.variants} == {"joint", "classifier"}
    with pytest.raises(SweepError, match=r"'search_kind' = 'decoder' must be one of \['joint', 'classifier'\]"):
        resolve(get_sweep("nas-beta"), "quick", dict(search_kind="decoder"))


@pytest.mark.parametrize("override,message", [
    (dict(op_set=5), r"field 'op_set' = 5 must be one of \[4, 6, 8\]"),
    (dict(beta_mode="frozen"), r"field 'beta_mode' = 'frozen' must be one of \['learned', 'removed', 'fixed'\]"),
    (dict(target_latency_ms=-1.0), r"field 'target_latency_ms' = -1.0 must be > 0"),
    (dict(target_fraction=1.5), r"target_fraction' = 1.5 must be in \[0, 1\]"),
    (dict(seach_epochs=3), r"unknown field 'seach_epochs'; did you mean 'search_epochs'"),
])
def test_bad_nas_settings_fail_before_ray_starts(override, message):
    with pytest.raises(SweepError, match=message):
        resolve(get_sweep("nas-beta"), "quick", override)


def test_table10_layout_beside_the_papers_numbers():
    """Hand-built rows in the paper's setting (relative target 6/7.10 x UNet, clean, 8 ops); the real-run check
    that other settings get no paper numbers is test_paper_faithful_reports.py."""
    rows = [dict(status="TERMINATED", beta_mode=beta, seed=seed, op_set=8, target_latency_ms=4.0,
                 target_ratio=6 / 7.10, target_reference="UNet", train_noise_levels=[0.0], target_vs_reference=0.845,
                 search_kind="classifier", image_shape="3x96x96",
                 reference_latency_ms=4.0 / 0.845,
                 predicted_latency_ms=3.9 - seed * 0.1, latency_ms=4.0 - seed * 0.2, test_acc_s0=80.0 + seed,
                 test_acc=60.0, **{"test_psnr_s0.8": 20.0}, depths="2-3-4-4-4-1", arch="00|000|0000|0000|0000|0",
                 latency_device="cpu x", latency_batch_size=1, latency_threads=1)
            for beta in ("learned", "removed", "fixed") for seed in (0, 1)]
    text = nas_table(rows)
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    assert lines[0].startswith("| Type | Search id | search | ops | target ms | target × ref. | LUT ms | LAT ms (ours: ")
    assert "| Acc % σ=0 (paper) |" in lines[0] and "| paper LAT ÷ its UNet (same device as Table 8 assumed) |" in lines[0]
    assert [l.split(" | ")[0] for l in lines[1:7]] == ["| Removed β"] * 2 + ["| Learned β"] * 2 + ["| Fixed β"] * 2
    assert f"| {TABLE10[('removed', 1)][0]:.2f} | {TABLE10[('removed', 1)][1]:.1f} | 0.824 | same setting |" in lines[1]
    assert "| 0.845 × UNet |" in lines[1]
    assert lines[5].endswith("| - | - | - | none: fixed β (paper: removed, learned) |")
    assert "ΔLAT ms" in text and "| Removed β | classifier only | 8 | 0.845 × UNet | 2 | 3.900 | 0.200 | 80.5 | 1.0 | 0.04 / 0.2 |" in text
    absolute = nas_table([{**rows[0], "config_target_latency_ms": 6.0}])
    assert "none: target absolute 6 ms (paper: 0.845 × UNet)" in absolute and "| 5.85 |" not in absolute
    joint = nas_table([{**rows[0], "search_kind": "joint", "image_shape": "3x32x32"}])
    assert "joint search (paper, as jdnas reads Table 10: classifier only)" in joint
    assert "input 3x32x32 (paper: 3x96x96, inferred from Table 8)" in joint and "| 5.85 |" not in joint
    assert "### Table 10 layout: searched models (removed vs learned vs fixed β)" in text
    assert "median error" in text


@pytest.mark.slow
def test_tiny_nas_beta_sweep_end_to_end(tmp_path):
    """Real Ray, a real latency table, SQLite MLflow: architectures as artifacts, retrained metrics, Table 10."""
    from mlflow.tracking import MlflowClient

    from orchestrator.cli import main as cli
    from orchestrator.run.sweep import RunOptions, run_sweep
    from trainables.nas.derive import SearchedNet, arch_code, load_architecture

    overrides = dict(train_size=96, val_size=32, test_size=32, width_mult=0.1, search_epochs=2, warmup_epochs=1,
                     search_batch_size=32, batch_size=32, retrain_epochs=1, epochs=3, seeds=1,
                     beta_mode=["removed", "learned"], eval_noise_levels=[0.0, 0.5], lut_rounds=1,
                     lut_min_run_time=0.001, latency_min_run_time=0.02, lut_cache_dir=str(tmp_path / "lut"),
                     examples=False)
    outcome = run_sweep("nas-beta", "quick", overrides, RunOptions(workdir=tmp_path, verbose=0))
    assert outcome.complete and len(outcome.rows) == 2
    assert all(r["status"] == "TERMINATED" and r["phase"] == 1 and r["epoch"] == 3 for r in outcome.rows)
    assert all(r["latency_ms"] > 0 and r["predicted_latency_ms"] > 0 and "test_acc_s0.5" in r for r in outcome.rows)
    assert all(0.5 < r["lut_anchor_factor"] < 2 for r in outcome.rows)  # the table was re-anchored in the trial
    report = outcome.report_path.read_text()
    assert "### Table 10" in report and "| Type | Search id |" in report
    assert "| Removed β | 1 |" in report and "| Learned β | 1 |" in report
    assert "| LAT in trial ms |" in report and "re-timed alone after the sweep" in report  # same CPU: timed alone
    assert all(arch_code(json.loads(r["architecture_json"])) == r["arch"] for r in outcome.rows)  # Parquet rebuilds it
    assert (outcome.report_path.parent / "nas_acc_vs_latency.png").exists()
    # the phase's timings are in the rows and the Parquet: `jdnas report` rebuilds the very same report
    # (a report that timed networks again would differ in its latency columns)
    assert all(r["latency_source"] == "exclusive" and r["latency_in_trial_ms"] > 0 for r in outcome.rows)
    assert "Manual joint models timed alone after the sweep" in report  # the paper's joint models, at 32 px
    assert cli.main(["report", "nas-beta", "--workdir", str(tmp_path / "again"), "--storage", str(tmp_path / "results"),
                     *[a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(v) if isinstance(v, list) else v}")]]) == 0
    assert (tmp_path / "again" / "reports" / outcome.name / "report.md").read_text() == report

    client = MlflowClient(outcome.tracking_uri)
    experiment = client.get_experiment_by_name("nas-beta")
    children = client.search_runs([experiment.experiment_id], "tags.`jdnas.role` = 'trial'")
    assert len(children) == 2
    for run in children:
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"architecture.json", "latency_table.json", "model.pt"} <= names
        local = client.download_artifacts(run.info.run_id, "architecture.json", str(tmp_path / run.info.run_id))
        arch = load_architecture(local)
        assert SearchedNet(arch).macro.input_shape == (3, 32, 32)  # quick: grey replicated to RGB
        assert run.data.tags["arch"] == arch_code(arch)  # the string metric became a tag
        phases = [m.value for m in client.get_metric_history(run.info.run_id, "phase")]
        assert phases == [0.0, 0.0, 1.0]
        assert json.loads(Path(local).read_text())["beta_mode"] == run.data.params["beta_mode"]


def test_a_nas_retrain_sweep_checks_its_architecture_before_ray(tmp_path):
    import random

    from search_spaces import Sweep
    from trainables.nas.derive import random_architecture
    from trainables.nas.macro import Macro

    arch = random_architecture(Macro.build((3, 32, 32), 10, 0.25), 6, random.Random(0))  # quick: grey as RGB
    sweep = Sweep(name="retrain-mine", trainable="nas_retrain", fixed={"task": "joint", "joint_mode": "searched",
                  "architecture": arch}, seeds=1)
    assert resolve(sweep, "quick").trial_configs[0]["architecture"] == arch
    with pytest.raises(SweepError, match="derived for 32x32 inputs, got 64"):
        resolve(sweep, "quick", {"image_size": 64})
    grey = random_architecture(Macro.build((1, 32, 32), 10, 0.25), 6, random.Random(0))
    with pytest.raises(SweepError, match="on 3x32x32 inputs: "):  # derived for 1 channel
        resolve(Sweep(**{**sweep.__dict__, "fixed": {**sweep.fixed, "architecture": grey}}), "quick")
    (tmp_path / "a.json").write_text(json.dumps(arch))
    assert resolve(sweep, "quick", {"architecture": str(tmp_path / "a.json")}).num_trials == 1


def test_jdnas_plan_prices_a_nas_retrain_sweep_whose_network_is_given_and_refuses_a_search():
    """nas_retrain's network is fixed by its config, so it is priced like a manual model's (the plan used to say
    "their network is searched"); nas_search's is searched in the trial, so it is not."""
    import random

    from orchestrator.run.plan import make_plan
    from search_spaces import Sweep
    from trainables.nas.derive import random_architecture
    from trainables.nas.macro import Macro

    arch = random_architecture(Macro.build((3, 32, 32), 10, 0.25), 6, random.Random(0))
    sweep = Sweep(name="retrain-plan", trainable="nas_retrain", fixed={"task": "joint", "joint_mode": "searched",
                  "architecture": arch, "epochs": 1}, seeds=1)
    plan = make_plan(resolve(sweep, "quick", {"train_size": 256, "val_size": 64, "test_size": 64}), cpus=1, steps=1)
    assert len(plan.networks) == 1 and plan.networks[0].step_s > 0 and plan.wall_s > 0 and not plan.note
    searched = make_plan(resolve(get_sweep("nas-beta"), "quick"), cpus=1, steps=1)
    assert searched.networks == [] and "searched" in searched.note

