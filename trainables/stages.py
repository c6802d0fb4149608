"""Training stages of the one loop (trainables/loop.py).

Every model trains in one stage by default: all parameters, loss CE + w * Charbonnier (joint), CE
(classifier) or Charbonnier (denoiser), `epochs` epochs. The sequential joint model can instead be trained
in the two-stage reading of the appendix ("constructed using a separate denoiser and classifier"):

  1. `denoiser`:   the UNet alone on Charbonnier for `epochs` epochs (exactly what the denoiser trainable
                   does with the same seed, so its PSNR equals the standalone denoiser's);
  2. `classifier`: the UNet frozen (no gradients, BatchNorm statistics fixed), the classifier on its
                   outputs with CE for `epochs` epochs;
  3. `finetune`:   optional, `finetune_epochs` epochs of the whole model on CE + w * Charbonnier.

Each stage starts its own optimiser and cosine schedule, as separately trained models would.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .evaluate import split_outputs
from .tasks import task_spec


@dataclass(frozen=True)
class Stage:
    name: str    # all | denoiser | classifier | finetune
    start: int   # first epoch, 0-based
    epochs: int

    @property
    def end(self) -> int:
        return self.start + self.epochs


def two_stage(config: dict) -> bool:
    return config.get("task") == "joint" and config.get("joint_mode") == "sequential" \
        and config.get("sequential_training") == "two-stage"


def training_stages(config: dict) -> list[Stage]:
    epochs = config["epochs"]
    if not two_stage(config):
        return [Stage("all", 0, epochs)]
    stages = [Stage("denoiser", 0, epochs), Stage("classifier", epochs, epochs)]
    if config.get("finetune_epochs"):
        stages.append(Stage("finetune", 2 * epochs, config["finetune_epochs"]))
    return stages


def total_epochs(config: dict) -> int:
    """Epochs a trial of this config reports (ASHA's max_t must cover every stage): a NAS search reports its
    search epochs, then its retraining epochs (a preset's `epochs` is not read by the search)."""
    if config.get("task") == "nas":
        return config["search_epochs"] + config["retrain_epochs"]
    return training_stages({**config, "epochs": config.get("epochs", 1)})[-1].end


def stage_at(stages: list[Stage], epoch: int) -> Stage:
    """The stage `epoch` belongs to (the last one once training is over, for a resume after the end)."""
    return next((s for s in stages if s.start <= epoch < s.end), stages[-1])


def trained_parameters(stage: Stage, model: nn.Module) -> list[nn.Parameter]:
    part = {"denoiser": "denoiser", "classifier": "classifier"}.get(stage.name)
    return list((getattr(model, part) if part else model).parameters())


def prepare(stage: Stage, model: nn.Module) -> None:
    """After model.train(): freeze the denoiser while the classifier trains on its outputs."""
    if stage.name == "classifier":
        model.denoiser.eval()
        model.denoiser.requires_grad_(False)
    elif stage.name == "finetune":
        model.requires_grad_(True)


def forward(stage: Stage, task: str, model: nn.Module, noisy: torch.Tensor, run=lambda net, x: net(x)):
    """(image, logits) the stage's loss needs; the denoiser stage runs the UNet alone. `run(net, x)` is the
    forward in the training precision."""
    if stage.name == "denoiser":
        return run(model.denoiser, noisy), None
    return split_outputs(task, run(model, noisy))


def loss_weights(stage: Stage, task: str, config: dict) -> tuple[float, float]:
    """(weight of CE, weight of Charbonnier) of the stage's loss."""
    if stage.name == "denoiser":
        return 0.0, 1.0
    if stage.name == "classifier":
        return 1.0, 0.0
    return 1.0, (config["loss_weight"] if task_spec(task).joint else 1.0)
