"""The exclusive latency phase: the runner's one step between the last trial and the report that times
networks alone, so the report only reads rows and never times anything itself.

- Sweeps with a fixed network per grid point, by default: the latency each trial timed after training was
  measured in its own process at its own moment, beside its neighbours' training (on a GPU it shares, or on
  the same cores), and two seeds of one network read up to 50 % apart on 2 CPU cores. Every trial's network
  is timed again in interleaved rounds (round r times every network once, in turn; each network's latency is
  its fastest round, the median of its rounds kept beside it), so drift on the machine reaches every network
  alike; on a quiet machine seeds of one network then agree within a few percent.
- Sweeps whose trials derive their network (NAS): each derived network, its target's reference model and
  the manual joint models of the NAS plot, with the trial's own batch, threads and precision, on a machine
  that has the trial's device (orchestrator.run.retime says why in-trial timings read high even on a CPU).

Either way one Ray task that holds a whole GPU (or a trial's CPUs) times the networks one at a time, after
the last trial. Its numbers replace `latency_ms` in the rows (results.parquet) and the MLflow child runs;
the in-trial number is kept as `latency_in_trial_ms` and `latency_source` says which is which. The timings
are stored beside the Tune experiment, so a resumed sweep reuses them; `exclusive_latency=false` skips the
phase."""
from __future__ import annotations

import json
import os
import time

import ray
import torch

from search_spaces import ResolvedSweep
from trainables.loop import cost_and_latency_metrics, default_latency_batch
from trainables.measure.flops import count_cost
from trainables.measure.latency import measure_latency
from trainables.models import build_model
from trainables.kinds import KINDS

from orchestrator.records.results import ENDED, joint_sweep_rows
from orchestrator.records.storage import Storage
from orchestrator.records.timing import same_setting
from orchestrator.run.retime import paper_joint_models, time_derived

PHASE_FILE = "exclusive_latency.json"
LATENCY_KEYS = ("latency_ms", "latency_iqr_ms", "latency_batch_size", "latency_threads", "latency_precision",
                "latency_device", "latency_backend", "latency_backend_version")


ROUNDS = 5  # interleaved rounds per network (its latency: its fastest round; the median of rounds is kept)


def wanted(resolved: ResolvedSweep) -> bool:
    """The fixed-network phase: `exclusive_latency` if set, else on (every sweep with a fixed network per grid
    point; networks NAS trials derive are re-timed per trial, see run_phase)."""
    choice = resolved.run.get("exclusive_latency")
    return KINDS[resolved.sweep.trainable].network == "built" and (choice if choice is not None else True)


def time_networks(configs: list[dict], input_shape: tuple, num_classes: int, threads: int,
                  rounds: int = ROUNDS) -> list[dict]:
    """Latency of each config's network on this process's device: `rounds` rounds, each timing every network
    once in turn; per network its fastest round (as the team's timing comparisons take fastest-of: on a loaded
    machine the rounds' medians still differed by 100-800 %), with the median of rounds and their spread."""
    torch.set_num_threads(threads)
    device = torch.device("cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu")
    models = []
    for config in configs:
        torch.manual_seed(config["seed"])
        models.append(build_model(config, input_shape[0], num_classes).to(device))
    per_round: list[list] = [[] for _ in configs]
    for _ in range(rounds):
        for i, (config, model) in enumerate(zip(configs, models)):
            per_round[i].append(measure_latency(
                model, input_shape, device=str(device), threads=threads, batch_size=default_latency_batch(config, device),
                precision=config["latency_precision"], min_run_time=config["latency_min_run_time"],
                backend=config["latency_backend"]))
    timed = []
    for model, latencies in zip(models, per_round):
        medians = sorted(lat.median_ms for lat in latencies)
        fastest = min(latencies, key=lambda lat: lat.median_ms)  # the round least disturbed by other load
        metrics = cost_and_latency_metrics(count_cost(model, input_shape), fastest)
        timed.append({k: metrics[k] for k in LATENCY_KEYS} | {
            "latency_measured_at": time.time(), "latency_rounds": len(medians),
            "latency_rounds_median_ms": medians[len(medians) // 2],
            "latency_round_spread": (medians[-1] - medians[0]) / medians[0]})
    return timed


def alone(resolved: ResolvedSweep, local: bool, function):
    """`function` as a Ray task that holds a whole GPU when trials use GPUs, else a trial's CPUs (so nothing
    else runs on its device), and the words for what it holds."""
    cpus = resolved.run["cpus_per_trial"]
    cpus = min(cpus, os.cpu_count() or 1) if local else cpus
    gpus = 1 if resolved.run["gpus_per_trial"] > 0 else 0
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=2)(function)
    return task, ("a whole GPU" if gpus else f"{cpus:g} CPUs"), max(1, int(cpus))


def manual_networks(storage: Storage, derived: list[dict]) -> tuple[list[dict], int]:
    """The manual joint networks the NAS plot puts beside the derived ones, and how many rounds to time each:
    the `joint` sweeps' finished variants measured like a derived row (3 rounds, as the trials), else the
    paper's joint models (1 round: latency only, drawn as lines)."""
    joint = {r["variant_label"]: r for r in joint_sweep_rows(storage) if r.get("variant_label")
             and any(same_setting(r, d) for d in derived)}
    return (list(joint.values()), 3) if joint else (paper_joint_models(), 1)


def run_phase(resolved: ResolvedSweep, rows: list[dict], storage: Storage, data: dict, local: bool) -> list[dict] | None:
    """After a finished sweep (Ray still up), from its rows: [{'variant': grid point, latency keys...}] for
    fixed networks, [{'trial_id': ..., latency keys, reference and manual latencies}] for derived ones; None
    when the phase does not apply or trials are still unfinished."""
    fixed = wanted(resolved)
    derived = [r for r in rows if r.get("architecture_json") and r["status"] == "TERMINATED"
               and r.get("latency_ms") is not None]
    if resolved.run.get("exclusive_latency") is False or not (fixed or derived):
        return None
    if storage.exists(resolved.name, PHASE_FILE):
        return json.loads(storage.read_bytes(resolved.name, PHASE_FILE))
    if len(rows) < resolved.num_trials or any(r["status"] not in ENDED for r in rows):
        return None
    if fixed:
        splits = next(iter(data.values()))
        points = resolved.trial_points  # every trial's network: one per grid point and seed
        configs = [{**resolved.base, **point} for point in points]
        task, holds, threads = alone(resolved, local, time_networks)
        print(f"[jdnas] exclusive latency phase: timing {len(configs)} networks in {ROUNDS} interleaved rounds "
              f"({holds}, nothing else running)", flush=True)
        timed = ray.get(task.remote(configs, splits.image_shape, splits.num_classes, threads))
        phase = [{"variant": {k: v for k, v in point.items() if k != "seed"}, "seed": point["seed"], **latency}
                 for point, latency in zip(points, timed)]
    else:
        manual, rounds = manual_networks(storage, derived)
        task, holds, _ = alone(resolved, local, time_derived)
        print(f"[jdnas] exclusive latency phase: timing {len(derived)} derived networks, their reference models "
              f"and {len(manual)} manual joint models one at a time ({holds}, nothing else running)", flush=True)
        phase = ray.get(task.remote(derived, manual, rounds))
    storage.write_bytes(json.dumps(phase, indent=1).encode(), resolved.name, PHASE_FILE)
    return phase


def _matches(row: dict, entry: dict) -> bool:
    """The phase entry of the row's network: its grid point, and its seed where the phase timed each trial."""
    same_seed = "seed" not in entry or int(row.get("seed") or 0) == entry["seed"]
    return same_seed and all(row.get(f"config_{k}", row.get(k)) == v for k, v in entry["variant"].items())


def apply_to_rows(rows: list[dict], phase: list[dict] | None) -> list[dict]:
    """Rows with the exclusive latency in `latency_ms` (the in-trial one kept) and `latency_source`; a derived
    network's row also gets its reference model timed alike (the in-trial one kept as
    `reference_latency_in_trial_ms`) and `manual_latency_ms` ({variant: ms} of the manual joint models)."""
    by_trial = {e["trial_id"]: e for e in phase or [] if "trial_id" in e}
    for row in rows:
        if row.get("latency_ms") is not None:
            row.setdefault("latency_source", "in-trial")
        entry = by_trial.get(row["trial_id"]) or next(
            (e for e in phase or [] if "variant" in e and _matches(row, e)), None)
        if entry is None or row.get("latency_ms") is None:
            continue
        row["latency_in_trial_ms"], row["latency_in_trial_device"] = row["latency_ms"], row.get("latency_device")
        if entry.get("reference_latency_ms") is not None:
            row["reference_latency_in_trial_ms"] = row.get("reference_latency_ms")
        row.update({k: v for k, v in entry.items() if k not in ("variant", "trial_id", "seed")}, latency_source="exclusive")
    return rows
