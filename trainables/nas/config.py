"""Trial-config fields of the NAS trainables, for their entries in trainables.kinds (defaults: TF-NAS,
docs/paper.md §4, §5).

`NAS_FIELDS` serve both trainables; `SEARCH_FIELDS` adds `task="nas"`, which tells the sweep validator
that the trial searches its model (there is no fixed model to build and check before Ray starts).
"""
from __future__ import annotations

from ..config import Field, at_least_one, non_negative, positive
from ..models.catalog import paper_model_configs
from ..tasks import SEARCH_TASKS
from .ops import OP_SETS
from .supernet import BETA_MODES

REFERENCE_MODELS = paper_model_configs()
fraction = dict(check=lambda v: 0 <= v <= 1, rule="in [0, 1]")

NAS_FIELDS: dict[str, Field] = {
    # search space
    "op_set": Field(8, int, "candidate ops per block: 4, 6 or 8 (Table 9)", choices=tuple(OP_SETS)),
    "beta_mode": Field("removed", str, "depth parameters: learned | removed (every block kept) | fixed "
                       "(held at the uniform initial value)", choices=BETA_MODES),
    "width_mult": Field(1.0, float, "multiplier of every channel count of the TF-NAS macro-architecture", **positive),
    "dropout": Field(0.0, float, "dropout before the FC of the searched network (TF-NAS retrain: 0.2)",
                     check=lambda v: 0 <= v < 1, rule="in [0, 1)"),
    # latency objective
    "search_kind": Field("joint", str, "joint: the integrated denoise + classify network (fixed decoder, loss CE + w * "
                         "Charbonnier); classifier: the same encoder and head without the decoder (CE only)",
                         choices=("joint", "classifier")),
    "target_latency_ms": Field(None, float, "absolute latency target on the LUT device (ms); null = target_ratio, "
                               "else target_fraction", optional=True, **positive),
    "target_ratio": Field(None, float, "relative target: this fraction of target_reference's latency, timed on the "
                          "trial's device at the table's batch, threads and precision (paper: 6 / 7.10 of the UNet)",
                          optional=True, **positive),
    "target_reference": Field("UNet", str, "the paper model target_ratio refers to; every search also reports its "
                              "target as a fraction of it", choices=tuple(REFERENCE_MODELS)),
    "target_fraction": Field(0.5, float, "target when target_latency_ms is null: low + f x (high - low) of the "
                             "range named by target_range", **fraction),
    "target_range": Field("reachable", str, "what target_fraction spans: `reachable` = the full-depth latency range "
                          "of this search space on this device; `manual` = integrated(UNet-S, MB2.5-M) to "
                          "integrated(UNet, MB2.5-M), both measured on the spot with the table's settings",
                          choices=("reachable", "manual")),
    "latency_lambda": Field(0.1, float, "lambda of the loss term lambda * |LAT / target - 1|", **non_negative),
    # schedule
    "search_epochs": Field(90, int, "search epochs, warm-up included", **at_least_one),
    "warmup_epochs": Field(10, int, "epochs of weight steps only, architecture frozen", **non_negative),
    "search_batch_size": Field(32, int, "batch size of weight and architecture steps", **at_least_one),
    "search_val_fraction": Field(0.2, float, "share of the train split held out for architecture steps",
                                 check=lambda v: 0 < v < 1, rule="in (0, 1)"),
    "arch_every": Field(2, int, "an architecture step after every n-th weight step", **at_least_one),
    "tau0": Field(5.0, float, "initial Gumbel-softmax temperature", **positive),
    "tau_decay": Field(0.96, float, "temperature factor per epoch after warm-up", check=lambda v: 0 < v <= 1,
                       rule="in (0, 1]"),
    "search_optimizer": Field("sgd", str, "supernet weight optimiser (TF-NAS: SGD, momentum 0.9)",
                              choices=("sgd", "adam")),
    "weight_lr": Field(0.025, float, "learning rate of the supernet weights (cosine)", **positive),
    "search_weight_decay": Field(1e-5, float, "weight decay of the supernet weights", **non_negative),
    "search_grad_clip": Field(5.0, float, "gradient-norm clip of weight and architecture steps; 0 = off",
                              **non_negative),
    "arch_lr": Field(0.01, float, "Adam learning rate of alpha and beta", **positive),
    "arch_weight_decay": Field(5e-4, float, "Adam weight decay of alpha and beta", **non_negative),
    # latency table
    "lut_batch_size": Field(None, int, "LUT batch (default latency_batch_size, else 1 on CPU, 32 on GPU)",
                            optional=True, **at_least_one),
    "lut_cache_dir": Field(None, str, "LUT cache folder (default $JDNAS_LUT_CACHE or ~/.cache/jdnas/lut)",
                           optional=True),
    "lut_path": Field(None, str, "use this LUT file (refused unless measured under this trial's key)",
                      optional=True),
    "lut_device": Field(None, str, "search for this device: the latency table `jdnas lut import` cached under its "
                        "name (probe.py on the device); null = time the table on the trial's own device",
                        optional=True),
    "lut_min_run_time": Field(0.01, float, "seconds of timed forwards per LUT entry and round", **positive),
    "lut_rounds": Field(3, int, "interleaved timing rounds per LUT entry (median)", **at_least_one),
    "lut_reanchor": Field(True, bool, "scale the table to the trial's own process before searching: time 8 of its "
                          "reference networks, multiply by measured / predicted (lut.reanchor; eager PyTorch "
                          "shifts up to ~10 % between processes); not for a device's table (lut_device)"),
    # derived network
    "retrain_epochs": Field(0, int, "after the search, train the derived network from scratch for this many "
                            "epochs in the same trial (0 = search only)", **non_negative),
    "architecture": Field(None, (dict, str), "derived architecture (JSON dict or path) for joint_mode=searched",
                          optional=True),
}

SEARCH_FIELDS: dict[str, Field] = {
    "task": Field("nas", str, "nas: the trial searches its joint model, then may retrain it", choices=SEARCH_TASKS),
    **NAS_FIELDS,
}


def nas_defaults() -> dict:
    return {name: f.default for name, f in NAS_FIELDS.items()}
