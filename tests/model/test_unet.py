"""The U-Net: published widths, parameterised width/depth/dropout/channels, both upsampling modes."""

import pytest
import torch
from torch import nn

from breastmri.model.unet import UNet, build_model, count_parameters, published_config


def _conv_widths(blocks):
    return [block[0].out_channels for block in blocks]


def test_published_configuration_has_the_published_widths():
    model = UNet(**published_config(1))
    assert _conv_widths(model.encoder) == [64, 128, 256, 512]
    assert model.bottleneck[0].out_channels == 512
    assert [up.conv[0].out_channels for up in model.decoder] == [256, 128, 64, 64]
    assert all(isinstance(up.up, nn.ConvTranspose2d) for up in model.decoder)
    assert model.head.kernel_size == (1, 1) and model.head.in_channels == 64
    assert count_parameters(model) == 14_783_809


def test_every_stage_ends_with_dropout_and_the_bottleneck_rate_is_higher():
    model = UNet(1, base=4, depth=3, dropout=0.1, bottleneck_dropout=0.4)
    blocks = list(model.encoder) + [model.bottleneck] + [up.conv for up in model.decoder]
    assert all(isinstance(block[-1], nn.Dropout2d) for block in blocks)
    assert [block[-1].p for block in blocks] == [0.1] * 3 + [0.4] + [0.1] * 3
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 1  # one pool, applied depth times


@pytest.mark.parametrize("up", ["transpose", "bilinear"])
@pytest.mark.parametrize("in_channels", [1, 6])
def test_logits_have_the_input_size(up, in_channels):
    model = UNet(in_channels, base=4, depth=3, up=up).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, 32, 32)).shape == (2, 1, 32, 32)
        assert model(torch.randn(1, in_channels, 36, 28)).shape == (1, 1, 36, 28)  # not divisible by 8
    assert any(isinstance(m, nn.ConvTranspose2d) for m in model.modules()) == (up == "transpose")


def test_config_rebuilds_the_same_architecture():
    model = UNet(6, base=8, depth=2, dropout=0.2, bottleneck_dropout=0.5, up="bilinear")
    again = build_model(model.config)
    assert again.config == model.config
    again.load_state_dict(model.state_dict())  # same keys and shapes


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="up must be"):
        UNet(1, up="nearest")
    with pytest.raises(ValueError):
        UNet(1, depth=0)
