"""A small learnable image task for engine tests and benchmarks (not the book's synthetic world).

Each class is a coloured oriented bar at a jittered position on a noisy background, so a small
CNN must learn colour and shape to separate them, and accuracy is well below 100% at low epochs.
"""

from __future__ import annotations

import math

import torch

from .registry import data_function
from .tensors import TensorData


@data_function("world.toy")
def toy_task(
    num_classes: int = 10, n_per_class: int = 100, size: int = 24, seed: int = 0, noise: float = 0.35
) -> TensorData:
    """``num_classes × n_per_class`` images (uint8, 3 × size × size), classes interleaved."""
    g = torch.Generator().manual_seed(seed)
    n = num_classes * n_per_class
    y = torch.arange(n) % num_classes
    hue = (y.float() * 0.61803) % 1.0  # well-spread colours per class
    angle = (y.float() * math.pi / 5.0) % math.pi  # and orientations
    colour = torch.stack([0.5 + 0.5 * torch.cos(2 * math.pi * (hue + s)) for s in (0.0, 1 / 3, 2 / 3)], 1)
    angle = angle + 0.25 * torch.randn(n, generator=g)
    cy, cx = (torch.rand(2, n, generator=g) - 0.5) * size * 0.4 + size / 2
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    along = dx * torch.cos(angle)[:, None, None] + dy * torch.sin(angle)[:, None, None]
    across = -dx * torch.sin(angle)[:, None, None] + dy * torch.cos(angle)[:, None, None]
    bar = ((along.abs() < size * 0.3) & (across.abs() < size * 0.08)).float()[:, None]
    background = 0.3 + 0.2 * torch.rand(n, 3, 1, 1, generator=g)
    img = background * (1 - bar) + colour[:, :, None, None] * bar
    img = img + noise * torch.randn(n, 3, size, size, generator=g)
    return TensorData((img.clamp(0, 1) * 255).round().to(torch.uint8), y)
