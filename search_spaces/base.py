"""Sweeps as plain Python data, presets, and their validation before any cluster work starts.

A `Sweep` names a trainable, the config shared by all trials (`fixed`), the grid (a union of
products: one dict of axis -> values per product) and how often to repeat it (`seeds`), or an
Optuna search (`optimize`). `resolve()` merges trainable defaults < preset < sweep < user
overrides, expands the grid and checks every resulting trial config, raising `SweepError` with
the sweep, the field and the allowed values.
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from trainables.config import Field, at_least_one, field_problems, non_negative, positive
from trainables.data.registry import dataset_input_shape
from trainables.kinds import KINDS
from trainables.measure.flops import count_cost
from trainables.models import build_model, check_model_input
from trainables.tasks import MODEL_TASKS


class SweepError(ValueError):
    pass


@dataclass(frozen=True)
class Optimize:
    """Optuna search over `params` (name -> ("loguniform" | "uniform", low, high), ("int", low, high, step) or
    ("choice", [values])). `sampler` is tpe, nsga2, gp or random (`--set sampler=...` picks another);
    `reference` (metric -> worst value counted) makes the sweep's score the hypervolume of its front
    (orchestrator.pareto.score), and `constraint` names the metric `max_latency_ms` caps."""
    params: Mapping[str, tuple]
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    num_samples: int = 8
    sampler: str = "tpe"
    reference: Mapping[str, float] | None = None
    constraint: str | None = None


# the report layouts a sweep may name (orchestrator.report.tables.LAYOUTS holds one builder for each)
TABLES = ("table7", "table8", "unet", "joint", "tuning", "nas", "search", "generic")


@dataclass(frozen=True)
class Sweep:
    name: str
    trainable: str
    description: str = ""
    grid: tuple[Mapping[str, list], ...] | Mapping[str, list] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # sweep-specific preset tweaks
    seeds: int = 2
    optimize: Optimize | None = None
    metric: str = "val_acc"   # what ASHA and "best trial" rank by
    mode: str = "max"
    table: str = "generic"    # report layout, one of TABLES

    @property
    def products(self) -> tuple[Mapping[str, list], ...]:
        grid = self.grid if isinstance(self.grid, tuple) else (self.grid,)
        return grid or ({},)


# Run settings: how trials are scheduled, not what they train. `--set` reaches them too.
RUN_FIELDS: dict[str, Field] = {
    "seeds": Field(2, int, "repeats of the grid with training seeds 0..seeds-1", **at_least_one),
    "cpus_per_trial": Field(1, float, "CPUs per trial (= torch threads)", **positive),
    "gpus_per_trial": Field(0, float, "GPUs per trial", **non_negative),
    "max_concurrent": Field(None, int, "cap on trials running at once", optional=True,
                            **at_least_one),
    "max_failures": Field(2, int, "retries of a failed trial from its last checkpoint",
                          check=lambda v: v >= -1, rule=">= -1"),
    "num_samples": Field(None, int, "Optuna trials (optimize sweeps only)", optional=True,
                         **at_least_one),
    "search_seed": Field(0, int, "seed of the Optuna sampler", **non_negative),
    "sampler": Field(None, str, "Optuna sampler of an optimize sweep (default: the sweep's)", optional=True,
                     choices=("tpe", "nsga2", "gp", "random")),
    "exclusive_latency": Field(None, bool, "time every trial's network again after the trials, alone, in interleaved "
                                           "rounds (default: on; false keeps the in-trial timing)", optional=True),
}

PRESETS: dict[str, dict[str, Any]] = {
    # minutes on a laptop CPU with real data: Fashion-MNIST padded to 32x32, a subset, a few epochs
    # (2 CPUs per trial: on 2 cores, 2 torch threads train ~1.7x faster, as fast as two 1-thread trials side
    # by side, without leaving a core idle while the last trial finishes; more cores run trials in parallel)
    "quick": dict(dataset="fashion-mnist", image_size=32, fit="pad", grey_as_rgb=True, train_size=8000,
                  val_size=1000, test_size=2000, epochs=4, batch_size=64, lr=3e-3, latency_min_run_time=0.2,
                  cpus_per_trial=2, gpus_per_trial=0),
    # the cheapest CPU setting where Table 7's gaps (0.4-1.7 pp) can resolve: all 54,000 training images, the
    # whole test set (10,000 images at 11 sigmas), 3 epochs, 4 seeds. On 2 quiet cores a Conv-L trial of 7
    # epochs took 274 s (24 s per epoch of training, ~100 s of evaluation); at 3 epochs the 32 trials took
    # 72 min (2026-12-07, docs/paper.md §8); `jdnas plan classifier-scaling --preset repro` prices it here
    "repro": dict(dataset="fashion-mnist", image_size=32, fit="pad", grey_as_rgb=True, val_size=1000,
                  epochs=3, batch_size=64, lr=3e-3, latency_min_run_time=0.5, seeds=4,
                  cpus_per_trial=2, gpus_per_trial=0),
    # the paper's inferred setting (docs/paper.md §2, §4): STL-10 at 96x96, full schedule, one GPU per trial
    "paper": dict(dataset="stl10", image_size=96, epochs=200, batch_size=64, lr=1e-3, latency_batch_size=32,
                  latency_min_run_time=2.0, cpus_per_trial=4, gpus_per_trial=1),
}


@dataclass(frozen=True)
class ResolvedSweep:
    sweep: Sweep
    preset: str
    base: dict                    # config shared by every trial
    products: list[dict]          # the grid after overrides: one dict of axis -> values per product
    variants: list[dict]          # one dict per grid point (empty for optimize sweeps)
    run: dict                     # RUN_FIELDS values
    name: str                     # experiment name: results folder, MLflow parent run
    overrides: dict
    costs: list[int] = field(default_factory=list)  # per variant: MACs per image x epochs (0: unknown)

    @property
    def trial_configs(self) -> list[dict]:
        return [{**self.base, **v} for v in self.trial_points]

    @property
    def trial_points(self) -> list[dict]:
        """Grid point and seed of every trial, costliest first: on parallel slots the long trials start
        early instead of leaving one slot busy while the others idle at the end (ties keep grid order)."""
        order = sorted(range(len(self.variants)), key=lambda i: -self.costs[i] if self.costs else 0)
        return [{**self.variants[i], "seed": s} for i in order for s in range(self.run["seeds"])]

    @property
    def num_trials(self) -> int:
        if self.sweep.optimize:
            return self.run["num_samples"] or self.sweep.optimize.num_samples
        return len(self.variants) * self.run["seeds"]


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_override(text: str) -> tuple[str, Any]:
    """'key=value' with a JSON value (numbers, true/false, null, lists); bare words are strings;
    'a,b' is a list (for grid axes)."""
    if "=" not in text:
        raise SweepError(f"--set needs key=value, got {text!r}")
    key, raw = text.split("=", 1)

    def parse(token: str) -> Any:
        try:
            return json.loads(token)
        except json.JSONDecodeError:
            if NUMBER.fullmatch(token):  # .001, 1., +3: numbers JSON does not spell
                return float(token)
            return {"none": None, "None": None, "True": True, "False": False}.get(token, token)

    value = parse(raw)
    if isinstance(value, str) and "," in raw and not raw.startswith("["):
        value = [parse(t) for t in raw.split(",")]
    return key.strip(), value


def _allowed(schema: Mapping[str, Field], name: str) -> str:
    f = schema[name]
    if f.choices is not None:
        return f"allowed values: {list(f.choices)}"
    kinds = f.kind if isinstance(f.kind, tuple) else (f.kind,)
    return f"allowed values: {'/'.join(k.__name__ for k in kinds)}{' ' + f.rule if f.rule else ''}" + \
        (" or null" if f.optional else "")


def _unknown(sweep: Sweep, names: list[str], schema: Mapping[str, Field]) -> SweepError:
    name = names[0]
    close = difflib.get_close_matches(name, schema, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SweepError(f"sweep {sweep.name!r}: unknown field {name!r}{hint} Known fields: {', '.join(sorted(schema))}")


def _check_values(sweep: Sweep, config: Mapping, schema: Mapping[str, Field]) -> None:
    problems = field_problems(config, schema)
    if problems:
        name, problem = next(iter(problems.items()))
        raise SweepError(f"sweep {sweep.name!r}: field {name!r} = {config[name]!r} {problem}; {_allowed(schema, name)}")


def _check_model(sweep: Sweep, config: dict) -> int | None:
    """Build the trial's model on the meta device (no memory, no compute), check its input size and
    return its MACs per image (None for trainables without a fixed model, e.g. NAS)."""
    if config.get("task") not in MODEL_TASKS:
        return None
    channels, size, _ = dataset_input_shape(config)
    try:
        with torch.device("meta"):
            model = build_model(config, channels)
        check_model_input(model, size)
        return count_cost(model, (channels, size, size)).macs
    except (ValueError, RuntimeError) as err:  # RuntimeError: a searched network built for other channels
        axes = {k: config[k] for k in config if k in {a for p in sweep.products for a in p}}
        raise SweepError(f"sweep {sweep.name!r}: trial {axes or config.get('task')} on {channels}x{size}x{size} "
                         f"inputs: {err}") from None


def param_values(spec: tuple) -> list:
    """The values an Optuna parameter spec can take: its choices, every step of an int range, or its bounds."""
    kind, *args = spec
    if kind == "choice":
        return list(args[0])
    if kind == "int":
        low, high, step = (*args, 1)[:3]
        return list(range(low, high + 1, step))
    if kind in ("uniform", "loguniform"):
        return list(args[:2])
    raise SweepError(f"unknown parameter kind {kind!r}; choose choice, int, uniform or loguniform")


def without_inapplicable(config: Mapping, variant: dict) -> dict:
    """The grid point without axes its model ignores (sequential training options of an integrated model),
    so `joint_mode x sequential_training` runs the integrated model once, not once per unused option."""
    if config.get("task") == "joint" and config.get("joint_mode") != "sequential":
        return {k: v for k, v in variant.items() if k not in ("sequential_training", "finetune_epochs")}
    return variant


# a sweep's name and `--name` become folder names and values in MLflow filter strings: no '/', '..' or quotes
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+=@,-]{0,199}")


def check_name(kind: str, value: str) -> str:
    """`value`, or a SweepError saying what a `kind` (e.g. "--name") may hold."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or ".." in value or value != value.strip():
        raise SweepError(f"{kind} {value!r}: use 1-200 letters, digits, spaces and . _ - + = @ , starting with a "
                         "letter or digit (no '/', '..' or quotes)")
    return value


def resolve(sweep: Sweep, preset: str = "quick", overrides: Mapping[str, Any] | None = None,
            name: str | None = None, check_models: bool = True) -> ResolvedSweep:
    """Merge, expand and validate a sweep. Raises SweepError; touches neither Ray nor MLflow.
    `check_models=False` skips building and costing every trial's model (a listing needs only the counts)."""
    kind = _check_names(sweep, preset, name)
    overrides = dict(overrides or {})
    schema = kind.fields
    run, base = _merge(sweep, preset, overrides, schema)
    if kind.task:  # the trainable decides what is trained
        base["task"] = kind.task
    _check_values(sweep, run, RUN_FIELDS)
    _check_values(sweep, base, schema)
    products = _products(sweep, overrides, schema)
    variants = [] if sweep.optimize else _variants(products, base)
    if sweep.optimize:
        _check_search_space(sweep, schema)
    elif not variants:
        raise SweepError(f"sweep {sweep.name!r}: the grid is empty")
    costs = _costs(sweep, base, variants, schema, check_models)
    return ResolvedSweep(sweep, preset, base, products, variants, run, name or _experiment_name(sweep, preset, overrides),
                         overrides, costs if variants else [])


def _check_names(sweep: Sweep, preset: str, name: str | None):
    """The sweep's trial kind, once its name, --name, preset, table and trainable are known good."""
    check_name("sweep name", sweep.name)
    if name is not None:
        check_name("--name", name)
    if preset not in PRESETS:
        raise SweepError(f"sweep {sweep.name!r}: unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if sweep.table not in TABLES:
        raise SweepError(f"sweep {sweep.name!r}: unknown table {sweep.table!r}; choose one of {list(TABLES)}")
    if sweep.trainable not in KINDS:
        raise SweepError(f"sweep {sweep.name!r}: unknown trainable {sweep.trainable!r}; choose one of {list(KINDS)}")
    return KINDS[sweep.trainable]


def _merge(sweep: Sweep, preset: str, overrides: dict, schema: Mapping[str, Field]) -> tuple[dict, dict]:
    """(run settings, the config every trial shares): field defaults < preset < sweep < the sweep's preset tweaks <
    user overrides (an override of a grid axis replaces the axis instead, in _products)."""
    run_schema = {**schema, **RUN_FIELDS}
    axis_names = {a for p in sweep.products for a in p}
    for source in (sweep.fixed, *sweep.presets.values(), overrides, *sweep.products):
        if unknown := [k for k in source if k not in run_schema]:
            raise _unknown(sweep, unknown, run_schema)
    if "seed" in overrides or "seed" in sweep.fixed:  # trial_points set it per trial: it would be ignored
        raise SweepError(f"sweep {sweep.name!r}: seed is set per trial (0..seeds-1); use seeds=N for N repeats")
    merged = {**PRESETS[preset], **sweep.fixed, **sweep.presets.get(preset, {}),
              **{k: v for k, v in overrides.items() if k not in axis_names}}
    run = {k: merged.pop(k, RUN_FIELDS[k].default) for k in RUN_FIELDS}
    if "seeds" not in overrides and "seeds" not in sweep.fixed and "seeds" not in PRESETS[preset]:
        run["seeds"] = sweep.seeds
    return run, {**{k: f.default for k, f in schema.items()}, **merged}


def _products(sweep: Sweep, overrides: dict, schema: Mapping[str, Field]) -> list[dict]:
    """The grid after overrides: one dict of axis -> values per product, every axis a non-empty list."""
    products = []
    for product in sweep.products:
        product = {k: overrides.get(k, v) for k, v in product.items()}
        for axis, values in product.items():
            values = values if isinstance(values, list) else [values]
            if not values:
                raise SweepError(f"sweep {sweep.name!r}: grid axis {axis!r} is empty; {_allowed(schema, axis)}")
            product[axis] = values
        products.append(product)
    return products


def _variants(products: list[dict], base: dict) -> list[dict]:
    """One dict per distinct grid point: a union of studies shares grid points (d4 b8 c2 m2 is in all four), and
    each runs once."""
    variants = []
    for p in products:
        for combo in itertools.product(*p.values()):
            variant = without_inapplicable({**base, **dict(zip(p, combo))}, dict(zip(p, combo)))
            if not any({**base, **v} == {**base, **variant} for v in variants):
                variants.append(variant)
    return variants


def _check_search_space(sweep: Sweep, schema: Mapping[str, Field]) -> None:
    """Every value an optimize sweep's parameters can take is a valid value of a known field."""
    for param, spec in sweep.optimize.params.items():
        if param not in schema:
            raise _unknown(sweep, [param], schema)
        for value in param_values(spec):
            _check_values(sweep, {param: value}, schema)


def _costs(sweep: Sweep, base: dict, variants: list[dict], schema: Mapping[str, Field], check_models: bool) -> list[int]:
    """Per variant, MACs per image x epochs (0: unknown), each trial's values checked and (check_models) its model
    built. An optimize sweep's model is checked at the first value of every parameter (an architecture search has no
    network in its base config)."""
    first = {p: param_values(spec)[0] for p, spec in sweep.optimize.params.items()} if sweep.optimize else {}
    costs = []
    for variant in variants or [first]:
        config = {**base, **variant}
        _check_values(sweep, variant, schema)
        macs = _check_model(sweep, config) if check_models else None
        costs.append((macs or 0) * config["epochs"])
    return costs


def _experiment_name(sweep: Sweep, preset: str, overrides: dict) -> str:
    """SWEEP-PRESET, with a hash of the overrides when there are any (another --set is another experiment)."""
    name = f"{sweep.name}-{preset}"
    if overrides:
        name += "-" + hashlib.sha1(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return name
