"""The latency-constrained differentiable search (TF-NAS style) of the integrated denoise + classify
network, then (retrain_epochs > 0) the derived network trained from scratch by the shared loop.

Read top to bottom: `start_search` splits the train images into search-train (weights) and search-val
(architecture), gets the latency table of this device, checks the target is reachable and builds the
supernet's TrainingState (trainables/state.py, the loop's); then `search` runs per epoch
  - `search_epoch`: `weight_step`s on search-train: bi-sampling, i.e. one path drawn from alpha and one
    drawn uniformly from the other ops (one path during warm-up), loss CE + w * Charbonnier on each (SGD,
    cosine); after warm-up an `arch_step` every `arch_every`-th step on a search-val batch through the
    relaxed Gumbel-softmax supernet: CE + w * Charbonnier + lambda * |LAT / target - 1| (Adam); then
    elasticity-scaling of the widths;
  - `validate` the derived network; checkpoint; report.
Ray-free like trainables/loop.py, whose noisy batches, losses, fault injection, non-finite check and
checkpoint folder it shares: `report(metrics, checkpoint_dir)` is injected.
"""
from __future__ import annotations

import json
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import defaults
from ..data.batches import batches
from ..data.splits import DataSplits, held_out
from ..evaluate import evaluate, split_outputs
from ..loop import (check_finite, checkpoint, cost_and_latency_metrics, default_latency_batch, fail_if_injected,
                    load_state, noisy_batch, task_loss, train)
from ..measure.flops import count_cost
from ..measure.latency import device_name, measure_latency
from ..models import build_model, check_model_input
from ..models.catalog import paper_model_configs
from . import lut
from .config import nas_defaults
from .derive import SearchedNet, arch_code, from_supernet, load_architecture, save_architecture, searched_task
from .elastic import fit_widths
from .lut_bundle import find_device_table
from .macro import Macro
from .ops import op_set
from .supernet import Supernet
from ..state import TrainingState, read_state

Report = Callable[[dict, str], None]
SEARCH_STATE = "search_state.pt"
PHASE_FILE = "nas.json"
ARCH_FILE = "architecture.json"
LUT_FILE = "latency_table.json"


# --- pieces -------------------------------------------------------------------------------------------
def search_split(data: DataSplits, fraction: float, seed: int):
    """(train images, labels), (val images, labels): a seeded split of the train split (TF-NAS 80/20)."""
    val, train_ = (np.sort(part) for part in held_out(len(data.train_images), fraction, np.random.default_rng(seed)))
    return (data.train_images[train_], data.train_labels[train_]), (data.train_images[val], data.train_labels[val])


def gumbel(shape, generator: torch.Generator, device) -> torch.Tensor:
    u = torch.rand(shape, generator=generator).clamp_(1e-9, 1 - 1e-9)
    return (-torch.log(-torch.log(u))).to(device)


def sample_paths(log_alpha: torch.Tensor, generator: torch.Generator, both: bool) -> list[list[int]]:
    """Bi-sampling: path 1 ~ alpha (argmax of a Gumbel sample), path 2 uniform over the other ops."""
    first = (log_alpha.detach() + gumbel(log_alpha.shape, generator, log_alpha.device)).argmax(-1).cpu()
    paths = [first.tolist()]
    if both:
        other = torch.randint(log_alpha.shape[1] - 1, first.shape, generator=generator)
        paths.append((other + (other >= first).long()).tolist())
    return paths


def entropy(probs: torch.Tensor) -> float:
    probs = probs.detach()
    return float(-(probs * probs.clamp_min(1e-12).log()).sum(-1).mean())


def latency_settings(config: dict, device: torch.device, threads: int) -> dict:
    batch = config["lut_batch_size"] or default_latency_batch(config, device)
    return dict(batch_size=batch, threads=threads, precision=config["latency_precision"],
                backend=config["latency_backend"])


MANUAL_BRACKET = ("UNet-S", "UNet")


def manual_latencies(data: DataSplits, device: torch.device, timing: dict, min_run_time: float) -> dict[str, float]:
    """Latency of the manual integrated(UNet-x, MB2.5-M) models under the table's timing settings."""
    out = {}
    for unet in MANUAL_BRACKET:
        config = paper_model_configs()[f"integrated({unet}, MB2.5-M)"]
        model = build_model(config, data.image_shape[0], data.num_classes)
        out[f"manual_{unet.replace('-', '_')}_ms"] = measure_latency(model, data.image_shape, device=str(device),
                                                                     min_run_time=min_run_time, **timing).median_ms
    return out


def reference_latency(config: dict, data: DataSplits, device: torch.device, timing: dict) -> float | None:
    """Latency of `target_reference` (a paper model) on this device with the table's timing settings; None
    where that model cannot take this input (e.g. a UNet depth the image size does not divide)."""
    model_config = paper_model_configs()[config["target_reference"]]
    try:
        model = build_model(model_config, data.image_shape[0], data.num_classes)
        check_model_input(model, data.image_shape[-1])
    except ValueError:
        if config["target_ratio"] is not None:
            raise
        return None
    return statistics.median(  # rounds like the table's entries: a burst of load spoils one, not the target
        measure_latency(model, data.image_shape, device=str(device), min_run_time=config["latency_min_run_time"],
                        **timing).median_ms for _ in range(config["lut_rounds"]))


def resolve_target(config: dict, table: lut.LatencyTable, macro: Macro, ops, key: lut.LatencyKey,
                   manual: dict[str, float] | None = None, reference_ms: float | None = None) -> dict:
    """The target in ms (target_latency_ms; else target_ratio x the reference model's latency on this device;
    else target_fraction of the range named by target_range), checked against the reachable range: a
    ValueError naming the range if it lies outside, before any training. The target is also given as a
    fraction of the reference model (`target_vs_reference`) so every report can print both."""
    low, high = lut.reachable_range(table, macro, ops, config["beta_mode"])
    if config["target_latency_ms"] is not None:
        target = float(config["target_latency_ms"])
    elif config.get("target_ratio") is not None:
        target = config["target_ratio"] * reference_ms
    else:
        span = list(manual.values()) if manual else lut.reachable_range(table, macro, ops, "removed")
        target = span[0] + config["target_fraction"] * (span[-1] - span[0])
    if not low <= target <= high:
        raise ValueError(f"target_latency_ms={target:.3f} is outside the reachable range [{low:.3f}, {high:.3f}] ms "
                         f"of the {config['op_set']}-op space with {config['beta_mode']} beta "
                         f"(width_mult {config['width_mult']}) on {key.describe()}; pick a target in that range "
                         f"or use target_fraction")
    relative = dict(target_reference=config.get("target_reference", "UNet"), reference_latency_ms=reference_ms,
                    target_vs_reference=target / reference_ms) if reference_ms else {}
    return dict(target_latency_ms=target, reachable_min_ms=low, reachable_max_ms=high, **relative, **(manual or {}),
                lut_device=key.device_name)


def search_goal(config: dict, data: DataSplits, device: torch.device, table: lut.LatencyTable, macro: Macro,
                key: lut.LatencyKey, timing: dict) -> dict:
    """The target (and the latencies it was taken from), fixed once when the search starts; a ValueError
    before any training where it cannot be met or cannot be timed here."""
    if config["lut_device"] and config["target_range"] == "manual" and config["target_latency_ms"] is None:
        raise ValueError(f"target_range='manual' times the manual models on this machine, not on lut_device "
                         f"{config['lut_device']!r}; give target_latency_ms or use target_range='reachable'")
    if config["lut_device"] and config["target_ratio"] is not None and config["target_latency_ms"] is None:
        raise ValueError(f"target_ratio times {config['target_reference']} on this machine, not on lut_device "
                         f"{config['lut_device']!r}; give target_latency_ms (that ratio x its latency there)")
    manual = manual_latencies(data, device, timing, config["latency_min_run_time"]) \
        if config["target_range"] == "manual" and config["target_latency_ms"] is None else None
    reference = None if config["lut_device"] else reference_latency(config, data, device, timing)
    return resolve_target(config, table, macro, op_set(config["op_set"]), key, manual, reference)


def architecture_step(supernet, optimizer, loss: torch.Tensor, clip: float) -> None:
    """Adam step on alpha (and learned beta) only, then alpha back to normalised log-probabilities."""
    params = supernet.arch_parameters()
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=params)  # no weight gradients: the weights are not updated here
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    with torch.no_grad():
        supernet.log_alpha.copy_(F.log_softmax(supernet.log_alpha, dim=-1))


def latency_penalty(latency: torch.Tensor, target: float, lam: float) -> torch.Tensor:
    """lambda * |LAT / target - 1| (TF-NAS): pulls the expected latency toward the target from either side."""
    return lam * (latency / target - 1).abs()


def expected_ms(table, supernet) -> float:
    with torch.no_grad():
        return float(lut.expected_latency(table, supernet, supernet.op_probs(), supernet.latency_depth_probs()))


def latency_objective(table, supernet, op_weights: torch.Tensor, target: float, lam: float,
                      matrix: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(expected latency in ms, lambda * |LAT / target - 1|): the latency part of the architecture loss."""
    latency = lut.expected_latency(table, supernet, op_weights, supernet.latency_depth_probs(), matrix)
    return latency, latency_penalty(latency, target, lam)


def write_artifacts(directory: Path, arch: dict, table_file: Path) -> None:
    save_architecture(arch, directory / ARCH_FILE)
    shutil.copyfile(table_file, directory / LUT_FILE)


def load_checkpoint(directory: str | Path) -> dict:
    """{'phase': 'search', 'search': state} or {'phase': 'retrain', 'retrain': loop state, 'architecture',
    'summary'}: which phase the trial was in and what it needs to go on."""
    directory = Path(directory)
    info = json.loads((directory / PHASE_FILE).read_text())
    if info["phase"] == "search":
        return dict(phase="search", search=read_state(directory / SEARCH_STATE))
    return dict(phase="retrain", retrain=load_state(directory), architecture=info["architecture"],
                summary=info["summary"])


def latency_table(config: dict, data: DataSplits, device: torch.device, threads: int):
    """(macro, key, table, table file, timing settings) of this trial's search space on this device."""
    macro = Macro.build(data.image_shape, data.num_classes, config["width_mult"],
                        decoder=config["search_kind"] == "joint")
    timing = latency_settings(config, device, threads)
    if config["lut_device"]:  # a table measured on the target device by its probe (trainables/nas/lut_bundle.py)
        table, key, table_file = find_device_table(macro, config["lut_device"], timing["batch_size"],
                                                   config["lut_cache_dir"])
        return macro, key, table, table_file, timing
    key = lut.LatencyKey.for_device(macro, device, **timing)
    table, table_file = lut.load_or_build(macro, key, device, config["lut_cache_dir"], config["lut_min_run_time"],
                                          config["lut_rounds"], config["lut_path"])
    return macro, key, table, table_file, timing


# --- the search, in named steps (TF-NAS's train_search.py: weight step, architecture step, validate) ---------
@dataclass(frozen=True)
class Schedule:
    """The search's schedule and step settings, read once from the trial config."""
    epochs: int
    warmup: int
    batch_size: int
    arch_every: int
    tau0: float
    tau_decay: float
    grad_clip: float
    latency_lambda: float

    @classmethod
    def from_config(cls, config: dict) -> "Schedule":
        return cls(config["search_epochs"], config["warmup_epochs"], config["search_batch_size"], config["arch_every"],
                   config["tau0"], config["tau_decay"], config["search_grad_clip"], config["latency_lambda"])

    def searching(self, epoch: int) -> bool:
        """After warm-up: architecture steps and width elasticity; before it weight steps on one path only."""
        return epoch >= self.warmup

    def temperature(self, epoch: int) -> float:
        return self.tau0 * self.tau_decay ** max(0, epoch - self.warmup)


@dataclass
class Search:
    """One search in progress: the supernet's training state, its latency table and target, the data split."""
    config: dict
    schedule: Schedule
    state: TrainingState                        # the supernet, its optimisers and RNGs; notes['goal']: the target
    table: lut.LatencyTable
    table_file: Path                            # copied into the checkpoints beside the architecture
    timing: dict                                # the table's batch, threads, precision and backend
    macro: Macro
    train_split: tuple[np.ndarray, np.ndarray]  # search-train: weight steps
    val_split: tuple[np.ndarray, np.ndarray]    # search-val: architecture steps
    data: DataSplits                            # its validation split scores the derived network
    device: torch.device

    @property
    def supernet(self) -> Supernet:
        return self.state.model

    @property
    def goal(self) -> dict:
        """The target latency and the latencies it was taken from (fixed when the search started)."""
        return self.state.notes["goal"]

    def loss(self, output, clean: torch.Tensor, labels: torch.Tensor):
        """(CE + w * Charbonnier, CE, Charbonnier) of the supernet's output; CE alone without a decoder."""
        image, logits = split_outputs(self.macro.task, output)
        return task_loss(image, logits, clean, labels, self.config, (1.0, self.config["loss_weight"]))


def search_optimizers(supernet: Supernet, config: dict, steps: int):
    """(weight optimiser, its cosine schedule over `steps`, architecture optimiser), as TF-NAS sets them."""
    weights = supernet.weight_parameters()
    if config["search_optimizer"] == "adam":
        weight_opt = torch.optim.Adam(weights, lr=config["weight_lr"], weight_decay=config["search_weight_decay"])
    else:
        weight_opt = torch.optim.SGD(weights, lr=config["weight_lr"], momentum=0.9,
                                     weight_decay=config["search_weight_decay"])
    arch_opt = torch.optim.Adam(supernet.arch_parameters(), lr=config["arch_lr"], betas=(0.5, 0.999),
                                weight_decay=config["arch_weight_decay"])
    return weight_opt, torch.optim.lr_scheduler.CosineAnnealingLR(weight_opt, steps), arch_opt


def weight_step(search: Search, clean: torch.Tensor, labels: torch.Tensor, both_paths: bool,
                sums: torch.Tensor) -> None:
    """SGD step of the supernet weights on one search-train batch through sampled paths (bi-sampling after
    warm-up); adds each path's (loss, CE, Charbonnier) to `sums`."""
    state, supernet = search.state, search.supernet
    clean, noisy = noisy_batch(clean, search.config, state.noise_rng)
    state.optimizer.zero_grad(set_to_none=True)
    for path in sample_paths(supernet.log_alpha, state.arch_rng, both=both_paths):
        loss, ce, charb = search.loss(supernet(noisy, ops=path), clean, labels)
        loss.backward()
        sums += torch.stack([loss.detach(), ce.detach(), charb.detach()])
    if search.schedule.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(supernet.weight_parameters(), search.schedule.grad_clip)
    state.optimizer.step()
    state.scheduler.step()


def arch_step(search: Search, clean: torch.Tensor, labels: torch.Tensor, tau: float,
              lat_matrix: torch.Tensor) -> torch.Tensor:
    """Adam step of alpha (and learned beta) on one search-val batch through the relaxed Gumbel-softmax
    supernet: CE + w * Charbonnier + lambda * |LAT / target - 1|; returns (task loss, latency loss)."""
    state, supernet, schedule = search.state, search.supernet, search.schedule
    clean, noisy = noisy_batch(clean, search.config, state.noise_rng)
    u = F.softmax((supernet.log_alpha + gumbel(supernet.log_alpha.shape, state.arch_rng, search.device)) / tau, dim=-1)
    loss, _, _ = search.loss(supernet(noisy, op_weights=u), clean, labels)
    _, latency_loss = latency_objective(search.table, supernet, u, search.goal["target_latency_ms"],
                                        schedule.latency_lambda, lat_matrix)
    architecture_step(supernet, state.arch_optimizer, loss + latency_loss, schedule.grad_clip)
    return torch.stack([loss.detach(), latency_loss.detach()])


def search_epoch(search: Search, epoch: int) -> tuple[dict, float | None]:
    """Weight steps over the search-train split, after warm-up an architecture step every `arch_every`-th
    of them and width elasticity at the end: (the epoch's mean losses, the fitted widths' table latency)."""
    schedule, supernet, state = search.schedule, search.supernet, search.state
    searching, tau = schedule.searching(epoch), schedule.temperature(epoch)
    supernet.train()
    sums, arch_sums, steps, arch_steps = torch.zeros(3, device=search.device), torch.zeros(2, device=search.device), 0, 0
    val_batches = endless_batches(*search.val_split, schedule.batch_size, search.device, state.order_rng)
    lat_matrix = lut.latency_matrix(search.table, supernet) if searching else None  # widths change at epoch end
    for clean, labels in batches(*search.train_split, schedule.batch_size, search.device, shuffle=True,
                                 generator=state.order_rng, drop_last=True):
        weight_step(search, clean, labels, searching, sums)
        steps += 1
        if searching and steps % schedule.arch_every == 0:
            arch_sums += arch_step(search, *next(val_batches), tau, lat_matrix)
            arch_steps += 1
    train_loss, train_ce, train_charb = (sums / max(1, steps * (2 if searching else 1))).tolist()
    arch_loss, latency_loss = (arch_sums / max(1, arch_steps)).tolist()
    check_finite(train_loss, epoch, "search", "lower weight_lr")
    fitted_ms = fit_widths(supernet, search.table, search.goal["target_latency_ms"]) if searching else None
    return dict(train_loss=train_loss, train_ce=train_ce, train_charbonnier=train_charb, temperature=tau,
                arch_loss=arch_loss, latency_loss=latency_loss), fitted_ms


def endless_batches(images, labels, batch_size: int, device: torch.device, generator: torch.Generator):
    """Batches reshuffled on every pass, for as long as asked (deterministic given `generator`)."""
    while True:
        yield from batches(images, labels, batch_size, device, shuffle=True, generator=generator, drop_last=True)


def validate(search: Search, fitted_ms: float | None) -> dict:
    """The derived network now (argmax ops, derived depths, current widths): its code, its table latency,
    the supernet's expected latency and entropies, and its validation metrics at every sigma."""
    supernet, config = search.supernet, search.config
    arch = from_supernet(supernet, config["op_set"])
    val = evaluate(supernet, search.macro.task, search.data.val_images, search.data.val_labels,
                   config["eval_noise_levels"],
                   device=search.device, seed=config["eval_seed"] + 1, clip=config["noise_clip"])
    return dict(expected_latency_ms=expected_ms(search.table, supernet),
                derived_latency_ms=fitted_ms if fitted_ms is not None else lut.predict_ms(search.table, search.macro, arch),
                alpha_entropy=entropy(supernet.op_probs()),
                beta_entropy=float(np.mean([entropy(p) for p in supernet.depth_probs()
                                            if p is not None and len(p) > 1] or [0.0])),
                arch=arch_code(arch), **{f"val_{k}": v for k, v in val.items()})


def start_search(config: dict, data: DataSplits, device: torch.device, threads: int, saved: dict | None) -> Search:
    """The search set up, or restored from `saved` (its checkpoint's state)."""
    torch.manual_seed(config["seed"])
    macro, key, table, table_file, timing = latency_table(config, data, device, threads)
    if config["lut_reanchor"] and not config["lut_device"]:  # a cached table carries its build's offset
        lut.reanchor(table, macro, {**timing, "device": str(device), "min_run_time": config["lut_min_run_time"]})
    # the target was fixed (and checked) when the search started
    goal = saved["notes"]["goal"] if saved is not None else search_goal(config, data, device, table, macro, key, timing)
    supernet = Supernet(macro, op_set(config["op_set"]), config["beta_mode"]).to(device)
    train_split, val_split = search_split(data, config["search_val_fraction"], config["split_seed"])
    schedule = Schedule.from_config(config)
    weight_opt, scheduler, arch_opt = search_optimizers(
        supernet, config, schedule.epochs * max(1, len(train_split[0]) // schedule.batch_size))
    state = TrainingState(supernet, weight_opt, scheduler, order_rng=torch.Generator().manual_seed(config["seed"]),
                          noise_rng=torch.Generator(device).manual_seed(config["seed"] + 1),
                          arch_optimizer=arch_opt, arch_rng=torch.Generator().manual_seed(config["seed"] + 2),
                          notes=dict(goal=goal), model_name="supernet")
    if saved is not None:
        state.restore(saved)
    return Search(config, schedule, state, table, table_file, timing, macro, train_split, val_split, data, device)


def search(config: dict, data: DataSplits, report: Report, *, device: torch.device, threads: int,
           state: dict | None = None) -> tuple[dict, dict]:
    """Run (or resume) the search: per epoch search_epoch, validate, checkpoint, report; returns
    (architecture, summary metrics)."""
    job = start_search(config, data, device, threads, state)
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
                write_artifacts(directory, arch, job.table_file)
            report(metrics, str(directory))
    if first >= epochs:  # resumed after the last search epoch had been reported
        arch, summary, _ = finish_search(job, {})
    return arch, summary


def finish_search(search: Search, metrics: dict) -> tuple[dict, dict, dict]:
    """Derive the architecture, price it with the table and measure the real network beside it.
    Returns (architecture, summary carried into the retrain reports, final search-only metrics)."""
    config, table, macro, goal = search.config, search.table, search.macro, search.goal
    arch = from_supernet(search.supernet, config["op_set"])
    predicted = lut.predict_ms(table, macro, arch)
    arch.update(beta_mode=config["beta_mode"], predicted_latency_ms=predicted,
                predicted_macs=lut.predict_macs(table, macro, arch), lut=table.key, **goal)
    net = SearchedNet(arch)
    measured = measure_latency(net, macro.input_shape, device=str(search.device),
                               min_run_time=config["latency_min_run_time"], **search.timing)
    cost = count_cost(net, macro.input_shape)
    summary = dict(arch=arch_code(arch), depths="-".join(str(s["depth"]) for s in arch["stages"]),
                   predicted_latency_ms=predicted, predicted_macs=arch["predicted_macs"],
                   search_latency_ms=measured.median_ms,
                   search_latency_error=abs(predicted - measured.median_ms) / measured.median_ms,
                   search_val_acc=metrics.get("val_acc"), search_val_psnr=metrics.get("val_psnr"),
                   lut_anchor_factor=table.calibration.get("anchor_factor"), **goal)
    final = dict(**cost_and_latency_metrics(cost, measured), **final_architecture(arch))
    return arch, summary, final


def final_architecture(arch: dict) -> dict:
    """The architecture JSON in a trial's final result, so the Parquet row alone rebuilds the network
    (the report re-times it there, away from the trials' load)."""
    return dict(architecture_json=json.dumps(arch, separators=(",", ":")))


# --- search, then retrain -----------------------------------------------------------------------------
def run(config: dict, data: DataSplits, report: Report, *, device: str | torch.device = "cpu", threads: int = 1,
        state: dict | None = None) -> None:
    """Search (or resume it), then retrain the derived network with trainables.loop.train if asked."""
    config = {**defaults(), **nas_defaults(), **config}
    device = torch.device(device)
    if state is None or state["phase"] == "search":
        arch, summary = search(config, data, report, device=device, threads=threads,
                               state=state and state["search"])
        retrain_state = None
    else:
        arch, summary, retrain_state = state["architecture"], state["summary"], state["retrain"]
    if config["retrain_epochs"] > 0:
        retrain(config, data, arch, summary, report, device=device, threads=threads, state=retrain_state)


def retrain_config(config: dict, arch: dict, latency_batch: int) -> dict:
    """The shared loop's config for the derived network: joint_mode='searched', trained from scratch, latency
    measured at the table's batch size so it compares with the prediction."""
    fail, offset = config.get("fail_at_epoch"), config["search_epochs"]
    return {**config, "task": searched_task(arch), "joint_mode": "searched", "architecture": arch,
            "epochs": config["retrain_epochs"], "latency_batch_size": latency_batch,
            "fail_at_epoch": fail - offset if fail is not None and fail >= offset else None}


def retrain(config: dict, data: DataSplits, arch: dict, summary: dict, report: Report, *, device: torch.device,
            threads: int, state: dict | None = None) -> None:
    """Train the derived architecture with the joint loop; epochs continue after the search's (phase 1)."""
    _, _, _, table_file, timing = latency_table(config, data, device, threads)  # cached: for the artifact
    offset = config["search_epochs"]

    def phase_report(metrics: dict, checkpoint_dir: str) -> None:
        directory = Path(checkpoint_dir)
        write_artifacts(directory, arch, table_file)
        (directory / PHASE_FILE).write_text(json.dumps(dict(phase="retrain", architecture=arch, summary=summary)))
        final = final_architecture(arch) if "latency_ms" in metrics else {}
        report({**summary, **metrics, **final, "epoch": offset + metrics["epoch"], "retrain_epoch": metrics["epoch"],
                "phase": 1}, checkpoint_dir)

    train(retrain_config(config, arch, timing["batch_size"]), data, phase_report, device=device, threads=threads,
          state=state)


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
    train({**config, "task": searched_task(arch), "joint_mode": "searched", "architecture": arch,
           "latency_batch_size": config["latency_batch_size"] or batch}, data, with_architecture,
          device=device, threads=threads, state=state)
