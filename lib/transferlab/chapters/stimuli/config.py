"""Chapter 7's parameters, presets, protocol and criteria: what a run is asked to do."""

from __future__ import annotations

import dataclasses

from ...world import TARGETS
from ..base import ARCHS, WorldParams
from ..claims import Criterion, criteria
from ..contract import data_parts
from ..params import ParameterError, distinct, param
from ..registry import Amendment, Registration, Registry

SOURCE = "strong-stimuli poster"
STARTS = ("noise", "seed")
SHADOW_DATA = ("disjoint", "same")
SCRATCH = 0  # frozen blocks of no child: the scratch child's row carries kind "scratch"


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter (the world and foundation parameters come first)."""

    image_size: int = param(
        16, "side of every image in pixels (real images are resized to it)", low=12, high=256
    )
    source_per_class: int = param(
        200, "source training images per class (on real data: at most this many)", low=5, high=100_000
    )
    arch: str = param("cresnet-xs", "architecture of the foundation and its children", choices=ARCHS)
    fine_classes: int = param(
        7,
        "fine classes per generic superclass (7: 102 source classes, so that three candidate "
        "foundations of K = 34 classes each have their own)",
        low=1,
        high=8,
    )
    full_epochs: int = param(8, "epochs of fine-tuning each child", low=1, high=1000)
    scratch_epochs: int = param(16, "epochs of the children trained from scratch", low=1, high=1000)
    flower_classes: int = param(
        34,
        "classes of the synthetic flowers target (the poster's Flowers-102 has 102; with 17 the "
        "children fit every class and its centroid sits at its one-hot vector)",
        low=2,
        high=120,
    )
    target: str = param(
        "flowers",
        "the children's K-class target (K = its classes; the foundation learns the first K source classes)",
        choices=TARGETS,
    )
    frozen: tuple[int, ...] = param(
        (1, 2, 3, 4, 5),
        "children: numbers of leading blocks frozen while fine-tuning (5 = only the head trains)",
        low=0,
        high=5,
    )
    seeds: tuple[int, ...] = param(
        tuple(range(200, 229)),
        "seeds of the children (each frozen level and scratch; the default: the registry's "
        "confirmatory seeds)",
        low=0,
    )
    starts: tuple[str, ...] = param(
        STARTS, "where stimuli start: uniform noise, or a source image of the class", choices=STARTS
    )
    steps: int = param(60, "gradient-ascent steps per stimulus", low=1, high=10_000)
    step_size: float = param(
        0.02, "size of each signed-gradient step, in pixel units ([0, 1] range)", low=1e-4, high=1.0
    )
    radius: float = param(
        0.25, "L∞ bound of a seeded stimulus around its seed image, in pixel units", low=0.0, high=1.0
    )
    shadows: int = param(
        3,
        "candidate foundations of the probe (candidate 0 is the chapter's foundation), each "
        "with children at every frozen level",
        low=1,
        high=50,
    )
    probe_seeds: int = param(
        3,
        "the probe's children of the other candidates are trained on the first this many seeds only "
        "(the probe is a finding, not a claim)",
        low=1,
        high=1000,
    )
    shadow_data: str = param(
        "disjoint",
        "what the candidates differ in: 'disjoint' (each its own K source classes, "
        "seed 0) or 'same' (the foundation's classes, seeds 0, 1, ...)",
        choices=SHADOW_DATA,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("frozen", self.frozen)
        distinct("seeds", self.seeds)
        distinct("starts", self.starts)
        n_source = self.n_source()
        k = self.k()
        need = k * (self.shadows if self.shadow_data == "disjoint" else 1)
        if need > n_source:
            raise ParameterError(
                f"the target {self.target!r} has {k} classes, so the foundation"
                + (
                    f" and {self.shadows - 1} candidates with their own classes need {need}"
                    if need > k
                    else f" needs {k}"
                )
                + f" source classes; the source has {n_source}: lower 'shadows' or use "
                "shadow_data 'same'"
            )

    def world_config(self):
        """The chapter's world: the shared one with ``flower_classes`` flower kinds in the target."""
        return super().world_config().replace(flowers_classes=self.flower_classes)

    def n_source(self) -> int:
        """Classes of the source task (on real data from the folder's class list, no image read)."""
        return len(self.world(cache=None).source_class_names())

    def shadow_classes(self, shadow: int) -> tuple[int, ...]:
        """The source classes candidate ``shadow`` learns (candidate 0: the first K)."""
        k = self.k()
        return (
            tuple(range(k * shadow, k * (shadow + 1))) if self.shadow_data == "disjoint" else tuple(range(k))
        )

    def child_seeds(self, shadow: int) -> tuple[int, ...]:
        """The seeds of a candidate's children: every seed for the foundation's (candidate 0), the
        first ``probe_seeds`` for the other candidates'."""
        return self.seeds if shadow == 0 else self.seeds[: self.probe_seeds]

    def shadow_seed(self, shadow: int) -> int:
        return shadow if self.shadow_data == "same" else 0

    def k(self) -> int:
        """K: the number of target classes (the foundation learns as many source classes)."""
        world = self.world(cache=None)
        if self.data_dir:
            return len(world.target(self.target, "train").classes)
        return len(world.target_classes(self.target))


PROTOCOL = """**Setup** (the strong-stimuli poster). A foundation model is trained on K source classes; its
children are fine-tuned on a K-class target with the first 1–5 blocks frozen (`frozen`), plus a
child trained from scratch, per seed (`seeds`). The target is the flowers task with
`flower_classes` kinds (the poster: 102 foundation classes, Flowers-102; the book's default 34,
with 7 fine classes per source superclass so that each of the three candidate foundations of the
probe has 34 classes of its own). For each source class a *stimulus* is optimised by gradient
ascent on the foundation's class score (`steps`, from noise and from a seed image, `starts`).
Each child answers each stimulus; a stimulus *outperforms* on a child when the child's softmax is
closer to the one-hot vector of the target class with the stimulus' index than the class's
centroid is. A shadow-model probe (`shadows`) asks whether a child's answers identify its
foundation (the other candidates' children are trained on the first `probe_seeds` seeds).

**Two readings of "centroid"**, fixed before the run and both reported: *mean output*, the mean
of the child's softmax over the class's training images (the poster's "centroid of that target
class's training outputs"); and *mean image*, the child's softmax on the class's mean training
image. A child that fits its training data puts the first near the one-hot vector whatever the
stimuli do, so the chapter also shows each centroid's distance to one-hot by frozen blocks and
class size: the poster's trends could come from the centroids alone.

**Claims.** The replicate is a seed of the children (every frozen level and scratch); the
foundation is one model, so every claim is about *this foundation model*: the intervals do not
hold the variance of retraining it.
- (a) Most stimuli are mapped to a single label: per fine-tuned child, the share of the stimuli
  that take its most frequent label, mean over the fine-tuned children (mode table). The share
  among the three most frequent labels is reported as a finding.
- (b) More outperforming stimuli the more blocks are frozen, fewest for scratch: per seed, the rank
  correlation between frozen blocks and outperforming stimuli, and the fewest outperforming stimuli
  of a fine-tuned child minus the scratch child's; under each reading (b-output, b-image).
- (c) Consistently outperforming stimuli target classes with fewer training points (poster: 46.84
  vs 102.84): per seed, a stimulus is consistently outperforming when it outperforms on every
  fine-tuned child of that seed (the poster's five children), and the quantity is the poster's
  difference of the mean training sizes of its target classes and of the rest's; under each
  reading (c-output, c-image). A seed where every or no stimulus is consistent has no comparison
  and is left out (the table says how many)."""

# smallest class-size gap of interest: a fifth of the default target's mean class size (34 training
# images, 10-80 per class); the poster's gap, 56 images, is over two thirds of Flowers-102's mean
EFFECT_POINTS = 7.0
CRITERIA = criteria(
    Criterion(
        "single-label",
        "share of the stimuli on a fine-tuned child's most frequent label",
        ">",
        0.5,
        "'most' stimuli: more than half",
        effect=0.1,
    ),
    Criterion(
        "more-when-frozen",
        "rank correlation of frozen blocks and outperforming stimuli",
        ">",
        0.0,
        effect=0.5,
    ),
    Criterion(
        "scratch-fewest",
        "fewest outperforming stimuli of a fine-tuned child − scratch child's",
        ">",
        0.0,
        effect=3.0,
    ),
    Criterion(
        "fewer-points",
        "mean training size of the classes of consistently outperforming stimuli − of the rest",
        "<",
        0.0,
        "the poster's direction; a fifth of the mean class size is the smallest gap of interest",
        effect=EFFECT_POINTS,
    ),
)

SCOPE = "for this foundation model (one draw; the children are the replicates)"
REPLICATE = "seed (children; one foundation)"
POSTER_B = (
    '"more strong stimuli outperform training centroids when evaluated against models with fewer layers '
    "retrained during finetuning. [...] the number of outperforming strong stimuli was lowest for this "
    'baseline model" (the child trained from scratch)'
)
POSTER_C = (
    '"strong stimuli that consistently outperformed training centroids typically targeted classes with '
    'less representation in the child dataset"'
)

# Registered on 2026-12-03, before the confirmatory run, from a pilot of the default protocol on
# seeds 100-104 (seeds 0-2 had been seen in earlier builds, so the confirmatory seeds are new).
REGISTRY = Registry(
    chapter="stimuli",
    frozen="2026-12-03",
    seeds=tuple(range(200, 229)),
    pilot_seeds=(100, 101, 102, 103, 104),
    pilot=(
        "Pilot (default protocol, seeds 100-104, 5 seeds of children of the one foundation): (a) a "
        "fine-tuned child's most frequent label takes 0.120 of the stimuli (sd 0.013; the three most "
        "frequent 0.30): contradicted; (b-output) rank correlation of frozen blocks and outperforming "
        "stimuli -0.68 (sd 0.32), fewest fine-tuned minus scratch -2.2 (sd 1.9): contradicted; (b-image) "
        "-0.27 (sd 0.44) and 0.8 (sd 2.9): undecided; (c-output) one stimulus of 340 outperformed on every "
        "fine-tuned child of its seed, so only one seed had a comparison: n/a, no spread to plan from; "
        "(c-image) size gap -5.5 training images (sd 12.9): undecided. Smallest effects of interest, "
        "declared with the registry: a most frequent label taking 60 % of the stimuli, a rank "
        "correlation of 0.5 (a clear trend), three stimuli more on the fewest fine-tuned child than on "
        "scratch, a size gap of 7 training images (a fifth of the mean class size). Planned n: 80 % "
        "power at one-sided 2.5 % for each criterion's smallest effect at the pilot's spread "
        "(statsmodels TTestPower): (a) 3, (b-output) 6, (b-image) 10, (c-image) 29; (c-output) has no "
        "pilot spread and takes the run's n. Every seed trains every child, so the run uses the "
        "largest, 29 seeds, for every claim. The pilot did not change the world, the recipe or the "
        "readings (fixed on seeds 0-2 of earlier builds)."
    ),
    claims=(
        Registration(
            "a",
            '"most strong foundational model stimuli are mapped to a single label by 4 of the 5 child '
            'models we produced"',
            SOURCE + ", first finding",
            ("single-label",),
            REPLICATE,
            planned_n=3,
            pilot_sd=0.0134,
            scope=SCOPE,
        ),
        *(
            Registration(
                f"b-{reading}",
                POSTER_B,
                SOURCE + ", second finding",
                ("more-when-frozen", "scratch-fewest"),
                REPLICATE,
                planned_n=n,
                pilot_sd=sd,
                scope=SCOPE,
            )
            for reading, n, sd in (("output", 6, 1.92), ("image", 10, 2.95))
        ),
        *(
            Registration(
                f"c-{reading}",
                POSTER_C,
                SOURCE + ", third finding",
                ("fewer-points",),
                REPLICATE,
                planned_n=n,
                pilot_sd=sd,
                scope=SCOPE,
            )
            for reading, n, sd in (("output", 29, float("nan")), ("image", 29, 12.88))
        ),
    ),
    criteria=CRITERIA,
)
FROZEN_DIGEST = "ff97d33085d880a5"  # the registry's digest when it was frozen
AMENDMENTS: tuple[Amendment, ...] = ()

PAPER_NOTE = """The poster's setting: a ResNet-50 foundation on the first 102 ImageNet classes at 224 px, children
on Flowers-102 fine-tuned for 16 epochs (scratch: 32), stimuli optimised for 200 steps, four
shadow models. The poster had one set of five children; the preset keeps the registry's 29 seeds of
children, as many as the default. Give `-p data_dir` with `imagenet/` and `flowers102/`; meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the foundation's task (its first K classes, K the target's class count)",
    flowers="the children's task (Flowers-102)",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        "image_size": 12,
        "superclasses": 4,
        "fine_classes": 2,
        "flower_classes": 17,
        "source_per_class": 20,
        "target_per_class": 10,
        "source_epochs": 2,
        "full_epochs": 2,
        "scratch_epochs": 2,
        "frozen": [1, 3, 5],
        "seeds": [0],
        "steps": 5,
        "shadows": 2,
        "shadow_data": "same",
    },
    "default": {},
    "paper": {
        "image_size": 224,
        "source_per_class": 1300,
        "arch": "resnet50",
        "recipes": "thesis",
        "source_epochs": 16,
        "full_epochs": 16,
        "scratch_epochs": 32,
        "steps": 200,
        "step_size": 0.005,
        "radius": 0.1,
        "shadows": 4,
    },
}
