"""Every model default lives in trainables.config.FIELDS: a partial config (`jdnas models`, a NAS target's reference
model, Table 10's manual models) builds the network a trial with the same fields builds, and the factory follows
FIELDS when a default changes."""
import dataclasses

import pytest

from trainables import config as trial_config
from trainables.config import MODEL_FIELDS, defaults
from trainables.measure.flops import count_cost
from trainables.models import build_model, model_label
from trainables.models.catalog import paper_model_configs

SHAPE = (3, 32, 32)


@pytest.mark.parametrize("name", list(paper_model_configs()))
def test_a_partial_config_builds_what_a_trial_builds(name):
    partial = paper_model_configs()[name]
    trial = {**defaults(), **partial}  # what resolve() hands a trial: every field, defaults filled in
    assert count_cost(build_model(partial, 3), SHAPE).macs == count_cost(build_model(trial, 3), SHAPE).macs
    assert model_label(partial) == model_label(trial)


def test_the_factory_reads_its_defaults_from_the_config_fields(monkeypatch):
    fields = dict(trial_config.FIELDS)
    fields["block"] = dataclasses.replace(fields["block"], default="mbconv")
    fields["classifier"] = dataclasses.replace(fields["classifier"], default="Conv-S")
    monkeypatch.setattr(trial_config, "FIELDS", fields)
    assert model_label({"task": "denoiser", "unet": "UNet-S"}) == "UNet-S-MB"
    assert model_label({"task": "classifier"}) == "Conv-S"
    unet_mbconv = build_model({"task": "denoiser", "unet": "UNet-S"}, 3)
    assert any(type(m).__name__ == "MBConv" for m in unet_mbconv.modules())


def test_the_model_fields_are_config_fields():
    assert set(MODEL_FIELDS) <= set(trial_config.FIELDS)
