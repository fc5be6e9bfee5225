"""Chapter 2's parameters, presets, protocol and criteria: what a run is asked to do."""

from __future__ import annotations

import dataclasses
from typing import Any

from ...world import (
    POSITIONS,
    TARGETS,
    Square,
)
from ..base import ARCHS, PAPER_WORLD, SMOKE_WORLD, WorldParams
from ..claims import Criterion, criteria
from ..contract import data_parts
from ..params import ParameterError, distinct, param

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
    trigger_colour: tuple[int, ...] = param(
        (255, 255, 0), "RGB colour of the square", low=0, high=255, repeats=True
    )
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
        return square(**trigger_kwargs(self))

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
        **PAPER_WORLD,
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


def trigger_kwargs(config: Config) -> dict[str, Any]:
    return {
        "trigger_size": config.trigger_size,
        "trigger_position": config.trigger_position,
        "trigger_colour": tuple(config.trigger_colour),
    }


def square(trigger_size: int, trigger_position: str, trigger_colour) -> Square:
    return Square(trigger_size, trigger_position, tuple(trigger_colour))
