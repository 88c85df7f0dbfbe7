"""2D U-Net as published: DoubleConv (conv-BN-ReLU x2) blocks, max-pool down, skip connections.

The published configuration is ``UNet(in_channels, base=64, depth=4)``: encoder 64-128-256-512, a
512-channel bottleneck at 1/16 resolution, decoder 256-128-64-64, a 1x1 output convolution.
Each stage (encoder block, bottleneck, decoder block) ends with ``Dropout2d``; the bottleneck uses a
higher rate. Width (``base``), depth, dropout rates, input channels and the upsampling mode are
parameters, so the CPU default is the same network, only narrower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

UP_MODES = ("transpose", "bilinear")


class DoubleConv(nn.Sequential):
    """(3x3 conv, BatchNorm, ReLU) twice, then ``Dropout2d(dropout)``."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )


class Up(nn.Module):
    """Upsample x2 (transposed conv or bilinear, channels kept), concatenate the skip, DoubleConv."""

    def __init__(self, channels: int, out_channels: int, dropout: float, mode: str):
        super().__init__()
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2)
        else:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv = DoubleConv(2 * channels, out_channels, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dh or dw:  # odd input sizes: pad the upsampled map to the skip's size
            x = F.pad(x, [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """2D U-Net returning logits ``(N, out_channels, H, W)`` for input ``(N, in_channels, H, W)``.

    Encoder level ``i`` (0..depth-1) has ``base * 2**i`` channels; the bottleneck keeps the deepest
    width (``base * 2**(depth-1)``); decoder level ``i`` outputs ``base * 2**(i-1)`` channels (``base``
    at the top), so every upsampled map matches its skip connection.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, base: int = 64, depth: int = 4,
                 dropout: float = 0.1, bottleneck_dropout: float = 0.3, up: str = "transpose"):
        super().__init__()
        if up not in UP_MODES:
            raise ValueError(f"up must be one of {UP_MODES}, got {up!r}")
        if depth < 1 or base < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError("in_channels, out_channels, base and depth must be positive")
        self.config = dict(in_channels=int(in_channels), out_channels=int(out_channels), base=int(base),
                           depth=int(depth), dropout=float(dropout),
                           bottleneck_dropout=float(bottleneck_dropout), up=str(up))
        widths = [base * 2**i for i in range(depth)]
        self.encoder = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.encoder.append(DoubleConv(channels, width, dropout))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(channels, channels, bottleneck_dropout)
        self.decoder = nn.ModuleList()
        for i in reversed(range(depth)):
            out = widths[i - 1] if i > 0 else base
            self.decoder.append(Up(widths[i], out, dropout, up))
        self.head = nn.Conv2d(base, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)
        return self.head(x)


def build_model(config: dict) -> UNet:
    """Rebuild a model from ``UNet.config`` (as stored in a checkpoint's ``model_config``)."""
    return UNet(**config)


def published_config(in_channels: int) -> dict:
    """The published setting: base 64, depth 4 (64-128-256-512, bottleneck 512), transposed-conv up."""
    return dict(in_channels=int(in_channels), out_channels=1, base=64, depth=4, dropout=0.1,
                bottleneck_dropout=0.3, up="transpose")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
