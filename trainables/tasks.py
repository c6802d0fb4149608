"""The one registry of trial tasks: what each trains, what its network returns and which metrics it has.

Every place that asks "what kind of trial is this?" (the model factory, the config schema, the loop, the
evaluation, the export, the sweep checks and the reports) asks here, so a task is added in one place.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    image: bool          # the network returns a denoised image (Charbonnier loss; PSNR, SSIM)
    logits: bool         # the network returns class logits (cross-entropy; accuracy)
    built: bool = True   # the model factory builds its network from the config; False: the trial searches it

    @property
    def joint(self) -> bool:
        """Both outputs: the network returns JointOutput(image, logits)."""
        return self.image and self.logits


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("classifier", image=False, logits=True),  # a Table 7 classifier on noisy images
    Task("denoiser", image=True, logits=False),    # a UNet
    Task("joint", image=True, logits=True),        # a sequential or integrated denoise + classify model
    # a search (docs/nas.md), then maybe its retraining; its network's outputs follow search_kind (Macro.task)
    Task("nas", image=True, logits=True, built=False),
)}
MODEL_TASKS: tuple[str, ...] = tuple(name for name, t in TASKS.items() if t.built)      # a fixed network per config
SEARCH_TASKS: tuple[str, ...] = tuple(name for name, t in TASKS.items() if not t.built)  # the network is searched


def task_spec(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {list(TASKS)}")
    return TASKS[name]
