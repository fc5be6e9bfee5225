"""Data functions that change an image set's granularity or texture, labels kept: :func:`rescaled`
(the same task, coarser) and :func:`stylized` (each image's texture and colours from others).

Chapter 9 made them, and they keep their registered names (``robust.rescaled``, ``robust.stylized``):
a name is part of every stored model's key, so renaming them would retrain what the store holds.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .registry import DataRef, data_function
from .tensors import TensorData


def coarse(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Float images ``x`` down-scaled by ``factor`` (area averaging) and up-scaled back (bilinear)."""
    size = x.shape[-1]
    small = F.interpolate(x, size=max(1, round(size * factor)), mode="area")
    return F.interpolate(small, size=size, mode="bilinear", align_corners=False)


@data_function("robust.rescaled")
def rescaled(base: DataRef, factor: float) -> TensorData:
    """The images of ``base`` down-scaled by ``factor`` (area averaging) and up-scaled back to their
    size (bilinear): the same task at a coarser granularity (thesis Fig. 2.7's down-then-up-scaled
    CIFAR-10). Labels and metadata are kept."""
    data = base.load()
    return data.replace(x=coarse(data.x.float(), factor).round().clamp(0, 255).to(torch.uint8))


@data_function("robust.stylized")
def stylized(base: DataRef, seed: int) -> TensorData:
    """The images of ``base`` with their texture and colours taken from others (thesis §2.4.4's
    Stylized ImageNet, in the small): each keeps its coarse layout (down-scaled by half and up again)
    and takes the fine detail of one random image of the set and the per-channel colour statistics
    of another. Labels are kept: a model trained on it can rely on shape only."""
    data = base.load()
    x = data.x.float()
    g = torch.Generator().manual_seed(seed)
    texture, colour = torch.randperm(len(x), generator=g), torch.randperm(len(x), generator=g)
    blurred = coarse(x, 0.5)
    styled = blurred + (x - blurred)[texture]
    mean, std = styled.mean((2, 3), keepdim=True), styled.std((2, 3), keepdim=True).clamp_min(1.0)
    x_mean, x_std = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True)
    out = (styled - mean) / std * x_std[colour] + x_mean[colour]
    return data.replace(x=out.round().clamp(0, 255).to(torch.uint8))
