"""The choices the paper leaves open and jdnas fixes, as config fields. Each one is a field with a default
(recorded with every trial's config in its MLflow child run), and docs/design.md ("Open choices") gives the
evidence for each default; tests/test_open_choices.py keeps the two in step."""
from __future__ import annotations

# field -> what the choice is about (the evidence lives in docs/design.md)
MODEL_CHOICES = {
    "residual": "UNet adds its output to its input",
    "loss_weight": "w in CE + w * Charbonnier",
    "charbonnier_eps": "epsilon of the Charbonnier loss",
    "sequential_training": "how the sequential joint model is trained",
    "finetune_epochs": "joint fine-tuning after two-stage training",
    "attach_level": "where the integrated classifier head attaches",
    "classifier_norm": "GroupNorm groups of the classifier family",
    "norm": "UNet normalisation",
    "noise_clip": "clipping of the noisy input",
    "train_noise_levels": "training noise levels",
    "latency_batch_size": "latency batch",
    "grey_as_rgb": "grey datasets fed as RGB (R = G = B)",
}
NAS_CHOICES = {
    "search_kind": "decoder in the NAS (joint or classifier-only search)",
    "beta_mode": "depth parameters beta",
    "target_reference": "what a relative latency target refers to",
    "target_ratio": "the latency target as a fraction of the reference",
    "latency_lambda": "weight of the latency loss",
}
OPEN_CHOICES = {**MODEL_CHOICES, **NAS_CHOICES}
