"""A bias finder: which easy-to-overlay features push a model towards a class? (thesis §7.4)

Overlay a candidate feature on every image of a data set and compare the model's predicted-class
distribution before and after (:func:`output_shift`): the class whose share grows most, by how
much, and one divergence score, the total-variation distance between the two distributions (the
share of predictions that would have to move to turn one into the other). :func:`search` ranks a
family of candidates (:func:`candidates`: shapes, colours, textures, sizes, places, plus the
fence, ball and hat patterns) by the share of predictions their favoured class gains (or by that
score), so a user can discover biases of their own model.

Works on any classifier that maps a batch of normalised images to logits (the library's models,
a torchvision ResNet, ...) and any :class:`~transferlab.world.TensorData` (the synthetic world's
or one read by the adapters, e.g. ``image_folder``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from .. import utils
from ..train import predict
from ..world import Ball, Fence, Hat, Patch, TensorData, apply_overlay, overlay_name

COLOURS = {
    "yellow": (250, 230, 40),
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}


@dataclasses.dataclass(frozen=True)
class Shift:
    """How an overlay moves a model's predicted-class distribution on a data set."""

    classes: tuple[str, ...]
    clean: np.ndarray  # share of images predicted as each class, without the overlay
    overlaid: np.ndarray  # ... with it
    flip: float  # share of images whose predicted class changes
    into: np.ndarray  # per class: share of images whose prediction moves into it under the overlay
    out_of: np.ndarray  # ... moves out of it
    n: int  # images

    @property
    def tv(self) -> float:
        """Total-variation distance between the two distributions, in [0, 1]."""
        return float(0.5 * np.abs(self.overlaid - self.clean).sum())

    @property
    def gain(self) -> np.ndarray:
        """Per class: share with the overlay minus share without."""
        return self.overlaid - self.clean

    @property
    def top(self) -> str:
        """The class whose share grows most."""
        return self.classes[int(np.argmax(self.gain))]

    def gain_of(self, name: str) -> float:
        return float(self.gain[self.classes.index(name)])

    def gain_interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """A ``level`` interval for ``gain_of(name)`` over the images (the model held fixed): the
        gain is the mean of per-image changes in {-1, 0, 1}, so Student's t on their variance."""
        c = self.classes.index(name)
        gain = float(self.gain[c])
        if self.n < 2:
            return -np.inf, np.inf
        var = max(float(self.into[c] + self.out_of[c]) - gain**2, 0.0) * self.n / (self.n - 1)
        half = float(stats.t.ppf(0.5 + level / 2, self.n - 1)) * np.sqrt(var / self.n)
        return gain - half, gain + half

    def row(self) -> dict[str, Any]:
        return {"tv": self.tv, "flip": self.flip, "top_class": self.top, "top_gain": float(self.gain.max())}


def _distribution(pred: torch.Tensor, k: int) -> np.ndarray:
    return (torch.bincount(pred, minlength=k).float() / max(len(pred), 1)).numpy()


def output_shift(
    model: torch.nn.Module,
    data: TensorData,
    overlay,
    *,
    seed: int = 0,
    clean_pred: torch.Tensor | None = None,
) -> Shift:
    """The shift of ``model``'s predicted-class distribution on ``data`` when ``overlay`` is drawn on
    every image (``clean_pred``: the clean predictions, if already computed)."""
    return shift_between(model, data, apply_overlay(data, overlay, seed=seed), clean_pred=clean_pred)


def shift_between(
    model: torch.nn.Module, data: TensorData, overlaid: TensorData, *, clean_pred: torch.Tensor | None = None
) -> Shift:
    """The shift of ``model``'s predicted-class distribution from ``data`` to ``overlaid`` (the same
    images with an overlay drawn once, for probing many models with it)."""
    if clean_pred is None:
        clean_pred = predict(model, data).argmax(-1)
    pred = predict(model, overlaid).argmax(-1)
    k = len(data.classes)
    moved = pred != clean_pred
    return Shift(
        tuple(data.classes),
        _distribution(clean_pred, k),
        _distribution(pred, k),
        float(moved.float().mean()),
        _distribution(pred[moved], k) * float(moved.float().mean()),
        _distribution(clean_pred[moved], k) * float(moved.float().mean()),
        len(pred),
    )


def candidates(
    shapes: Sequence[str] = ("disc", "square", "triangle", "ring", "cross", "star"),
    colours: Sequence[str] = tuple(COLOURS),
    textures: Sequence[str] = ("solid", "stripes"),
    scales: Sequence[float] = (0.3, 0.5),
    positions: Sequence[str] = ("centre", "bottom-right"),
    patterns: bool = True,
) -> list[Any]:
    """A family of candidate overlays: every patch of the given shapes, colours (names of
    :data:`COLOURS` or RGB triples), textures, sizes and places, plus (``patterns``) the ball and
    the hat at each size and place, and the fence at two spacings."""
    rgb = [COLOURS[c] if isinstance(c, str) else tuple(c) for c in colours]
    out: list[Any] = [
        Patch(s, c, t, sc, p)
        for s, c, t, sc, p in itertools.product(shapes, rgb, textures, scales, positions)
    ]
    if patterns:
        out += [Fence(spacing=5.0), Fence(spacing=3.5)]
        out += [
            kind(scale=sc, position=p)
            for kind in (Ball, Hat)
            for sc, p in itertools.product(scales, positions)
        ]
    return out


RANKINGS = ("top_gain", "tv", "flip")


def search(
    model: torch.nn.Module,
    data: TensorData,
    overlays: Sequence[Any],
    *,
    n_images: int | None = None,
    by: str = "top_gain",
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Rank ``overlays`` by the shift they cause in ``model``'s predictions, largest first.

    Parameters
    ----------
    model
        The model probed.
    data
        The images the overlays are put on.
    overlays
        Candidate overlays (:mod:`transferlab.world` overlays, or their names).
    n_images
        Probe a seeded sample of this many images (default: all).
    by
        ``"top_gain"`` (the share of predictions the most-favoured class gains: a bias piles
        predictions onto one class), ``"tv"`` (total-variation distance: any change, occlusion
        included) or ``"flip"`` (changed predictions).
    seed
        Seeds the sample.
    progress
        Show a progress bar over the candidates.

    Returns
    -------
    pandas.DataFrame
        One row per overlay, its shift measures and favoured class, sorted by ``by``.
    """
    if by not in RANKINGS:
        raise ValueError(f"unknown ranking {by!r}; choose one of {', '.join(RANKINGS)}")
    if n_images is not None and n_images < len(data):
        data = data.subset(
            torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n_images]
        )
    clean = predict(model, data).argmax(-1)
    rows = []
    for ov in utils.progress(overlays, "candidate overlays", progress):
        rows.append(
            {"overlay": overlay_name(ov), **output_shift(model, data, ov, seed=seed, clean_pred=clean).row()}
        )
    out = pd.DataFrame(rows).sort_values(by, ascending=False, kind="stable").reset_index(drop=True)
    out.index.name = "rank"
    return out
