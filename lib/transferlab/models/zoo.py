"""torchvision architectures behind the :class:`~transferlab.models.base.Net` interface.

The torchvision module is built first (so a torchvision checkpoint loads with its own keys), then
its layers are regrouped into five blocks: for ResNets the stem and ``layer1..4``; for VGG the
stages between max-pools; for MobileNet-V2 the stages between stride-2 layers. The classifier is
replaced by global average pooling and one linear head (the interface of fixed-feature transfer).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from .base import BLOCK_NAMES, Net, register_architecture


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a plain tensor checkpoint (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def _wrap(tv: nn.Module, stages: list[nn.Module], feature_dim: int, num_classes: int) -> Net:
    return Net(nn.ModuleDict(dict(zip(BLOCK_NAMES, stages))), feature_dim, num_classes)


def _resnet(name: str):
    @register_architecture(name)
    def build(num_classes: int, weights: str | Path | None = None) -> Net:
        tv = getattr(torchvision.models, name)(weights=None)
        if weights is not None:
            tv.load_state_dict(load_state(weights))
        stem = nn.Sequential(tv.conv1, tv.bn1, tv.relu, tv.maxpool)
        return _wrap(tv, [stem, tv.layer1, tv.layer2, tv.layer3, tv.layer4], tv.fc.in_features, num_classes)


def _split_at(features: nn.Sequential, starts: list[int]) -> list[nn.Module]:
    bounds = [*starts, len(features)]
    return [nn.Sequential(*features[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


@register_architecture("vgg11_bn")
def _vgg11_bn(num_classes: int, weights: str | Path | None = None) -> Net:
    tv = torchvision.models.vgg11_bn(weights=None)
    if weights is not None:
        tv.load_state_dict(load_state(weights))
    pools = [i + 1 for i, m in enumerate(tv.features) if isinstance(m, nn.MaxPool2d)]
    return _wrap(tv, _split_at(tv.features, [0, *pools[:-1]]), 512, num_classes)


@register_architecture("mobilenet_v2")
def _mobilenet_v2(num_classes: int, weights: str | Path | None = None) -> Net:
    tv = torchvision.models.mobilenet_v2(weights=None)
    if weights is not None:
        tv.load_state_dict(load_state(weights))
    strided = [
        i
        for i, m in enumerate(tv.features)
        if i > 0 and any(getattr(c, "stride", (1,))[0] == 2 for c in m.modules() if isinstance(c, nn.Conv2d))
    ]
    return _wrap(tv, _split_at(tv.features, [0, *strided]), tv.last_channel, num_classes)


for _n in ("resnet18", "resnet34", "resnet50"):
    _resnet(_n)
