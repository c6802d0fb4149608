"""The NAS experiments (docs/paper.md §5.2, Appendix B/C): latency-constrained search of the integrated
denoise + classify model, each trial searching then retraining its derived network (`nas_search` with
retrain_epochs > 0), so one sweep yields search results, architectures and retrained metrics.

- nas-beta    Table 10: removed vs learned (vs fixed) beta, 2 searches each, one latency target, trained
              and searched on clean images as Table 10 says (test accuracy is still reported at 11 sigmas;
              the table shows the clean one).
- nas-opset   Table 9 search spaces: 4 vs 6 vs 8 candidate ops (removed beta, the paper's winner), on clean
              images as Table 10 (the appendix says nothing of Table 9's training noise: clean is inferred).
- nas-beta-joint  Table 10's other reading: the integrated network (with its decoder) searched, removed vs
              learned β, clean images. nas-beta and nas-opset search the classifier alone (Table 10 trained on
              clean images and reports accuracy only); the report gives the paper's numbers only beside rows
              whose search kind, noise and input match that reading (docs/design.md, `search_kind`).
- nas-noise   the joint search on clean vs noisy training images (the implication of Section 4.1's clean
              ablations: does the search need the noise it is meant for?).
- nas-targets several targets on the joint (noisy) task, to set the searched networks beside the manual
              integrated models on one device: `quick` spreads them over this CPU's reachable range (the
              manual models at 32 px fall outside a TF-NAS-deep network's range on a CPU), `paper` over the
              span from integrated(UNet-S, MB2.5-M) to integrated(UNet, MB2.5-M), both measured on the spot
              on the trial's GPU; a target the space cannot reach stops that trial at once, naming the range.

Presets. quick (2 CPU cores, 2 trials side by side at 1 thread, nas-beta in about 10 minutes with
retraining): Fashion-MNIST at 32x32, 1600 train images (1280 search-train / 320 search-val), width
multiplier 0.25, 4 search epochs (1 warm-up), Adam for the weights (SGD needs far more than 80 steps),
a faster temperature decay, 4 retraining epochs, the target at the middle of this CPU's full-depth
reachable range (target_fraction 0.5), so the run means the same on any CPU. paper: STL-10 at 96x96, the
TF-NAS schedule (90 epochs, 10 warm-up, SGD 0.025, Adam 0.01, tau 5 x 0.96, lambda 0.1, batch 32, 80/20
split), a relative target of 6 / 7.10 of the UNet's latency (the paper's 6 ms against its UNet's 7.10 ms,
Tables 8 and 10) timed on the trial's own GPU at batch 32, 200 retraining epochs with dropout 0.2. `--set
search_kind=classifier` (or `joint,classifier`) runs the classifier-only search (no decoder) instead.
"""
from trainables.data.noise import NOISE_LEVELS
from trainables.paper import PAPER_TARGET_RATIO

from .base import Sweep

# No `epochs`: a NAS trial runs search_epochs then retrain_epochs, and ASHA's max_t is their sum
# (trainables.stages.total_epochs), so a hand-written total could only drift from them.
QUICK = dict(dataset="fashion-mnist", image_size=32, fit="pad", train_size=1600, val_size=200, test_size=500,
             width_mult=0.25, search_epochs=4, warmup_epochs=1, search_batch_size=64, search_optimizer="adam",
             weight_lr=3e-3, tau_decay=0.8, target_fraction=0.5, retrain_epochs=4, batch_size=64, lr=3e-3,
             latency_min_run_time=0.2, cpus_per_trial=1, gpus_per_trial=0)
PAPER = dict(dataset="stl10", image_size=96, width_mult=1.0, search_epochs=90, warmup_epochs=10, search_batch_size=32,
             search_optimizer="sgd", weight_lr=0.025, arch_lr=0.01, tau0=5.0, tau_decay=0.96, latency_lambda=0.1,
             search_val_fraction=0.2, target_latency_ms=None, target_reference="UNet", target_ratio=PAPER_TARGET_RATIO,
             lut_batch_size=32, retrain_epochs=200, dropout=0.2, cpus_per_trial=4, gpus_per_trial=1)
CLEAN = [0.0]
JOINT_ONLY = ["joint"]  # a grid axis, so `--set search_kind=joint,classifier` runs both readings
# Table 10 trained on clean images and reports accuracy only: jdnas reads its searches as classifier-only
CLASSIFIER_ONLY = ["classifier"]

def _nas(name: str, description: str, grid: dict, fixed: dict, presets: dict | None = None, seeds: int = 2) -> Sweep:
    return Sweep(name=name, trainable="nas_search", description=description, grid=grid, fixed=fixed,
                 presets=presets or {"quick": QUICK, "paper": PAPER}, seeds=seeds, metric="val_acc", table="nas")


NAS_BETA = _nas("nas-beta", "Table 10: removed vs learned vs fixed β at one latency target, 2 searches each, clean images",
                grid={"beta_mode": ["removed", "learned", "fixed"], "search_kind": CLASSIFIER_ONLY},
                fixed={"op_set": 8, "train_noise_levels": CLEAN})
NAS_OPSET = _nas("nas-opset", "Table 9 search spaces: 4 vs 6 vs 8 candidate MBConvs (removed β, clean images)",
                 grid={"op_set": [4, 6, 8], "search_kind": CLASSIFIER_ONLY},
                 fixed={"beta_mode": "removed", "train_noise_levels": CLEAN})
NAS_TARGETS = _nas("nas-targets", "Latency targets bracketing the manual integrated models on one device (noisy joint task)",
                   grid={"target_fraction": [0.2, 0.5, 0.8]}, fixed={"beta_mode": "removed", "op_set": 8},
                   presets={"quick": QUICK, "paper": {**PAPER, "target_ratio": None, "target_range": "manual"}},
                   seeds=1)

# The other reading of Table 10: the integrated network (with its decoder) searched, as its own sweep.
NAS_BETA_JOINT = _nas("nas-beta-joint", "Table 10, joint reading: removed vs learned β searching the integrated "
                      "network (with decoder), clean images", grid={"beta_mode": ["removed", "learned"],
                                                                    "search_kind": JOINT_ONLY},
                      fixed={"op_set": 8, "train_noise_levels": CLEAN})
# Section 4.1 searched on clean images; does the joint search need noisy ones? The same search both ways.
NAS_NOISE = _nas("nas-noise", "Ablation: the joint search on clean vs noisy (11 σ) training images, removed β, 8 ops",
                 grid={"train_noise_levels": [CLEAN, list(NOISE_LEVELS)], "search_kind": JOINT_ONLY},
                 fixed={"beta_mode": "removed", "op_set": 8})

SWEEPS = [NAS_BETA, NAS_OPSET, NAS_TARGETS, NAS_BETA_JOINT, NAS_NOISE]
