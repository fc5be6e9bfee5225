"""Architectures with one interface: ``features(x)``, ``head``, five named blocks that can be frozen.

- :mod:`.compact`: a compact ResNet family sized for the synthetic world on a CPU, and its grouped
  twin that trains several such models in one forward pass.
- :mod:`.plain`: a plain VGG-style network (no shortcuts), a second family at the same cost.
- :mod:`.zoo`: torchvision architectures (ResNet-18/50, VGG-11-BN, MobileNet-V2, ...) behind the
  same interface, for real data. Weights come from a file the user points at; nothing is fetched.
"""

from . import plain, zoo  # noqa: F401 - register the plain and torchvision architectures
from .base import BLOCK_NAMES, Net, architectures, build_model, conv_layers, register_architecture
from .compact import SIZES, CompactResNet, GroupedCompactResNet

__all__ = [
    "BLOCK_NAMES",
    "Net",
    "build_model",
    "register_architecture",
    "architectures",
    "conv_layers",
    "CompactResNet",
    "GroupedCompactResNet",
    "SIZES",
]
