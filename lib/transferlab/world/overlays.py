"""Triggers and overlays as composable transforms of uint8 images (N, 3, H, W).

The yellow square is the backdoor trigger of the bias-transfer chapter; the fence, ball and hat are
the "biases in the wild" overlays. The fence, ball and hat are drawn by the same code as the
source classes that *are* those patterns (:mod:`.synthetic`), so a bias the source model learns
from the class is the one the overlay probes.

Every overlay is a frozen dataclass (hashable, comparable, printable), with a short text form for
parameters: ``parse_overlay("square:size=4,position=random")``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar

import pandas as pd
import torch

from . import draw
from .tensors import TensorData

Tensor = torch.Tensor
POSITIONS = ("bottom-right", "top-left", "top-right", "bottom-left", "centre", "random")


def _corner(
    position: str, n: int, size: int, extent: int, g: torch.Generator, margin: int = 1
) -> tuple[Tensor, Tensor]:
    """Top-left pixel (row, col) of an ``extent``-pixel patch at a named position, per image."""
    lo, hi = margin, size - extent - margin
    if position == "random":
        return (torch.randint(lo, hi + 1, (n,), generator=g), torch.randint(lo, hi + 1, (n,), generator=g))
    row = {"top": lo, "bottom": hi, "centre": (size - extent) // 2}
    col = {"left": lo, "right": hi, "centre": (size - extent) // 2}
    r, _, c = position.partition("-")
    return torch.full((n,), row[r]), torch.full((n,), col[c or r])


@dataclasses.dataclass(frozen=True)
class Square:
    """A solid square patch (the thesis' yellow-square trigger); ``size`` in pixels."""

    size: int = 3
    position: str = "bottom-right"
    colour: tuple[int, int, int] = (255, 255, 0)

    def __post_init__(self) -> None:
        _check_position(self.position)

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, _, h, w = x.shape
        if self.size >= min(h, w) - 1:
            raise ValueError(f"a {self.size}-pixel square does not fit a {h}×{w} image")
        r, c = _corner(self.position, n, h, self.size, g)
        rows = (r[:, None] + torch.arange(self.size))[:, :, None]
        cols = (c[:, None] + torch.arange(self.size))[:, None, :]
        out = x.clone()
        idx = torch.arange(n)[:, None, None]
        out.permute(0, 2, 3, 1)[idx, rows, cols] = torch.tensor(self.colour, dtype=x.dtype)
        return out


def fence_alpha(n: int, size: int, g: torch.Generator, spacing: float = 5.0, jitter: bool = True) -> Tensor:
    """Coverage (N, H, W) of a chain-link fence: two families of thin diagonal lines."""
    x, y = draw.grid(size)
    px = 2.0 / size
    period = spacing * px * (1 + (0.25 * (torch.rand(n, generator=g) - 0.5) if jitter else 0))
    angle = math.pi / 4 + (0.2 * (torch.rand(n, generator=g) - 0.5) if jitter else torch.zeros(n))
    phase = torch.rand(n, 2, generator=g) * period[:, None]
    cover = torch.zeros(n, size, size)
    for k, sign in enumerate((1.0, -1.0)):
        a = (angle * sign)[:, None, None]
        t = x[None] * torch.cos(a) + y[None] * torch.sin(a) + phase[:, k, None, None]
        p = period[:, None, None]
        dist = ((t / p) - torch.round(t / p)).abs() * p  # distance to the nearest line
        cover = torch.maximum(cover, (1.0 - dist / (0.6 * px)).clamp(0, 1))
    return cover


@dataclasses.dataclass(frozen=True)
class Fence:
    """A chain-link-like grid of grey wire over the whole image."""

    spacing: float = 5.0
    opacity: float = 0.85
    grey: int = 200

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, _, size, _ = x.shape
        a = fence_alpha(n, size, g, self.spacing)[:, None] * self.opacity
        return (x.float() * (1 - a) + self.grey * a).round().clamp(0, 255).to(torch.uint8)


def ball_objects(image: Tensor, centre: Tensor, scale: Tensor, g: torch.Generator) -> draw.Objects:
    """Tennis-ball felt: yellow-green with the white curved seams, on a silhouette drawn at random
    from the generic shape families (the tennis-ball analog). Its own markings, not its outline,
    make it: a yellow disc would be the look of the world's disc and flower classes, which models
    that never saw the source pile onto as readily."""
    n = len(image)
    family = draw.random_generic(n, g)
    colour = draw.hsv(
        0.19 + 0.02 * torch.randn(n, generator=g),
        0.75 + 0.1 * torch.rand(n, generator=g),
        0.85 + 0.1 * torch.rand(n, generator=g),
    )
    return draw.Objects.make(
        image,
        family,
        centre,
        scale,
        colour,
        colour2=torch.ones(n, 3) * 0.95,
        texture="seam",
        angle=torch.rand(n, generator=g) * 2 * math.pi,
    )


def hat_objects(image: Tensor, centre: Tensor, scale: Tensor, g: torch.Generator) -> draw.Objects:
    """Brimmed hats of any colour (the hat analog)."""
    n = len(image)
    colour = draw.hsv(
        torch.rand(n, generator=g),
        0.3 + 0.5 * torch.rand(n, generator=g),
        0.2 + 0.6 * torch.rand(n, generator=g),
    )
    band = draw.hsv(torch.rand(n, generator=g), torch.full((n,), 0.7), torch.full((n,), 0.9))
    return draw.Objects.make(
        image,
        "hat",
        centre,
        scale,
        colour,
        colour2=band,
        texture="solid",
        angle=0.15 * torch.randn(n, generator=g),
        param=torch.rand(n, generator=g),
    )


class _Pasted:
    """An object pasted at ``position`` with ``scale`` (image units: 1 = half the image side)."""

    scale: float
    position: str
    objects: ClassVar[Callable[..., draw.Objects]]

    def __post_init__(self) -> None:
        _check_position(self.position)

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        return _paste(x, g, self.position, self.scale, type(self).objects)


# The ball's and the hat's default sizes are about those of their source classes' objects (a
# source model learns a pattern at the size it sees it: a much smaller ball does not register).


@dataclasses.dataclass(frozen=True)
class Ball(_Pasted):
    """Tennis-ball felt (yellow-green, white seams) on a silhouette of any generic shape."""

    scale: float = 0.45
    position: str = "random"
    objects = staticmethod(ball_objects)


@dataclasses.dataclass(frozen=True)
class Hat(_Pasted):
    """A hat-like shape."""

    scale: float = 0.55
    position: str = "centre"
    objects = staticmethod(hat_objects)


@dataclasses.dataclass(frozen=True)
class Patch:
    """A drawn shape (any family of the world's drawing code) of one colour and texture: the
    family the bias finder searches over (shape, colour, texture, size, place)."""

    shape: str = "disc"
    colour: tuple[int, int, int] = (255, 255, 0)
    texture: str = "solid"
    scale: float = 0.3
    position: str = "centre"

    def __post_init__(self) -> None:
        _check_position(self.position)
        if self.shape not in draw.FAMILY_INDEX:
            raise ValueError(f"unknown shape {self.shape!r}; choose one of {', '.join(draw.FAMILY_INDEX)}")
        if self.texture not in draw.TEXTURES:
            raise ValueError(f"unknown texture {self.texture!r}; choose one of {', '.join(draw.TEXTURES)}")
        if len(self.colour) != 3:
            raise ValueError(f"a colour needs 3 values (R, G, B), got {self.colour}")

    def _objects(self, image: Tensor, centre: Tensor, scale: Tensor, g: torch.Generator) -> draw.Objects:
        n = len(image)
        colour = torch.tensor(self.colour, dtype=torch.float32).expand(n, 3) / 255
        return draw.Objects.make(
            image,
            self.shape,
            centre,
            scale,
            colour,
            colour2=1.0 - colour,
            texture=self.texture,
            freq=torch.full((n,), 3.0),
        )

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        return _paste(x, g, self.position, self.scale, self._objects)


def _paste(x: Tensor, g: torch.Generator, position: str, scale: float, objects) -> Tensor:
    n, _, size, _ = x.shape
    extent = max(1, round(scale * size))
    r, c = _corner(position, n, size, extent, g, margin=0)
    centre = torch.stack([c, r], 1).float() / size * 2 - 1 + scale
    canvas = x.float() / 255
    draw.paint(canvas, objects(torch.arange(n), centre, torch.full((n,), scale * 0.95), g))
    return (canvas * 255).round().clamp(0, 255).to(torch.uint8)


@dataclasses.dataclass(frozen=True)
class Compose:
    """Several overlays, applied in order."""

    parts: tuple[Any, ...]

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        for part in self.parts:
            x = part(x, g)
        return x


OVERLAYS = {"square": Square, "fence": Fence, "ball": Ball, "hat": Hat, "patch": Patch}


def _check_position(position: str) -> None:
    if position not in POSITIONS:
        raise ValueError(f"unknown position {position!r}; choose one of {', '.join(POSITIONS)}")


def parse_overlay(text: str):
    """An overlay from its text form: ``name[:key=value,...]``, several joined by ``+``."""
    parts = []
    for item in text.split("+"):
        name, _, args = item.strip().partition(":")
        if name not in OVERLAYS:
            raise ValueError(f"unknown overlay {name!r}; choose one of {', '.join(OVERLAYS)}")
        cls = OVERLAYS[name]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for pair in filter(None, args.split(",")):
            key, _, value = pair.partition("=")
            if key not in fields:
                raise ValueError(f"overlay {name!r} has no parameter {key!r}; it has {', '.join(fields)}")
            kind = type(fields[key].default)
            kwargs[key] = tuple(int(v) for v in value.split("/")) if kind is tuple else kind(value)
        parts.append(cls(**kwargs))
    return parts[0] if len(parts) == 1 else Compose(tuple(parts))


def overlay_name(overlay) -> str:
    """A short text form of an overlay (inverse of :func:`parse_overlay` for the fields that differ
    from their defaults)."""
    if isinstance(overlay, Compose):
        return "+".join(overlay_name(p) for p in overlay.parts)
    name = next(k for k, v in OVERLAYS.items() if isinstance(overlay, v))
    changed = [
        f"{f.name}={'/'.join(map(str, v)) if isinstance(v, tuple) else v}"
        for f in dataclasses.fields(overlay)
        if (v := getattr(overlay, f.name)) != f.default
    ]
    return name + (":" + ",".join(changed) if changed else "")


def apply_overlay(
    data: TensorData,
    overlay,
    *,
    fraction: float = 1.0,
    classes: Any = None,
    seed: int = 0,
    column: str | None = None,
) -> TensorData:
    """``data`` with ``overlay`` on a ``fraction`` of the images of ``classes`` (all if None).

    Labels are unchanged. The chosen images are marked in ``attrs[column]`` (default: the overlay's
    name), so a chapter can tell triggered from clean images.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    g = torch.Generator().manual_seed(seed)
    eligible = torch.ones(len(data), dtype=torch.bool)
    if classes is not None:
        labels = torch.as_tensor([data.classes.index(c) if isinstance(c, str) else int(c) for c in classes])
        eligible = torch.isin(data.y, labels)
    idx = eligible.nonzero().flatten()
    chosen = idx[torch.randperm(len(idx), generator=g)[: round(fraction * len(idx))]]
    x = data.x.clone()
    if len(chosen):
        x[chosen] = overlay(data.x[chosen], g)
    mark = torch.zeros(len(data), dtype=torch.bool)
    mark[chosen] = True
    attrs = data.attrs.copy() if data.attrs is not None else pd.DataFrame(index=range(len(data)))
    attrs[column or overlay_name(overlay)] = mark.numpy()
    return data.replace(x=x, attrs=attrs)
