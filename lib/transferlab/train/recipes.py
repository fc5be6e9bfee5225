"""Training recipes: SGD with momentum and a learning-rate schedule (triangular with a peak epoch, or
constant), optionally a larger learning rate for the head."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .adversary import Adversary

SCHEDULES = ("triangular", "constant")
_LATER_FIELDS = ("schedule", "head_lr_scale", "iterations", "adversary")  # in a store key only when set


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train: epochs, peak learning rate and its epoch, batch size, momentum, weight decay,
    label smoothing, augmentation, the schedule, and the head's learning rate as a multiple of the
    rest's (the ReMoS artifact trains a new head at 10×). With ``iterations`` (constant schedule only)
    a run is that many optimiser steps, whatever ``epochs`` says (the artifact counts iterations).
    With an ``adversary`` the run is adversarial training (thesis Eq. 2.1): every batch is replaced
    by its PGD examples before the step."""

    epochs: int
    lr: float
    peak_epoch: float
    batch_size: int
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool = True
    schedule: str = "triangular"
    head_lr_scale: float = 1.0
    iterations: int | None = None  # train for this many optimiser steps instead of ``epochs``
    adversary: Adversary | None = None  # adversarial training: each batch replaced by its PGD examples

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.head_lr_scale <= 0:
            raise ValueError(f"a recipe needs epochs ≥ 1, batch_size ≥ 1, lr > 0, head_lr_scale > 0: {self}")
        if self.iterations is not None and (self.iterations < 1 or self.schedule != "constant"):
            raise ValueError(
                f"a recipe counted in iterations needs iterations ≥ 1 and the constant schedule: {self}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; one of {', '.join(SCHEDULES)}")
        if not 0 <= self.peak_epoch <= self.epochs:
            raise ValueError(f"peak_epoch {self.peak_epoch} must lie in [0, epochs={self.epochs}]")

    def spec(self) -> dict[str, Any]:
        """The recipe as a store key: every field, except the later ones (schedule, head_lr_scale,
        iterations, adversary) at their defaults, so adding them left the keys of the models already
        trained unchanged."""
        out = dataclasses.asdict(self)
        for f in dataclasses.fields(self):
            if f.name in _LATER_FIELDS and out[f.name] == f.default:
                del out[f.name]
        return out

    def replace(self, **changes) -> Recipe:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def steps_per_epoch(self, n: int) -> int:
        """Optimiser steps of one pass over ``n`` examples (a batch never exceeds the data)."""
        return math.ceil(n / min(self.batch_size, max(n, 1)))

    def steps(self, n: int) -> int:
        """Optimiser steps of the whole run on ``n`` examples."""
        return self.iterations if self.iterations is not None else self.epochs * self.steps_per_epoch(n)

    def passes(self, n: int) -> int:
        """Passes over ``n`` examples the run starts (the last one may be cut short)."""
        return -(-self.steps(n) // self.steps_per_epoch(n))

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The learning rate of ``step``. Triangular: linear from 0 to ``lr`` at ``peak_epoch``, then
        linear to 0 at the end; constant: ``lr`` throughout."""
        if self.schedule == "constant":
            return self.lr
        t = step / steps_per_epoch
        if t < self.peak_epoch:
            return self.lr * t / self.peak_epoch
        return self.lr * max(0.0, (self.epochs - t) / max(self.epochs - self.peak_epoch, 1e-12))


RECIPES: dict[str, Recipe] = {
    # The thesis' ImageNet recipe (App. G.1.1) and its transfer settings (G.1.2), for real data on a GPU.
    "thesis-source": Recipe(epochs=16, lr=0.5, peak_epoch=2, batch_size=1024, weight_decay=5e-4),
    "thesis-transfer": Recipe(epochs=16, lr=0.1, peak_epoch=2, batch_size=1024, weight_decay=5e-4),
    # The thesis' MS-COCO cat/dog runs (Table G.3) and CelebA young/old runs (Table G.6).
    "thesis-coco-source": Recipe(epochs=25, lr=0.01, peak_epoch=2, batch_size=256, weight_decay=5e-5),
    "thesis-coco-transfer": Recipe(epochs=25, lr=0.005, peak_epoch=2, batch_size=256, weight_decay=5e-5),
    "thesis-celeba": Recipe(epochs=20, lr=0.05, peak_epoch=5, batch_size=1024, weight_decay=0.01),
    # The synthetic world on a CPU: same shape of schedule, sized for small images and data.
    "synthetic-source": Recipe(epochs=12, lr=0.2, peak_epoch=2, batch_size=128, weight_decay=5e-4),
    "synthetic-fixed": Recipe(
        epochs=30, lr=0.1, peak_epoch=3, batch_size=128, weight_decay=5e-4, augment=False
    ),
    "synthetic-full": Recipe(epochs=10, lr=0.05, peak_epoch=2, batch_size=64, weight_decay=5e-4),
    "synthetic-scratch": Recipe(epochs=20, lr=0.1, peak_epoch=3, batch_size=64, weight_decay=5e-4),
    # The ReMoS artifact's fine-tuning of students (CV_adv/examples/remos.sh, finetuner.py): plain SGD
    # at a constant 0.005, weight decay 1e-4, batch 64, label smoothing 0.1, the new head at 10×; its
    # length: 30,000 iterations against adversarial defects, 10,000 against backdoors.
    "remos-artifact": Recipe(
        epochs=1,
        lr=5e-3,
        peak_epoch=0,
        batch_size=64,
        momentum=0.0,
        weight_decay=1e-4,
        label_smoothing=0.1,
        schedule="constant",
        head_lr_scale=10.0,
        iterations=30_000,
    ),
}


def recipe(name_or_recipe: str | Recipe, **changes) -> Recipe:
    """A named recipe (or a given one), with ``changes`` applied."""
    if isinstance(name_or_recipe, Recipe):
        base = name_or_recipe
    elif name_or_recipe in RECIPES:
        base = RECIPES[name_or_recipe]
    else:
        raise ValueError(f"unknown recipe {name_or_recipe!r}; named recipes: {', '.join(RECIPES)}")
    return base.replace(**changes) if changes else base
