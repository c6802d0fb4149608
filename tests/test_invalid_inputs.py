"""Every invalid model hyperparameter raises a ValueError that names the value."""
import pytest
import torch

from trainables.models import UNet, build_classifier, build_model
from trainables.models.blocks import MBConv
from trainables.models.factory import check_model_input


@pytest.mark.parametrize("kwargs,message", [
    (dict(depth=0), r"depth d must be an integer >= 1, got 0"),
    (dict(base_width=0), r"base width b must be an integer >= 1, got 0"),
    (dict(base_width=0.5), r"base width b must be an integer >= 1, got 0.5"),
    (dict(blocks=0), r"blocks per level c must be an integer >= 1, got 0"),
    (dict(multiplier=0.5), r"multiplier m must be >= 1, got 0.5"),
    (dict(block="transformer"), r"unknown UNet block 'transformer'"),
])
def test_bad_unet_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNet(**kwargs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(width=0), r"width must be >= 1, got 0"),
    (dict(width=8, expansion=0.5), r"expansion rate e must be >= 1, got 0.5"),
    (dict(preset="Conv-XL"), r"unknown classifier preset 'Conv-XL'"),
])
def test_bad_classifier_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_classifier(**kwargs)


def test_bad_mbconv_expansion():
    with pytest.raises(ValueError, match="expansion rate must be >= 1, got 0.9"):
        MBConv(8, 8, expansion=0.9)


@pytest.mark.parametrize("config,message", [
    (dict(task="denoiser", unet="UNet-XL"), r"unknown UNet preset 'UNet-XL'"),
    (dict(task="joint", unet="UNet-S", joint_mode="parallel"), r"unknown joint_mode 'parallel'"),
    (dict(task="joint", unet="UNet-S", attach_level=7), r"attach_level must be in 0..3"),
    (dict(task="segmenter"), r"unknown task 'segmenter'"),
    (dict(task="denoiser"), r"UNet needs a preset or explicit depth, base_width, blocks, multiplier"),
])
def test_bad_model_configs(config, message):
    with pytest.raises(ValueError, match=message):
        build_model(config)


def test_input_size_must_be_divisible_by_2_to_the_d_minus_1():
    unet = UNet(depth=4, base_width=4)
    with pytest.raises(ValueError, match=r"input size 28 is not divisible by 2\^\(d-1\) = 8 .* image_size=32"):
        unet(torch.rand(1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"input size 36 is not divisible"):
        unet(torch.rand(1, 3, 32, 36))
    with pytest.raises(ValueError, match="not divisible"):
        check_model_input(build_model(dict(task="joint", joint_mode="sequential", unet="UNet-S")), 28)
    check_model_input(build_model(dict(task="denoiser", unet="UNet-S")), 32)


def test_integrated_head_needs_room_to_pool():
    model = build_model(dict(task="joint", depth=5, base_width=4, blocks=1, multiplier=2.0))
    with pytest.raises(ValueError, match="leaves 2 px at encoder level 4"):
        check_model_input(model, 32)
