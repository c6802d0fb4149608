"""A latency table from the target device: bundle, the standalone probe in a venv with only numpy +
onnxruntime, import checked against the manifest, a NAS search for that device. And `jdnas export` of a
trial of every trainable from tiny real sweeps (real Ray, SQLite MLflow). The README's "Deploy to a
device" commands run here through the CLI entry point."""
import json
import subprocess
import sys
import venv
from pathlib import Path

import onnxruntime as ort
import pytest

from orchestrator.cli.main import main
from trainables.nas import lut
from trainables.nas.lut_bundle import find_device_table
from trainables.nas.macro import Macro

from .nas_helpers import tiny_config, tiny_data

pytestmark = pytest.mark.slow


def probe_python(root: Path) -> tuple[str, str]:
    """(python, how): a fresh venv with only numpy + onnxruntime when pip can install them here, else this
    interpreter with jdnas and torch made unimportable (the import set proven the other way)."""
    env_dir = root / "probe-venv"
    try:
        venv.create(env_dir, with_pip=True)
        python = str(env_dir / "bin" / "python")
        constraints = Path(__file__).resolve().parents[1] / "constraints.txt"  # the versions jdnas pins
        subprocess.run([python, "-m", "pip", "install", "-q", "-c", str(constraints), "numpy", "onnxruntime"],
                       check=True, timeout=300, capture_output=True)
        return python, "venv"
    except (subprocess.SubprocessError, OSError):
        return sys.executable, "blocked"


BLOCKER = ("import sys, runpy; [sys.modules.__setitem__(m, None) for m in ('torch', 'trainables', 'orchestrator', "
           "'search_spaces')]; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    """A bundle of the tiny search space written by `jdnas lut bundle`, timed by its probe.py."""
    root = tmp_path_factory.mktemp("device")
    config = tiny_config(root)
    data = tiny_data(config)
    macro = Macro.build(data.image_shape, data.num_classes, config["width_mult"])
    bundle = root / "bundle"
    assert main(["lut", "bundle", str(bundle), "--size", str(macro.input_shape[1]), "--channels",
                 str(macro.input_shape[0]), "--classes", str(data.num_classes), "--width-mult",
                 str(config["width_mult"])]) == 0
    python, how = probe_python(root)
    if how == "venv":  # the venv sees neither torch nor jdnas
        check = subprocess.run([python, "-c", "import torch"], capture_output=True)
        assert check.returncode != 0
        command = [python, str(bundle / "probe.py")]
    else:
        command = [python, "-c", BLOCKER, str(bundle / "probe.py")]
    subprocess.run(command + [str(bundle), "--device-name", "pi", "--rounds", "2", "--min-run-time", "0.002"],
                   check=True, timeout=400)  # with the venv's 300 s: within the slow tests' 900 s
    return dict(root=root, bundle=bundle, probe=bundle / "probe-pi.json", config=config, data=data, macro=macro,
                how=how)


def test_probe_table_names_the_device_and_times_every_manifest_file(device):
    probe = json.loads(device["probe"].read_text())
    manifest = json.loads((device["bundle"] / "manifest.json").read_text())
    assert probe["device"]["name"] == "pi" and probe["device"]["onnxruntime"] == ort.__version__
    assert probe["device"]["cpu"] and probe["device"]["threads"] == 1
    assert set(probe["times_ms"]) == {e["file"] for e in manifest["files"]}
    assert all(v > 0 for v in probe["times_ms"].values())
    blocks = [e for e in manifest["files"] if e["kind"] == "block"]
    assert len(blocks) == len(lut.table_cells(device["macro"]))
    # a block file is the block: our own ONNX Runtime run of it accepts the slot's input shape
    first = blocks[0]
    session = ort.InferenceSession(str(device["bundle"] / first["file"]))
    shape = [int(d) for d in session.get_inputs()[0].shape]
    slot = lut.unique_slots(device["macro"])[first["slot"]]
    assert shape == [1, slot.c_in, slot.in_size, slot.in_size]


def test_import_caches_under_the_device_and_a_nas_search_uses_it(device, capsys):
    from trainables.nas.phases import run

    cache = device["root"] / "cache"
    assert main(["lut", "import", str(device["bundle"]), str(device["probe"]), "--cache-dir", str(cache)]) == 0
    assert "lut_device=pi" in capsys.readouterr().out
    # a device 10x slower: every time x10, so (linear calibration) every table value x10
    slow = json.loads(device["probe"].read_text())
    slow["device"]["name"] = "slow-board"
    slow["times_ms"] = {k: 10 * v for k, v in slow["times_ms"].items()}
    (device["root"] / "slow.json").write_text(json.dumps(slow))
    assert main(["lut", "import", str(device["bundle"]), str(device["root"] / "slow.json"), "--cache-dir",
                 str(cache)]) == 0
    pi, key, _ = find_device_table(device["macro"], "pi", 1, cache)
    assert key.device_type == "remote" and key.torch_version == f"onnxruntime {ort.__version__}"
    low, high = lut.reachable_range(pi, device["macro"], lut.OPS, "removed")

    results = []
    config = {**device["config"], "lut_device": "slow-board", "lut_cache_dir": str(cache), "search_epochs": 2}
    run(config, device["data"], lambda metrics, _: results.append(dict(metrics)))
    final = results[-1]
    assert final["lut_device"] == "slow-board"
    assert final["reachable_min_ms"] == pytest.approx(10 * low, rel=1e-6)
    assert final["reachable_max_ms"] == pytest.approx(10 * high, rel=1e-6)
    assert final["target_latency_ms"] == pytest.approx(10 * (low + 0.5 * (high - low)), rel=1e-6)
    from orchestrator.report.nas import lut_device_of

    assert lut_device_of(final) == f"slow-board (onnxruntime {ort.__version__})"  # what the report names


def test_a_table_from_another_bundle_or_cut_short_is_refused(device, capsys):
    probe = json.loads(device["probe"].read_text())
    other = dict(probe, manifest_sha256="0" * 64)
    (device["root"] / "other.json").write_text(json.dumps(other))
    assert main(["lut", "import", str(device["bundle"]), str(device["root"] / "other.json"), "--cache-dir",
                 str(device["root"] / "refused")]) == 2
    assert "does not match this bundle's manifest" in capsys.readouterr().err
    short = dict(probe, times_ms=dict(list(probe["times_ms"].items())[:-3]))
    (device["root"] / "short.json").write_text(json.dumps(short))
    assert main(["lut", "import", str(device["bundle"]), str(device["root"] / "short.json"), "--cache-dir",
                 str(device["root"] / "refused")]) == 2
    assert "lacks 3 of the manifest's" in capsys.readouterr().err
    assert not (device["root"] / "refused").exists()  # nothing cached
    with pytest.raises(ValueError, match="no imported latency table of device 'jetson'.*devices there: none"):
        find_device_table(device["macro"], "jetson", 1, device["root"] / "refused")


# --- jdnas export of a trial of every trainable, from tiny real sweeps -----------------------------------
TINY_DATA = dict(dataset="synthetic", image_size=32, channels=1, grey_as_rgb=False,  # the probe's 1-channel table
                 train_size=64, val_size=32, test_size=32, epochs=1, batch_size=32, seeds=1,
                 latency_min_run_time=0.02, eval_noise_levels="[0.0,0.4]", examples=False)
SWEEPS = {  # sweep -> its --set, one trial each (joint: sequential and integrated)
    "classifier-scaling": dict(classifier="MB1-S", latency_backend="onnxruntime"),
    "unet-width": dict(base_width=4),
    "joint": dict(unet="UNet-S", joint_mode="sequential,integrated"),
    "nas-beta": dict(beta_mode="removed", width_mult=0.1, image_size=16, search_epochs=2, warmup_epochs=1,
                     search_batch_size=32, retrain_epochs=1, epochs=3, train_noise_levels="[0.0]", lut_device="pi",
                     search_kind="joint"),  # the joint reading: the export carries both outputs
}


def test_export_a_trial_of_every_trainable_from_tiny_real_sweeps(tmp_path, capsys, device):
    """Also: a trial timed by onnxruntime (MLflow tags), a NAS sweep searching for the probed device."""
    import ray
    from mlflow.tracking import MlflowClient

    from orchestrator.records.results import read_parquet
    from orchestrator.records.locations import storage_for
    from orchestrator.run.sweep import RunOptions, start_ray
    from search_spaces import get_sweep, parse_override, resolve

    nas_cache = tmp_path / "lut"
    assert main(["lut", "import", str(device["bundle"]), str(device["probe"]), "--cache-dir", str(nas_cache)]) == 0
    started = start_ray(RunOptions(workdir=tmp_path), tmp_path, 0)  # one local Ray for the four sweeps
    try:
        outcomes = {}
        for sweep, sets in SWEEPS.items():  # `jdnas run SWEEP --set ...` as the README writes it
            sets = {**TINY_DATA, **sets,
                    **({"lut_cache_dir": str(nas_cache)} if sweep == "nas-beta" else {})}
            args = [f"{k}={v}" for k, v in sets.items()]
            assert main(["run", sweep, "--workdir", str(tmp_path), "--verbose", "0",
                         *sum((["--set", a] for a in args), [])]) == 0
            name = resolve(get_sweep(sweep), "quick", dict(parse_override(a) for a in args)).name
            outcomes[sweep] = (read_parquet(storage_for(None, None, tmp_path), name), args, name)
    finally:
        if started:
            ray.shutdown()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exported = []
    for sweep, (rows, args, _) in outcomes.items():
        assert [r["status"] for r in rows] == ["TERMINATED"] * len(rows), sweep
        for row in rows:
            run = client.search_runs([client.get_experiment_by_name(sweep).experiment_id],
                                     f"tags.`jdnas.trial_id` = '{row['trial_id']}'")[0]
            if sweep == "joint" and row["joint_mode"] == "integrated":  # the sweep + trial id route
                argv = ["export", sweep, "--trial", row["trial_id"], *sum((["--set", a] for a in args), [])]
            else:
                argv = ["export", "--run-id", run.info.run_id]
            assert main([*argv, "--workdir", str(tmp_path), "--int8", "--calibration-images", "16"]) == 0
            summary = json.loads((tmp_path / "exports" / run.info.run_id / "export.json").read_text())
            assert summary["max_abs_diff"] <= 1e-4 and summary["checker"] == "passed"
            assert summary["trial_id"] == row["trial_id"] and "int8" in summary["quantization"]
            onnx_model = client.get_logged_model(summary["mlflow_onnx_model_id"])  # the ONNX flavour, same run
            assert (onnx_model.name, onnx_model.source_run_id) == ("onnx_model", run.info.run_id)
            exported.append((sweep, row["joint_mode"] if sweep == "joint" else None, summary["outputs"]))
    # every trainable exported (the joint sweep runs sequential models with both training modes)
    assert sorted({(s, m, tuple(o)) for s, m, o in exported}) == sorted((s, m, tuple(o)) for s, m, o in [
                                       ("classifier-scaling", None, ["logits"]), ("unet-width", None, ["denoised"]),
                                       ("joint", "integrated", ["denoised", "logits"]),
                                       ("joint", "sequential", ["denoised", "logits"]),
                                       ("nas-beta", None, ["denoised", "logits"])])
    assert "onnx.checker passed" in capsys.readouterr().out
    timed = client.search_runs([client.get_experiment_by_name("classifier-scaling").experiment_id])
    tags = next(r for r in timed if r.data.tags.get("jdnas.role") == "trial").data.tags
    assert (tags["latency_backend"], tags["latency_backend_version"]) == ("onnxruntime", ort.__version__)
    assert tags["latency_device"]
    rows, _, name = outcomes["nas-beta"]
    assert rows[0]["lut_device"] == "pi"
    report = (tmp_path / "reports" / name / "report.md").read_text()
    assert f"from a table measured on pi (onnxruntime {ort.__version__})" in report
    assert main(["export", "--workdir", str(tmp_path)]) == 2  # neither a run id nor a sweep + trial
