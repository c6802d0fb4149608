"""FLOP fidelity: our counter must reproduce the paper's numbers (paper-notes 9)."""
import json

import pytest
from torch import nn

from orchestrator.cli import main
from trainables.measure.flops import count_cost
from trainables.models import build_classifier, build_model
from trainables.models.catalog import flop_table
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
    assert by_name["UNet"]["paper_macs"] == pytest.approx(1301.8e6)
    assert by_name["UNet-M"]["paper_macs"] is None
    assert by_name["UNet"]["macs"] == flop_table()[[r["name"] for r in flop_table()].index("UNet")]["macs"]
    assert len(rows) == 8 + 3 + 6


def test_models_command_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "1301.8 M" in out and "MB2.5-M" in out and "integrated(UNet-S, MB2.5-M)" in out
