"""Chapter 6's parameters, presets, protocol and criteria: what a run is asked to do."""

from __future__ import annotations

import dataclasses
import re

from ...world import (
    PLANTED_SOURCE,
    PLANTED_TARGET,
    TARGETS,
    planted_catalogue,
    source_catalogue,
)
from ..base import ARCHS, TINY_WORLD, WorldParams
from ..claims import Criterion, criteria
from ..contract import data_parts
from ..params import ParameterError, distinct, param

SOURCE = "thesis ch. 8"
OUTPUTS = ("softmax", "correct", "margin")
SETTINGS = ("planted", "shapes")
REMOVALS = ("most positive", "most negative", "random")
HAND_PICKED = "hand-picked (related classes only)"
FULL = "full source"
SCRATCH = "scratch"


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter. Many models are trained, so the world is smaller than elsewhere."""

    setting: str = param(
        "planted",
        "the world: 'planted' (made for this chapter: its own source and target, every class "
        "influence planted and stated before any run) or 'shapes' (the book's main source and the "
        "target `target`: a harder setting whose planted relations are weak); with data_dir, the "
        "folder's source and `target` whatever this says",
        choices=SETTINGS,
    )
    image_size: int = param(
        16, "side of every image in pixels (real images are resized to it)", low=12, high=256
    )
    superclasses: int = param(
        8, "generic shape superclasses of the 'shapes' setting's source", low=2, high=12
    )
    fine_classes: int = param(2, "fine classes per generic superclass ('shapes' setting)", low=1, high=8)
    source_per_class: int = param(
        80, "source training images per class (on real data: at most this many)", low=5, high=100_000
    )
    target_per_class: int = param(40, "target training images per class", low=5, high=100_000)
    test_per_class: int = param(
        60, "target test images per class (the examples the influences explain)", low=5, high=100_000
    )
    arch: str = param("cresnet-xs", "architecture of every source model", choices=ARCHS)
    source_epochs: int = param(
        12, "epochs of source training (triangular LR, peak at epoch 2)", low=1, high=1000
    )
    source_batch: int = param(32, "batch size of source training", low=1, high=100_000)
    source_lr: float = param(0.1, "peak learning rate of source training", low=1e-6, high=10.0)
    target: str = param(
        "objects", "the target task of the 'shapes' setting and of real data", choices=TARGETS
    )
    mode: str = param("fixed", "transfer mode of every run", choices=("fixed", "full"))
    models: int = param(
        128, "source models on random class subsets (the thesis: 7,540 on ImageNet)", low=8, high=100_000
    )
    alpha: float = param(0.5, "fraction of the source classes each model is trained on", low=0.05, high=0.95)
    output: str = param(
        "softmax",
        "the per-example output the influences explain: softmax of the true class, "
        "correctness, or margin (true logit minus the largest other)",
        choices=OUTPUTS,
    )
    holdout_models: int = param(
        24, "further models on new random subsets, held out to score the estimators (LDS)", low=0, high=10_000
    )
    removals: tuple[int, ...] = param(
        (3,), "numbers k of source classes removed in the counterfactuals", low=1, high=1000
    )
    counterfactual_seeds: tuple[int, ...] = param(
        tuple(range(22)),
        "seeds of the counterfactuals: the full source and the top-k positive, top-k negative and "
        "random removals (claim (a)'s replicates)",
        low=0,
    )
    extra_seeds: int = param(
        8,
        "how many of the counterfactual seeds (the first) also get the hand-picked source, the "
        "removals chosen from fewer models and the debugging runs",
        low=1,
        high=10_000,
    )
    pilot_seeds: tuple[int, ...] = param(
        (0, 1, 2, 3, 4),
        "seeds of the pilot's models (full source, without each planted group, scratch)",
        low=0,
    )
    bootstrap: int = param(
        200,
        "bootstrap resamples of the runs (or held-out runs) for the spreads and intervals",
        low=2,
        high=10_000,
    )
    gradient_models: int = param(
        5,
        "models on the full source (one per seed) for the gradient-based estimator; "
        "the full-source models of the counterfactual seeds are among them",
        low=1,
        high=1000,
    )
    gradient_dim: int = param(
        256, "random projection size of the gradient-based estimator's features", low=8, high=100_000
    )
    counterfactual_models: tuple[int, ...] = param(
        (32,),
        "also remove the top-k positive and negative classes chosen from the first m runs, for each m "
        "here below `models` (App. H.1.5); empty: none",
        low=8,
        high=100_000,
    )
    debug_classes: int = param(
        1,
        "debugging failures: the source classes most often the most negative influencer of a "
        "full-source model's failure, each removed (and a random control class) at every "
        "extra seed",
        low=0,
        high=100,
    )
    scheduler: str = param(
        "",
        "train on a Dask cluster: its scheduler address (tcp://host:8786), or 'local' for a "
        "local one; empty: in this process",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("counterfactual_seeds", self.counterfactual_seeds)
        distinct("pilot_seeds", self.pilot_seeds)
        if self.scheduler not in ("", "local") and not re.match(r"^[a-z]+://\S+$", self.scheduler):
            raise ParameterError(
                f"'scheduler' {self.scheduler!r} is not a Dask scheduler address: give one like "
                "tcp://host:8786, 'local' for a local cluster, or leave it empty"
            )
        n = self.n_classes()
        if max(self.removals) >= n // 2:
            raise ParameterError(f"'removals' {self.removals} must stay below half the {n} source classes")
        k = round(self.alpha * n)
        if not 0 < k < n:
            raise ParameterError(f"'alpha' {self.alpha} of {n} classes keeps {k}: raise or lower it")

    def extras(self) -> tuple[int, ...]:
        """The counterfactual seeds of the hand-picked source, the fewer-models removals and debugging."""
        return self.counterfactual_seeds[: self.extra_seeds]

    def planted(self) -> bool:
        """Whether the runs use the planted-influence world (not the main world, not real data)."""
        return self.setting == "planted" and not self.data_dir

    def source_part(self) -> str:
        return PLANTED_SOURCE if self.planted() else "source"

    def target_part(self) -> str:
        return PLANTED_TARGET if self.planted() else self.target

    def world_config(self):
        n = self.target_per_class
        return (
            super()
            .world_config()
            .replace(target_test=self.test_per_class, leaks=min(self.test_per_class, max(2, n // 3)))
        )

    def source_recipe(self):
        return super().source_recipe().replace(batch_size=self.source_batch, lr=self.source_lr)

    def n_classes(self) -> int:
        """Source classes of this world."""
        if self.data_dir:
            return len(self.world().source_class_names())
        if self.planted():
            return len(planted_catalogue())
        return len(source_catalogue(self.world_config()))


PROTOCOL = """**Setup** (thesis ch. 8, App. H; the blog post). `models` source models, each trained on a
random half of the source classes (`alpha`), are each transferred to the target (fixed-feature);
the output recorded for every target test image is `output` (by default the softmax of its true
class). The influence of source class C on target image t is the difference of the mean output
over the models whose source contained C and those whose source did not (thesis Algorithm 1);
beside it the linear datamodels (ridge, LASSO; App. H.2) and a gradient-based TRAK-style
estimator from `gradient_models` full-source models, which scores single source images.

**The world** is made for the question: each target class is a shape in a random colour, and each
source class has one role, stated with its expected effect before any run (the truth table
below): *single helpers* (the only source class with a target class's shape), *redundant pairs*
(two source classes with the same shape, in warm and in cool colours), a *subpopulation helper* (part of the
target class "bar" is drawn as a person, which one source class teaches), *misleading* classes (a
coloured sticker; in the target's training set it sits on one class, in the test set on the
others: a backbone that detects it hands the linear head a shortcut), and *neutral* classes. Some
target test images have near-copies in the source: under their own class's helper (*leaks*) or
under another class's helper (*misleading copies*).

**Pilot** (`pilot_seeds`): full-source models against models without each planted group,
measured on the images each group concerns; and transfer against training from scratch (the
premise). It validates the world, not the claims.

**Counterfactuals** (`counterfactual_seeds`): sources without the top-k positive, the top-k
negative or k random classes by overall influence (`removals`), against the full source; at the
first `extra_seeds` of them also the hand-picked baseline of App. H.1.4 (a source of the related
classes only) and the top-k sets chosen from fewer models (`counterfactual_models`, App. H.1.5).
**Debugging** (§ 8.3): the class most often the most negative influencer of a full-source model's
failures, removed at each of those seeds, against a random class removed the same way.

**Claims.**
- (a) Removing the top-k positive classes hurts more than removing k random ones, and removing
  the top-k negative ones hurts less (Fig. 8.3): per counterfactual seed, averaged over k.
- (b) The estimates converge (App. H.1.5, H.6): the aggregate LDS (rank correlation between the
  mean target output the overall influences predict for the held-out runs and the actual one) is
  positive with all models, and higher than with an eighth of them; intervals by bootstrap over the
  held-out runs.
- (c) The planted helpers are recovered, by each estimator: per target class, R-precision of its
  most positive source classes against its planted helpers (precision at as many as it has),
  minus chance; the interval is over target classes.
- (d) The gradient-based estimator finds the planted copies (App. H.4's leakage): a leaked test
  image's copy is among its 10 most positive source images, a misleadingly copied one among its 10
  most negative; recall@10 minus chance, Wilson intervals over the copies.
- (e) Removing a failure's most negative class fixes more failures than removing a random class
  (§ 8.3): share of the failures fixed, per counterfactual seed.
- (f) A source class's most influenced target images are the subpopulation it shares (Fig. 8.4/8.5):
  the subpopulation helper's most positively influenced test images against the planted
  subpopulation, precision minus its share of the test set (Wilson interval)."""

CRITERIA = criteria(
    Criterion("positive-hurts", "accuracy without k random − without the top-k positive classes", ">", 0.0),
    Criterion("negative-helps", "accuracy without the top-k negative − without k random classes", ">", 0.0),
    Criterion("lds-positive", "aggregate LDS on the held-out runs, all models", ">", 0.0),
    Criterion("lds-improves", "aggregate LDS, all models − an eighth of them", ">", 0.0),
    Criterion("recovers-helpers", "R-precision against the planted helpers − chance", ">", 0.0),
    Criterion("finds-leaks", "recall@10 of the leaked copies − chance", ">", 0.0),
    Criterion("finds-misleading", "recall@10 of the misleading copies (most negative) − chance", ">", 0.0),
    Criterion(
        "debugging-fixes", "share of failures fixed: most negative class − random class removed", ">", 0.0
    ),
    Criterion(
        "finds-subpopulation",
        "precision of the helper's top images on the subpopulation − its share",
        ">",
        0.0,
    ),
)

PAPER_NOTE = """The thesis' scale (App. H): ResNet-18s at 64 px on an ImageNet subset, 7,540 models on random
class subsets, removals of 10, 20 and 50 classes, three counterfactual seeds and 200 bootstrap
draws. That is thousands of trainings: a GPU, or a Dask cluster (`-p scheduler tcp://host:8786`,
every worker seeing the same store), on real data (`-p data_dir`)."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source classes whose random subsets the models are trained on",
    objects="the target whose examples are attributed to source classes",
    flowers="the target whose examples are attributed to source classes",
    pets="the target whose examples are attributed to source classes",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        **TINY_WORLD,
        "source_per_class": 16,
        "test_per_class": 10,
        "models": 12,
        "holdout_models": 6,
        "removals": [2],
        "counterfactual_seeds": [0, 1],
        "pilot_seeds": [0],
        "bootstrap": 5,
        "gradient_models": 2,
        "gradient_dim": 32,
    },
    "default": {},
    "paper": {
        "setting": "shapes",
        "image_size": 64,
        "source_per_class": 1300,
        "target_per_class": 500,
        "test_per_class": 500,
        "arch": "resnet18",
        "recipes": "thesis",
        "source_epochs": 16,
        "source_batch": 1024,
        "source_lr": 0.5,
        "models": 7540,
        "holdout_models": 200,
        "removals": [10, 20, 50],
        "counterfactual_seeds": [0, 1, 2],
        "counterfactual_models": [1000, 4000],
        "bootstrap": 200,
    },
}
