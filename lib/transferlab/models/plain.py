"""A plain VGG-style network without shortcuts: a second architecture family for small images."""

from __future__ import annotations

from torch import nn

from .base import BLOCK_NAMES, Net, register_architecture


def _conv(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


@register_architecture("cvgg-s")
def plain_cnn(num_classes: int, width: int = 16, in_channels: int = 3) -> Net:
    """Five conv-bn-relu blocks (max-pooling after blocks 2–4), widths w, 2w, 4w, 8w, 8w."""
    w = width
    plan = [
        (in_channels, w, False),
        (w, 2 * w, True),
        (2 * w, 4 * w, True),
        (4 * w, 8 * w, True),
        (8 * w, 8 * w, False),
    ]
    blocks = nn.ModuleDict({name: _conv(*p) for name, p in zip(BLOCK_NAMES, plan)})
    for m in blocks.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return Net(blocks, 8 * w, num_classes)
