"""The derived architecture JSON: round trip to a standalone model with the predicted FLOPs, validation,
and the factory / shared-loop integration (joint_mode='searched')."""
import json
import random

import pytest
import torch

from .nas_helpers import synthetic_table, tiny_macro
from trainables.measure.flops import count_cost
from trainables.models import build_model, check_model_input, model_label
from trainables.models.joint import JointOutput
from trainables.nas import lut
from trainables.nas.derive import SearchedNet, arch_code, from_supernet, load_architecture, random_architecture
from trainables.nas.ops import op_set
from trainables.nas.supernet import Supernet


@pytest.fixture(scope="module")
def space():
    macro = tiny_macro(size=32, width_mult=0.15)
    return macro, synthetic_table(macro)


@pytest.mark.parametrize("mode,op_set_size", [("learned", 8), ("removed", 4), ("fixed", 6)])
def test_derived_json_round_trips_to_a_model_with_the_predicted_flops(tmp_path, space, mode, op_set_size):
    macro, table = space
    torch.manual_seed(op_set_size)
    net = Supernet(macro, op_set(op_set_size), mode)
    with torch.no_grad():
        net.log_alpha.copy_(torch.randn_like(net.log_alpha))
        for b in net.beta:
            b.copy_(torch.randn_like(b))
        for i, mixed in enumerate(net.mixed_ops()):
            mixed.set_width(int(net.argmax_ops()[i]), i % 5)
    arch = from_supernet(net, op_set_size)
    predicted = lut.predict_macs(table, macro, arch)
    path = tmp_path / "architecture.json"
    path.write_text(json.dumps(arch))
    for source in (json.loads(path.read_text()), str(path)):
        model = build_model(dict(task="joint", joint_mode="searched", architecture=source), 1, 10)
        assert count_cost(model, (1, 32, 32)).macs == predicted
        assert [len(stage) for stage in model.stages] == net.derived_depths()
    out = model.eval()(torch.rand(2, 1, 32, 32))
    assert isinstance(out, JointOutput) and out.image.shape == (2, 1, 32, 32) and out.logits.shape == (2, 10)
    assert model_label(dict(task="joint", joint_mode="searched", architecture=arch)) == f"searched({arch_code(arch)})"


def test_macs_of_random_architectures_match_the_table(space):
    macro, table = space
    rng = random.Random(3)
    for _ in range(5):
        arch = random_architecture(macro, 8, rng)
        assert count_cost(SearchedNet(arch), macro.input_shape).macs == lut.predict_macs(table, macro, arch)


def test_architecture_validation_names_the_problem(space):
    macro, _ = space
    arch = random_architecture(macro, 8, random.Random(0), full_depth=True)
    arch["op_set"] = 4
    arch["stages"][0]["ops"][0] = "MB-k5-e6-se"
    with pytest.raises(ValueError, match=r"op 'MB-k5-e6-se' is not in the 4-op set"):
        load_architecture(arch)
    arch = random_architecture(macro, 8, random.Random(0))
    arch["stages"][2]["widths"][0] += 1
    with pytest.raises(ValueError, match="stage 3: width .* is not one of"):
        load_architecture(arch)
    with pytest.raises(ValueError, match="needs `architecture`"):
        build_model(dict(task="joint", joint_mode="searched"), 1, 10)
    good = random_architecture(macro, 8, random.Random(0))
    with pytest.raises(ValueError, match="derived for 32x32 inputs, got 64"):
        check_model_input(SearchedNet(good), 64)
