"""Resume only what was asked: a new experiment stores the trials it resolved to (the config every trial
shares and each trial's grid point and seed, or the Optuna search); a rerun under the same name whose
trials differ (an edited sweep file, another --set, a jdnas upgrade that changed a preset or a default)
is refused in one line saying what changed, instead of Tune restoring the old trials and reporting their
numbers as the new grid's. The exclusive latencies live in the same experiment folder, so they are never
reused for other trials either."""
from __future__ import annotations

import json
from dataclasses import asdict

from search_spaces import ResolvedSweep

from orchestrator.exits import BadInput
from orchestrator.records.storage import Storage

FILE = "jdnas-trials.json"


def canonical(value) -> object:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def trials_of(resolved: ResolvedSweep) -> dict:
    optimize = resolved.sweep.optimize
    return canonical({"trainable": resolved.sweep.trainable, "base": resolved.base,
                      "trials": sorted((canonical(p) for p in resolved.trial_points), key=json.dumps),
                      "optimize": asdict(optimize) | {"num_trials": resolved.num_trials} if optimize else None})


def changes(old: dict, new: dict, limit: int = 4) -> str:
    """What differs, in words: shared fields first, then trial points added and removed."""
    words = [f"{old.get('trainable')} -> {new['trainable']}"] if old.get("trainable") != new["trainable"] else []
    old_base, new_base = old.get("base", {}), new["base"]
    for key in sorted(old_base.keys() | new_base.keys()):
        if old_base.get(key, "unset") != new_base.get(key, "unset"):
            words.append(f"{key} {json.dumps(old_base.get(key, 'unset'))} -> {json.dumps(new_base.get(key, 'unset'))}")
    old_trials, new_trials = {json.dumps(t) for t in old.get("trials", [])}, {json.dumps(t) for t in new["trials"]}
    if added := len(new_trials - old_trials):
        words.append(f"{added} trials added")
    if removed := len(old_trials - new_trials):
        words.append(f"{removed} trials removed")
    if old.get("optimize") != new["optimize"]:
        words.append("the Optuna search changed")
    return "; ".join(words[:limit]) + (f"; {len(words) - limit} more" if len(words) > limit else "")


def without_unset(fingerprint: dict) -> dict:
    """Shared fields set to None are off: an upgrade that adds an optional field (default None) changes no
    trial, so it must not refuse the experiments started before it."""
    return {**fingerprint, "base": {k: v for k, v in fingerprint.get("base", {}).items() if v is not None}}


def check_same_trials(storage: Storage, resolved: ResolvedSweep) -> None:
    """Refuse a resume whose trials are not the stored experiment's (before Ray starts)."""
    if not storage.exists(resolved.name, FILE):
        return  # a new experiment (or one from before this check: nothing to compare with)
    stored = without_unset(json.loads(storage.read_bytes(resolved.name, FILE)))
    wanted = without_unset(trials_of(resolved))
    if stored != wanted:
        raise BadInput(f"experiment {resolved.name} in {storage.uri} was run with other trials ({changes(stored, wanted)}); "
                       f"pass --name NEW to start a new experiment, or delete {storage.display(resolved.name)} to redo it")


def save_trials(storage: Storage, resolved: ResolvedSweep) -> None:
    storage.write_bytes(json.dumps(trials_of(resolved), indent=1).encode(), resolved.name, FILE)


def restore_base(storage: Storage, resolved: ResolvedSweep) -> dict:
    """The shared config in the stored experiment's shape. Tune's restore refuses a param_space whose keys
    differ from the original's, so an unset (None) field that an upgrade added since is left out, and one it
    dropped is put back as None (check_same_trials has already ignored both)."""
    if not storage.exists(resolved.name, FILE):
        return dict(resolved.base)
    stored = json.loads(storage.read_bytes(resolved.name, FILE)).get("base", {})
    base = {k: v for k, v in resolved.base.items() if v is not None or k in stored}
    return {**{k: None for k, v in stored.items() if v is None and k not in base}, **base}
