"""The one table of trial kinds: every sweep's trainable is a kind, Tune runs each kind under its own name, and a
kind's fields are what its sweeps are checked against (no per-sweep field lists)."""
import pytest

from search_spaces import Sweep, SweepError, all_sweeps, resolve
from trainables.kinds import KINDS
from trainables.tasks import TASKS
from trainables.tune_trainables import TRAINABLES


def test_every_sweep_names_a_kind_and_tune_runs_each_kind_under_its_name():
    assert {s.trainable for s in all_sweeps()} <= set(KINDS)
    assert list(TRAINABLES) == list(KINDS)
    assert [t.__name__ for t in TRAINABLES.values()] == list(KINDS)
    for kind in KINDS.values():
        assert callable(kind.run) and callable(kind.load)  # "module:function" names that import
        assert kind.task is None or kind.task in TASKS
        assert kind.fixed_network == (kind.task is None or TASKS[kind.task].built)


def test_a_sweep_is_checked_against_its_kinds_fields():
    nas_field = {"op_set": 6}
    with pytest.raises(SweepError, match="unknown field 'op_set'"):
        resolve(Sweep(name="c", trainable="classifier", fixed=nas_field, seeds=1), "quick", check_models=False)
    resolved = resolve(Sweep(name="n", trainable="nas_search", fixed=nas_field, seeds=1), "quick", check_models=False)
    assert resolved.base["op_set"] == 6 and resolved.base["task"] == "nas"


def test_an_unknown_trainable_is_refused_in_one_line_before_anything_runs():
    with pytest.raises(SweepError, match=r"unknown trainable 'clasifier'; choose one of \['classifier', "):
        resolve(Sweep(name="typo", trainable="clasifier"), "quick", check_models=False)
