"""FLOP fidelity: our counter must reproduce the paper's numbers (docs/paper.md §9)."""
import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from orchestrator.cli.main import main
from trainables.measure.flops import count_cost
from trainables.models import build_classifier, build_model
from trainables.models.catalog import paper_model_configs
from trainables.paper import TABLE7


def macs(config, shape=(3, 96, 96)):
    return count_cost(build_model(config), shape).macs


def test_unet_matches_table8_within_half_a_percent():
    assert macs(dict(task="denoiser", unet="UNet")) / 1301.8e6 == pytest.approx(1, abs=0.005)


def test_unet_s_matches_table8_within_five_percent():
    assert macs(dict(task="denoiser", unet="UNet-S")) / 51.2e6 == pytest.approx(1, abs=0.05)


@pytest.mark.parametrize("name", sorted(TABLE7))
def test_table7_ratios_to_conv_l_within_8_percent(name):
    ours = macs(dict(task="classifier", classifier=name)) / macs(dict(task="classifier", classifier="Conv-L"))
    paper = TABLE7[name][3] / TABLE7["Conv-L"][3]
    assert ours / paper == pytest.approx(1, abs=0.08)


@pytest.mark.parametrize("setting,expected_m", [
    (dict(base_width=4), 21.7), (dict(base_width=64), 5176.8), (dict(depth=2), 33.1), (dict(depth=5), 108.7),
    (dict(blocks=1), 46.1), (dict(multiplier=1.0), 33.3), (dict(multiplier=1.5), 49.2)])
def test_unet_sweep_points_match_paper_notes(setting, expected_m):
    config = dict(task="denoiser", depth=4, base_width=8, blocks=2, multiplier=2.0) | setting
    assert macs(config) / 1e6 == pytest.approx(expected_m, abs=0.06)


def test_counting_rules_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1)                       # 3*9*8*16*16 + bias 8*16*16
    assert count_cost(conv, (3, 16, 16)).macs == 3 * 9 * 8 * 256 + 8 * 256
    depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert count_cost(depthwise, (8, 16, 16)).macs == 9 * 8 * 256
    up = nn.ConvTranspose2d(8, 4, 2, stride=2)                 # like a 1x1 conv at the upper resolution
    assert count_cost(up, (8, 8, 8)).macs == 8 * 4 * 256 + 4 * 256
    pool = nn.Sequential(nn.MaxPool2d(2), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(5, 2))
    assert count_cost(pool, (5, 8, 8)).macs == 4 * 5 * 16 + 5 * 16 + (5 * 2 + 2)
    unmeasured = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU(), nn.GroupNorm(1, 3))
    assert count_cost(unmeasured, (3, 8, 8)).macs == 0
    cost = count_cost(build_classifier("Conv-L"), (3, 96, 96))
    assert cost.flops == 2 * cost.macs and cost.params == sum(p.numel() for p in build_classifier("Conv-L").parameters())


def test_count_keeps_model_mode():
    model = build_classifier("Conv-S").train()
    count_cost(model, (3, 32, 32))
    assert model.training


def test_models_command_json(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert {"name", "macs", "params", "paper_macs"} <= set(rows[0])
    assert len(rows) == 8 + 3 + 6 and set(by_name) == set(paper_model_configs())
    assert by_name["UNet"]["paper_macs"] == pytest.approx(1301.8e6) and by_name["UNet-M"]["paper_macs"] is None
    # against the paper (Table 8) and PyTorch's own counter, not against the function the command calls
    assert by_name["UNet"]["macs"] / 1301.8e6 == pytest.approx(1, abs=0.005)
    for name, row in by_name.items():
        model = build_model(paper_model_configs()[name], 3, 10)
        assert row["params"] == sum(p.numel() for p in model.parameters()), name
        assert row["flops"] == 2 * row["macs"] and 0 < 1 - torch_macs(model) / row["macs"] <= ALLOWED_GAP[name], name


def test_models_command_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "1301.8 M" in out and "MB2.5-M" in out and "integrated(UNet-S, MB2.5-M)" in out


def torch_macs(model, shape=(3, 96, 96)) -> float:
    """PyTorch's FlopCounterMode: 2 FLOPs per multiply-accumulate of conv / linear / matmul, nothing else."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    return counter.get_total_flops() / 2


# FlopCounterMode skips the conv/linear bias adds and the pooling that the paper's convention (TF-NAS)
# counts, so ours lies above it by exactly those terms (checked below). Their share, measured at 3x96x96
# and rounded up: the classifiers pool and add biases on small maps with few channels, 2.3-5.9 % (MB1-S has
# the most: max pools on its widest early maps and biased SE convolutions); the UNets are dominated by
# bias-free 3x3 convolutions, 0.2-1.5 %, the more so the wider; a joint model sits between its parts.
ALLOWED_GAP = {"Conv-L": 0.03, "Conv-M": 0.03, "Conv-S": 0.04, "MB1-S": 0.06, "MB2.5-M": 0.035, "MB4-L": 0.025,
               "MB2.5-S": 0.04, "MB4-S": 0.035, "UNet-S": 0.015, "UNet-M": 0.006, "UNet": 0.003,
               "sequential(UNet-S, MB2.5-M)": 0.02, "sequential(UNet-M, MB2.5-M)": 0.007,
               "sequential(UNet, MB2.5-M)": 0.003, "integrated(UNet-S, MB2.5-M)": 0.015,
               "integrated(UNet-M, MB2.5-M)": 0.006, "integrated(UNet, MB2.5-M)": 0.003}


def bias_and_pool_macs(model, shape=(3, 96, 96)) -> int:
    """By hand, what the paper's convention adds to FlopCounterMode: one add per output element of a layer
    with a bias, and k*k reads per output element of a pool (adaptive: the input/output size ratio)."""
    total, hooks = 0, []

    def count(module, inputs, output):
        nonlocal total
        if getattr(module, "bias", None) is not None and isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            total += output.numel()
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
            total += output.numel() * k * k
        elif isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            total += output.numel() * (inputs[0].shape[-2] // output.shape[-2]) * (inputs[0].shape[-1] // output.shape[-1])

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total


@pytest.mark.parametrize("name", sorted(paper_model_configs()))
def test_macs_agree_with_torch_flop_counter(name):
    model = build_model(paper_model_configs()[name], 3, 10)
    ours, reference = count_cost(model, (3, 96, 96)).macs, torch_macs(model)
    assert 0 < 1 - reference / ours <= ALLOWED_GAP[name]
    assert ours == reference + bias_and_pool_macs(model)  # the whole gap is bias and pooling, nothing else


@pytest.mark.parametrize("size", [32, 96])
def test_table7_flop_classes_match_the_papers_ratios_with_three_channels(size):
    """Like for like: at 3 input channels every Table 7 ratio to Conv-L is within 6 % of the paper's printed
    ratio, at 32 px as at 96 px, and MB4-L costs less than Conv-L as in Table 7 (0.949); FlopCounterMode plus
    the hand count of biases and pools (the paper's convention, not our counter) measures the models."""
    def paper_macs(name):
        model, shape = build_model(dict(task="classifier", classifier=name), 3, 10), (3, size, size)
        return torch_macs(model, shape) + bias_and_pool_macs(model, shape)

    macs = {name: paper_macs(name) for name in TABLE7}
    for name, row in TABLE7.items():
        paper = row[3] / TABLE7["Conv-L"][3]
        assert abs(macs[name] / macs["Conv-L"] / paper - 1) < 0.06, (name, macs[name] / macs["Conv-L"], paper)
    assert macs["MB4-L"] < macs["Conv-L"]


def test_the_quick_preset_feeds_fashion_mnist_as_rgb():
    from search_spaces import get_sweep, resolve

    resolved = resolve(get_sweep("classifier-scaling"), "quick")
    cost = {v["classifier"]: c for v, c in zip(resolved.variants, resolved.costs)}
    assert resolved.base["grey_as_rgb"] is True
    assert cost["MB1-S"] / cost["Conv-L"] == pytest.approx(TABLE7["MB1-S"][3] / TABLE7["Conv-L"][3], rel=0.06)
    grey = resolve(get_sweep("classifier-scaling"), "quick", {"grey_as_rgb": False})
    grey_cost = {v["classifier"]: c for v, c in zip(grey.variants, grey.costs)}
    assert grey_cost["MB1-S"] / grey_cost["Conv-L"] < 0.27  # one channel: 0.258, the like-for-like gap
