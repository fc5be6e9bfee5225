"""Adversarial perturbations: one projected-gradient ascent (PGD) for adversarial training, robust
accuracy and every attack built on it (the defects of chapter 8).

Images are in [0, 1] (pixel units); an :class:`Adversary` is the ball the perturbation stays in,
L∞ or L2 with radius ``eps``, and the number of steps, each of size ``2.5 ε / steps`` (Madry et
al.'s rule), from a random point of the ball. :func:`ascend` maximises any objective over the ball;
:func:`adversarial_batch` is the inner maximisation of robust training (thesis Eq. 2.1) on a
normalised batch, as :func:`~transferlab.train.loop.fit` uses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import torch
from torch.nn import functional as F

NORMS = ("linf", "l2")


@dataclasses.dataclass(frozen=True)
class Adversary:
    """A PGD adversary: ``steps`` steps of size ``2.5 eps / steps`` in the ``norm`` ball of radius
    ``eps`` (images in [0, 1]), from a random start."""

    norm: str
    eps: float
    steps: int = 3

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; one of {', '.join(NORMS)}")
        if not self.eps > 0 or self.steps < 1:
            raise ValueError(f"an adversary needs eps > 0 and steps ≥ 1, got {self}")

    @property
    def step_size(self) -> float:
        return 2.5 * self.eps / self.steps


def _l2_norms(t: torch.Tensor) -> torch.Tensor:
    """Each image's L2 norm (over its last three dimensions: a batch (N, C, H, W) or a grouped
    model's (G, N, C, H, W)), shaped to divide the images; never 0."""
    return t.flatten(-3).norm(dim=-1).clamp_min(1e-12).view(*t.shape[:-3], 1, 1, 1)


def _random_start(x0: torch.Tensor, norm: str, eps: float, generator: torch.Generator | None) -> torch.Tensor:
    noise = torch.rand(x0.shape, generator=generator) * 2 - 1
    if norm == "l2":  # a random direction, at a random radius within the ball
        radius = torch.rand(x0.shape[:-3], generator=generator).view(*x0.shape[:-3], 1, 1, 1)
        noise = noise / _l2_norms(noise) * radius
    return (x0 + noise.to(x0.device) * eps).clamp(0, 1)


def _project(x: torch.Tensor, x0: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    if norm == "linf":
        return torch.max(torch.min(x, x0 + eps), x0 - eps).clamp(0, 1)
    delta = x - x0
    return (x0 + delta * (eps / _l2_norms(delta)).clamp(max=1.0)).clamp(0, 1)


def ascend(
    objective: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    adversary: Adversary,
    *,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Images in the ``adversary``'s ball around ``x0`` (in [0, 1]) that maximise ``objective``
    (one value per image) by projected steps: the gradient's sign (L∞) or its direction (L2)."""
    step = adversary.step_size if step_size is None else step_size
    x = _random_start(x0, adversary.norm, adversary.eps, generator) if random_start else x0.clone()
    for _ in range(adversary.steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(x).sum(), x)
        with torch.no_grad():
            move = grad.sign() if adversary.norm == "linf" else grad / _l2_norms(grad)
            x = _project(x + step * move, x0, adversary.norm, adversary.eps)
    return x.detach()


def adversarial_batch(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    adversary: Adversary,
    *,
    mean: float,
    std: float,
    autocast=None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The normalised batch ``x`` replaced by PGD examples that maximise the model's loss on ``y``.

    The model is in eval mode while they are made, as in Madry et al.'s code (its mode restored). A
    grouped model's batch is (G, N, C, H, W) with labels (G, N): each member attacks its own images
    (the members' losses are independent, so one gradient of their sum is every member's own).

    Parameters
    ----------
    model
        The model attacked (its parameters are not changed).
    x, y
        The normalised batch and its labels.
    adversary
        The norm (L2 or L∞), radius ε in pixel units, steps and step size of the attack.
    mean, std
        The normalisation of ``x``: the ball is in pixel units.
    autocast
        A context factory for the forward passes (the training's numeric path), or ``None``.
    generator
        Seeds the random start.

    Returns
    -------
    torch.Tensor
        The attacked batch, normalised like ``x``.
    """
    was_training = model.training
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)

    def loss(z: torch.Tensor) -> torch.Tensor:
        with autocast() if autocast is not None else contextlib.nullcontext():
            logits = model((z - mean) / std).float()
        return F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)

    try:
        adv = ascend(loss, (x * std + mean).clamp(0, 1), adversary, generator=generator)
    finally:
        for p in params:
            p.requires_grad_(True)
        model.train(was_training)
    return (adv - mean) / std  # elementwise: the batch keeps its memory format (channels-last)
