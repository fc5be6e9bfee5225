"""The one model interface every chapter uses."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

BLOCK_NAMES = ("block1", "block2", "block3", "block4", "block5")


class Net(nn.Module):
    """Five named blocks, global pooling, a linear head.

    ``features(x)`` is the penultimate representation (what fixed-feature transfer trains on);
    ``freeze(k)`` stops gradients through the first ``k`` blocks.
    """

    def __init__(
        self, blocks: nn.ModuleDict, feature_dim: int, num_classes: int, pool: nn.Module | None = None
    ):
        super().__init__()
        if tuple(blocks) != BLOCK_NAMES:
            raise ValueError(f"a Net has blocks {BLOCK_NAMES}, got {tuple(blocks)}")
        self.blocks = blocks
        self.pool = pool or nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = feature_dim
        self.head = nn.Linear(feature_dim, num_classes)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def features(self, x: torch.Tensor, upto: int = len(BLOCK_NAMES)) -> torch.Tensor:
        """Activations after block ``upto`` (pooled and flattened when ``upto`` is the last)."""
        for name in BLOCK_NAMES[:upto]:
            x = self.blocks[name](x)
        return self.pool(x) if upto == len(BLOCK_NAMES) else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reset_head(self, num_classes: int) -> None:
        """A new, freshly initialised linear head with ``num_classes`` outputs (for transfer)."""
        ref = self.head.weight
        self.head = nn.Linear(self.feature_dim, num_classes).to(device=ref.device, dtype=ref.dtype)

    def freeze(self, k: int) -> None:
        """Freeze the parameters of the first ``k`` blocks (0 = none, 5 = the whole backbone)."""
        if not 0 <= k <= len(BLOCK_NAMES):
            raise ValueError(f"can freeze 0..{len(BLOCK_NAMES)} blocks, not {k}")
        for i, name in enumerate(BLOCK_NAMES):
            for p in self.blocks[name].parameters():
                p.requires_grad_(i >= k)


_REGISTRY: dict[str, Callable[..., Net]] = {}


def register_architecture(name: str):
    """Decorator: make a builder ``fn(num_classes, **kwargs) -> Net`` available by name."""

    def wrap(fn: Callable[..., Net]) -> Callable[..., Net]:
        _REGISTRY[name] = fn
        return fn

    return wrap


def architectures() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(_REGISTRY)


def build_model(arch: str, num_classes: int, **kwargs) -> Net:
    """A freshly initialised model of architecture ``arch``."""
    if arch not in _REGISTRY:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(architectures())}")
    return _REGISTRY[arch](num_classes=num_classes, **kwargs)


def conv_layers(module: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every convolution in ``module``, with its qualified name, in definition order."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
