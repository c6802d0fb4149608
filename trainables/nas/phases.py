"""The NAS trainables' phases: a search (resumed from its checkpoint), then (retrain_epochs > 0) the derived
network trained from scratch by the shared loop, in one trial; or (nas_retrain) a given derived network trained.
Every checkpoint says its phase (nas.json) and carries the architecture and the latency table it was searched on.
Ray-free like trainables/loop.py: `report(metrics, checkpoint_dir)` is injected."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch

from ..config import defaults
from ..data.splits import DataSplits
from ..loop import checkpoint, fail_if_injected, load_state, train
from ..measure.latency import device_name
from ..state import read_state
from .config import nas_defaults
from .derive import arch_code, final_architecture, load_architecture, save_architecture, searched_task
from .search_loop import finish_search, search_epoch, start_search, validate
from .trial_table import latency_settings

Report = Callable[[dict, str], None]
SEARCH_STATE = "search_state.pt"
PHASE_FILE = "nas.json"
ARCH_FILE = "architecture.json"
LUT_FILE = "latency_table.json"


def write_artifacts(directory: Path, arch: dict, table_json: str) -> None:
    """The derived architecture and the latency table it was searched on, beside a checkpoint."""
    save_architecture(arch, directory / ARCH_FILE)
    (directory / LUT_FILE).write_text(table_json)


def load_checkpoint(directory: str | Path) -> dict:
    """{'phase': 'search', 'search': state} or {'phase': 'retrain', 'retrain': loop state, 'architecture',
    'summary', 'table'}: which phase the trial was in and what it needs to go on (a retrain goes on with the table
    its checkpoint holds, so a node without the table's cache does not build it again)."""
    directory = Path(directory)
    info = json.loads((directory / PHASE_FILE).read_text())
    if info["phase"] == "search":
        return dict(phase="search", search=read_state(directory / SEARCH_STATE))
    return dict(phase="retrain", retrain=load_state(directory), architecture=info["architecture"],
                summary=info["summary"], table=(directory / LUT_FILE).read_text())


def search(config: dict, data: DataSplits, report: Report, *, device: torch.device, threads: int,
           state: dict | None = None) -> tuple[dict, dict, str]:
    """Run (or resume) the search: per epoch search_epoch, validate, checkpoint, report; returns
    (architecture, summary metrics, the latency table's JSON)."""
    job = start_search(config, data, device, threads, state)
    table_json = job.table_file.read_text()  # beside the architecture in the last checkpoint; the retrain's too
    first, epochs = job.state.first_epoch, job.schedule.epochs
    for epoch in range(first, epochs):
        fail_if_injected(config, job.state, epoch, "search epoch")
        t0 = time.perf_counter()
        losses, fitted_ms = search_epoch(job, epoch)
        validated = validate(job, fitted_ms)
        job.state.elapsed_s += time.perf_counter() - t0
        job.state.epoch = epoch
        metrics = dict(epoch=epoch + 1, phase=0, lr=job.state.scheduler.get_last_lr()[0], **losses, **validated,
                       epoch_time_s=time.perf_counter() - t0, train_time_s=job.state.elapsed_s, **job.goal)
        with checkpoint(job.state, SEARCH_STATE, "jdnas-nas-") as directory:
            (directory / PHASE_FILE).write_text(json.dumps(dict(phase="search")))
            if epoch == epochs - 1:
                arch, summary, final = finish_search(job, metrics)
                metrics.update(**summary, **final)
                write_artifacts(directory, arch, table_json)
            report(metrics, str(directory))
    if first >= epochs:  # resumed after the last search epoch had been reported
        arch, summary, _ = finish_search(job, {})
    return arch, summary, table_json


def run(config: dict, data: DataSplits, report: Report, *, device: str | torch.device = "cpu", threads: int = 1,
        state: dict | None = None) -> None:
    """Search (or resume it), then retrain the derived network with trainables.loop.train if asked."""
    config = {**defaults(), **nas_defaults(), **config}
    device = torch.device(device)
    if state is None or state["phase"] == "search":
        arch, summary, table = search(config, data, report, device=device, threads=threads,
                                      state=state and state["search"])
        retrain_state = None
    else:
        arch, summary, table, retrain_state = state["architecture"], state["summary"], state["table"], state["retrain"]
    if config["retrain_epochs"] > 0:
        retrain(config, data, arch, summary, table, report, device=device, threads=threads, state=retrain_state)


def derived_config(config: dict, arch: dict, **changes) -> dict:
    """The shared loop's config for a derived network (joint_mode='searched'), trained from scratch."""
    return {**config, "task": searched_task(arch), "joint_mode": "searched", "architecture": arch, **changes}


def retrain_config(config: dict, arch: dict, latency_batch: int) -> dict:
    """The retrain after a search: its epochs, and latency measured at the table's batch size so it compares with
    the prediction."""
    fail, offset = config.get("fail_at_epoch"), config["search_epochs"]
    return derived_config(config, arch, epochs=config["retrain_epochs"], latency_batch_size=latency_batch,
                          fail_at_epoch=fail - offset if fail is not None and fail >= offset else None)


def retrain(config: dict, data: DataSplits, arch: dict, summary: dict, table_json: str, report: Report, *,
            device: torch.device, threads: int, state: dict | None = None) -> None:
    """Train the derived architecture with the joint loop; epochs continue after the search's (phase 1)."""
    batch = latency_settings(config, device, threads)["batch_size"]  # the table's batch
    offset = config["search_epochs"]

    def phase_report(metrics: dict, checkpoint_dir: str) -> None:
        directory = Path(checkpoint_dir)
        write_artifacts(directory, arch, table_json)
        (directory / PHASE_FILE).write_text(json.dumps(dict(phase="retrain", architecture=arch, summary=summary)))
        final = final_architecture(arch) if "latency_ms" in metrics else {}
        report({**summary, **metrics, **final, "epoch": offset + metrics["epoch"], "retrain_epoch": metrics["epoch"],
                "phase": 1}, checkpoint_dir)

    train(retrain_config(config, arch, batch), data, phase_report, device=device, threads=threads, state=state)


def retrain_only(config: dict, data: DataSplits, report: Report, *, device: str | torch.device = "cpu",
                 threads: int = 1, state: dict | None = None) -> None:
    """The nas_retrain trainable: the shared joint loop on config['architecture'], which every checkpoint
    carries as architecture.json; the search's prediction is reported when it was made for this device."""
    config = {**defaults(), **nas_defaults(), **config}
    arch = load_architecture(config["architecture"])
    if arch is None:
        raise ValueError("nas_retrain needs `architecture`: the architecture.json of a nas_search trial (dict or path)")
    if (tuple(arch["input_shape"]), arch["num_classes"]) != (tuple(data.image_shape), data.num_classes):
        raise ValueError(f"the architecture was searched for {arch['input_shape']} inputs and {arch['num_classes']} "
                         f"classes; the data has {list(data.image_shape)} and {data.num_classes}")
    device = torch.device(device)
    known = dict(arch=arch_code(arch))
    same_device = (arch.get("lut") or {}).get("device_name") == device_name(device)
    if same_device and arch.get("predicted_latency_ms") is not None:
        known.update(predicted_latency_ms=arch["predicted_latency_ms"], target_latency_ms=arch.get("target_latency_ms"))

    def with_architecture(metrics: dict, checkpoint_dir: str) -> None:
        save_architecture(arch, Path(checkpoint_dir) / ARCH_FILE)
        report({**known, **metrics, **(final_architecture(arch) if "latency_ms" in metrics else {})}, checkpoint_dir)

    batch = (arch.get("lut") or {}).get("batch_size") if same_device else None
    train(derived_config(config, arch, latency_batch_size=config["latency_batch_size"] or batch), data,
          with_architecture, device=device, threads=threads, state=state)
