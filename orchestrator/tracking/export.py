"""`jdnas export`: a finished trial (MLflow run id, or sweep + Tune trial id) as a checked ONNX model.

The trial's MLflow artifacts `config.json` and `model.pt` rebuild the exact network (every trainable:
classifier, denoiser, sequential / integrated joint, NAS-derived via the architecture in its config); its
own data settings give the real validation and test images. Every export is checked (onnx.checker, ONNX
Runtime vs PyTorch within 1e-4 on noisy test images) and, with `int8`, statically quantised and scored
beside the fp32 graph by the same evaluation the trials use.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from trainables.data.splits import splits_for_config
from trainables.evaluate import evaluate
from trainables.export.onnx_model import INPUT_NAME, check_export, output_names, to_onnx
from trainables.export.quantize import calibration_batches, quantize_int8
from trainables.export.runtime_model import RuntimeModel
from trainables.models import build_model

from orchestrator.tracking.filters import literal
from orchestrator.tracking.models import log_onnx_model

CHECK_IMAGES = 32


def find_run(client: MlflowClient, run_id: str | None = None, experiment: str | None = None,
             trial_id: str | None = None):
    """The MLflow child run of a trial: by run id, or by experiment name + Tune trial id."""
    if run_id:
        try:
            return client.get_run(run_id)
        except MlflowException:
            raise ValueError(f"no MLflow run {run_id!r} in {client.tracking_uri}; pass the store with "
                             "--tracking-uri or --workdir") from None
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`jdnas.experiment` = {literal(experiment)} and tags.`jdnas.trial_id` = {literal(trial_id)}",
                              max_results=2)
    if not runs:
        raise ValueError(f"no MLflow run for trial {trial_id!r} of experiment {experiment!r}; "
                         "`jdnas report` or the MLflow UI lists the trial ids")
    return runs[0]


def load_trial(client: MlflowClient, run, folder: Path) -> tuple[dict, dict]:
    """(config, trained state_dict) from the run's artifacts."""
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    missing = {"config.json", "model.pt"} - names
    if missing:
        raise ValueError(f"run {run.info.run_id} has no {' or '.join(sorted(missing))}: only finished trials that "
                         "trained a model can be exported (a search-only NAS trial needs retrain_epochs > 0)")
    config = json.loads(Path(client.download_artifacts(run.info.run_id, "config.json", str(folder))).read_text())
    weights = client.download_artifacts(run.info.run_id, "model.pt", str(folder))
    return config, torch.load(weights, map_location="cpu", weights_only=True)


def noisy_test_images(images: np.ndarray, levels, count: int = CHECK_IMAGES, seed: int = 0,
                      clip: bool = False) -> np.ndarray:
    return np.concatenate(calibration_batches(images, levels, count, batch=count, seed=seed, clip=clip))


def export_trial(config: dict, state: dict, out_dir: Path, int8: bool = False,
                 calibration_images: int = 128, threads: int = 1) -> dict:
    """Rebuild the trial's network with its trained `state` on its own data, write model.onnx (and
    model.int8.onnx) into `out_dir`; returns what export.json records."""
    task = config["task"]
    data = splits_for_config(config)
    model = build_model(config, data.image_shape[0], data.num_classes)
    model.load_state_dict(state)
    model.eval()
    outputs = output_names(task)
    graph = to_onnx(model, data.image_shape, outputs)
    levels, clip = config.get("eval_noise_levels") or [0.0], bool(config.get("noise_clip"))  # as the trial saw them
    diff = check_export(model, graph, noisy_test_images(data.test_images, levels, clip=clip))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.onnx").write_bytes(graph)
    summary = dict(task=task, input=dict(name=INPUT_NAME, shape=["batch", *data.image_shape]),
                   outputs=list(outputs), max_abs_diff=diff, tolerance=1e-4, checker="passed",
                   files={"fp32": "model.onnx"})
    if int8:
        scores = lambda m: evaluate(m, task, data.test_images, data.test_labels, levels,  # noqa: E731
                                    device=torch.device("cpu"), seed=config.get("eval_seed", 0), clip=clip)
        quantized = quantize_int8(graph, calibration_batches(data.val_images, levels, calibration_images, clip=clip))
        (out_dir / "model.int8.onnx").write_bytes(quantized)
        fp32, q8 = scores(RuntimeModel(graph, task, threads)), scores(RuntimeModel(quantized, task, threads))
        summary["files"]["int8"] = "model.int8.onnx"
        summary["quantization"] = dict(calibration_images=min(calibration_images, len(data.val_images)),
                                       fp32=_headline(fp32), int8=_headline(q8),
                                       change={k: q8[k] - fp32[k] for k in ("acc", "psnr") if k in fp32})
    (out_dir / "export.json").write_text(json.dumps(summary, indent=1))
    return summary


def _headline(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if k in ("acc", "psnr", "ssim")}


def run_export(tracking_uri: str, out_root: Path, run_id: str | None = None, experiment: str | None = None,
               trial_id: str | None = None, int8: bool = False, calibration_images: int = 128) -> tuple[Path, dict]:
    client = MlflowClient(tracking_uri)
    run = find_run(client, run_id, experiment, trial_id)
    with tempfile.TemporaryDirectory(prefix="jdnas-export-") as tmp:
        config, state = load_trial(client, run, Path(tmp))
    out_dir = out_root / run.info.run_id
    summary = export_trial(config, state, out_dir, int8, calibration_images)
    summary.update(run_id=run.info.run_id, trial_id=run.data.tags.get("jdnas.trial_id"),
                   experiment=run.data.tags.get("jdnas.experiment"), run_name=run.info.run_name)
    summary["mlflow_onnx_model_id"] = log_onnx_model(tracking_uri, run.info.run_id, out_dir / "model.onnx")
    (out_dir / "export.json").write_text(json.dumps(summary, indent=1))
    return out_dir, summary


def describe(out_dir: Path, summary: dict) -> str:
    lines = [f"exported {summary.get('run_name')} ({summary['task']}) to {out_dir}/model.onnx: input "
             f"{summary['input']['name']} {summary['input']['shape']}, outputs {', '.join(summary['outputs'])}; "
             f"onnx.checker passed, max |ORT - PyTorch| = {summary['max_abs_diff']:.2e}"]
    if "quantization" in summary:
        q = summary["quantization"]
        for metric, change in q["change"].items():
            lines.append(f"int8 ({out_dir}/model.int8.onnx): {metric} {q['int8'][metric]:.3f} vs fp32 "
                         f"{q['fp32'][metric]:.3f} ({change:+.3f})")
    return "\n".join(lines)
