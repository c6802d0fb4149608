"""The latency-constrained differentiable search (TF-NAS style) of the integrated denoise + classify
network, in named steps (TF-NAS's train_search.py: weight step, architecture step, validate).

Read top to bottom: `start_search` splits the train images into search-train (weights) and search-val
(architecture), gets the latency table of this device, checks the target is reachable and builds the
supernet's TrainingState (trainables/state.py, the loop's); then trainables.nas.phases runs per epoch
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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.batches import batches
from ..data.splits import DataSplits, held_out
from ..evaluate import evaluate, split_outputs
from ..loop import check_finite, cost_and_latency_metrics, noisy_batch, task_loss
from ..measure.flops import count_cost
from ..measure.latency import measure_latency
from ..state import TrainingState
from . import lut
from .derive import SearchedNet, arch_code, final_architecture, from_supernet
from .elastic import fit_widths
from .macro import Macro
from .ops import op_set
from .supernet import Supernet
from .target import search_goal
from .trial_table import latency_table


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
