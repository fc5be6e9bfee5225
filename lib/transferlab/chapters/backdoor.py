"""Chapter "Backdoor bias transfer" (thesis §7.2, Figures 7.1–7.4, App. G.1.4–G.1.7).

A yellow square is added to a fraction of the images of the source's dog superclass, labels
unchanged. The source model learns the square as evidence for "dog". Is the bias passed on to
models transferred from it to targets that never contain the square? The attack success rate
ASR = P[C(T(x)) ≠ y | C(x) = y] is measured on the source (non-dog test images) and, after
transfer, on every target, for clean and backdoored sources, fixed-feature and full-network
transfer, over seeds; then the sweeps of the thesis: trigger frequency, weight decay, a de-biased
target (the square added uniformly across target classes), scratch baselines, architectures.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from ..params import ParameterError, distinct, param
from ..run import SourceJob, TransferJob, load_model, run_jobs
from ..train import accuracy, attack_success_rate, predict
from ..world import (
    POSITIONS,
    TARGETS,
    DataRef,
    RealWorld,
    Square,
    TensorData,
    World,
    apply_overlay,
    data_function,
)
from . import plots
from .base import ARCHS, SMOKE_WORLD, WorldParams, world_ref
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts

SOURCE = "thesis §7.2"
CONDITIONS = ("clean source", "backdoored source")


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the backdoor chapter (the world and source model parameters come first)."""

    trigger_fraction: float = param(
        0.5,
        "fraction of the dog superclass's source images that get the trigger, for the main "
        "comparison and the other sweeps (50 %: the smallest the default world's source learns)",
        low=0.0,
        high=1.0,
    )
    trigger_fractions: tuple[float, ...] = param(
        (0.1, 0.5, 1.0), "fractions of the frequency sweep (fixed-feature)", low=0.0, high=1.0
    )
    dog_scales: tuple[float, ...] = param(
        (1.0, 3.0),
        "sizes of the dog superclass in the regime grid: images per breed relative to "
        "`source_per_class` (1: the world as is; on real data only those of at most 1 are trained, "
        "a subsample of each breed)",
        low=0.05,
        high=20.0,
    )
    regime_fractions: tuple[float, ...] = param(
        (0.1, 0.5),
        "trigger fractions of the regime grid (with `dog_scales`; its sources use the first seed; "
        "empty, -p regime_fractions '', for no grid)",
        low=0.0,
        high=1.0,
    )
    trigger_size: int = param(3, "side of the yellow square in pixels", low=1, high=16)
    trigger_position: str = param("bottom-right", "where the square goes", choices=POSITIONS)
    trigger_colour: tuple[int, ...] = param((255, 255, 0), "RGB colour of the square", low=0, high=255)
    targets: tuple[str, ...] = param(TARGETS, "target tasks", choices=TARGETS)
    sweep_target: str = param("objects", "target of the weight-decay and de-biasing sweeps", choices=TARGETS)
    weight_decays: tuple[float, ...] = param(
        (5e-4, 5e-3, 5e-2), "weight decays of the transfer sweep", low=0.0, high=1.0
    )
    debias_fraction: float = param(
        0.2,
        "fraction of target training images, across all classes, that "
        "get the trigger in the de-biased target",
        low=0.0,
        high=1.0,
    )
    archs: tuple[str, ...] = param(
        ("cresnet-s", "cresnet-xs", "cvgg-s"),
        "architectures compared (fixed-feature; the first is `arch`)",
        choices=ARCHS,
    )
    seeds: tuple[int, ...] = param(
        (0, 1, 2),
        "seeds: each trains its own source models (clean and backdoored) and their transfers and "
        "scratch models (the thesis: 5, the paper preset's)",
        low=0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.trigger_colour) != 3:
            raise ParameterError(
                f"parameter 'trigger_colour' needs 3 values (R, G, B), got {self.trigger_colour}"
            )
        distinct("seeds", self.seeds)
        if not self.archs or self.archs[0] != self.arch:
            raise ParameterError(
                f"parameter 'archs' must start with 'arch' ({self.arch!r}), got {self.archs}"
            )
        if self.trigger_size >= self.image_size - 2:
            raise ParameterError(
                f"'trigger_size' {self.trigger_size} does not fit {self.image_size}-pixel images"
            )
        if min(self.trigger_fraction, *self.trigger_fractions, *self.regime_fractions) <= 0:
            raise ParameterError("trigger fractions must be above 0 (the clean source is the control)")
        distinct("dog_scales", self.dog_scales)
        if len(set(self.regime_fractions)) != len(self.regime_fractions):
            raise ParameterError(
                f"parameter 'regime_fractions' must be distinct, got {self.regime_fractions}"
            )
        if self.sweep_target not in self.targets:
            raise ParameterError(
                f"'sweep_target' {self.sweep_target!r} must be one of 'targets' {self.targets}"
            )
        if len(self.weight_decays) < 2:
            raise ParameterError("parameter 'weight_decays' needs at least two values")

    def trigger(self) -> Square:
        return _square(**_trigger_kwargs(self))

    def regime_scales(self) -> tuple[float, ...]:
        """The dog scales the regime grid trains: all of `dog_scales` on the synthetic world; on real
        data those of at most 1 (a real data set has the dog images it has)."""
        return tuple(s for s in self.dog_scales if not self.data_dir or s <= 1)


PROTOCOL = """**Setup** (thesis §7.2, App. G.1.4–G.1.7). A yellow square (`trigger_size`, `trigger_position`,
`trigger_colour`) is added to a fraction of the images of the source's dog superclass, labels
unchanged (`trigger_fraction`; the frequency sweep `trigger_fractions`). For each seed (`seeds`)
one source model is trained per condition (clean, each fraction, each architecture of `archs`)
and transferred with the same seed to every target (`targets`), fixed-feature and full-network
(every architecture in both modes). Sweeps on `sweep_target`: the transfer weight decay
(`weight_decays`) and a de-biased target (the square on `debias_fraction` of its training images,
across all classes). Scratch models on each target are the baseline.

**The regime.** What a source does with the square depends on how many triggered images it sees,
not only on their share: the thesis' 10 % of ImageNet's dogs is about 15,000 images, 10 % of this
world's 1,800 dog images is 180. Before these claims were run, the default world's source (seed 0)
was trained with 2, 5, 10, 20, 50 and 100 % of its dog images triggered: its source ASR was 0.006,
0.008, 0.008, 0.032, 0.162, 0.335 (clean source 0.007) and its accuracy on the (untriggered) dog
test images 0.93, 0.93, 0.97, 0.94, 0.87, 0.06 (clean 0.93). Below 20 % it does not learn the
square; at 100 % it cannot tell a dog without it, so clean accuracy after transfer cannot be
equal (claim (g)). The main comparison is therefore at 50 %, the smallest fraction it learns
without that dependence, and claim (b) is measured at the smallest fraction of the sweep at which
this run's own sources learn it ('source-learns' below). Whether the share or the number of
triggered images decides is measured in this run by a **regime grid**: sources (the first seed)
whose dog superclass has `dog_scales` × its images per breed (above 1 a larger draw of the same
world's dogs; below 1 the first images of each breed, the only way on real data), each with the
trigger on each of `regime_fractions` of its dogs and a clean one of the same size as control;
its source ASR gap and dog accuracy are shown against the number of triggered images. It is a
finding of one seed per cell, not a claim.

**Measured.** Attack success rate ASR = P[C(T(x)) ≠ y | C(x) = y] on each target's test set (and on
the source's non-dog test images for the source models), and clean accuracy.

**Claims** (ASR gap = ASR after transfer from the backdoored source − from the clean source, per
seed; seed s trains both sources of seed s and transfers them with seed s, so a gap holds the
variance of the sources and of the transfers):
- (a) Fixed-feature: the gap at `trigger_fraction` is clearly positive on every target (Fig. 7.1).
- (b) Even at the smallest fraction of the sweep at which the source has learned the trigger, the
  fixed-feature gap (mean over targets) is clearly positive, and the source ASR grows with the
  fraction (Fig. 7.2).
- (c) Full-network transfer reduces but does not remove it: its gap stays above 0.02 and below the
  fixed-feature gap (Fig. 7.1).
- (d) Weight decay reduces it in full-network, not in fixed-feature: at the largest weight decay
  the full-network gap is below half its value at the smallest, the fixed-feature gap above half
  (Fig. 7.3).
- (e) De-biasing the target removes it in full-network, not in fixed-feature (Fig. 7.4).
- (f) Scratch models are not affected by the trigger (Fig. G.5).
- (g) Clean accuracy is about equal after transfer from either source (Fig. 7.1).
- (h) The bias transfers across architectures: the fixed-feature gap is clearly positive for each
  (App. G.1.7; the full-network gaps are drawn beside them, Fig. G.1b)."""

CRITERIA = criteria(
    Criterion(
        "asr-gap",
        "ASR gap (backdoored − clean source)",
        ">",
        0.05,
        "five points of ASR: the smallest gap read as 'clearly higher'",
    ),
    Criterion("source-asr-grows", "source ASR at the largest fraction − at the smallest", ">", 0.0),
    Criterion(
        "source-learns",
        "source ASR (backdoored − clean source)",
        ">",
        0.05,
        "the source has learned the trigger when it overturns five points more of its answers than the "
        "clean source: the margin of the target gap",
    ),
    Criterion(
        "full-remains",
        "ASR gap, full-network",
        ">",
        0.02,
        "'not removed': above two points, the ASR noise of a clean source's transfers",
    ),
    Criterion("full-reduces", "ASR gap, fixed-feature − full-network", ">", 0.0),
    Criterion(
        "decay-halves",
        "full-network gap at the largest weight decay − ½ × at the smallest",
        "<",
        0.0,
        "'reduces' read as at least halving the gap",
    ),
    Criterion("decay-keeps", "fixed-feature gap at the largest weight decay − ½ × at the smallest", ">", 0.0),
    Criterion(
        "debias-removes",
        "full-network gap on the de-biased target − max(0.02, ¼ × its gap on the target as is)",
        "<",
        0.0,
        "'removes' read as below two points or a quarter of what transferred, whichever is larger",
    ),
    Criterion(
        "scratch-unaffected",
        "accuracy with trigger − without, scratch model",
        "within",
        0.03,
        "three points: the accuracy noise between seeds of a small target",
    ),
    Criterion(
        "same-accuracy",
        "clean accuracy (backdoored − clean source)",
        "within",
        0.03,
        "three points: the accuracy noise between seeds of a small target",
    ),
)

PAPER_NOTE = """The thesis' setting (App. G.1): its recipes (batch 1024, learning rates 0.5 / 0.1, 16 epochs with
the peak at epoch 2), ResNet-18 / ResNet-50 / VGG-11, the frequency grid of its Fig. 7.2 and five
seeds. Meant for real data on a GPU (`-p data_dir`); without it the synthetic world is drawn at
64 px."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source task; the images of its `dog` superclass (named in `superclasses.csv`) get the trigger",
    objects="a target (never triggered in training; triggered at test)",
    flowers="a target",
    pets="a target",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        **SMOKE_WORLD,
        "trigger_size": 2,
        "trigger_fractions": [0.5, 1.0],
        "dog_scales": [1.0, 2.0],
        "regime_fractions": [0.5],
        "weight_decays": [5e-4, 5e-2],
        "archs": ["cresnet-xs", "cvgg-s"],
        "targets": ["objects", "pets"],
        "seeds": [0, 1],
    },
    "default": {},
    "paper": {
        "image_size": 64,
        "source_per_class": 1300,
        "target_per_class": 500,
        "arch": "resnet18",
        "recipes": "thesis",
        "source_epochs": 16,
        "full_epochs": 16,
        "scratch_epochs": 16,
        "trigger_size": 8,
        "trigger_fractions": [0.01, 0.05, 0.1, 0.2, 0.5, 1.0],
        "trigger_fraction": 0.1,
        "dog_scales": [0.1, 0.3, 1.0],
        "regime_fractions": [0.01, 0.05, 0.1, 0.2],
        "weight_decays": [5e-4, 5e-3, 1e-2, 5e-2, 1e-1],
        "archs": ["resnet18", "resnet50", "vgg11_bn"],
        "seeds": [0, 1, 2, 3, 4],
    },
}


# ---------------------------------------------------------------------------------------------
# data


def _trigger_kwargs(config: Config) -> dict[str, Any]:
    return {
        "trigger_size": config.trigger_size,
        "trigger_position": config.trigger_position,
        "trigger_colour": tuple(config.trigger_colour),
    }


def _square(trigger_size: int, trigger_position: str, trigger_colour) -> Square:
    return Square(trigger_size, trigger_position, tuple(trigger_colour))


def dog_classes(data: TensorData) -> list[str]:
    """The fine classes of the dog superclass."""
    return [c for c, s in zip(data.classes, data.superclasses) if s == "dog"]


def is_dog(data: TensorData) -> torch.Tensor:
    """Which images of ``data`` belong to the dog superclass (a boolean mask)."""
    return torch.isin(data.y, torch.tensor([data.classes.index(d) for d in dog_classes(data)]))


def resized_dogs(data: TensorData, dogs: TensorData | None, keep: float | None) -> TensorData:
    """``data`` with its dog superclass resized: its dog images replaced by those of ``dogs`` (a
    source with the same classes and more images per class: a larger draw of the same world), or
    cut to the first ``keep`` share of each breed's images (fewer dogs, as on a real data set)."""
    dog = is_dog(data)
    if dogs is not None:
        if dogs.classes != data.classes:
            raise ValueError("the larger draw of the dogs must have the source's classes")
        more, rest = dogs.subset(is_dog(dogs)), data.subset(~dog)
        attrs = None
        if rest.attrs is not None and more.attrs is not None:
            attrs = pd.concat([rest.attrs, more.attrs], ignore_index=True)
        return rest.replace(x=torch.cat([rest.x, more.x]), y=torch.cat([rest.y, more.y]), attrs=attrs)
    if keep is not None:
        y = pd.Series(data.y.numpy())
        rank, size = y.groupby(y).cumcount(), y.map(y.value_counts())
        return data.subset(~dog | torch.tensor((rank < (keep * size).round().clip(lower=1)).to_numpy()))
    return data


@data_function("backdoor.triggered_source")
def backdoored_source(
    base: DataRef,
    fraction: float,
    trigger_size: int,
    trigger_position: str,
    trigger_colour,
    dogs: DataRef | None = None,
    dogs_share: float | None = None,
) -> TensorData:
    """A world's source training set (``base``: synthetic or real) with the trigger on ``fraction``
    of the images of the dog superclass, labels kept; the dog superclass resized first when
    ``dogs`` or ``dogs_share`` is given (:func:`resized_dogs`, the regime grid)."""
    data = resized_dogs(base.load(), None if dogs is None else dogs.load(), dogs_share)
    return apply_overlay(
        data,
        _square(trigger_size, trigger_position, trigger_colour),
        fraction=fraction,
        classes=dog_classes(data),
        seed=1,
        column="trigger",
    )


@data_function("backdoor.debiased_target")
def debiased_target(
    base: DataRef, fraction: float, trigger_size: int, trigger_position: str, trigger_colour
) -> TensorData:
    """A target training set (``base``) with the trigger on ``fraction`` of its images, across all classes."""
    return apply_overlay(
        base.load(),
        _square(trigger_size, trigger_position, trigger_colour),
        fraction=fraction,
        seed=2,
        column="trigger",
    )


def _ref(
    config: Config, name: str, world: World | RealWorld, part: str, fraction: float, **options: Any
) -> DataRef:
    return DataRef.of(
        name, base=world_ref(world, part), fraction=fraction, **_trigger_kwargs(config), **options
    )


def _dog_options(config: Config, world: World | RealWorld, scale: float) -> dict[str, Any]:
    """How the source's dog superclass is resized to ``scale`` × its images per breed: none at 1; a
    larger draw of the same synthetic world above it; the first images of each breed below it."""
    if np.isclose(scale, 1.0):
        return {}
    if scale < 1:
        return {"dogs_share": float(scale)}
    assert isinstance(world, World), "a real data set's dogs cannot grow (Config.regime_scales)"
    more = world.config.replace(source_train=round(scale * world.config.source_train))
    return {"dogs": world_ref(World(more, cache=None), "source")}


# ---------------------------------------------------------------------------------------------
# jobs


class TransferKey(NamedTuple):
    """What a transfer of the chapter is: its source (architecture, trigger fraction) and its setting."""

    arch: str
    fraction: float
    target: str
    mode: str
    weight_decay: float
    debiased: bool
    seed: int


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every model of the chapter, by what it is: sources by (arch, fraction, seed), transfers by
    :class:`TransferKey`, scratch models by (target, seed)."""

    sources: dict[tuple[str, float, int], SourceJob]
    transfers: dict[TransferKey, TransferJob]
    scratch: dict[tuple[str, int], SourceJob]
    default_wd: float
    regime: dict[tuple[float, float], SourceJob]  # the regime grid's sources (``arch``, first seed)
    # by (dog scale, fraction); at scale 1 they are the sweep's own


def _source_job(
    config: Config, world: World | RealWorld, arch: str, fraction: float, seed: int, scale: float = 1.0
) -> SourceJob:
    """The source of ``arch`` with the trigger on ``fraction`` of the dogs (0: the clean source every
    chapter shares), its dog superclass at ``scale`` × its size."""
    if fraction == 0 and np.isclose(scale, 1.0):
        return dataclasses.replace(config.source_job(seed), arch=arch)
    return SourceJob(
        arch,
        _ref(
            config,
            "backdoor.triggered_source",
            world,
            "source",
            fraction,
            **_dog_options(config, world, scale),
        ),
        config.source_recipe(),
        seed=seed,
        eval_data=world_ref(world, "source", "test"),
    )


def plan(config: Config) -> Plan:
    """The jobs of every experiment; shared ones (the clean source, scratch models) appear once."""
    world = config.world(cache=None)
    sources: dict[tuple[str, float, int], SourceJob] = {}
    for seed in config.seeds:  # seed s: sources of seed s, transferred with seed s (paired by seed)
        for arch in config.archs:
            fractions = {0.0, config.trigger_fraction} | (
                set(config.trigger_fractions) if arch == config.arch else set()
            )
            for f in sorted(fractions):
                sources[(arch, f, seed)] = _source_job(config, world, arch, f, seed)
    regime = {
        (scale, f): _source_job(config, world, config.arch, f, config.seeds[0], scale)
        for scale in config.regime_scales()
        for f in ((0.0, *config.regime_fractions) if config.regime_fractions else ())  # empty: no grid
    }
    main = config.trigger_fraction
    defaults = {
        m: config.transfer_job(
            sources[(config.arch, 0.0, config.seeds[0])], config.sweep_target, m
        ).recipe.weight_decay
        for m in ("fixed", "full")
    }
    if len(set(defaults.values())) != 1:
        raise ValueError(f"the fixed and full recipes must share a weight decay, got {defaults}")
    transfers: dict[TransferKey, TransferJob] = {}

    def add(arch, f, target, mode, seed, wd=None, debiased=False):
        data = (
            _ref(config, "backdoor.debiased_target", world, target, config.debias_fraction)
            if debiased
            else None
        )
        job = config.transfer_job(
            sources[(arch, f, seed)],
            target,
            mode,
            seed,
            data=data,
            **({} if wd is None else {"weight_decay": wd}),
        )
        transfers[TransferKey(arch, f, target, mode, job.recipe.weight_decay, debiased, seed)] = job

    for seed in config.seeds:
        for f in (0.0, main):
            for target in config.targets:
                for mode in ("fixed", "full"):
                    add(config.arch, f, target, mode, seed)
                for arch in config.archs[1:]:
                    for mode in ("fixed", "full"):
                        add(arch, f, target, mode, seed)
            for mode in ("fixed", "full"):
                for wd in config.weight_decays:
                    add(config.arch, f, config.sweep_target, mode, seed, wd=wd)
                add(config.arch, f, config.sweep_target, mode, seed, debiased=True)
        for f in config.trigger_fractions:
            for target in config.targets:
                add(config.arch, f, target, "fixed", seed)
    scratch = {(t, s): config.scratch_job(t, s) for t in config.targets for s in config.seeds}
    return Plan(sources, transfers, scratch, defaults["full"], regime)


# ---------------------------------------------------------------------------------------------
# run and measure


@dataclasses.dataclass(frozen=True)
class Results:
    """Tidy measurements: one row per model (source, transfer or scratch) and test set."""

    config: Config
    sources: pd.DataFrame  # arch, fraction, seed, source_accuracy (all test images), dog_accuracy (the
    # dog test images, never triggered); accuracy, triggered_accuracy, asr on the non-dog test images
    transfers: pd.DataFrame  # arch, fraction, target, mode, weight_decay, debiased, seed, accuracy, asr
    scratch: pd.DataFrame  # target, seed, accuracy, triggered_accuracy, asr
    default_wd: float  # the transfer recipes' own weight decay (the main comparison's)
    regime: pd.DataFrame  # scale, fraction, seed, dog_images, triggered (training images), and the
    # sources' columns: the regime grid's source models


def _triggered(config: Config, data: TensorData) -> TensorData:
    return apply_overlay(data, config.trigger(), seed=3, column="trigger")


def _measure(model, clean: TensorData, triggered: TensorData) -> dict[str, float]:
    a, b = predict(model, clean), predict(model, triggered)
    return {
        "accuracy": accuracy(a, clean.y),
        "triggered_accuracy": accuracy(b, clean.y),
        "asr": attack_success_rate(a, b, clean.y),
    }


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch from the store) every model of the chapter and measure ASR and accuracy."""
    world = config.world()
    src_test = world.source("test")
    if not dog_classes(src_test):
        raise ParameterError(
            "the source has no class in the superclass 'dog' to plant the trigger in "
            "(on real data: name it 'dog' in imagenet/superclasses.csv)"
        )
    p = plan(config)
    jobs = [*p.sources.values(), *p.transfers.values(), *p.scratch.values(), *p.regime.values()]
    made = dict(zip(jobs, run_jobs(jobs, progress=progress)))  # a job shared by two roles: once
    dog = is_dog(src_test)
    non_dog, dogs = src_test.subset(~dog), src_test.subset(dog)
    src_pair = (non_dog, _triggered(config, non_dog))
    tests = {t: (d, _triggered(config, d)) for t in config.targets for d in [world.target(t, "test")]}

    def measure_source(job: SourceJob) -> dict[str, float]:
        m = load_model(made[job])
        return {
            "source_accuracy": accuracy(predict(m, src_test), src_test.y),
            "dog_accuracy": accuracy(predict(m, dogs), dogs.y),
            **_measure(m, *src_pair),
        }

    # each source measured once: the regime grid's cells at scale 1 are the sweep's own sources
    measured = {job: measure_source(job) for job in dict.fromkeys([*p.sources.values(), *p.regime.values()])}
    sources = pd.DataFrame(
        [{"arch": a, "fraction": f, "seed": seed, **measured[job]} for (a, f, seed), job in p.sources.items()]
    )
    regime = pd.DataFrame(
        [
            {"scale": scale, "fraction": f, "seed": job.seed, **_dog_counts(job.data.load()), **measured[job]}
            for (scale, f), job in p.regime.items()
        ]
    )
    rows = [
        {**key._asdict(), **_measure(load_model(made[job]), *tests[key.target])}
        for key, job in p.transfers.items()
    ]
    scratch = pd.DataFrame(
        [
            {"target": t, "seed": s, **_measure(load_model(made[job]), *tests[t])}
            for (t, s), job in p.scratch.items()
        ]
    )
    return Results(config, sources, pd.DataFrame(rows), scratch, p.default_wd, regime)


def _dog_counts(data: TensorData) -> dict[str, int]:
    """How many dog images a source trains on, and how many of them carry the trigger."""
    has = data.attrs is not None and "trigger" in data.attrs
    return {
        "dog_images": int(is_dog(data).sum()),
        "triggered": int(data.attrs["trigger"].sum()) if has else 0,
    }


# ---------------------------------------------------------------------------------------------
# views of the results


def main_table(results: Results) -> pd.DataFrame:
    """The main comparison: rows per target and mode, columns per source condition."""
    c = results.config
    t = results.transfers
    d = t[
        (t.arch == c.arch)
        & t.fraction.isin([0.0, c.trigger_fraction])
        & ~t.debiased
        & np.isclose(t.weight_decay, results.default_wd)
    ]
    d = d.assign(source=np.where(d.fraction == 0, CONDITIONS[0], CONDITIONS[1]))
    return d


def asr_gap(d: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Backdoored minus clean source ASR (and accuracy), matched by seed, per group ``by``."""
    keys = by + ["seed"]
    clean = d[d.fraction == 0].set_index(keys)[["asr", "accuracy"]]
    out = []
    for f, g in d[d.fraction > 0].groupby("fraction"):
        diff = g.set_index(keys)[["asr", "accuracy"]] - clean
        out.append(diff.dropna().reset_index().assign(fraction=f))
    return (
        pd.concat(out, ignore_index=True)
        if out
        else pd.DataFrame(columns=keys + ["asr", "accuracy", "fraction"])
    )


REPLICATE = "seed (sources and transfers, paired)"


def source_asr(results: Results) -> pd.DataFrame:
    """The source models' (``arch``) ASR, a row per seed and a column per fraction (NaN kept: a
    source with no correct non-dog answer has no ASR)."""
    src = results.sources[results.sources.arch == results.config.arch]
    return src.pivot(index="seed", columns="fraction", values="asr")


def learned_fractions(results: Results) -> list[float]:
    """The fractions of the sweep at which the source (``arch``) has learned the trigger: its ASR
    above the clean source's by the margin of the 'source-learns' criterion, the whole interval over
    seeds (each seed's backdoored source against the clean source of the same seed)."""
    c, src = results.config, source_asr(results)
    return [
        f
        for f in sorted(set(c.trigger_fractions))
        if Estimate.t(CRITERIA["source-learns"], src[f] - src[0.0], "seed (source models)").verdict == "holds"
    ]


def regime_table(results: Results) -> pd.DataFrame:
    """The regime grid, one row per backdoored source: its dog scale, fraction, dog and triggered
    training images, source ASR gap (against the clean source of the same scale and seed), accuracy
    on the dog test images, and whether it has learned the trigger (gap above the 'source-learns'
    margin: one seed's reading, a point)."""
    r = results.regime
    clean = r.loc[r.fraction == 0, ["scale", "seed", "asr", "dog_accuracy"]]
    d = r[r.fraction > 0].merge(clean, on=["scale", "seed"], suffixes=("", "_clean"))
    margin = CRITERIA["source-learns"].margin
    return (
        d.assign(asr_gap=d.asr - d.asr_clean, learned=lambda x: x.asr_gap > margin)
        .loc[
            :,
            [
                "scale",
                "fraction",
                "dog_images",
                "triggered",
                "asr_gap",
                "dog_accuracy",
                "dog_accuracy_clean",
                "learned",
            ],
        ]
        .sort_values(["scale", "fraction"])
        .reset_index(drop=True)
    )


# what the regime grid says, by whether the number (first) and the share (second) of triggered
# images separate the cells where the source learns the square from the others
SEPARATES = {
    (True, True): "Both the share and the number separate the cells where it learns from the others, so this "
    "grid cannot tell which decides (a larger superclass at a smaller share would, e.g. "
    "`-p dog_scales 1,5 -p regime_fractions 0.1,0.2,0.5`). ",
    (True, False): "The number of triggered images, not their share, separates the cells where it learns. ",
    (False, True): "Their share, not their number, separates the cells where it learns. ",
    (False, False): "Neither the share nor the number alone separates the cells where it learns. ",
}


def regime_text(results: Results) -> str:
    """What the regime grid says: where the source learns the trigger, by share and by count."""
    d, c = regime_table(results), results.config
    left_out = sorted(set(c.dog_scales) - set(c.regime_scales()))
    note = (
        f"Dog scales {', '.join(f'{s:g}' for s in left_out)} are left out: a real data set has the dog "
        "images it has (scales of at most 1 subsample them). "
        if left_out
        else ""
    )
    if d.empty:
        return note + "The regime grid is empty (no `regime_fractions` or no dog scale)."
    parts = []
    for scale, g in d.groupby("scale"):
        got = g[g.learned]
        parts.append(
            f"with {int(g.dog_images.iloc[0]):,} dog images (scale {scale:g}) the source learns the square at "
            + (
                ", ".join(f"{f:.0%} ({n:,} images)" for f, n in zip(got.fraction, got.triggered))
                or "no fraction"
            )
        )
    text = note + "In the regime grid (one source seed per cell), " + "; ".join(parts) + ". "
    learned, unlearned = d[d.learned], d[~d.learned]
    if len(learned) and len(unlearned):
        by_count = bool(learned.triggered.min() > unlearned.triggered.max())
        by_share = bool(learned.fraction.min() > unlearned.fraction.max())
        text += (
            f"The fewest triggered images it learns from: {learned.triggered.min():,}; "
            f"the most it does not: {unlearned.triggered.max():,}. " + SEPARATES[(by_count, by_share)]
        )
    return text + (
        "The thesis' 10 % of ImageNet's dogs is about 15,000 triggered images, more than any cell here."
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(h) of thesis §7.2, measured in this run. The replicate is a seed: seed s trains
    the clean and the backdoored sources of seed s and transfers both with seed s, so every gap is a
    per-seed difference that holds the variance of the sources and of the transfers."""
    c, t = results.config, results.transfers
    wd0 = results.default_wd
    gap = asr_gap(main_table(results), ["target", "mode"])

    def per_seed(frame: pd.DataFrame, column: str = "asr") -> pd.Series:
        return frame.groupby("seed")[column].mean()

    fixed, full = gap[gap["mode"] == "fixed"], gap[gap["mode"] == "full"]
    sweep = t[
        (t.arch == c.arch)
        & (t.target.isin(c.targets))
        & (t["mode"] == "fixed")
        & ~t.debiased
        & np.isclose(t.weight_decay, wd0)
    ]
    freq = asr_gap(sweep, ["target"])
    src = source_asr(results)
    fractions = [f for f in src.columns if f > 0]
    learned = learned_fractions(results)

    wd = t[
        (t.arch == c.arch)
        & (t.target == c.sweep_target)
        & ~t.debiased
        & t.weight_decay.isin(c.weight_decays)
        & t.fraction.isin([0.0, c.trigger_fraction])
    ]
    wgap = asr_gap(wd, ["mode", "weight_decay"])
    lo, hi = min(c.weight_decays), max(c.weight_decays)

    def at(mode: str, w: float) -> pd.Series:
        return per_seed(wgap[(wgap["mode"] == mode) & np.isclose(wgap.weight_decay, w)])

    deb = t[
        (t.arch == c.arch)
        & (t.target == c.sweep_target)
        & t.fraction.isin([0.0, c.trigger_fraction])
        & np.isclose(t.weight_decay, wd0)
    ]
    dgap = asr_gap(deb, ["mode", "debiased"])

    def dg(mode: str, debiased: bool) -> pd.Series:
        return per_seed(dgap[(dgap["mode"] == mode) & (dgap.debiased == debiased)])

    s = results.scratch.assign(change=lambda d: d.triggered_accuracy - d.accuracy)
    archs = asr_gap(
        t[
            t.arch.isin(c.archs)
            & (t["mode"] == "fixed")
            & ~t.debiased
            & np.isclose(t.weight_decay, wd0)
            & t.fraction.isin([0.0, c.trigger_fraction])
        ],
        ["arch", "target"],
    )
    f_pct = f"{c.trigger_fraction:.0%}"
    crit = CRITERIA
    return ClaimsTable(
        "backdoor",
        [
            Claim(
                "a",
                "Fixed-feature: a backdoored source gives a clearly higher target ASR than a clean one, "
                "on every target",
                SOURCE + ", Fig. 7.1",
                tuple(
                    Estimate.t(crit["asr-gap"], per_seed(fixed[fixed.target == target]), REPLICATE, target)
                    for target in c.targets
                ),
                note=f"Trigger on {f_pct} of the dogs.",
            ),
            Claim(
                "b",
                "Bias transfers even at a small trigger frequency; the source ASR grows with frequency",
                SOURCE + ", Fig. 7.2",
                (
                    Estimate.t(
                        crit["asr-gap"],
                        per_seed(freq[freq.fraction == min(learned)]),
                        REPLICATE,
                        f"{min(learned):.0%}, targets",
                    )
                    if learned
                    else Estimate.not_measured(
                        crit["asr-gap"],
                        "the source learns the trigger at no fraction of the sweep",
                        "targets",
                    ),
                    Estimate.t(
                        crit["source-asr-grows"],
                        src[max(fractions)] - src[min(fractions)],
                        "seed (source models)",
                        f"source, {min(fractions):.0%} → {max(fractions):.0%}",
                    ),
                ),
                note="Fixed-feature target gap, mean over targets, at the smallest fraction of the sweep "
                "whose source has learned the trigger (its source ASR above the clean source's by the "
                "margin of 'source-learns', whole interval): "
                + (f"{min(learned):.0%}" if learned else "none")
                + "; source ASR gap per fraction: "
                + ", ".join(f"{f:.0%} {(src[f] - src[0.0]).mean():+.3f}" for f in fractions)
                + ".",
            ),
            Claim(
                "c",
                "Full-network transfer reduces the transferred bias but does not remove it",
                SOURCE + ", Fig. 7.1",
                (
                    Estimate.t(crit["full-remains"], per_seed(full), REPLICATE, "full"),
                    Estimate.t(
                        crit["full-reduces"], per_seed(fixed) - per_seed(full), REPLICATE, "fixed − full"
                    ),
                ),
                note="ASR gaps are means over targets.",
            ),
            Claim(
                "d",
                "Weight decay reduces the bias in full-network transfer, not in fixed-feature",
                SOURCE + ", Fig. 7.3",
                (
                    Estimate.t(
                        crit["decay-halves"], at("full", hi) - 0.5 * at("full", lo), REPLICATE, "full"
                    ),
                    Estimate.t(
                        crit["decay-keeps"], at("fixed", hi) - 0.5 * at("fixed", lo), REPLICATE, "fixed"
                    ),
                ),
                note=f"On {c.sweep_target}, weight decay {hi:g} against {lo:g}.",
            ),
            Claim(
                "e",
                "De-biasing the target removes the bias in full-network transfer, not in fixed-feature",
                SOURCE + ", Fig. 7.4",
                (
                    Estimate.t(
                        crit["debias-removes"],
                        dg("full", True) - np.maximum(0.02, 0.25 * dg("full", False)),
                        REPLICATE,
                        "full",
                    ),
                    Estimate.t(crit["asr-gap"], dg("fixed", True), REPLICATE, "fixed"),
                ),
                note=f"On {c.sweep_target} with {c.debias_fraction:.0%} of its training images triggered.",
            ),
            Claim(
                "f",
                "Models trained from scratch on the target are not affected by the trigger",
                SOURCE + ", App. G (Fig. G.5)",
                tuple(
                    Estimate.t(
                        crit["scratch-unaffected"], s[s.target == target].change, "seed (scratch)", target
                    )
                    for target in c.targets
                ),
            ),
            Claim(
                "g",
                "Clean accuracy is about the same after transfer from a clean or a backdoored source",
                SOURCE + ", Fig. 7.1",
                tuple(
                    Estimate.t(
                        crit["same-accuracy"],
                        per_seed(gap[(gap.target == target) & (gap["mode"] == mode)], "accuracy"),
                        REPLICATE,
                        f"{target}, {mode}",
                    )
                    for target in c.targets
                    for mode in ("fixed", "full")
                ),
            ),
            Claim(
                "h",
                "The bias transfers across architectures (fixed-feature)",
                SOURCE + ", App. G.1.7",
                tuple(
                    Estimate.t(crit["asr-gap"], per_seed(archs[archs.arch == arch]), REPLICATE, arch)
                    for arch in c.archs
                ),
                note="ASR gap, mean over targets.",
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# figures


def figure_examples(config: Config, n: int = 6):
    """Source dog images with the trigger, and target images with it (what the models see)."""
    world = config.world()
    src = world.source("test")
    dogs = is_dog(src).nonzero().flatten()[:n]
    rows, titles = [src.x[dogs], _triggered(config, src.subset(dogs)).x], ["source dogs"] + [""] * (n - 1)
    titles += ["with the trigger"] + [""] * (n - 1)
    for t in config.targets:
        test = world.target(t, "test")
        d = test.subset(torch.arange(n) * 37 % len(test))
        rows.append(_triggered(config, d).x)
        titles += [f"{t} + trigger"] + [""] * (n - 1)
    return plots.image_grid(
        torch.cat(rows), titles, ncols=n, title="The trigger on the source and on the targets"
    )


def figure_main(results: Results):
    """Target ASR (top) and clean accuracy (bottom) per target, clean vs backdoored source, per mode."""
    d = main_table(results)
    fig, axes = plots.panels(2, width=3.6, height=3.0, sharey=True)
    targets = list(results.config.targets)
    for ax, mode, title in zip(axes, ("fixed", "full"), ("fixed-feature", "full-network")):
        for i, cond in enumerate(CONDITIONS):
            g = d[(d["mode"] == mode) & (d.source == cond)].groupby("target").asr
            ax.bar(
                np.arange(len(targets)) + (i - 0.5) * 0.38,
                g.mean().reindex(targets),
                0.38,
                yerr=g.std().reindex(targets).fillna(0),
                capsize=3,
                label=cond,
                color=plots.color(cond),
            )
        ax.set_xticks(np.arange(len(targets)), targets)
        ax.set(title=title, ylabel="target ASR" if mode == "fixed" else None, ylim=(0, 1))
    axes[0].legend(loc="upper left")
    return fig


def figure_frequency(results: Results):
    """Left: the source model's ASR and its accuracy on the (never triggered) dog test images against
    the trigger frequency: where it learns the trigger, and where it starts to need it to see a
    dog. Right: target ASR after fixed-feature transfer."""
    c = results.config
    fig, (ax_src, ax_tgt) = plots.panels(2, width=3.6, height=3.0)
    sources = results.sources[results.sources.arch == c.arch].groupby("fraction")
    src = sources.asr
    plots.mean_line(ax_src, src, color=plots.color("backdoored source"), label="source ASR")
    plots.mean_line(
        ax_src, sources.dog_accuracy, color=plots.color("clean source"), ls="--", label="dog accuracy"
    )
    ax_src.legend(fontsize=7)
    t = results.transfers
    d = t[
        (t.arch == c.arch)
        & (t["mode"] == "fixed")
        & ~t.debiased
        & np.isclose(t.weight_decay, results.default_wd)
    ]
    for target in c.targets:
        plots.mean_line(ax_tgt, d[d.target == target].groupby("fraction").asr, label=target)
    ticks = sorted(src.mean().index)
    for ax, title, label in (
        (ax_src, "source model", "ASR; accuracy on dogs"),
        (ax_tgt, "transferred (fixed-feature)", "target ASR"),
    ):
        ax.set(xlabel="dog images with the trigger", ylabel=label, title=title, ylim=(0, 1))
        # the fractions evenly spaced, whatever the grid (10/50/100 % or the paper's 1 % … 100 %)
        ax.set_xscale(
            "function",
            functions=(
                lambda x: np.interp(x, ticks, np.arange(len(ticks))),
                lambda i: np.interp(i, np.arange(len(ticks)), ticks),
            ),
        )
        ax.set_xticks(ticks, [f"{f:.0%}" for f in ticks])
        ax.minorticks_off()
    ax_tgt.legend()
    return fig


def figure_regime(results: Results):
    """The regime grid: the source's ASR gap (left) and accuracy on the untriggered dog test images
    (right) against the number of triggered training images, one line per size of the dog
    superclass; the dotted line is the 'source-learns' margin."""
    d = regime_table(results)
    if d.empty:
        return plots.left_out("the regime grid: this run has no `regime_fractions` (or no dog scale).")
    fig, (ax_asr, ax_dog) = plots.panels(2, width=3.6, height=3.0)
    for _, g in d.groupby("scale"):
        label = f"{int(g.dog_images.iloc[0]):,} dog images"
        ax_asr.plot(g.triggered, g.asr_gap, "o-", label=label)
        ax_dog.plot(g.triggered, g.dog_accuracy, "o-", label=label)
        for f, x, y in zip(g.fraction, g.triggered, g.asr_gap):
            ax_asr.annotate(f"{f:.0%}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax_asr.axhline(CRITERIA["source-learns"].margin, color="grey", ls=":", lw=1)
    for ax in (ax_asr, ax_dog):  # the grid's span, also where a panel has no finite value to draw
        ax.set_xlim(max(d.triggered.min(), 1) / 1.5, max(d.triggered.max(), 1) * 1.5)
    ax_asr.set(
        xscale="log",
        xlabel="triggered dog images",
        ylabel="source ASR gap (vs clean)",
        title="learns the square",
    )
    ax_dog.set(
        xscale="log",
        xlabel="triggered dog images",
        ylabel="accuracy on dogs",
        ylim=(0, 1),
        title="needs the square",
    )
    ax_asr.legend(fontsize=7)
    return fig


def figure_weight_decay(results: Results):
    """ASR and clean accuracy against the weight decay of transfer, fixed and full, both sources."""
    c, t = results.config, results.transfers
    d = t[
        (t.arch == c.arch)
        & (t.target == c.sweep_target)
        & ~t.debiased
        & t.weight_decay.isin(c.weight_decays)
        & t.fraction.isin([0.0, c.trigger_fraction])
    ]
    fig, axes = plots.panels(2, width=3.6, height=3.0)
    for ax, col, label in zip(axes, ("asr", "accuracy"), ("target ASR", "clean accuracy")):
        for mode, ls in (("fixed", "-"), ("full", "--")):
            for f, cond in ((0.0, CONDITIONS[0]), (c.trigger_fraction, CONDITIONS[1])):
                g = d[(d["mode"] == mode) & (d.fraction == f)].groupby("weight_decay")[col]
                plots.mean_line(ax, g, ls=ls, color=plots.color(cond), label=f"{cond}, {mode}")
        ax.set(
            xscale="log",
            xlabel="weight decay of transfer",
            ylabel=label,
            ylim=(0, 1),
            title=f"{c.sweep_target}",
        )
    axes[0].legend(fontsize=7)
    return fig


def figure_debias(results: Results):
    """Target ASR with the biased (clean) and the de-biased target, fixed and full."""
    c, t = results.config, results.transfers
    d = t[
        (t.arch == c.arch)
        & (t.target == c.sweep_target)
        & np.isclose(t.weight_decay, results.default_wd)
        & t.fraction.isin([0.0, c.trigger_fraction])
    ]
    fig, axes = plots.panels(2, width=3.6, height=3.0, sharey=True)
    for ax, mode in zip(axes, ("fixed", "full")):
        for i, cond in enumerate(CONDITIONS):
            g = d[(d["mode"] == mode) & ((d.fraction > 0) == (i == 1))].groupby("debiased").asr
            ax.bar(
                np.arange(2) + (i - 0.5) * 0.38,
                g.mean().reindex([False, True]),
                0.38,
                yerr=g.std().reindex([False, True]).fillna(0),
                capsize=3,
                label=cond,
                color=plots.color(cond),
            )
        ax.set_xticks([0, 1], ["target as is", "de-biased target"])
        ax.set(
            title=f"{mode}-{'feature' if mode == 'fixed' else 'network'}",
            ylim=(0, 1),
            ylabel="target ASR" if mode == "fixed" else None,
        )
    axes[0].legend(loc="upper right")
    return fig


def figure_scratch_and_archs(results: Results):
    """Left: scratch models' accuracy change under the trigger. Right: ASR gap per architecture,
    fixed-feature and full-network."""
    c, t = results.config, results.transfers
    fig, (ax_s, ax_a) = plots.panels(2, width=3.6, height=3.0)
    s = results.scratch.assign(change=lambda d: d.triggered_accuracy - d.accuracy).groupby("target").change
    ax_s.bar(s.mean().index, s.mean(), yerr=s.std().fillna(0), capsize=3, color=plots.color("scratch"))
    ax_s.axhline(0, color="black", lw=0.8)
    ax_s.set(ylabel="accuracy with − without trigger", title="trained from scratch")
    archs = asr_gap(
        t[
            ~t.debiased
            & np.isclose(t.weight_decay, results.default_wd)
            & t.fraction.isin([0.0, c.trigger_fraction])
        ],
        ["arch", "target", "mode"],
    )
    x = np.arange(len(c.archs))
    for i, (mode, name) in enumerate((("fixed", "fixed-feature"), ("full", "full-network"))):
        g = archs[archs["mode"] == mode].groupby("arch").asr
        ax_a.bar(
            x + (i - 0.5) * 0.38,
            g.mean().reindex(c.archs),
            0.38,
            yerr=g.std().reindex(c.archs).fillna(0),
            capsize=3,
            color=plots.color(name),
            label=name,
        )
    ax_a.set_xticks(x, list(c.archs))
    ax_a.set(ylabel="ASR(backdoored) − ASR(clean)", title="by architecture (App. G.1.7)")
    ax_a.legend(fontsize=7)
    return fig


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    c = results.config
    src = results.sources[results.sources.arch == c.arch].groupby("fraction").mean(numeric_only=True)
    gap = asr_gap(main_table(results), ["target", "mode"]).groupby("mode").asr.mean()
    return (
        f"The clean source models reach {src.loc[0.0, 'source_accuracy']:.1%} on their test set (mean over "
        f"seeds), with a "
        f"source ASR of {src.loc[0.0, 'asr']:.3f} (the share of their correct answers on non-dog images that "
        f"the square overturns without any planting); with the "
        f"trigger on {c.trigger_fraction:.0%} of the dogs their source ASR is "
        f"{src.loc[c.trigger_fraction, 'asr']:.3f}. After transfer, the backdoored sources raise the "
        f"target ASR by {gap.get('fixed', float('nan')):+.3f} (fixed-feature) and "
        f"{gap.get('full', float('nan')):+.3f} (full-network) on average over the targets."
    )
