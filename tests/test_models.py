"""Shapes of every paper model and joint mode, on several input sizes and channel counts."""
import pytest
import torch

from trainables.models import (CLASSIFIER_PRESETS, UNET_PRESETS, IntegratedJoint, MBConv, SequentialJoint,
                               UNet, build_model)
from trainables.models.catalog import paper_model_configs


@pytest.mark.parametrize("name", sorted(paper_model_configs()))
def test_every_paper_model_runs_at_96(name):
    config = paper_model_configs()[name]
    model = build_model(config, in_channels=3, num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 96, 96))
    if config["task"] == "classifier":
        assert out.shape == (2, 10)
    elif config["task"] == "denoiser":
        assert out.shape == (2, 3, 96, 96)
    else:
        image, logits = out
        assert image.shape == (2, 3, 96, 96) and logits.shape == (2, 10)


@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3), (48, 2)])
def test_models_take_any_size_and_channel_count(size, channels):
    for config in (dict(task="classifier", classifier="MB2.5-S"), dict(task="denoiser", unet="UNet-S"),
                   dict(task="joint", joint_mode="integrated", unet="UNet-S"),
                   dict(task="joint", joint_mode="sequential", unet="UNet-S", block="mbconv")):
        out = build_model(config, channels, 7).eval()(torch.rand(2, channels, size, size))
        if config["task"] == "classifier":
            assert out.shape == (2, 7)
        elif config["task"] == "denoiser":
            assert out.shape == (2, channels, size, size)
        else:
            image, logits = out
            assert image.shape == (2, channels, size, size) and logits.shape == (2, 7)


def test_unet_widths_follow_b_times_m_to_the_i():
    assert UNet(4, 8, 2, 1.5).channels == [8, 12, 18, 27]
    assert UNet(5, 16, 1, 2.0).channels == [16, 32, 64, 128, 256]
    assert UNet(3, 8, 2, 1.0).channels == [8, 8, 8]
    unet = UNet(4, 8, 3, 2.0)
    assert all(len(level) == 3 for level in unet.encoder) and all(len(level) == 3 for level in unet.decoder)


def test_mbconv_structure():
    block = MBConv(16, 16, expansion=6, kernel=5, se_channels=8)
    assert block.mid == 96 and block.use_residual and block.se is not None
    assert block.depthwise[0].kernel_size == (5, 5) and block.depthwise[0].groups == 96
    assert MBConv(16, 16, expansion=1).expand is None  # no 1x1 expansion when it would not widen
    strided = MBConv(16, 24, expansion=3, stride=2)
    assert not strided.use_residual
    assert strided(torch.rand(1, 16, 8, 8)).shape == (1, 24, 4, 4)


def test_residual_really_adds_the_input():
    block = MBConv(8, 8, expansion=2).eval()
    for p in block.project.parameters():
        torch.nn.init.zeros_(p)  # projection (conv + norm affine) outputs zero -> block is the identity
    x = torch.rand(1, 8, 6, 6)
    assert torch.allclose(block(x), x)


def test_integrated_head_attaches_to_chosen_level():
    unet = UNet(4, 8, 2, 2.0)
    assert IntegratedJoint(unet, 10).head.features[0][0].in_channels == 64  # bottleneck by default
    assert IntegratedJoint(unet, 10, attach_level=1).head.features[0][0].in_channels == 16


def test_sequential_classifier_sees_the_denoised_image():
    model = SequentialJoint(UNet(2, 4, 1, 2.0), build_model(dict(task="classifier", classifier="Conv-S")))
    seen = {}
    model.classifier.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    image, _ = model(torch.rand(1, 3, 16, 16))
    assert torch.equal(seen["x"], image)


def test_presets_are_the_papers():
    assert UNET_PRESETS == {"UNet-S": (4, 8, 2, 1.5), "UNet-M": (4, 16, 2, 2.0), "UNet": (4, 32, 2, 2.0)}
    assert set(CLASSIFIER_PRESETS) == {"Conv-S", "Conv-M", "Conv-L", "MB1-S", "MB2.5-S", "MB2.5-M", "MB4-S", "MB4-L"}
