"""MLflow as its users meet it: every trial's network is a loadable MLflow model, `jdnas best` registers the
Pareto-best trials, and `jdnas ui` opens on the training runs in a real headless browser.

One module fixture runs a tiny real sweep of each trainable (classifier, denoiser, joint, NAS search +
retrain) on one local Ray into one SQLite store; the tests read that store like a user would.
"""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
from mlflow.tracking._tracking_service.utils import _use_tracking_uri
import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from orchestrator.cli.main import main
from orchestrator.cluster.ray_auth import loopback_only, use_token_auth
from orchestrator.run.sweep import RunOptions, ray_temp_dir, run_sweep
from trainables.models import build_model

from .browser import CHROMEDRIVER, CHROMIUM, Browser, free_port
from .conftest import TINY, needs_fashion_mnist

pytestmark = [pytest.mark.slow, needs_fashion_mnist]

NAS = dict(train_size=96, val_size=32, test_size=32, width_mult=0.1, search_epochs=2, warmup_epochs=1,
           search_batch_size=32, batch_size=32, retrain_epochs=1, epochs=3, seeds=1, beta_mode="removed",
           eval_noise_levels=[0.0, 0.5], lut_rounds=1, lut_min_run_time=0.001, latency_min_run_time=0.02,
           examples=False, search_kind="joint")  # the joint reading: the searched model carries both outputs
SWEEPS = {  # trainable -> (sweep, overrides)
    "classifier": ("classifier-scaling", dict(TINY, classifier=["Conv-S", "MB1-S", "Conv-M"], seeds=1)),
    "denoiser": ("unet-width", dict(TINY, base_width=[4], seeds=1, examples=False)),
    "joint": ("joint", dict(TINY, unet="UNet-S", joint_mode="integrated", seeds=1, examples=False)),
    "nas": ("nas-beta", NAS),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """{trainable: SweepOutcome} of tiny finished sweeps sharing one workdir, Ray session and MLflow store."""
    import ray

    workdir = tmp_path_factory.mktemp("mlflow-models")
    NAS["lut_cache_dir"] = str(workdir / "lut")
    use_token_auth()
    with loopback_only():
        ray.init(_temp_dir=ray_temp_dir(workdir), include_dashboard=False, num_cpus=2, object_store_memory=256e6,
                 log_to_driver=False, logging_level="warning")
    try:
        outcomes = {kind: run_sweep(sweep, "quick", overrides, RunOptions(workdir=workdir, verbose=0))
                    for kind, (sweep, overrides) in SWEEPS.items()}
    finally:
        ray.shutdown()
    assert all(o.complete for o in outcomes.values())
    return workdir, outcomes


def child_runs(client, outcome):
    return client.search_runs([client.get_run(outcome.parent_run_id).info.experiment_id],
                              f"tags.`jdnas.experiment` = '{outcome.name}' and tags.`jdnas.role` = 'trial'")


def eager_network(client, run_id, directory):
    """The trial's PyTorch network rebuilt by hand from its plain artifacts (config.json, model.pt)."""
    config = json.loads(Path(client.download_artifacts(run_id, "config.json", str(directory))).read_text())
    weights = torch.load(client.download_artifacts(run_id, "model.pt", str(directory)), weights_only=True)
    net = build_model(config, config["data"]["channels"], config["data"]["num_classes"])
    net.load_state_dict(weights)
    return net.eval(), config


def test_each_trainables_child_run_is_a_pyfunc_model_equal_to_its_pytorch_network(store, tmp_path):
    workdir, outcomes = store
    uri = f"sqlite:///{workdir}/mlflow.db"
    client = MlflowClient(uri)
    for kind, outcome in outcomes.items():
        run = child_runs(client, outcome)[0]
        net, config = eager_network(client, run.info.run_id, tmp_path / run.info.run_id)
        size, channels = config["data"]["image_size"], config["data"]["channels"]  # quick: grey fed as 3 channels
        batch = np.random.default_rng(1).random((5, channels, size, size), dtype=np.float32)  # 5: not the example's 2
        with _use_tracking_uri(uri):
            model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
        predicted = model.predict(batch)
        with torch.no_grad():
            reference = net(torch.from_numpy(batch))
        if kind in ("joint", "nas"):  # the NAS trial's model is the derived network it retrained
            assert config["joint_mode"] == ("searched" if kind == "nas" else "integrated")
            assert set(predicted) == {"image", "logits"}
            np.testing.assert_allclose(predicted["image"], reference.image.numpy(), atol=1e-5)
            np.testing.assert_allclose(predicted["logits"], reference.logits.numpy(), atol=1e-5)
        else:
            np.testing.assert_allclose(predicted, reference.numpy(), atol=1e-5)
            assert predicted.shape == ((5, 10) if kind == "classifier" else (5, channels, size, size))
        signature = model.metadata.signature
        assert model.metadata.saved_input_example_info["type"] == "ndarray"
        assert signature.inputs.inputs[0].shape == (-1, channels, size, size)
        assert model.metadata.flavors["pytorch"]["pytorch_version"] == torch.__version__
        logged = client.search_logged_models([run.info.experiment_id],
                                             filter_string=f"source_run_id = '{run.info.run_id}'")
        assert [m.name for m in logged] == ["model"]  # exactly one, and it carries the run's final metrics
        assert {m.key for m in logged[0].metrics} >= {"test_acc" if kind != "denoiser" else "test_psnr", "flops"}


def test_experiments_are_tagged_as_model_training(store):
    workdir, outcomes = store
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    for outcome in outcomes.values():
        experiment = client.get_experiment(client.get_run(outcome.parent_run_id).info.experiment_id)
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def pareto_by_hand(points):
    """(quality, cost) pairs -> indices no other point beats on both (a plain double loop)."""
    keep = []
    for i, (q, c) in enumerate(points):
        if not any(q2 >= q and c2 <= c and (q2, c2) != (q, c) for q2, c2 in points):
            keep.append(i)
    return keep


def versions_of(client, name):
    return client.search_model_versions(f"name = '{name}'")


def test_best_registers_the_pareto_trials_once_with_their_tags(store, capsys):
    workdir, outcomes = store
    uri = f"sqlite:///{workdir}/mlflow.db"
    client = MlflowClient(uri)
    outcome = outcomes["classifier"]
    runs = child_runs(client, outcome)
    points = [(r.data.metrics["test_acc"], r.data.metrics["latency_ms"]) for r in runs]
    expected = {runs[i].info.run_id for i in pareto_by_hand(points)}
    args = ["best", "classifier-scaling", "--name", outcome.name, "--workdir", str(workdir)]

    assert main(args) == 0
    printed = capsys.readouterr().out
    versions = versions_of(client, outcome.name)
    assert {v.run_id for v in versions} == expected and len(versions) == len(expected)
    for version in versions:
        run = client.get_run(version.run_id)
        assert version.tags["sweep"] == "classifier-scaling"
        assert version.tags["backend"] == run.data.tags["latency_backend"] == "onnxruntime"  # the CPU default
        assert float(version.tags["flops"]) == run.data.metrics["flops"]
        assert math.isclose(float(version.tags["latency_ms"]), run.data.metrics["latency_ms"], rel_tol=1e-3)
        assert version.tags["device"] == run.data.tags["latency_device"]
        assert run.info.run_name in printed
        with _use_tracking_uri(uri):
            model = mlflow.pyfunc.load_model(f"models:/{outcome.name}/{version.version}")
        channels = model.metadata.signature.inputs.inputs[0].shape[1]  # quick feeds grey images as 3 channels
        assert channels == 3 and model.predict(np.zeros((1, channels, 32, 32), np.float32)).shape == (1, 10)

    assert main(args) == 0  # a second time: nothing new
    assert len(versions_of(client, outcome.name)) == len(expected)
    assert " new" not in capsys.readouterr().out

    fastest = min(points, key=lambda p: p[1])[1]
    assert main(args + ["--max-latency-ms", str(fastest * 0.5)]) == 1  # nothing that fast
    assert "is under" in capsys.readouterr().err


def start_ui(workdir, port, log):
    process = subprocess.Popen([sys.executable, "-m", "orchestrator.cli.main", "ui", "classifier-scaling",
                                "--workdir", str(workdir), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True, start_new_session=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        found = re.search(r"classifier-scaling: (\S+)", lines[1])
        assert found, f"jdnas ui printed no address for the sweep: {lines}"
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                return process, found.group(1)
            except OSError:
                assert process.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        raise


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver")
def test_ui_address_opens_the_training_runs_and_a_childs_logged_model_in_a_browser(store, tmp_path):
    workdir, outcomes = store
    outcome = outcomes["classifier"]
    client = MlflowClient(f"sqlite:///{workdir}/mlflow.db")
    children = child_runs(client, outcome)
    port = free_port()
    process, address = start_ui(workdir, port, tmp_path / "ui.log")
    browser = Browser(tmp_path / "profile", tmp_path / "chromedriver.log")  # a fresh profile: GenAI default
    try:
        assert address.startswith(f"http://127.0.0.1:{port}/#/experiments/")
        browser.open(address)
        text = browser.wait_for_text(outcome.name, "matching runs")
        assert "Runs" in text.splitlines() and "Overview" not in text and "Usage" not in text
        assert "Model training" in text and "Model registry" in text  # the model-training layout
        expanded = browser.script("""
            const link = [...document.querySelectorAll('a')].find(a => a.textContent === arguments[0]);
            const expander = link && link.closest('.ag-cell').querySelector('button');
            if (expander) expander.click();
            return Boolean(expander);""", outcome.name)
        assert expanded, "the sweep's parent run has no expander for its trials"
        browser.wait_for_text(*[c.info.run_name for c in children], timeout=30)
        browser.screenshot(tmp_path / "training_runs.png")

        child = children[0]
        browser.open(address.replace("/runs?", f"/runs/{child.info.run_id}?"))
        text = browser.wait_for_text(child.info.run_name, "Logged models (1)", "Ready")
        model_id = client.search_logged_models([child.info.experiment_id],
                                               filter_string=f"source_run_id = '{child.info.run_id}'")[0].model_id
        assert f"models/{model_id}" in browser.dom()  # the row links to the logged model's page
        browser.script("[...document.querySelectorAll('h3, h4, span')].find(e => e.textContent.startsWith("
                       "'Logged models'))?.scrollIntoView()")
        browser.screenshot(tmp_path / "child_run.png")
    finally:
        browser.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
