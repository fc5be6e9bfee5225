"""Drawing the classes of a catalogue: the layer under the synthetic world's parts.

A catalogue is a table with one row per class (:func:`class_row`: its shape family, colours,
texture, ...); :func:`render_catalogue` draws images of its classes. Seeds of the draws come from
the names of what is drawn (:func:`seed_of`), so that streams do not depend on each other's order.
Both the main world (:mod:`.synthetic`) and the planted-influence world (:mod:`.influence`) draw
through this module.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import draw
from .overlays import Fence, ball_objects, hat_objects

Tensor = torch.Tensor
SOLID_TEXTURES = tuple(i for i, t in enumerate(draw.TEXTURES) if t != "seam")


def seed_of(*parts: Any) -> int:
    """A 63-bit seed from the world seed and the names of what is drawn (order-independent streams)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator_of(*parts: Any) -> torch.Generator:
    return torch.Generator().manual_seed(seed_of(*parts))


def rng_of(*parts: Any) -> np.random.Generator:
    return np.random.default_rng(seed_of(*parts))


NAN = float("nan")


def class_row(
    name: str,
    superclass: str,
    kind: str,
    family: str,
    *,
    family2: str = "",
    hue: float = NAN,
    hue2: float = NAN,
    texture: int = -1,
    freq: float = 3.0,
    param: float = NAN,
) -> dict[str, Any]:
    """A class: NaN hue / hue2 or texture −1 mean "random per image"."""
    return dict(
        name=name,
        superclass=superclass,
        kind=kind,
        family=family,
        family2=family2,
        hue=hue,
        hue2=hue2,
        texture=texture,
        freq=freq,
        param=param,
    )


# ---------------------------------------------------------------------------------------------
# rendering a catalogue


def _class_objects(
    cat: pd.DataFrame, labels: Tensor, g: torch.Generator, wide: bool, hue_jitter: float, faint: float
) -> tuple[draw.Objects, Tensor, Tensor]:
    """One main object per image, drawn from its class row; also each image's family index and
    whether its object is faint (see :func:`render_catalogue`)."""
    n = len(labels)
    col = {
        k: torch.tensor(cat[k].to_numpy(dtype=float), dtype=torch.float32)[labels]
        for k in ("hue", "hue2", "texture", "freq", "param")
    }
    fam = torch.tensor([draw.FAMILY_INDEX.get(f, 0) for f in cat.family])[labels]
    fam2 = torch.tensor([draw.FAMILY_INDEX.get(f, -1) if f else -1 for f in cat.family2])[labels]
    pick2 = (fam2 >= 0) & (torch.rand(n, generator=g) < 0.5)
    fam = torch.where(pick2, fam2, fam)
    rand = lambda: torch.rand(n, generator=g)  # noqa: E731
    hue = torch.where(col["hue"].isnan(), rand(), col["hue"] + hue_jitter * torch.randn(n, generator=g))
    hue2 = torch.where(col["hue2"].isnan(), rand(), col["hue2"] + hue_jitter * torch.randn(n, generator=g))
    colour = draw.hsv(hue, 0.55 + 0.4 * rand(), 0.55 + 0.4 * rand())
    colour2 = draw.hsv(hue2, 0.4 + 0.5 * rand(), 0.15 + 0.5 * rand())
    rand_tex = torch.tensor(SOLID_TEXTURES)[torch.randint(len(SOLID_TEXTURES), (n,), generator=g)]
    texture = torch.where(col["texture"] < 0, rand_tex, col["texture"].long())
    freq = torch.where(col["texture"] < 0, 2.5 + 1.5 * rand(), col["freq"]) * (
        1 + 0.1 * torch.randn(n, generator=g)
    )
    param = torch.where(col["param"].isnan(), rand(), col["param"])
    spread = 0.3 if wide else 0.22
    centre = (torch.rand(n, 2, generator=g) * 2 - 1) * spread
    scale = (0.42 + 0.36 * rand()) if wide else (0.5 + 0.25 * rand())
    angle = (0.3 if wide else 0.22) * torch.randn(n, generator=g)
    flip = torch.where(rand() < 0.5, -1.0, 1.0)  # animals face left or right
    aspect = (0.87 + 0.26 * rand()) * flip
    is_faint = rand() < faint
    opacity = torch.where(is_faint, 0.3 + 0.3 * rand(), torch.ones(n))
    objs = draw.Objects.make(
        torch.arange(n),
        fam,
        centre,
        scale,
        colour,
        angle=angle,
        aspect=aspect,
        colour2=colour2,
        texture=texture,
        freq=freq,
        phase=rand() * 2 * math.pi,
        param=param,
        opacity=opacity,
    )
    return objs, fam, is_faint


def distractor_objects(n: int, mean: float, g: torch.Generator) -> draw.Objects:
    """Small objects of random generic shapes and looks, about ``mean`` per image (0, 1 or 2 each):
    the clutter of real photographs, which a model has to learn to look past."""
    k = (torch.rand(n, generator=g) < mean / 2).long() + (torch.rand(n, generator=g) < mean / 2).long()
    rows = torch.arange(n).repeat_interleave(k)
    m = len(rows)
    rand = lambda: torch.rand(m, generator=g)  # noqa: E731
    fam = draw.random_generic(m, g)
    return draw.Objects.make(
        rows,
        fam,
        (torch.rand(m, 2, generator=g) * 2 - 1) * 0.7,
        0.18 + 0.14 * rand(),
        draw.hsv(rand(), 0.3 + 0.6 * rand(), 0.3 + 0.6 * rand()),
        colour2=draw.hsv(rand(), 0.5 * rand(), 0.2 + 0.6 * rand()),
        texture=torch.tensor(SOLID_TEXTURES)[torch.randint(len(SOLID_TEXTURES), (m,), generator=g)],
        freq=2.5 + 1.5 * rand(),
        phase=rand() * 2 * math.pi,
        angle=rand() * 2 * math.pi,
    )


def render_catalogue(
    cat: pd.DataFrame,
    labels: Tensor,
    size: int,
    g: torch.Generator,
    *,
    noise: float = 0.03,
    wide: bool = False,
    distractors: float = 1.0,
    hue_jitter: float = 0.04,
    faint: float = 0.0,
) -> tuple[Tensor, pd.DataFrame]:
    """Images (uint8) of the classes ``labels`` index in ``cat``, and a per-image attribute table.

    A ``faint`` fraction of the objects is drawn half-transparent, blending into the background:
    the hard tail of real photographs (small, dim, occluded objects), where a model that cannot
    see the object well is tempted by any other cue that predicts the label.
    """
    n = len(labels)
    canvas = draw.background(n, size, g)
    if distractors > 0:
        draw.paint(canvas, distractor_objects(n, distractors, g))
    objs, fam, is_faint = _class_objects(cat, labels, g, wide, hue_jitter, faint)
    kind = cat.kind.to_numpy()[labels.numpy()]
    parts = [
        objs.select(
            torch.from_numpy(np.isin(kind, ("fence", "ball", "hat"), invert=True)).nonzero().flatten()
        )
    ]
    fence = torch.from_numpy(kind == "fence")
    if fence.any():  # a fence in front of any object: the grid, not the object, makes the class
        rows = fence.nonzero().flatten()
        behind = draw.random_generic(len(rows), g)
        sub = objs.select(rows)
        sub.family = behind
        parts.append(sub)
        fam[rows] = behind
    for name, make in (("ball", ball_objects), ("hat", hat_objects)):
        rows = torch.from_numpy(kind == name).nonzero().flatten()
        if len(rows):
            sub = objs.select(rows)
            pattern = make(rows, sub.centre, sub.scale * (0.9 if name == "ball" else 1.0), g)
            pattern.opacity = sub.opacity  # faint like any other object
            parts.append(pattern)
    flowers = torch.from_numpy(kind == "flower").nonzero().flatten()
    objects = draw.Objects.cat(parts)
    draw.paint(canvas, objects)
    if len(flowers):  # a flower's centre disc, in the class's second colour
        sub = objs.select(flowers)
        hue2 = torch.tensor(cat.hue2.to_numpy(dtype=float), dtype=torch.float32)[labels[flowers]]
        k = len(flowers)
        centre = draw.Objects.make(
            flowers,
            "dot",
            sub.centre,
            sub.scale * 0.3,
            draw.hsv(hue2, torch.full((k,), 0.8), torch.full((k,), 0.8)),
        )
        draw.paint(canvas, centre)
    img = draw.finish(canvas, g, noise)
    if fence.any():
        rows = fence.nonzero().flatten()
        img[rows] = Fence()(img[rows], g)
    attrs = pd.DataFrame({"family": np.array(list(draw.SHAPES))[fam.numpy()], "faint": is_faint.numpy()})
    attrs.loc[kind == "fence", "family"] = "fence"
    return img, attrs
