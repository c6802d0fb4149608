"""The one training loop behind every trainable: classifier, denoiser and joint models.

Read top to bottom: build model and optimiser (in the configured precision and memory format, data
on the device for GPU trials) into a TrainingState (trainables/state.py), maybe resume it, then per epoch
`train_epoch` on noisy images, validate at the fixed noise levels, checkpoint, report. The last epoch adds the test metrics at every sigma, FLOPs,
parameters and latency. Ray-free: `report(metrics, checkpoint_dir)` is injected, so the same loop
runs in a Tune trial, a benchmark or a test.
"""
from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .config import defaults
from .data.batches import augment, batches
from .data.noise import add_noise, sample_sigmas
from .data.splits import DataSplits, on_device
from .evaluate import evaluate
from .examples import save_denoising_examples
from .measure.flops import count_cost
from .measure.latency import measure_latency
from .models import build_model, check_model_input
from . import stages as staging
from .precision import TrainingPrecision, as_float
from .stages import Stage, stage_at, training_stages
from .state import TrainingState, read_state
from .tasks import task_spec

Report = Callable[[dict, str], None]
STATE_FILE = "state.pt"


def charbonnier(output: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.sqrt((output - target) ** 2 + eps ** 2).mean()


def make_optimizer(model: torch.nn.Module, config: dict, params=None) -> torch.optim.Optimizer:
    params, lr, wd = model.parameters() if params is None else params, config["lr"], config["weight_decay"]
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config["momentum"], weight_decay=wd, nesterov=True)
    if config["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def stage_optimizer(model: torch.nn.Module, config: dict, stage, steps_per_epoch: int):
    """The stage's optimiser over the parameters it trains, with a cosine schedule over its epochs."""
    optimizer = make_optimizer(model, config, staging.trained_parameters(stage, model))
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, stage.epochs * steps_per_epoch)


def load_state(checkpoint_dir: str | Path) -> dict:
    return read_state(Path(checkpoint_dir) / STATE_FILE)


def noisy_batch(clean: torch.Tensor, config: dict, noise_rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, noisy) training images: augmented, noise at sigmas drawn from `train_noise_levels`, maybe
    clipped to [0, 1]. The NAS search's weight and architecture steps draw theirs the same way."""
    if config["augment"]:
        clean = augment(clean, noise_rng)
    sigmas = sample_sigmas(len(clean), tuple(config["train_noise_levels"]), clean.device, noise_rng)
    noisy = add_noise(clean, sigmas, noise_rng)
    return clean, (noisy.clamp(0, 1) if config["noise_clip"] else noisy)


def task_loss(image: torch.Tensor | None, logits: torch.Tensor | None, clean: torch.Tensor, labels: torch.Tensor,
              config: dict, weights: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ce_weight * CE + charb_weight * Charbonnier, CE, Charbonnier) in fp32; a missing output counts 0."""
    zero = torch.zeros((), device=clean.device)
    ce = F.cross_entropy(logits, labels) if logits is not None else zero
    charb = charbonnier(image, clean, config["charbonnier_eps"]) if image is not None else zero
    return weights[0] * ce + weights[1] * charb, ce, charb


def batch_loss(model: torch.nn.Module, config: dict, precision: TrainingPrecision, clean: torch.Tensor,
               labels: torch.Tensor, noise_rng: torch.Generator, stage: Stage | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, cross-entropy, Charbonnier) of one batch of the training stage: augment, add noise at sampled
    sigmas, forward in the training precision, the stage's loss in fp32. Also what `jdnas plan` times."""
    task = config["task"]
    stage = stage or training_stages(config)[0]
    clean, noisy = noisy_batch(clean, config, noise_rng)
    image, logits = map(as_float, staging.forward(stage, task, model, noisy, precision.forward))
    return task_loss(image, logits, clean, labels, config, staging.loss_weights(stage, task, config))


def fail_if_injected(config: dict, state: TrainingState, epoch: int, what: str = "epoch") -> None:
    """The fault tolerance tests' failure: once at `fail_at_epoch`, never after a resume."""
    if config["fail_at_epoch"] == epoch and not state.resumed:
        raise RuntimeError(f"injected failure at {what} {epoch} (fail_at_epoch)")


def check_finite(loss: float, epoch: int, what: str, advice: str) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(f"non-finite {what} loss ({loss}) at epoch {epoch}; {advice}")


@contextlib.contextmanager
def checkpoint(state: TrainingState, state_file: str = STATE_FILE, prefix: str = "jdnas-ckpt-"):
    """A fresh checkpoint folder holding the saved state; the caller adds artifacts and reports it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        state.save(Path(directory) / state_file)
        yield Path(directory)


def train(config: dict, data: DataSplits, report: Report, *, device: str | torch.device = "cpu",
          threads: int = 1, state: dict | None = None) -> None:
    """Train per `config` (schema in trainables.config), calling `report` once per epoch; `state`: a
    checkpoint's saved state to go on from."""
    config = {**defaults(), **config}
    task, device = config["task"], torch.device(device)
    torch.manual_seed(config["seed"])
    model = build_model(config, data.image_shape[0], data.num_classes).to(device)
    check_model_input(model, data.image_shape[-1])
    if config["data_on_device"] or (config["data_on_device"] is None and device.type == "cuda"):
        data = on_device(data, device)  # batches gathered where they train, not copied from the host
    precision = TrainingPrecision(config["precision"], config["channels_last"], device)
    model = precision.prepare(model)
    steps_per_epoch = max(1, len(data.train_images) // config["batch_size"])
    stages = training_stages(config)
    stage = stage_at(stages, state["epoch"] + 1 if state else 0)
    run = TrainingState(model, *stage_optimizer(model, config, stage, steps_per_epoch),
                        order_rng=torch.Generator().manual_seed(config["seed"]),
                        noise_rng=torch.Generator(device).manual_seed(config["seed"] + 1),
                        grad_scaler=precision, notes=dict(stage=stage.name))
    if state is not None:  # a new stage starts its own optimiser
        run.restore(state, optimizers=state["notes"]["stage"] == stage.name)
        run.notes["stage"] = stage.name

    for epoch in range(run.first_epoch, stages[-1].end):
        fail_if_injected(config, run, epoch)
        if epoch == stage.end:
            stage = stage_at(stages, epoch)
            run.optimizer, run.scheduler = stage_optimizer(model, config, stage, steps_per_epoch)
            run.notes["stage"] = stage.name
        t0 = time.perf_counter()
        train_loss, train_ce, train_charb, steps = train_epoch(run, config, data, precision, stage)
        train_seconds = time.perf_counter() - t0
        check_finite(train_loss, epoch, "training", f"lower lr (now {config['lr']}) or enable grad_clip")
        val = evaluate(model, task, data.val_images, data.val_labels, config["eval_noise_levels"],
                       device=device, seed=config["eval_seed"] + 1, clip=config["noise_clip"])
        run.elapsed_s += time.perf_counter() - t0
        run.epoch = epoch
        metrics = dict(epoch=epoch + 1, train_loss=train_loss, current_lr=run.scheduler.get_last_lr()[0],
                       epoch_time_s=time.perf_counter() - t0, train_time_s=run.elapsed_s, restarts=run.restarts,
                       train_images_per_s=steps * config["batch_size"] / train_seconds,
                       training_stage=stages.index(stage),
                       **{f"val_{k}": v for k, v in val.items()})
        if task_spec(task).joint:
            metrics.update(train_ce=train_ce, train_charbonnier=train_charb)
        with checkpoint(run) as checkpoint_dir:
            if config["corrupt_checkpoint_at_epoch"] == epoch + 1 and not run.resumed:  # the fault tests' damage
                (checkpoint_dir / STATE_FILE).write_bytes(b"cut short by a full disk")
            if epoch == stages[-1].end - 1:
                metrics.update(final_metrics(model, config, data, device, threads, checkpoint_dir))
            report(metrics, str(checkpoint_dir))


def train_epoch(run: TrainingState, config: dict, data: DataSplits, precision: TrainingPrecision,
                stage: Stage) -> tuple[float, float, float, int]:
    """One pass over the shuffled train split: (mean loss, mean CE, mean Charbonnier, steps)."""
    model = run.model
    model.train()
    staging.prepare(stage, model)
    sums, steps = torch.zeros(3, device=precision.device), 0
    for clean, labels in batches(data.train_images, data.train_labels, config["batch_size"], precision.device,
                                 shuffle=True, generator=run.order_rng, drop_last=True):
        loss, ce, charb = batch_loss(model, config, precision, clean, labels, run.noise_rng, stage)
        run.optimizer.zero_grad(set_to_none=True)
        precision.step(loss, run.optimizer, model, config["grad_clip"])
        run.scheduler.step()
        sums += torch.stack([loss.detach(), ce.detach(), charb.detach()])
        steps += 1
    train_loss, train_ce, train_charb = (sums / max(steps, 1)).tolist()  # one device sync per epoch
    return train_loss, train_ce, train_charb, steps


def final_metrics(model: torch.nn.Module, config: dict, data: DataSplits, device: torch.device, threads: int,
                  out_dir: Path) -> dict:
    """Test metrics at every sigma, cost, latency; writes the artifacts (weights, config, examples)."""
    test = evaluate(model, config["task"], data.test_images, data.test_labels, config["eval_noise_levels"],
                    device=device, seed=config["eval_seed"], clip=config["noise_clip"])
    cost = count_cost(model, data.image_shape)
    latency = measure_latency(model, data.image_shape, device=str(device),
                              batch_size=default_latency_batch(config, device), threads=threads,
                              precision=config["latency_precision"],
                              min_run_time=config["latency_min_run_time"], backend=config["latency_backend"])
    model.train()
    torch.save(model.state_dict(), out_dir / "model.pt")
    (out_dir / "config.json").write_text(json.dumps({**config, "data": data.meta}, indent=1, default=str))
    if config["examples"] and task_spec(config["task"]).image:
        save_denoising_examples(model, config["task"], data.test_images[:6], out_dir / "denoising_examples.png", device)
    return dict(**{f"test_{k}": v for k, v in test.items()}, **cost_and_latency_metrics(cost, latency),
                device=str(device), torch_version=torch.__version__, image_shape="x".join(map(str, data.image_shape)))


def default_latency_batch(config: dict, device: torch.device) -> int:
    """`latency_batch_size`, else the paper's batch 32 on a GPU and batch 1 on a CPU."""
    return config["latency_batch_size"] or (32 if device.type == "cuda" else 1)


def cost_and_latency_metrics(cost, latency) -> dict:
    """The cost and latency keys every final result carries (the loop's and the NAS search's)."""
    return dict(macs=cost.macs, flops=cost.flops, params=cost.params, latency_ms=latency.median_ms,
                latency_iqr_ms=latency.iqr_ms, latency_batch_size=latency.batch_size, latency_threads=latency.threads,
                latency_precision=latency.precision, latency_device=latency.device_name,
                latency_backend=latency.backend, latency_backend_version=latency.backend_version)
