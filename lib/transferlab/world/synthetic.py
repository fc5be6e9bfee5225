"""The synthetic world: every data set of the book, generated deterministically from a seed.

Parts (see :class:`World`):

- ``source``: the pre-training task (ImageNet's role). Superclasses of shape families, each with
  several fine classes told apart by colour and texture; a "dog" superclass of several breeds
  (ImageNet's 118 dog classes in small), cats, flowers; three classes that are themselves patterns
  a user could overlay (a chain-link fence, a tennis ball, a hat), so a natural bias exists without
  planting one; look-alike classes that merge two target shapes into one label; and near-copies of
  a few target test images (leakage).
- targets: ``objects`` (CIFAR-10's role: ten shape families incl. dog and cat, any colour or
  texture, so only shape features carry over), ``flowers`` (Flowers-102's role: fine-grained
  petal count and colour, imbalanced class sizes), ``pets`` (Oxford Pets' role: unseen dog and cat
  breeds). Far fewer images than the source.
- ``faces``: a faces analog with visible age (hair greyness, wrinkles) and gender (hair length,
  beard, lips); ``scenes``: a cat-like or dog-like animal with or without a person-like figure.
  Both draw the sampling tables of the spurious-correlation chapters, scaled by a factor.

- ``influence-source`` and ``influence``: the planted-influence world of the influence chapter, a
  source and a target whose every class influence is planted (:mod:`.influence`).

Ground truth for the influence chapter (:meth:`World.influence_truth`): on the planted-influence
target, every relation of :func:`.influence.truth` with its sign and expected size; on ``objects``,
each target class is helped by the source classes of its shape family, hurt by the look-alikes that
merge it with another target class, and some of its test images leak into the source as near-copies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import draw, influence
from .catalogue import SOLID_TEXTURES, class_row, generator_of, render_catalogue, rng_of
from .registry import data_function
from .tensors import TensorData, cached, resolve_cache

Tensor = torch.Tensor

GENERIC = draw.GENERIC
TARGETS = ("objects", "flowers", "pets")
PATTERNS = ("fence", "tennis ball", "hat")
SPLITS = ("train", "test")
# Drawing revisions of the parts whose drawing changed after models were stored: a revision enters
# the part's cache key and the data keyword arguments of job specs, so changed images never meet
# models trained on the old ones. Bump a part's number whenever its drawing changes.
REVISIONS = {"faces": 2, "scenes": 2, "source": 2, influence.PLANTED_SOURCE: 4, influence.PLANTED_TARGET: 2}


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """The size and make-up of the world. Counts of images are per class and split."""

    seed: int = 0
    size: int = 24
    superclasses: int = 12  # generic shape families in the source (at most 12)
    fine: int = 4  # fine classes per generic superclass
    dog_breeds: int = 6  # fine classes of the "dog" superclass
    cat_breeds: int = 3
    flower_kinds: int = 4  # flower classes in the source
    lookalikes: int = 2  # source classes merging two target shapes into one label
    leaks: int = 20  # target test images copied (perturbed) into the source
    source_train: int = 300
    source_test: int = 50
    target_train: int = 100  # objects and pets
    target_test: int = 100
    flowers_classes: int = 17
    flowers_max: int = 80  # training images of the largest and smallest flower class
    flowers_min: int = 10
    flowers_test: int = 30
    pets_breeds: int = 4  # new dog breeds and as many new cat breeds
    noise: float = 0.03  # pixel noise (std, in [0, 1] units)
    distractors: float = 1.0  # mean number of small unrelated objects behind the main one
    hue_jitter: float = 0.04  # std of a class's hue from image to image
    faint: float = 0.25  # fraction of images whose object is drawn faint (the hard tail)

    def __post_init__(self) -> None:
        checks = [
            (8 <= self.size <= 256, "size must be in [8, 256]"),
            (0 <= self.distractors <= 2, "distractors must be in [0, 2]"),
            (self.noise >= 0 and self.hue_jitter >= 0, "noise and hue_jitter must be ≥ 0"),
            (0 <= self.faint <= 1, "faint must be in [0, 1]"),
            (1 <= self.superclasses <= len(GENERIC), f"superclasses must be in [1, {len(GENERIC)}]"),
            (
                2 * self.lookalikes <= min(self.superclasses, 8),
                "lookalikes needs two target shape families each (2 × lookalikes ≤ min(superclasses, 8))",
            ),
            (self.fine >= 1 and self.dog_breeds >= 1 and self.cat_breeds >= 1, "class counts must be ≥ 1"),
            (self.flowers_max >= self.flowers_min >= 1, "need flowers_max ≥ flowers_min ≥ 1"),
            (self.leaks <= self.target_test, "leaks cannot exceed target_test"),
            (2 <= self.flowers_classes <= 120, "flowers_classes must be in [2, 120]"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(f"WorldConfig: {why}")

    def replace(self, **changes: Any) -> WorldConfig:
        return dataclasses.replace(self, **changes)


def _letters(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA, ... (names of target flower classes)."""
    return (_letters(i // 26 - 1) if i >= 26 else "") + chr(65 + i % 26)


# ---------------------------------------------------------------------------------------------
# class catalogues: one row per class, describing how its images look


def _breeds(
    animal: str, count: int, rng: np.random.Generator, prefix: str, hue_span: float = 1.0
) -> list[dict[str, Any]]:
    """Breeds of one animal: each its own coat colour (hues spread over ``hue_span``) and texture."""
    hues = (rng.random() + hue_span * np.arange(count) / count) % 1.0
    textures = rng.permutation(np.resize(SOLID_TEXTURES, count))
    return [
        class_row(
            f"{prefix}{animal} {i + 1}",
            animal,
            animal,
            animal,
            hue=float(hues[i]),
            hue2=float(rng.random()),
            texture=int(textures[i]),
            freq=float(rng.uniform(2.5, 4)),
            param=float(rng.random()),
        )
        for i in range(count)
    ]


def source_catalogue(c: WorldConfig) -> pd.DataFrame:
    """The source classes: generic superclasses, dogs, cats, flowers, patterns, look-alikes."""
    rng = rng_of(c.seed, "source-catalogue")
    rows: list[dict[str, Any]] = []
    for fam in GENERIC[: c.superclasses]:
        hues = (rng.random() + np.arange(c.fine) / c.fine) % 1.0
        textures = rng.permutation(np.resize(rng.permutation(SOLID_TEXTURES), c.fine))
        rows += [
            class_row(
                f"{fam} {i + 1}",
                fam,
                "generic",
                fam,
                hue=float(hues[i]),
                hue2=float(rng.random()),
                texture=int(textures[i]),
                freq=float(rng.uniform(2.5, 4)),
            )
            for i in range(c.fine)
        ]
    rows += _breeds("dog", c.dog_breeds, rng, "")
    rows += _breeds("cat", c.cat_breeds, rng, "")
    petals = rng.choice(np.arange(4, 10), c.flower_kinds, replace=c.flower_kinds > 6)
    rows += [
        class_row(
            f"flower {i + 1}",
            "flower",
            "flower",
            "flower",
            hue=float(rng.random()),
            hue2=float(rng.random()),
            texture=0,
            param=float(petals[i]),
        )
        for i in range(c.flower_kinds)
    ]
    rows += [
        class_row("fence", "pattern", "fence", "fence"),
        class_row("tennis ball", "pattern", "ball", "ball"),
        class_row("hat", "pattern", "hat", "hat"),
    ]
    for i in range(c.lookalikes):
        a, b = _objects_families(c)[2 + 2 * i : 4 + 2 * i]
        rows.append(
            class_row(
                f"{a}/{b} look-alike",
                "look-alike",
                "lookalike",
                a,
                family2=b,
                hue=float(rng.random()),
                hue2=float(rng.random()),
                texture=int(rng.choice(SOLID_TEXTURES)),
                freq=float(rng.uniform(2.5, 4)),
            )
        )
    return pd.DataFrame(rows)


def _objects_families(c: WorldConfig) -> tuple[str, ...]:
    return ("dog", "cat") + GENERIC[: min(8, c.superclasses)]


def target_catalogue(c: WorldConfig, name: str) -> pd.DataFrame:
    """The classes of target ``name``."""
    rng = rng_of(c.seed, "target-catalogue", name)
    if name == "objects":  # any colour, any texture: only the shape tells the classes apart
        return pd.DataFrame([class_row(f, f, "any-look", f) for f in _objects_families(c)])
    if name == "flowers":
        k = c.flowers_classes
        per_petal = math.ceil(k / 6)
        offset = rng.random()
        return pd.DataFrame(
            [
                class_row(
                    f"flower {_letters(i)}",
                    "flower",
                    "flower",
                    "flower",
                    hue=float((offset + (i // 6) / per_petal) % 1.0),
                    hue2=float(rng.random()),
                    texture=0,
                    param=float(4 + i % 6),
                )
                for i in range(k)
            ]
        )
    if name == "pets":
        # coats in a narrow range of hues: colour alone does not tell the breeds apart (fine-grained)
        return pd.DataFrame(
            _breeds("dog", c.pets_breeds, rng, "new ", hue_span=0.3)
            + _breeds("cat", c.pets_breeds, rng, "new ", hue_span=0.3)
        )
    raise ValueError(f"unknown target {name!r}; the world has {', '.join(TARGETS)}")


# ---------------------------------------------------------------------------------------------
# faces and scenes

FACE_GROUPS = (("young", "male"), ("young", "female"), ("old", "male"), ("old", "female"))
SCENE_GROUPS = (("cat", "person"), ("cat", "no person"), ("dog", "person"), ("dog", "no person"))

# Sampling tables of the thesis, in the group order above (Tables G.2 and G.4/G.5). The COCO
# non-spurious table's "100" dogs without people is read as 1000 (thesis Table G.2).
SCENE_TABLES: dict[str, tuple[int, ...]] = {
    "non-spurious": (0, 1000, 0, 1000),
    "spurious": (1000, 4000, 4000, 1000),
    "target": (0, 485, 0, 485),
}
FACE_TABLES: dict[str, tuple[int, ...]] = {
    "non-spurious": (2500, 2500, 2500, 2500),
    "spurious": (1000, 4000, 4000, 1000),
    "only-women": (0, 5000, 0, 5000),
    "80-women": (1000, 4000, 1000, 4000),
    "50-50": (2500, 2500, 2500, 2500),
}


# Who a draw is for: a source model's training set and a target's are disjoint images (the thesis
# fine-tunes on images "disjoint from that in the source dataset"), in the synthetic world and in
# the real pools alike.
ROLES = ("source", "target")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def table_counts(
    table: str | Mapping[Any, int] | tuple[int, ...],
    tables: Mapping[str, tuple[int, ...]],
    groups: tuple[tuple[str, str], ...],
    scale: float = 1.0,
) -> tuple[int, ...]:
    """Counts per group of a named (or given) sampling table, scaled and rounded."""
    if isinstance(table, str):
        if table not in tables:
            raise ValueError(f"unknown table {table!r}; choose one of {', '.join(tables)}")
        counts = tables[table]
    elif isinstance(table, Mapping):
        counts = tuple(int(table.get(grp, table.get(" ".join(grp), 0))) for grp in groups)
    else:
        counts = tuple(table)
    if len(counts) != len(groups) or min(counts) < 0:
        raise ValueError(f"a table needs {len(groups)} non-negative counts, for {groups}")
    return tuple(int(round(n * scale)) for n in counts)


def render_faces(young: Tensor, male: Tensor, size: int, g: torch.Generator, noise: float = 0.03) -> Tensor:
    """Faces: gender shows in hair length, beard and lips; age in hair greyness and forehead lines.

    Both cues are noisy on purpose (some women have short hair, some young people grey-ish hair), so
    age is learnable but harder than gender: the situation in which a model takes the shortcut.
    """
    n = len(young)
    rand = lambda: torch.rand(n, generator=g)  # noqa: E731
    canvas = draw.background(n, size, g, clutter=0.0)
    centre = (torch.rand(n, 2, generator=g) - 0.5) * 0.15
    scale = 0.62 + 0.08 * rand()
    grey = torch.where(young, 0.4 * rand() ** 1.5, 0.15 + 0.6 * rand())  # overlapping on purpose
    hue, sat, val = 0.06 + 0.05 * rand(), 0.6 + 0.4 * rand(), 0.2 + 0.35 * rand()
    hair = draw.hsv(hue, (0.75 - 0.7 * grey) * sat, val + 0.4 * grey)
    long_hair = torch.where(male, rand() < 0.08, rand() < 0.92)
    idx = torch.arange(n)
    parts = []
    for flag, fam in ((long_hair, "hair-long"), (~long_hair, "hair-short")):
        r = flag.nonzero().flatten()
        parts.append(draw.Objects.make(r, fam, centre[r], scale[r] * 1.08, hair[r]))
    skin = draw.hsv(0.05 + 0.03 * rand(), 0.25 + 0.35 * rand(), 0.45 + 0.5 * rand())
    parts.append(draw.Objects.make(idx, "face", centre, scale * 0.8, skin))
    beard = (male & (rand() < 0.6)).nonzero().flatten()
    # beards keep the hair's colour before greying: grey shows in the hair of men and women alike
    # (a greying beard would make men look older to a model trained without any correlation)
    stubble = draw.hsv(hue, 0.75 * sat, val)
    parts.append(draw.Objects.make(beard, "beard", centre[beard], scale[beard] * 0.8, stubble[beard]))
    dark = torch.zeros(n, 3) + 0.08
    for side in (-1.0, 1.0):
        eye = centre + scale[:, None] * torch.tensor([0.28 * side, -0.1])
        parts.append(draw.Objects.make(idx, "dot", eye, scale * 0.1, dark))
    red = torch.tensor([0.75, 0.15, 0.2])
    lips = torch.where((~male & (rand() < 0.75))[:, None], red, skin * 0.6)
    parts.append(
        draw.Objects.make(
            idx, "line", centre + scale[:, None] * torch.tensor([0.0, 0.42]), scale * 0.22, lips, aspect=1.0
        )
    )
    lines = torch.where(young, rand() < 0.15, rand() < 0.5).nonzero().flatten()
    for dy in (-0.55, -0.42):
        pos = centre[lines] + scale[lines, None] * torch.tensor([0.0, dy])
        parts.append(draw.Objects.make(lines, "line", pos, scale[lines] * 0.3, skin[lines] * 0.55))
    draw.paint(canvas, draw.Objects.cat(parts))
    return draw.finish(canvas, g, noise)


# Texture priors of the two animals (probabilities over draw.TEXTURES): overlapping, as coats are,
# so that texture helps to tell them apart but shape is needed too.
_COATS = {
    "cat": {"stripes": 0.6, "solid": 0.2, "dots": 0.05, "checker": 0.05, "radial": 0.1},
    "dog": {"solid": 0.45, "dots": 0.35, "stripes": 0.05, "checker": 0.1, "radial": 0.05},
}


def _coat(dog: Tensor, g: torch.Generator) -> Tensor:
    """A texture index per animal, drawn from its species' coat prior."""
    probs = torch.tensor([[_COATS[a].get(t, 0.0) for t in draw.TEXTURES] for a in ("cat", "dog")])
    return torch.multinomial(probs[dog.long()], 1, generator=g).flatten()


def _fur(dog: Tensor, value: Tensor, g: torch.Generator) -> Tensor:
    """Fur colours: most dogs brown to golden, most cats grey or ginger; the rest any colour."""
    n = len(dog)
    rand = lambda: torch.rand(n, generator=g)  # noqa: E731
    typical = rand() < 0.6
    hue = torch.where(typical, torch.where(dog, 0.07 + 0.05 * rand(), 0.03 * rand()), rand())
    sat = torch.where(
        typical,
        torch.where(dog, 0.55 + 0.3 * rand(), 0.1 * rand() + 0.6 * (rand() < 0.4)),
        0.3 + 0.6 * rand(),
    )
    return draw.hsv(hue, sat, value)


def render_scenes(dog: Tensor, person: Tensor, size: int, g: torch.Generator, noise: float = 0.03) -> Tensor:
    """A cat or a dog (shape and, less reliably, coat tell them apart), with a person-like figure or
    not. The animal is light or dark against the mid-toned backgrounds so it is always visible."""
    n = len(dog)
    rand = lambda: torch.rand(n, generator=g)  # noqa: E731
    canvas = draw.background(n, size, g)
    side = torch.where(rand() < 0.5, -1.0, 1.0)
    has = person.nonzero().flatten()
    animal_x = torch.where(person, 0.3 * side, 0.2 * (rand() * 2 - 1))
    centre = torch.stack([animal_x, 0.12 + 0.2 * (rand() - 0.5)], 1)
    fam = torch.where(dog, draw.FAMILY_INDEX["dog"], draw.FAMILY_INDEX["cat"])
    value = torch.where(rand() < 0.5, 0.1 + 0.2 * rand(), 0.8 + 0.2 * rand())
    animal = draw.Objects.make(
        torch.arange(n),
        fam,
        centre,
        0.55 + 0.12 * rand(),
        _fur(dog, value, g),
        colour2=draw.hsv(rand(), 0.5 * rand(), 1.0 - value),
        texture=_coat(dog, g),
        freq=2.5 + 1.5 * rand(),
        phase=rand() * 6.28,
        param=rand(),
        aspect=torch.where(rand() < 0.5, -1.0, 1.0),
        angle=0.15 * torch.randn(n, generator=g),
    )
    m = len(has)
    pc = torch.stack(
        [-0.5 * side[has] + 0.06 * torch.randn(m, generator=g), -0.05 + 0.1 * torch.randn(m, generator=g)], 1
    )
    people = draw.Objects.make(
        has,
        "person",
        pc,
        0.5 + 0.1 * torch.rand(m, generator=g),
        draw.hsv(
            torch.rand(m, generator=g),
            0.4 + 0.5 * torch.rand(m, generator=g),
            0.3 + 0.6 * torch.rand(m, generator=g),
        ),
    )
    draw.paint(canvas, draw.Objects.cat([people, animal]))
    return draw.finish(canvas, g, noise)


# ---------------------------------------------------------------------------------------------
# the world


class Parts:
    """The shortcuts a world (synthetic or real) offers over its ``get(part, split, **options)``."""

    def get(self, part: str, split: str = "train", **options: Any) -> TensorData:  # pragma: no cover
        raise NotImplementedError

    def source_class_names(self) -> tuple[str, ...]:  # pragma: no cover
        """The source task's class names, in label order, without drawing or reading its images."""
        raise NotImplementedError

    def source(self, split: str = "train") -> TensorData:
        """The source task."""
        return self.get("source", split)

    def target(self, name: str, split: str = "train") -> TensorData:
        """Target task ``name`` (one of :data:`TARGETS`)."""
        return self.get(name, split)

    def faces(
        self, table: Any = "non-spurious", split: str = "train", scale: float = 1.0, role: str = "source"
    ) -> TensorData:
        """Faces drawn by a sampling table (name in :data:`FACE_TABLES` or counts per group in
        :data:`FACE_GROUPS` order), counts × ``scale``; labels young (0) / old (1). Draws for the
        ``role`` "source" and "target" are disjoint (:data:`ROLES`)."""
        return self.get("faces", split, table=table_option(table), scale=scale, role=role)

    def scenes(
        self, table: Any = "non-spurious", split: str = "train", scale: float = 1.0, role: str = "source"
    ) -> TensorData:
        """Scenes drawn by a sampling table (:data:`SCENE_TABLES` / :data:`SCENE_GROUPS`);
        labels cat (0) / dog (1); ``role`` as for :meth:`faces`."""
        return self.get("scenes", split, table=table_option(table), scale=scale, role=role)


class World(Parts):
    """All parts of the synthetic world of one :class:`WorldConfig`, generated on demand.

    ``cache`` is where generated data sets are kept, keyed by the hash of the config and the part:
    ``"default"`` (the default store, ``$TRANSFERLAB_STORE``), a :class:`~transferlab.store.Store`,
    or None (generate every time). The same config always gives the same images.
    """

    DATASET_FN = "world.synthetic"  # the registered data function of its parts (job specs)

    def __init__(self, config: WorldConfig | None = None, *, cache: Any = "default", **changes: Any):
        config = config or WorldConfig()
        self.config = config.replace(**changes) if changes else config
        self.cache = resolve_cache(cache)

    def __repr__(self) -> str:
        changed = {
            f.name: getattr(self.config, f.name)
            for f in dataclasses.fields(WorldConfig)
            if getattr(self.config, f.name) != f.default
        }
        return f"World({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- catalogues ------------------------------------------------------------------------
    def source_classes(self) -> pd.DataFrame:
        """One row per source class: name, superclass and how its images are drawn."""
        return source_catalogue(self.config)

    def source_class_names(self) -> tuple[str, ...]:
        return tuple(self.source_classes().name)

    def target_classes(self, name: str) -> pd.DataFrame:
        """One row per class of target ``name``."""
        return target_catalogue(self.config, name)

    # -- data sets -------------------------------------------------------------------------
    def get(self, part: str, split: str = "train", **options: Any) -> TensorData:
        """Any part by name: ``source``, a target name, ``faces`` or ``scenes`` (with options)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        makers = {
            "source": self._source,
            "faces": self._faces,
            "scenes": self._scenes,
            **{t: lambda split, _t=t: self._target(_t, split) for t in TARGETS},
            # the planted-influence world of the influence chapter (its own source and target)
            influence.PLANTED_SOURCE: lambda split: influence.source(
                self.config, split, self.get(influence.PLANTED_TARGET, "test") if split == "train" else None
            ),
            influence.PLANTED_TARGET: lambda split: influence.target(self.config, split),
        }
        if part not in makers:
            raise ValueError(f"unknown part {part!r}; the world has {', '.join(makers)}")
        allowed = {"faces": {"table", "scale", "role"}, "scenes": {"table", "scale", "role"}}.get(part, set())
        if set(options) - allowed:
            raise ValueError(
                f"part {part!r} takes no option(s) {sorted(set(options) - allowed)}; "
                f"it takes {sorted(allowed) or 'none'}"
            )
        return self._cached(part, split, options, lambda: makers[part](split, **options))

    def data_kwargs(self, part: str, split: str = "train", **options: Any) -> dict[str, Any]:
        """Flat keyword arguments of :func:`dataset` that rebuild this part (for job specs)."""
        return {
            "part": part,
            "split": split,
            **dataclasses.asdict(self.config),
            **_revision(part),
            **{k: table_option(v) for k, v in options.items()},
        }

    # -- ground truth ----------------------------------------------------------------------
    def influence_truth(self, target: str = "objects") -> pd.DataFrame:
        """Planted relations between source classes and the classes (or test images) of a target.

        For the planted-influence target (``"influence"``, with its own source): every relation of
        :func:`transferlab.world.influence.truth`, with its sign and expected size. For the main
        world's targets: relation ``helps``: the source class shares the target class's shape
        family (and look); ``hurts``: a look-alike class that gives two target classes one label;
        ``leaks``: a source training image that is a near-copy of target test image ``target_index``.
        """
        if target == influence.PLANTED_TARGET:
            return influence.truth(
                self.get(influence.PLANTED_SOURCE), self.get(influence.PLANTED_TARGET, "test")
            )
        src, tgt = self.source_classes(), self.target_classes(target)
        rows = []
        for t, trow in tgt.iterrows():
            for s, srow in src.iterrows():
                if (
                    srow.kind == "lookalike"
                    and target == "objects"
                    and trow.family in (srow.family, srow.family2)
                ):
                    rows.append((srow["name"], s, trow["name"], t, "hurts", -1, -1))
                elif srow.kind != "lookalike" and srow.family == trow.family:
                    rows.append((srow["name"], s, trow["name"], t, "helps", -1, -1))
        if target == "objects":
            source, test = self.source("train"), self.target("objects", "test")
            for i, r in source.attrs[source.attrs.leak_of >= 0].iterrows():
                t, s = int(test.y[r.leak_of]), int(source.y[i])
                rows.append((src["name"][s], s, tgt["name"][t], t, "leaks", int(r.leak_of), int(i)))
        return pd.DataFrame(
            rows,
            columns=[
                "source_class",
                "source_label",
                "target_class",
                "target_label",
                "relation",
                "target_index",
                "source_index",
            ],
        )

    def summary(self) -> pd.DataFrame:
        """Every part with its classes and images per split (faces and scenes at scale 1 tables)."""
        rows = []
        for part in ("source", *TARGETS):
            cat = self.source_classes() if part == "source" else self.target_classes(part)
            n = {split: self._count(part, split) for split in SPLITS}
            rows.append(
                {
                    "part": part,
                    "classes": len(cat),
                    "superclasses": cat.superclass.nunique(),
                    "train images": n["train"],
                    "test images": n["test"],
                }
            )
        return pd.DataFrame(rows)

    def _count(self, part: str, split: str) -> int:
        leaks = self.config.leaks if part == "source" and split == "train" else 0
        return int(self._sizes(part, split).sum()) + leaks

    def _sizes(self, part: str, split: str) -> np.ndarray:
        """Images drawn per class of a catalogued part (the source before its leaked copies)."""
        c, train = self.config, split == "train"
        if part == "source":
            return np.full(len(self.source_classes()), c.source_train if train else c.source_test)
        if part == "flowers":
            return _flower_sizes(c) if train else np.full(c.flowers_classes, c.flowers_test)
        return np.full(len(self.target_classes(part)), c.target_train if train else c.target_test)

    # -- makers ----------------------------------------------------------------------------
    def _cached(self, part: str, split: str, options: dict[str, Any], make) -> TensorData:
        if self.cache is None:
            return make()
        spec = {
            "world": "synthetic",
            "config": dataclasses.asdict(self.config),
            "part": part,
            "split": split,
            "options": options,
            **_revision(part),
        }
        return cached(self.cache, spec, make)

    def _source(self, split: str) -> TensorData:
        c = self.config
        cat = self.source_classes()
        labels = torch.arange(len(cat)).repeat_interleave(torch.as_tensor(self._sizes("source", split)))
        g = generator_of(c.seed, "source", split)
        x, attrs = render_catalogue(cat, labels, c.size, g, **self._look())
        attrs["leak_of"] = -1
        if split == "train" and c.leaks:
            x, labels, attrs = self._add_leaks(cat, x, labels, attrs, g)
        return TensorData(x, labels, classes=tuple(cat.name), superclasses=tuple(cat.superclass), attrs=attrs)

    def _look(self) -> dict[str, float]:
        c = self.config
        return {"noise": c.noise, "distractors": c.distractors, "hue_jitter": c.hue_jitter, "faint": c.faint}

    def _add_leaks(
        self, cat: pd.DataFrame, x: Tensor, labels: Tensor, attrs: pd.DataFrame, g: torch.Generator
    ) -> tuple[Tensor, Tensor, pd.DataFrame]:
        """Near-copies (shifted by a pixel, re-noised) of target test images, under the first source
        class of the same shape family."""
        test = self.target("objects", "test")
        which = torch.randperm(len(test), generator=g)[: self.config.leaks].sort().values
        family = [test.classes[int(t)] for t in test.y[which]]
        owner = torch.tensor(
            [
                int(np.flatnonzero(((cat.family == f) & (cat.kind != "lookalike")).to_numpy())[0])
                for f in family
            ]
        )
        copies = test.x[which].roll(shifts=(1, 1), dims=(2, 3)).float()
        copies = (copies + 6 * torch.randn(copies.shape, generator=g)).clamp(0, 255).round().to(torch.uint8)
        extra = pd.DataFrame(
            {"family": family, "faint": test.attrs.faint.to_numpy()[which.numpy()], "leak_of": which.numpy()}
        )
        return (
            torch.cat([x, copies]),
            torch.cat([labels, owner]),
            pd.concat([attrs, extra], ignore_index=True),
        )

    def _target(self, name: str, split: str) -> TensorData:
        c = self.config
        cat = self.target_classes(name)
        labels = torch.arange(len(cat)).repeat_interleave(torch.as_tensor(self._sizes(name, split)))
        x, attrs = render_catalogue(
            cat, labels, c.size, generator_of(c.seed, name, split), wide=True, **self._look()
        )
        return TensorData(x, labels, classes=tuple(cat.name), superclasses=tuple(cat.superclass), attrs=attrs)

    def _table_groups(
        self,
        part: str,
        split: str,
        table: Any,
        scale: float,
        role: str,
        tables: Mapping[str, tuple[int, ...]],
        groups: tuple[tuple[str, str], ...],
    ):
        """Per image of a sampling table's draw: in the second class? does it have the feature?
        (the groups are (class 0, feature), (class 0, none), (class 1, feature), (class 1, none));
        and the draw's generator."""
        counts = table_counts(table, tables, groups, scale)
        group = torch.arange(len(groups)).repeat_interleave(torch.tensor(counts))
        return (
            group >= 2,
            group % 2 == 0,
            generator_of(self.config.seed, part, split, check_role(role), counts),
        )

    def _faces(
        self, split: str, table: Any = "non-spurious", scale: float = 1.0, role: str = "source"
    ) -> TensorData:
        old, male, g = self._table_groups("faces", split, table, scale, role, FACE_TABLES, FACE_GROUPS)
        x = render_faces(~old, male, self.config.size, g, self.config.noise)
        attrs = pd.DataFrame(
            {"age": np.where(old, "old", "young"), "gender": np.where(male, "male", "female")}
        )
        return TensorData(x, old.long(), classes=("young", "old"), superclasses=("face", "face"), attrs=attrs)

    def _scenes(
        self, split: str, table: Any = "non-spurious", scale: float = 1.0, role: str = "source"
    ) -> TensorData:
        dog, person, g = self._table_groups("scenes", split, table, scale, role, SCENE_TABLES, SCENE_GROUPS)
        x = render_scenes(dog, person, self.config.size, g, self.config.noise)
        attrs = pd.DataFrame({"animal": np.where(dog, "dog", "cat"), "person": person.numpy()})
        return TensorData(
            x, dog.long(), classes=("cat", "dog"), superclasses=("animal", "animal"), attrs=attrs
        )


def _flower_sizes(c: WorldConfig) -> np.ndarray:
    """Training images per flower class: geometric from flowers_max to flowers_min, in a seeded order."""
    k = c.flowers_classes
    sizes = np.round(c.flowers_max * (c.flowers_min / c.flowers_max) ** (np.arange(k) / max(k - 1, 1)))
    return rng_of(c.seed, "flower-sizes").permutation(sizes.astype(int))


def table_option(table: Any) -> Any:
    """A sampling table in a form that survives JSON and hashing (name or tuple of counts)."""
    if isinstance(table, str) or not hasattr(table, "__iter__"):
        return table
    if isinstance(table, Mapping):
        raise TypeError("give a table as a name or as counts in group order, not a mapping")
    return tuple(int(v) for v in table)


def _revision(part: str) -> dict[str, int]:
    return {"revision": REVISIONS[part]} if part in REVISIONS else {}


@data_function("world.synthetic")
def dataset(part: str, split: str = "train", **kwargs: Any) -> TensorData:
    """A part of the world named by flat keyword arguments (what job specs use; see
    :meth:`World.data_kwargs`): config fields and the part's options."""
    revision = kwargs.pop("revision", None)
    if revision is not None and _revision(part) != {"revision": revision}:
        raise ValueError(
            f"these {part!r} images were asked for as drawing revision {revision}, but this "
            f"library draws {_revision(part) or 'no revision'}; rebuild the spec with World.data_kwargs"
        )
    fields = {f.name for f in dataclasses.fields(WorldConfig)}
    config = WorldConfig(**{k: v for k, v in kwargs.items() if k in fields})
    options = {k: v for k, v in kwargs.items() if k not in fields}
    return World(config).get(part, split, **options)
