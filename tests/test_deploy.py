"""Deployment: ONNX export checked against ONNX Runtime, INT8 quantisation, the onnxruntime latency
backend, and latency tables measured on a target device by the standalone probe."""
import random
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from orchestrator.tracking.export import export_trial
from trainables.config import defaults
from trainables.data.batches import to_device_float
from trainables.data.splits import splits_for_config
from trainables.evaluate import evaluate
from trainables.measure.latency import measure_latency, resolve_backend
from trainables.models import build_model
from trainables.nas import lut
from trainables.nas.derive import random_architecture
from trainables.nas.macro import Macro

from .nas_helpers import tiny_macro

DATA = dict(dataset="synthetic", image_size=32, channels=1, train_size=64, val_size=32, test_size=48,
            eval_noise_levels=[0.0, 0.4])
ARCH = random_architecture(Macro.build((1, 32, 32), 10, 0.25), 8, random.Random(3))
KINDS = {
    "classifier": dict(task="classifier", classifier="MB2.5-S"),
    "denoiser": dict(task="denoiser", unet="UNet-S"),
    "sequential": dict(task="joint", joint_mode="sequential", unet="UNet-S", classifier="MB1-S"),
    "integrated": dict(task="joint", joint_mode="integrated", unet="UNet-S", classifier="MB2.5-M"),
    "nas-derived": dict(task="joint", joint_mode="searched", architecture=ARCH),
}
OUTPUTS = {"classifier": ["logits"], "denoiser": ["denoised"]}


def trained_state(config, data):
    """A model with non-trivial weights and batch-norm statistics (a few noisy forward passes in train mode)."""
    torch.manual_seed(0)
    model = build_model(config, data.image_shape[0], data.num_classes)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(to_device_float(data.train_images[:16], torch.device("cpu")) + 0.3 * torch.randn(16, 1, 32, 32))
    return model.eval().state_dict(), model


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_model_kind_exports_with_named_io_a_dynamic_batch_and_equal_outputs(tmp_path, kind):
    config = {**defaults(), **DATA, **KINDS[kind]}
    data = splits_for_config(config)
    state, model = trained_state(config, data)
    summary = export_trial(config, state, tmp_path)
    graph = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(graph, full_check=True)
    names = OUTPUTS.get(config["task"], ["denoised", "logits"])
    assert [i.name for i in graph.graph.input] == ["image"] and [o.name for o in graph.graph.output] == names
    assert summary["outputs"] == names and summary["max_abs_diff"] <= 1e-4
    # our own run of the file at batch 5 (not the export's batch 1) against PyTorch on noisy test images
    images = to_device_float(data.test_images[:5], torch.device("cpu")) + 0.4 * torch.randn(5, 1, 32, 32)
    got = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"image": images.numpy()})
    with torch.no_grad():
        want = model(images)
    want = [want] if isinstance(want, torch.Tensor) else list(want)
    assert [g.shape[0] for g in got] == [5] * len(names)
    assert max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want)) <= 1e-4


def test_an_export_that_differs_from_pytorch_is_refused():
    from trainables.export.onnx_model import check_export, to_onnx

    model = build_model(KINDS["classifier"], 1, 10).eval()
    graph = to_onnx(model, (1, 32, 32), ("logits",))
    other = build_model(KINDS["classifier"], 1, 10).eval()  # other random weights
    with pytest.raises(ValueError, match="differs from PyTorch"):
        check_export(other, graph, np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32))


def test_int8_model_is_scored_beside_fp32_by_the_trials_evaluation(tmp_path):
    config = {**defaults(), **DATA, **KINDS["integrated"]}
    data = splits_for_config(config)
    state, model = trained_state(config, data)
    summary = export_trial(config, state, tmp_path, int8=True, calibration_images=32)
    q = summary["quantization"]
    torch_scores = evaluate(model, "joint", data.test_images, data.test_labels, config["eval_noise_levels"],
                            device=torch.device("cpu"), seed=config["eval_seed"])
    assert q["fp32"]["acc"] == pytest.approx(torch_scores["acc"], abs=1e-6)   # ORT fp32 = PyTorch
    assert q["fp32"]["psnr"] == pytest.approx(torch_scores["psnr"], abs=1e-3)
    int8 = onnx.load(str(tmp_path / "model.int8.onnx"))
    ops = {n.op_type for n in int8.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # int8 against fp32: the two files run here by ONNX Runtime on the same noisy test images give nearly the
    # same outputs, and the summary's int8 scores sit next to its fp32 ones (a sane quantisation of the same
    # network, not another one)
    images = to_device_float(data.test_images, torch.device("cpu")) + 0.2 * torch.randn(len(data.test_images), 1, 32, 32)
    run = {name: ort.InferenceSession(str(tmp_path / name)).run(None, {"image": images.numpy()})
           for name in ("model.onnx", "model.int8.onnx")}
    (fp32_image, fp32_logits), (int8_image, int8_logits) = run["model.onnx"], run["model.int8.onnx"]
    assert float(np.abs(int8_image - fp32_image).mean()) < 0.05 * float(np.abs(fp32_image).mean()) + 1e-3
    assert (int8_logits.argmax(1) == fp32_logits.argmax(1)).mean() >= 0.8
    assert abs(q["int8"]["psnr"] - q["fp32"]["psnr"]) < 3.0 and abs(q["int8"]["acc"] - q["fp32"]["acc"]) < 15
    assert set(q["change"]) == {"acc", "psnr"}


def test_onnxruntime_backend_times_the_graph_onnxruntime_runs(tmp_path):
    model = build_model(KINDS["integrated"], 1, 10).eval()
    lat = measure_latency(model, (1, 32, 32), backend="onnxruntime", min_run_time=0.1)
    assert (lat.backend, lat.backend_version, lat.device) == ("onnxruntime", ort.__version__, "cpu")
    # reference: our own export and a plain perf_counter loop over a 1-thread session, alternated with the
    # backend's measurement; the fastest of each (a loaded machine only ever adds time)
    path = str(tmp_path / "m.onnx")
    torch.onnx.export(model, (torch.zeros(1, 1, 32, 32),), path, dynamo=False, input_names=["x"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options)
    feed = {"x": np.zeros((1, 1, 32, 32), np.float32)}
    ours, reference = [lat.median_ms], []
    for _ in range(3):
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(20):
                session.run(None, feed)
            reference.append((time.perf_counter() - t0) / 20 * 1e3)
        ours.append(measure_latency(model, (1, 32, 32), backend="onnxruntime", min_run_time=0.1).median_ms)
    assert 0.5 < min(ours) / min(reference) < 2.0
    with pytest.raises(ValueError, match="fp32 on the CPU"):
        measure_latency(model, (1, 32, 32), backend="onnxruntime", precision="bf16")


@pytest.mark.parametrize("backend,device,precision,runs", [
    ("auto", "cpu", "fp32", "onnxruntime"), ("auto", "cpu", "bf16", "torch"), ("auto", "cuda", "fp32", "torch"),
    ("auto", "cuda:1", "fp16", "torch"), ("torch", "cpu", "fp32", "torch"), ("onnxruntime", "cpu", "fp32", "onnxruntime")])
def test_auto_backend_is_onnxruntime_where_it_can_time_the_request(backend, device, precision, runs):
    assert resolve_backend(backend, device, precision) == runs


def test_the_default_trial_times_with_onnxruntime_on_a_cpu():
    model = build_model(KINDS["integrated"], 1, 10).eval()
    lat = measure_latency(model, (1, 32, 32), backend=defaults()["latency_backend"], min_run_time=0.05)
    assert (lat.backend, lat.backend_version) == ("onnxruntime", ort.__version__)
    bf16 = measure_latency(model, (1, 32, 32), backend="auto", precision="bf16", min_run_time=0.05)
    assert (bf16.backend, bf16.backend_version) == ("torch", torch.__version__)
    key = lut.LatencyKey.for_device(tiny_macro(), "cpu", 1, 1, backend="auto")
    assert key == lut.LatencyKey.for_device(tiny_macro(), "cpu", 1, 1, backend="onnxruntime")
    assert key.describe().startswith(f"{key.device_name} (cpu), onnxruntime {ort.__version__}")
    with pytest.raises(ValueError, match="unknown latency backend 'tflite'"):
        resolve_backend("tflite")


def test_latency_backend_is_a_validated_config_field():
    from search_spaces import SweepError, resolve
    from search_spaces import get_sweep

    assert resolve(get_sweep("classifier-scaling"), "quick", {"latency_backend": "onnxruntime"}) \
        .trial_configs[0]["latency_backend"] == "onnxruntime"
    with pytest.raises(SweepError, match="latency_backend.*'torch', 'onnxruntime'"):
        resolve(get_sweep("classifier-scaling"), "quick", {"latency_backend": "tflite"})


def test_export_of_an_unknown_run_fails_with_one_line(tmp_path, capsys):
    from orchestrator.cli.main import main

    assert main(["export", "--run-id", "deadbeef", "--workdir", str(tmp_path)]) == 2
    assert "no MLflow run 'deadbeef'" in capsys.readouterr().err
    assert main(["export", "--workdir", str(tmp_path)]) == 2  # neither a run id nor a sweep + trial
