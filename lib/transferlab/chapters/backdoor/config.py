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
from ..registry import Amendment, Registration, Registry

SOURCE = "thesis §7.2"
SEEDS = (200, 201, 202, 203, 204)  # the registry's confirmatory seeds (REGISTRY.seeds)
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
        (0.1, 0.5, 1.0),
        "fractions of the frequency sweep (fixed-feature); claim (b) reads its smallest (the thesis' "
        "10 %) and the trend across those the source learns",
        low=0.0,
        high=1.0,
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
        (),
        "trigger fractions of the regime grid (with `dog_scales`; its sources use the first seed). "
        "Empty by default: the page shows the grid last measured (committed with the chapter); "
        "-p regime_fractions 0.1,0.5 reruns it",
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
        SEEDS,
        "seeds: each trains its own source models (clean and backdoored) and their transfers and "
        "scratch models (the registry's confirmatory seeds; the clean sources are chapter 0's of the "
        "same seeds)",
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
world's 1,800 dog images is 180. Before these claims were registered, the default world's source
(seed 0) was trained with 2, 5, 10, 20, 50 and 100 % of its dog images triggered: its source ASR
was 0.006, 0.008, 0.008, 0.032, 0.162, 0.335 (clean source 0.007) and its accuracy on the
(untriggered) dog test images 0.93, 0.93, 0.97, 0.94, 0.87, 0.06 (clean 0.93). Below 20 % it does
not learn the square; at 100 % it cannot tell a dog without it, so clean accuracy after transfer
cannot be equal (claim (g)). The main comparison is therefore at 50 % (`trigger_fraction`), the
smallest fraction it learns without that dependence. Claim (b) is the thesis' own: a *small*
frequency, 10 %, the smallest of the sweep; where this run's sources have not learned the trigger
at 10 % (their source ASR gap not above the 'source-learns' margin, whole interval) its target gap
is **n/a** with that reason: a source that has not learned a trigger has nothing to pass on, and
reading the gap at a larger fraction would test an easier statement. Whether the share or the
number of triggered images decides is measured by a **regime grid**: sources (the first seed)
whose dog superclass has `dog_scales` × its images per breed (above 1 a larger draw of the same
world's dogs; below 1 the first images of each breed, the only way on real data), each with the
trigger on each of `regime_fractions` of its dogs and a clean one of the same size as control. It
is a finding of one seed per cell, not a claim; it costs three sources at three times the dogs, so
the default run shows the grid as last measured (committed with the chapter, with the commit and
machine that measured it) and `-p regime_fractions 0.1,0.5` (the `paper` preset too) reruns it.

**Measured.** Attack success rate ASR = P[C(T(x)) ≠ y | C(x) = y] on each target's test set (and on
the source's non-dog test images for the source models), and clean accuracy.

**Claims** (ASR gap = ASR after transfer from the backdoored source − from the clean source, per
seed; seed s trains both sources of seed s and transfers them with seed s, so a gap holds the
variance of the sources and of the transfers):
- (a) Fixed-feature: the gap at `trigger_fraction` is clearly positive on every target (Fig. 7.1).
- (b) Even at a small frequency (10 %, the smallest of the sweep) the fixed-feature gap (mean over
  targets) is clearly positive; the source ASR grows from the smallest fraction to the largest;
  and the target gap shows no trend in frequency: between the smallest and the largest fraction
  the source has learned, it differs by less than the margin (an equivalence, Fig. 7.2).
- (c) Full-network transfer reduces but does not remove it: its gap stays above 0.02 and below the
  fixed-feature gap (Fig. 7.1).
- (d) Weight decay reduces it in full-network, not in fixed-feature: at the largest weight decay
  the full-network gap is below half its value at the smallest, the fixed-feature gap above half
  (Fig. 7.3).
- (e) De-biasing the target removes it in full-network, not in fixed-feature (Fig. 7.4).
- (f) Scratch models are not affected by the trigger (App. G.1.7, Fig. G.5b).
- (g) Clean accuracy is about equal after transfer from either source (App. G.1.6, Fig. G.4).
- (h) The bias transfers across architectures: the fixed-feature gap is clearly positive for each
  (App. G.1.4; the full-network gaps are drawn beside them, Fig. G.1b). The first architecture's
  series is (a)'s, and the fixed-feature half of (c) is (a)'s too: the registry says so and the
  summary counts that evidence once."""

# Smallest effects of interest, declared before the pilot: how far beyond its margin a quantity must
# lie for the registry to plan the replicates that would show it (80 % power, one-sided 2.5 %)
CRITERIA = criteria(
    Criterion(
        "asr-gap",
        "ASR gap (backdoored − clean source)",
        ">",
        0.05,
        "five points of ASR: the smallest gap read as 'clearly higher'",
        effect=0.05,
    ),
    Criterion(
        "source-asr-grows",
        "source ASR at the largest fraction − at the smallest",
        ">",
        0.0,
        "an ordering; the thesis' Fig. 7.2 grows by tens of points",
        effect=0.05,
    ),
    Criterion(
        "source-learns",
        "source ASR (backdoored − clean source)",
        ">",
        0.05,
        "the source has learned the trigger when it overturns five points more of its answers than the "
        "clean source: the margin of the target gap (a gate of (b), not an estimate)",
    ),
    Criterion(
        "no-trend",
        "fixed-feature ASR gap at the largest learned fraction − at the smallest",
        "within",
        0.05,
        "'no clear trend': the gaps at two learned frequencies within the margin of 'clearly higher'",
        effect=0.025,
    ),
    Criterion(
        "full-remains",
        "ASR gap, full-network",
        ">",
        0.02,
        "'not removed': above two points, the ASR noise of a clean source's transfers",
        effect=0.03,
    ),
    Criterion(
        "full-reduces",
        "ASR gap, fixed-feature − full-network",
        ">",
        0.0,
        "an ordering",
        effect=0.03,
    ),
    Criterion(
        "decay-halves",
        "full-network gap at the largest weight decay − ½ × at the smallest",
        "<",
        0.0,
        "'reduces' read as at least halving the gap",
        effect=0.02,
    ),
    Criterion(
        "decay-keeps",
        "fixed-feature gap at the largest weight decay − ½ × at the smallest",
        ">",
        0.0,
        "'not in fixed-feature' read as keeping more than half of the gap",
        effect=0.02,
    ),
    Criterion(
        "debias-removes",
        "full-network gap on the de-biased target − max(0.02, ¼ × its gap on the target as is)",
        "<",
        0.0,
        "'removes' read as below two points or a quarter of what transferred, whichever is larger",
        effect=0.02,
    ),
    Criterion(
        "scratch-unaffected",
        "accuracy with trigger − without, scratch model",
        "within",
        0.03,
        "three points: the accuracy noise between seeds of a small target",
        effect=0.015,
    ),
    Criterion(
        "same-accuracy",
        "clean accuracy (backdoored − clean source)",
        "within",
        0.03,
        "three points: the accuracy noise between seeds of a small target",
        effect=0.015,
    ),
)

PAPER_NOTE = """The thesis' setting (App. G.1): its recipes (batch 1024, learning rates 0.5 / 0.1, 16 epochs with
the peak at epoch 2), ResNet-18 / ResNet-50 / VGG-11, the frequency grid of its Fig. 7.2 and the
regime grid, on the registry's seeds (the thesis: five). Meant for real data on a GPU
(`-p data_dir`); without it the synthetic world is drawn at 64 px."""
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


REPLICATE = "seed (sources and transfers, paired)"

REGISTRY = Registry(
    chapter="backdoor",
    frozen="2026-12-07",
    seeds=SEEDS,
    pilot_seeds=(100, 101, 102, 103),
    pilot=(
        "Pilot (default protocol, seeds 100-103, each its own clean and backdoored sources: the clean ones "
        "chapter 0's pilot sources; 25 min 33 s on the 2-core Intel Xeon with the clean sources in the "
        "store, about 6.4 min per seed): the sources' ASR gap over the clean source is +0.001 (sd 0.003) "
        "at 10 %, +0.175 (sd 0.024) at 50 % and +0.389 (sd 0.038) at 100 %: they do not learn the square "
        "at 10 %, so (b)'s target gap at 10 % is n/a by the registered rule (not re-read at 50 %). (a) "
        "fixed-feature gap objects 0.489 (sd 0.085), flowers 0.193 (sd 0.050), pets 0.351 (sd 0.094): "
        "held; (b) source ASR growth 0.388 (sd 0.036): held; target gap 100 % - 50 % +0.125 (sd 0.075): "
        "undecided on 'no trend'; (c) full-network gap 0.109 (sd 0.049) and fixed - full 0.235 (sd 0.021): "
        "held; (d) full-network gap at weight decay 0.05 - half of it at 5e-4 -0.119 (sd 0.060), "
        "fixed-feature +0.254 (sd 0.039): held; (e) de-biased full-network -0.052 (sd 0.037): undecided, "
        "de-biased fixed-feature gap 0.089 (sd 0.026): undecided; (f) scratch: held on every target; (g) "
        "two of six held, four undecided (sd up to 0.027); (h) cresnet-s 0.345, cresnet-xs 0.356, cvgg-s "
        "0.300: held. Smallest effects of interest, declared before the pilot: five points of ASR beyond "
        "the gap margin and of source ASR growth, three beyond the full-network margins, two for weight "
        "decay and de-biasing, 1.5 points inside the accuracy margins, 2.5 inside 'no trend'. Planned n "
        "at 80 % power, one-sided 2.5 % (statsmodels TTestPower), each claim's most demanding estimate: "
        "(a) 30 (pets), (b) 73 (no trend; growth 7), (c) 23, (d) 72, (e) 30, (f) 7, (g) 28, (h) 9. A "
        "seed costs about 6.4 minutes (seven backdoored or other-architecture sources, 57 "
        "transfers and scratch models): registered at n = 5, chapter 0's seeds 200-204 (their clean "
        "sources and transfers "
        "are chapter 0's models), with power for the smallest effect of (a) 0.15, (b) 0.08 (no trend; "
        "growth 0.65), (c) 0.19, (d) 0.09, (e) 0.15, (f) 0.63, (g) 0.16, (h) 0.49. A claim undecided at "
        "n = 5 is reported so, with the n a new registration would need. The regime grid is a finding "
        "(committed, not re-run by default). History: before this registry (b) was read at the smallest "
        "fraction this run's sources learned (50 %, (a)'s own series), the seeds were 0-2 and the main "
        "fraction and margins were set on them."
    ),
    claims=(
        Registration(
            "a",
            '"this bias *consistently* transfers to different target datasets [...] adding the trigger at '
            'inference time causes the model to misclassify across a suite of target tasks" (fixed-feature)',
            SOURCE + ", Fig. 7.1",
            ("asr-gap",),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0941,
        ),
        Registration(
            "b",
            '"Bias consistently transfers even if only a small percentage of the source dataset contains the '
            "trigger. There is, however, no clear trend of how bias transfer changes as the frequency of the "
            "trigger in the source dataset changes [...] unlike the corresponding trend for the source "
            'dataset and original model" (a small percentage: "e.g., 10% of the dogs")',
            SOURCE + ", Fig. 7.2",
            ("asr-gap", "source-asr-grows", "no-trend"),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0748,
        ),
        Registration(
            "c",
            '"bias also transfers in the full-network setting, but to a lesser degree"',
            SOURCE + ", Fig. 7.3a",
            ("full-remains", "full-reduces"),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0486,
            reuses="a",
        ),
        Registration(
            "d",
            '"increasing weight decay does *not* reduce bias transfer in the fixed-feature setting, but can '
            '*substantially* reduces bias transfer in the full-network transfer setting"',
            SOURCE + ", §7.2.2, Fig. 7.3b, App. G.1.5",
            ("decay-halves", "decay-keeps"),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0597,
        ),
        Registration(
            "e",
            '"de-biasing in this manner is *not* able to fully remove the bias in the fixed-feature transfer '
            "learning setting. However, in full-network transfer learning setting, the de-biasing "
            'intervention *does* succeed in correcting the bias"',
            SOURCE + ", §7.2.2, Fig. 7.4",
            ("debias-removes", "asr-gap"),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0372,
        ),
        Registration(
            "f",
            '"the addition of the yellow square trigger do[es] not significantly change the accuracy of the '
            'models trained from scratch"',
            SOURCE + ", App. G.1.7, Fig. G.5b",
            ("scratch-unaffected",),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.011,
        ),
        Registration(
            "g",
            '"the accuracies of both models pretrained in biased and unbiased source models, for both '
            'fixed-feature and full-network settings, are roughly the same"',
            SOURCE + ", App. G.1.6, Fig. G.4",
            ("same-accuracy",),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0269,
        ),
        Registration(
            "h",
            '"backdoor attack indeed transfers in the fixed-feature setting" for each architecture',
            SOURCE + ", App. G.1.4, Fig. G.1",
            ("asr-gap",),
            REPLICATE,
            planned_n=5,
            pilot_sd=0.0438,
            reuses="a",
        ),
    ),
    criteria=CRITERIA,
)
FROZEN_DIGEST = "d4b5212d6721715e"  # the registry's digest when it was frozen
AMENDMENTS: tuple[Amendment, ...] = ()
