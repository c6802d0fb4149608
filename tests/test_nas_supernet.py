"""Supernet behaviour: beta modes, width masks, expected latency, elasticity and the reachable range."""
import pytest
import torch
import torch.nn.functional as F

from .nas_helpers import one_hot, synthetic_table, tiny_macro
from trainables.nas import lut
from trainables.nas.derive import from_supernet
from trainables.nas.elastic import fit_widths
from trainables.nas.macro import make_block
from trainables.nas.ops import op_set
from trainables.nas.search_loop import architecture_step, expected_ms, latency_objective
from trainables.nas.target import resolve_target
from trainables.nas.supernet import Supernet, use_batch_statistics


def arch_loss(net: Supernet, table, target: float = 1.0, lam: float = 1.0, seed: int = 0) -> torch.Tensor:
    """The search's architecture loss on a random batch: task loss of a relaxed forward + its latency term."""
    torch.manual_seed(seed)
    x = torch.rand(4, 1, 16, 16)
    u = F.softmax(net.log_alpha + torch.randn_like(net.log_alpha), dim=-1)
    out = net(x, op_weights=u)
    _, latency_loss = latency_objective(table, net, u, target, lam)  # the search's own latency term
    return F.cross_entropy(out.logits, torch.arange(4)) + (out.image - x).abs().mean() + latency_loss


def arch_step(net: Supernet, table, target: float = 1.0) -> None:
    """One relaxed forward + latency loss + backward into the architecture parameters, as the search does."""
    arch_loss(net, table, target).backward()


@pytest.fixture(scope="module")
def space():
    macro = tiny_macro()
    return macro, synthetic_table(macro)


def test_removed_beta_keeps_every_block_and_has_no_depth_parameters(space):
    macro, table = space
    net = Supernet(macro, op_set(8), "removed")
    assert len(net.beta) == 0 and net.depth_probs() == [None] * 6
    assert net.derived_depths() == [2, 3, 4, 4, 4, 1]
    assert [p is net.log_alpha for p in net.arch_parameters()] == [True]
    arch = from_supernet(net, 8)
    assert [s["depth"] for s in arch["stages"]] == [2, 3, 4, 4, 4, 1]
    # every block is used: changing the weights of a stage's last block changes the output
    assert _output_moves_when_block_changes(net, block=1)


def _output_moves_when_block_changes(net: Supernet, block: int) -> bool:
    torch.manual_seed(0)
    x, ops = torch.rand(2, 1, 16, 16), [0] * 18
    net.eval()
    before = net(x, ops=ops).logits
    with torch.no_grad():
        for p in net.mixed_ops()[block].ops[0].parameters():
            p.add_(0.5)
    return not torch.equal(before, net(x, ops=ops).logits)


def test_learned_beta_at_depth_one_ignores_the_later_blocks_of_a_stage(space):
    macro, _ = space
    net = Supernet(macro, op_set(8), "learned")
    with torch.no_grad():
        net.beta[0].copy_(torch.tensor([0.0, -1e4]))  # stage 0: all weight on its first block
    assert not _output_moves_when_block_changes(net, block=1)
    assert _output_moves_when_block_changes(net, block=0)


def test_fixed_beta_gets_no_gradient_and_never_moves(space):
    macro, table = space
    net = Supernet(macro, op_set(8), "fixed")
    before = [b.detach().clone() for b in net.beta]
    arch_step(net, table)
    assert all(b.grad is None and not b.requires_grad for b in net.beta)
    assert net.log_alpha.grad is not None and net.log_alpha.grad.abs().sum() > 0
    torch.optim.Adam(net.arch_parameters(), lr=0.1).step()
    assert all(torch.equal(a, b) for a, b in zip(before, net.beta))
    assert net.derived_depths() == [2, 3, 4, 4, 4, 1]  # constant beta: ties go to the deepest


def test_learned_beta_gets_a_gradient_and_moves(space):
    macro, table = space
    net = Supernet(macro, op_set(8), "learned")
    before = [b.detach().clone() for b in net.beta]
    arch_step(net, table)
    assert all(b.grad is not None for b in net.beta)
    assert sum(float(b.grad.abs().sum()) for b in net.beta[:-1]) > 0  # the 1-block stage has a constant softmax
    torch.optim.Adam(net.arch_parameters(), lr=0.1).step()
    assert any(not torch.equal(a, b) for a, b in zip(before[:-1], net.beta[:-1]))


def test_learned_beta_depth_follows_argmax(space):
    macro, _ = space
    net = Supernet(macro, op_set(4), "learned")
    with torch.no_grad():
        for b, depth in zip(net.beta, [1, 2, 4, 3, 1, 1]):
            b[depth - 1] = 5.0
    assert net.derived_depths() == [1, 2, 4, 3, 1, 1]
    assert [s["depth"] for s in from_supernet(net, 4)["stages"]] == [1, 2, 4, 3, 1, 1]


def test_weight_steps_leave_architecture_parameters_alone(space):
    macro, _ = space
    net = Supernet(macro, op_set(8), "learned")
    out = net(torch.rand(2, 1, 16, 16), ops=[3] * 18)
    (out.logits.sum() + out.image.sum()).backward()
    assert net.log_alpha.grad is None and all(b.grad is None for b in net.beta)


def test_masked_op_equals_the_derived_block_with_its_active_channels(space):
    macro, _ = space
    net = Supernet(macro, op_set(8), "removed")
    mixed = net.mixed_ops()[3]                 # a stride-1 block with a residual
    op_index, width_index = 7, 1               # k5-e6-se at its second-narrowest width
    mixed.set_width(op_index, width_index)
    keep = mixed.masks[op_index].nonzero().flatten()
    width = mixed.width(op_index)
    assert len(keep) == width
    block = use_batch_statistics(make_block(mixed.slot, mixed.specs[op_index], width))
    wide = mixed.ops[op_index]
    with torch.no_grad():
        block.expand[0].weight.copy_(wide.expand[0].weight[keep])
        block.depthwise[0].weight.copy_(wide.depthwise[0].weight[keep])
        block.se.reduce.weight.copy_(wide.se.reduce.weight[:, keep])
        block.se.reduce.bias.copy_(wide.se.reduce.bias)
        block.se.expand.weight.copy_(wide.se.expand.weight[keep])
        block.se.expand.bias.copy_(wide.se.expand.bias[keep])
        block.project[0].weight.copy_(wide.project[0].weight[:, keep])
    x = torch.rand(3, mixed.slot.c_in, mixed.slot.in_size, mixed.slot.in_size)
    torch.testing.assert_close(mixed(x, op=op_index), block(x), rtol=1e-4, atol=1e-5)


def test_expected_latency_of_a_one_hot_architecture_is_the_table_sum(space):
    macro, table = space
    net = Supernet(macro, op_set(8), "learned")
    ops = [(3 * b) % 8 for b in range(18)]
    depths = [1, 3, 2, 4, 1, 1]
    with torch.no_grad():
        for b, depth in zip(net.beta, depths):
            b.fill_(-1e4)
            b[depth - 1] = 0.0
    expected = lut.expected_latency(table, net, one_hot(ops, 8), net.depth_probs())
    manual, block = table.base_ms, 0
    for slots, depth in zip(net.slots, depths):
        for j, slot in enumerate(slots):
            if j < depth:
                manual += table.block_ms(slot, net.specs[ops[block]], int(net.mixed_ops()[block].width_index[ops[block]]))
            block += 1
    assert float(expected.detach()) == pytest.approx(manual, rel=1e-6)
    with torch.no_grad():
        net.log_alpha.copy_(torch.log(one_hot(ops, 8).clamp_min(1e-12)))
    assert lut.predict_ms(table, macro, from_supernet(net, 8)) == pytest.approx(manual, rel=1e-6)


def test_expected_latency_is_differentiable_in_alpha_and_beta(space):
    macro, table = space
    net = Supernet(macro, op_set(8), "learned")
    latency = lut.expected_latency(table, net, net.op_probs(), net.depth_probs())
    latency.backward()
    assert net.log_alpha.grad.abs().sum() > 0 and net.beta[0].grad.abs().sum() > 0
    removed = Supernet(macro, op_set(8), "removed")
    full = lut.expected_latency(table, removed, removed.op_probs(), removed.depth_probs())
    assert float(full) > float(latency)  # sink-connecting averages over shallower depths


def _set_widths(net: Supernet, index: int) -> None:
    for mixed, op in zip(net.mixed_ops(), net.argmax_ops()):
        mixed.set_width(op, index)


@pytest.mark.parametrize("mode", ["removed", "learned"])
def test_elasticity_fits_the_target_from_above_and_below(space, mode):
    macro, table = space
    net = Supernet(macro, op_set(8), mode)
    torch.manual_seed(1)
    with torch.no_grad():
        net.log_alpha.copy_(torch.randn_like(net.log_alpha))
        for b in net.beta:
            b.copy_(torch.randn_like(b))
    _set_widths(net, 0)
    narrowest = lut.predict_ms(table, macro, from_supernet(net, 8))
    _set_widths(net, 4)
    widest = lut.predict_ms(table, macro, from_supernet(net, 8))
    last_stage = [b for b in range(18 - len(net.slots[-1]), 18)]
    for start_width, fraction in ((4, 0.3), (0, 0.7), (2, 0.5)):
        _set_widths(net, start_width)
        target = narrowest + fraction * (widest - narrowest)
        got = fit_widths(net, table, target)
        arch = from_supernet(net, 8)
        assert got == pytest.approx(lut.predict_ms(table, macro, arch)) and narrowest <= got <= target
        # the last fill-up pass widened the last stage until one more step would not fit
        mixed, ops = net.mixed_ops(), net.argmax_ops()
        extra = sum(table.block_ms(mixed[b].slot, net.specs[ops[b]], int(mixed[b].width_index[ops[b]]) + 1)
                    - table.block_ms(mixed[b].slot, net.specs[ops[b]], int(mixed[b].width_index[ops[b]]))
                    for b in last_stage if int(mixed[b].width_index[ops[b]]) < 4)
        assert extra == 0 or got + extra > target
    assert narrowest < widest


def test_target_outside_the_reachable_range_is_refused_with_the_range(space):
    macro, table = space
    key = lut.LatencyKey.for_device(macro, "cpu", 1, 1)
    low, high = lut.reachable_range(table, macro, op_set(4), "removed")
    config = dict(beta_mode="removed", op_set=4, width_mult=0.1, target_fraction=0.5, target_latency_ms=None)
    got = resolve_target(config, table, macro, op_set(4), key)
    assert got["target_latency_ms"] == pytest.approx((low + high) / 2)
    for bad in (low * 0.5, high * 2):
        with pytest.raises(ValueError, match=rf"outside the reachable range \[{low:.3f}, {high:.3f}\] ms"):
            resolve_target({**config, "target_latency_ms": bad}, table, macro, op_set(4), key)
    learned_low, _ = lut.reachable_range(table, macro, op_set(4), "learned")
    assert learned_low < low  # learned beta may keep one block per stage


@pytest.mark.parametrize("mode", ["fixed", "removed", "learned"])
def test_latency_loss_of_a_one_hot_alpha_prices_the_network_that_is_derived(space, mode):
    """Point 4: through the search's own latency objective, the latency a one-hot alpha is charged equals the
    LUT price of the derived network (fixed beta used to average over depths: about 2/3 of what is built)."""

    macro, table = space
    net = Supernet(macro, op_set(8), mode)
    ops = [(5 * b + 1) % 8 for b in range(18)]
    if mode == "learned":  # a decided depth per stage, as the derivation reads it
        with torch.no_grad():
            for b, depth in zip(net.beta, [2, 1, 3, 4, 1, 1]):
                b.fill_(-1e4)
                b[depth - 1] = 0.0
    with torch.no_grad():
        net.log_alpha.copy_(torch.log(one_hot(ops, 8).clamp_min(1e-12)))
    derived_ms = lut.predict_ms(table, macro, from_supernet(net, 8))
    latency, loss = latency_objective(table, net, one_hot(ops, 8), target=2.0, lam=0.1)
    assert float(latency) == pytest.approx(derived_ms, rel=1e-6)
    assert float(loss) == pytest.approx(0.1 * abs(derived_ms / 2.0 - 1), rel=1e-6)


def test_a_relative_target_is_a_fraction_of_the_reference_and_every_target_reports_both(space):
    macro, table = space
    key = lut.LatencyKey.for_device(macro, "cpu", 1, 1)
    low, high = lut.reachable_range(table, macro, op_set(8), "removed")
    reference = (low + high) / 2 / 0.845  # a reference model whose 0.845 lies mid-range
    config = dict(beta_mode="removed", op_set=8, width_mult=0.1, target_fraction=0.5, target_latency_ms=None,
                  target_ratio=0.845, target_reference="UNet")
    got = resolve_target(config, table, macro, op_set(8), key, reference_ms=reference)
    assert got["target_latency_ms"] == pytest.approx((low + high) / 2)
    assert got["target_vs_reference"] == pytest.approx(0.845) and got["reference_latency_ms"] == reference
    absolute = resolve_target({**config, "target_latency_ms": low * 1.1}, table, macro, op_set(8), key,
                              reference_ms=reference)
    assert absolute["target_latency_ms"] == low * 1.1 and absolute["target_vs_reference"] == pytest.approx(low * 1.1 / reference)
    with pytest.raises(ValueError, match="outside the reachable range"):
        resolve_target(config, table, macro, op_set(8), key, reference_ms=reference * 10)


@pytest.mark.parametrize("side", [0.1, 0.9])
def test_the_latency_term_pulls_toward_the_target_and_lambda_0_removes_the_pull(space, side):
    """The search's loss and Adam step on alpha/beta: with lambda > 0 the expected latency ends closer to a
    target below (side 0.1) or above (0.9) its start than the same steps with lambda = 0 leave it."""
    macro, table = space
    low, high = lut.reachable_range(table, macro, op_set(8), "learned")
    start = expected_ms(table, Supernet(macro, op_set(8), "learned"))
    target = low + side * (high - low)

    def search_steps(lam: float) -> float:
        torch.manual_seed(0)
        net = Supernet(macro, op_set(8), "learned")
        optimizer = torch.optim.Adam(net.arch_parameters(), lr=0.05, betas=(0.5, 0.999))
        for step in range(30):
            architecture_step(net, optimizer, arch_loss(net, table, target, lam, seed=step), clip=5.0)
        return expected_ms(table, net)

    pulled, free = search_steps(1.0), search_steps(0.0)  # measured: 5.19 -> 3.52 / 6.14 ms; free: 5.18 ms
    assert (target < start) == (side < 0.5)
    assert (pulled - start) * (target - start) > 0 and abs(pulled - target) < abs(free - target)
    assert abs(pulled - start) > 0.05 * abs(target - start)         # really moved toward the target ...
    assert abs(pulled - start) > 10 * abs(free - start)              # ... while the task loss alone barely moves it
