"""The planted-influence part of the synthetic world: a source task and a target task made for the
influence chapter (thesis ch. 8), whose class influences are known before any model is trained.

Every class is a shape drawn in a random colour (colour carries no class information; only the
two members of a redundant pair have a range of hues each, shared with every other class), so a
model must learn shape. Each source class has one role towards the target:

- **single helper**: the only source class that shows a target class's shape (triangle, star, ...);
  without it a source model has no detector of that shape.
- **redundant helpers**: two source classes (warm and cool colours) that show the same target shape;
  either one teaches it, so removing one changes little and removing both a lot.
- **subpopulation helper**: a target class (bar) includes a subpopulation drawn as another shape
  (a person, :data:`SUB_SHARE` of its images); the source class of that shape helps those images.
- **misleading**: a source class defined by a sticker (a small coloured square on a random neutral
  shape). In the target's training set the sticker sits on part of one class only; in its test set
  on images of the other classes: a backbone that detects the sticker hands the linear head a
  shortcut that misleads on those test images (the mechanism of the chapter on biases in the wild).
- **neutral**: shapes the target does not have.

And example-level truth: **leaks** (near-copies of target test images in their class's helper) and
**misleading copies** (near-copies of target test images in another class's single helper).

:func:`truth` states every relation with its sign and expected size; the chapter's pilot measures
them. Counts per class and split come from the :class:`~transferlab.world.synthetic.WorldConfig`
(``source_train``, ``source_test``, ``target_train``, ``target_test``, ``leaks``); the design itself is
fixed here, so that every run of the chapter meets the same world.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .catalogue import class_row, generator_of, render_catalogue
from .overlays import Square
from .tensors import TensorData

PLANTED_SOURCE, PLANTED_TARGET = "influence-source", "influence"

# the target classes, each a shape; and the source classes by role
TARGET_SHAPES = ("triangle", "ring", "cross", "star", "crescent", "arrow", "heart", "bar")
SINGLE = ("triangle", "star", "crescent", "arrow", "heart", "bar")
REDUNDANT = ("ring", "cross")
# a redundant pair: the same shape in two ranges of hue (centre, spread): warm and cool, as two
# breeds of one animal. Each range is shared with the classes of random colour, so a member is told
# from the rest by its shape; the target's colours are random, so either member teaches that shape.
PAIR = (("warm", 0.05), ("cool", 0.55))
PAIR_HUE_SPREAD = 0.08  # std of a pair member's hue around its centre
SUBPOPULATION = ("bar", "person")  # (target class, the shape of its subpopulation)
SUB_SHARE = 0.5  # share of the target class's images drawn as the subpopulation shape
NEUTRAL = ("disc", "square", "dog", "hat", "flower")
# misleading classes: a sticker (colour) and the target class that carries it in the training set
STICKERS = (("magenta sticker", (255, 0, 255), "heart"), ("cyan sticker", (0, 255, 255), "star"))
STICKER_TRAIN = 0.5  # share of the sticker's target class that carries it (training set)
STICKER_TEST = 0.2  # share of every other class's test images that carries each sticker

# expected effect of removing a source class, stated before any run (the chapter's pilot measures it)
PLANTED_EXPECTED = {
    "helps": "large positive on its target class (the only source of its shape)",
    "helps (redundant)": "small alone (its twin teaches the same shape); large with its twin",
    "helps (subpopulation)": "large positive on the subpopulation's images, ≈ 0 on the rest of the class",
    "hurts": "large negative on the test images that carry its sticker (and not the sticker's class)",
    "leaks": "positive, example-level: the near-copy of a target test image",
    "misleads": "negative, example-level: a near-copy of a target test image under another class's helper",
}


def planted_catalogue() -> pd.DataFrame:
    """One row per source class: name, role, the target class it relates to, how it is drawn,
    ``sticker`` (its sticker's index, −1 none) and ``member`` (0 or 1 in a redundant pair, −1 none)."""
    rows = []

    def add(name, role, relates, family, hue=float("nan"), sticker=-1, member=-1):
        row = class_row(name, name, "generic", family, hue=hue, texture=0)
        rows.append({**row, "role": role, "relates_to": relates, "sticker": sticker, "member": member})

    for s in SINGLE:
        add(s, "single helper", s, s)
    for s in REDUNDANT:
        for member, (look, hue) in enumerate(PAIR):
            add(f"{s} {look}", "redundant helper", s, s, hue, member=member)
    add(SUBPOPULATION[1], "subpopulation helper", SUBPOPULATION[0], SUBPOPULATION[1])
    for i, (name, _, target) in enumerate(STICKERS):
        add(name, "misleading", target, NEUTRAL[0], sticker=i)
    for s in NEUTRAL:
        add(s, "neutral", "", s)
    return pd.DataFrame(rows)


def planted_target_catalogue() -> pd.DataFrame:
    return pd.DataFrame([class_row(s, s, "generic", s, texture=0) for s in TARGET_SHAPES])


def _render(
    cat: pd.DataFrame,
    labels: torch.Tensor,
    size: int,
    g: torch.Generator,
    noise: float,
    hue_jitter: float = 0.0,
):
    x, _ = render_catalogue(cat, labels, size, g, noise=noise, distractors=0.0, hue_jitter=hue_jitter)
    return x


def _draw(cat: pd.DataFrame, c, part: str, split: str, per_class: int):
    """``per_class`` images of every class of ``cat``: (labels, the part's generator, images)."""
    labels = torch.arange(len(cat)).repeat_interleave(per_class)
    g = generator_of(c.seed, part, split)
    return labels, g, _render(cat, labels, c.size, g, c.noise)


def _sticker(i: int) -> Square:
    return Square(size=3, position="random", colour=STICKERS[i][1])


def _near_copies(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shifted by a pixel and re-noised: a near-duplicate, not a pixel copy."""
    copies = x.roll(shifts=(1, 1), dims=(2, 3)).float()
    return (copies + 6 * torch.randn(copies.shape, generator=g)).clamp(0, 255).round().to(torch.uint8)


def target(config, split: str) -> TensorData:
    """The target task: the subpopulation, and the stickers (on one class in training, on the
    others' test images outside the subpopulation); ``attrs``: ``subpopulation`` and ``sticker``
    (−1: none) per image."""
    c = config
    cat = planted_target_catalogue()
    labels, g, x = _draw(cat, c, PLANTED_TARGET, split, c.target_train if split == "train" else c.target_test)
    t_sub = TARGET_SHAPES.index(SUBPOPULATION[0])
    sub = (labels == t_sub) & (torch.rand(len(labels), generator=g) < SUB_SHARE)
    shape = pd.DataFrame([{**cat.iloc[t_sub].to_dict(), "family": SUBPOPULATION[1]}])
    x[sub] = _render(shape, torch.zeros(int(sub.sum()), dtype=torch.long), c.size, g, c.noise)
    sticker = torch.full((len(labels),), -1)
    u = torch.rand(len(labels), generator=g)
    for i, (_, _, owner) in enumerate(STICKERS):
        own = labels == TARGET_SHAPES.index(owner)
        if split == "train":
            on = own & (u < STICKER_TRAIN)
        else:  # disjoint bands of u: an image carries at most one sticker
            on = ~own & ~sub & (u >= i * STICKER_TEST) & (u < (i + 1) * STICKER_TEST) & (sticker < 0)
        rows = on.nonzero().flatten()
        x[rows] = _sticker(i)(x[rows], g)
        sticker[rows] = i
    attrs = pd.DataFrame({"subpopulation": sub.numpy(), "sticker": sticker.numpy()})
    return TensorData(x, labels, classes=tuple(cat.name), superclasses=tuple(cat.superclass), attrs=attrs)


def source(config, split: str, test: TensorData | None = None) -> TensorData:
    """The source task; in the training split also the leaks and misleading copies of ``test``
    (the target's test set). ``attrs``: ``copy_of`` (the target test image a row copies, −1 none)
    and ``copy_kind`` ("leak", "misleading" or "")."""
    c = config
    cat = planted_catalogue()
    labels, g, x = _draw(cat, c, PLANTED_SOURCE, split, c.source_train if split == "train" else c.source_test)
    pair = torch.tensor((cat.role == "redundant helper").to_numpy())[labels].nonzero().flatten()
    x[pair] = _render(cat, labels[pair], c.size, g, c.noise, PAIR_HUE_SPREAD)
    neutral = torch.tensor(np.flatnonzero(cat.role == "neutral"))
    for i in range(len(STICKERS)):  # a sticker class: neutral shapes, each with the sticker
        rows = (labels == int(np.flatnonzero(cat.sticker == i)[0])).nonzero().flatten()
        shapes = neutral[torch.randint(len(neutral), (len(rows),), generator=g)]
        x[rows] = _sticker(i)(_render(cat, shapes, c.size, g, c.noise), g)
    copy_of, kind = np.full(len(labels), -1), np.full(len(labels), "", dtype=object)
    if split == "train" and test is not None and c.leaks:
        x, labels, copy_of, kind = _add_copies(c, cat, x, labels, copy_of, kind, test, g)
    attrs = pd.DataFrame({"copy_of": copy_of, "copy_kind": kind.astype(str)})
    return TensorData(x, labels, classes=tuple(cat.name), superclasses=tuple(cat.superclass), attrs=attrs)


def _add_copies(c, cat, x, labels, copy_of, kind, test, g):
    """``leaks`` near-copies of test images of single-helped classes under their helper, and half
    as many misleading ones under the helper of another single-helped class (never the sticker or
    subpopulation images)."""
    helper = {s: int(np.flatnonzero(cat.name == s)[0]) for s in SINGLE}
    t_names = np.array(test.classes)[test.y.numpy()]
    plain = (test.attrs.sticker.to_numpy() < 0) & ~test.attrs.subpopulation.to_numpy()
    pool = np.flatnonzero(plain & np.isin(t_names, SINGLE))
    order = pool[torch.randperm(len(pool), generator=g).numpy()]
    n_leak, n_mislead = c.leaks, c.leaks // 2
    leaks, misleads = order[:n_leak], order[n_leak : n_leak + n_mislead]
    owners = [helper[t_names[i]] for i in leaks]
    for i in misleads:  # the helper of another single-helped class, drawn at random
        others = [s for s in SINGLE if s != t_names[i]]
        owners.append(helper[others[int(torch.randint(len(others), (1,), generator=g))]])
    which = np.concatenate([leaks, misleads]).astype(int)
    copies = _near_copies(test.x[torch.as_tensor(which)], g)
    return (
        torch.cat([x, copies]),
        torch.cat([labels, torch.tensor(owners, dtype=torch.long)]),
        np.concatenate([copy_of, which]),
        np.concatenate(
            [kind, np.array(["leak"] * len(leaks) + ["misleading"] * len(misleads), dtype=object)]
        ),
    )


TRUTH_COLUMNS = [
    "source_class",
    "source_label",
    "target_class",
    "target_label",
    "relation",
    "sign",
    "expected",
    "target_index",
    "source_index",
]


def truth(source_data: TensorData | None = None, test: TensorData | None = None) -> pd.DataFrame:
    """Every planted relation, with its sign and expected size (stated before any run): class level
    (helps, helps (redundant), helps (subpopulation), hurts) and, given the source's training set
    and the target's test set, example level (leaks, misleads: ``target_index`` the test image,
    ``source_index`` its copy)."""
    cat, tcat = planted_catalogue(), planted_target_catalogue()
    tindex = {n: i for i, n in enumerate(tcat.name)}
    relation = {
        "single helper": "helps",
        "redundant helper": "helps (redundant)",
        "subpopulation helper": "helps (subpopulation)",
    }
    rows = []
    for s, r in cat.iterrows():
        if r.role == "misleading":  # it hurts the classes whose test images carry its sticker
            rows += [(r["name"], s, t, i, "hurts", -1) for t, i in tindex.items() if t != r.relates_to]
        elif r.role in relation:
            rows.append((r["name"], s, r.relates_to, tindex[r.relates_to], relation[r.role], 1))
    out = [(*row, PLANTED_EXPECTED[row[4]], -1, -1) for row in rows]
    if source_data is not None and test is not None:
        a = source_data.attrs
        for i in np.flatnonzero(a.copy_of.to_numpy() >= 0):
            s, t = int(source_data.y[i]), int(test.y[int(a.copy_of[i])])
            rel = "leaks" if a.copy_kind[i] == "leak" else "misleads"
            sign = 1 if rel == "leaks" else -1
            out.append(
                (cat.name[s], s, tcat.name[t], t, rel, sign, PLANTED_EXPECTED[rel], int(a.copy_of[i]), int(i))
            )
    return pd.DataFrame(out, columns=TRUTH_COLUMNS)
