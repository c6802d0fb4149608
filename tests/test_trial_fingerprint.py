"""Resume only the same trials: the stored fingerprint against a rerun's, on a real (local) storage."""
import json

import pytest

from orchestrator.exits import BadInput
from orchestrator.records.storage import resolve_storage
from orchestrator.run.fingerprint import FILE, check_same_trials, save_trials
from search_spaces import get_sweep, resolve


def stored(storage, name):
    return json.loads(storage.read_bytes(name, FILE))


def test_a_field_an_upgrade_adds_unset_resumes_but_a_changed_value_or_grid_is_refused(tmp_path):
    storage = resolve_storage(tmp_path / "results")
    resolved = resolve(get_sweep("unet-width"), "quick", {"epochs": 2})
    save_trials(storage, resolved)
    check_same_trials(storage, resolved)  # the same command again

    older = stored(storage, resolved.name)  # as a jdnas from before `corrupt_checkpoint_at_epoch` wrote it
    assert older["base"].pop("corrupt_checkpoint_at_epoch", "absent") is None
    storage.write_bytes(json.dumps(older).encode(), resolved.name, FILE)
    check_same_trials(storage, resolved)

    older["base"]["lr"] = resolved.base["lr"] * 2  # an upgrade that changed a default
    storage.write_bytes(json.dumps(older).encode(), resolved.name, FILE)
    with pytest.raises(BadInput, match=r"run with other trials \(lr "):
        check_same_trials(storage, resolved)

    save_trials(storage, resolved)
    with pytest.raises(BadInput, match="trials added"):
        check_same_trials(storage, resolve(get_sweep("unet-width"), "quick", {"epochs": 2, "seeds": 3}, name=resolved.name))
