"""A compact ResNet family for small images on a CPU, and a grouped twin that trains G at once.

Both are built by the same code: ``groups=G`` multiplies every channel count by G and makes every
convolution a grouped one, so the G models share no weights and no batch-norm statistics, and
each sees only its own images. :meth:`GroupedCompactResNet.split` and ``from_models`` convert
between the grouped model and G ordinary :class:`CompactResNet` s, tensor by tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import BLOCK_NAMES, Net, register_architecture

# name: (width, blocks per stage). Feature dimension is 8 × width.
SIZES = {
    "cresnet-xs": (8, (1, 1, 1, 1)),
    "cresnet-s": (16, (1, 1, 1, 1)),
    "cresnet-m": (24, (2, 2, 2, 2)),
    "cresnet-l": (32, (2, 2, 2, 2)),
}


class BasicBlock(nn.Module):
    """conv-bn-relu-conv-bn plus a (projected) shortcut, for ``groups`` independent models."""

    def __init__(self, c_in: int, c_out: int, stride: int, groups: int):
        super().__init__()
        g = groups
        self.conv1 = nn.Conv2d(c_in * g, c_out * g, 3, stride, 1, bias=False, groups=g)
        self.bn1 = nn.BatchNorm2d(c_out * g)
        self.conv2 = nn.Conv2d(c_out * g, c_out * g, 3, 1, 1, bias=False, groups=g)
        self.bn2 = nn.BatchNorm2d(c_out * g)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in * g, c_out * g, 1, stride, bias=False, groups=g), nn.BatchNorm2d(c_out * g)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _blocks(width: int, layers: Sequence[int], groups: int, in_channels: int) -> nn.ModuleDict:
    g = groups
    stem = nn.Sequential(
        nn.Conv2d(in_channels * g, width * g, 3, 1, 1, bias=False, groups=g),
        nn.BatchNorm2d(width * g),
        nn.ReLU(inplace=True),
    )
    stages, c_in = [stem], width
    for i, n in enumerate(layers):
        c_out = width * 2**i
        stage = [
            BasicBlock(c_in if j == 0 else c_out, c_out, 2 if (i > 0 and j == 0) else 1, g) for j in range(n)
        ]
        stages.append(nn.Sequential(*stage))
        c_in = c_out
    return nn.ModuleDict(dict(zip(BLOCK_NAMES, stages)))


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class CompactResNet(Net):
    """ResNet with four stages (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2) after a 3×3 stem."""

    def __init__(
        self, num_classes: int, width: int = 16, layers: Sequence[int] = (1, 1, 1, 1), in_channels: int = 3
    ):
        if len(layers) != 4:
            raise ValueError(f"a CompactResNet has 4 stages, got layers={layers}")
        super().__init__(_blocks(width, layers, 1, in_channels), 8 * width, num_classes)
        self.width, self.layers, self.in_channels = width, tuple(layers), in_channels
        _init(self)


class GroupedLinear(nn.Module):
    """G independent linear layers applied to (N, G, F) inputs, giving (G, N, K)."""

    def __init__(self, groups: int, in_features: int, out_features: int):
        super().__init__()
        layers = [nn.Linear(in_features, out_features) for _ in range(groups)]
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ngf,gkf->gnk", x, self.weight) + self.bias[:, None, :]


class GroupedCompactResNet(nn.Module):
    """G CompactResNets of one size in one module: input (G, N, C, H, W), logits (G, N, K)."""

    def __init__(
        self,
        groups: int,
        num_classes: int,
        width: int = 16,
        layers: Sequence[int] = (1, 1, 1, 1),
        in_channels: int = 3,
    ):
        super().__init__()
        self.groups, self.width, self.layers, self.in_channels = groups, width, tuple(layers), in_channels
        self.blocks = _blocks(width, layers, groups, in_channels)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = 8 * width
        self.head = GroupedLinear(groups, self.feature_dim, num_classes)
        _init(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(G, N, C, H, W) images to (N, G, F) features."""
        g, n = x.shape[:2]
        x = x.transpose(0, 1).reshape(n, g * x.shape[2], *x.shape[3:])
        if self.blocks.block1[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        for name in BLOCK_NAMES:
            x = self.blocks[name](x)
        return self.pool(x).view(n, g, self.feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def split(self) -> list[CompactResNet]:
        """The G models as ordinary CompactResNets (copies of the weights and statistics)."""
        state = self.state_dict()
        models = []
        for g in range(self.groups):
            m = CompactResNet(self.head.weight.shape[1], self.width, self.layers, self.in_channels)
            own = m.state_dict()
            m.load_state_dict({k: _slice(state[k], g, v) for k, v in own.items()})
            models.append(m.to(self.head.weight.device))
        return models

    @classmethod
    def from_models(cls, models: Sequence[CompactResNet]) -> GroupedCompactResNet:
        """One grouped module holding copies of ``models`` (all of one size and class count)."""
        first = models[0]
        shapes = {(m.width, m.layers, m.in_channels, m.num_classes) for m in models}
        if len(shapes) != 1:
            raise ValueError(f"models of different sizes cannot be grouped: {shapes}")
        grouped = cls(len(models), first.num_classes, first.width, first.layers, first.in_channels)
        states = [m.state_dict() for m in models]
        merged = {}
        for k, v in grouped.state_dict().items():
            if k.startswith("head."):
                merged[k] = torch.stack([s[k] for s in states])
            elif v.ndim == 0:
                merged[k] = states[0][k]
            else:
                merged[k] = torch.cat([s[k] for s in states])
        grouped.load_state_dict(merged)
        return grouped.to(first.head.weight.device)


def _slice(grouped: torch.Tensor, g: int, like: torch.Tensor) -> torch.Tensor:
    if like.ndim == 0:
        return grouped.clone()
    if grouped.ndim == like.ndim + 1:
        return grouped[g].clone()  # the head: stacked per model
    n = like.shape[0]
    return grouped[g * n : (g + 1) * n].clone()


def _register(name: str, width: int, layers: tuple[int, ...]) -> None:
    @register_architecture(name)
    def build(num_classes: int, in_channels: int = 3) -> CompactResNet:
        return CompactResNet(num_classes, width, layers, in_channels)


for _name, (_w, _l) in SIZES.items():
    _register(_name, _w, _l)
