"""Chapter "Which source classes matter?" (thesis ch. 8, App. H; the blog post "A data-based
perspective on transfer learning").

Many source models, each trained on a random half of the source classes and transferred to the
target; the influence of a source class on a target example is how much the target example's
output changes, on average, between the runs that had the class and the runs that did not
(:mod:`transferlab.methods.subset_influence`). Beside the thesis' estimator (difference of means)
and the linear datamodels (ridge, LASSO), a gradient-based one
(:mod:`transferlab.methods.gradient_influence`) scores every source image from a few models on the
whole source.

The default world is made for the question (:mod:`transferlab.world.influence`): every class
influence is planted and stated before any run (single helpers, redundant pairs, a subpopulation's
helper, misleading sticker classes, neutral classes, leaked and misleading near-copies). A pilot
measures each planted effect directly (full source against the source without those classes) and
the premise that transfer beats training from scratch; then the thesis' analyses run on it: top
classes, counterfactuals (top-k positive, top-k negative, random, and hand-picked: training on the
related classes only), a source class's most influenced target images, debugging failures,
leakage and misleading examples, and convergence with the number of models. The book's main world
stays available as a harder setting (``setting = "shapes"``), and real data through ``data_dir``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..methods import gradient_influence as gradient
from ..methods import subset_influence as inf
from ..methods.stats import spearman, wilson
from ..params import UNATTENDED, ParameterError, distinct, param
from ..run import SourceJob, load_model, run_jobs
from ..train import predict
from ..utils import progress as progress_bar
from ..world import (
    PLANTED_EXPECTED,
    PLANTED_SOURCE,
    PLANTED_TARGET,
    TARGETS,
    TensorData,
    World,
    planted_catalogue,
    source_catalogue,
)
from . import plots
from .base import ARCHS, TINY_WORLD, WorldParams, class_subset_ref, world_ref
from .claims import LEVEL, Claim, ClaimsTable, Criterion, Estimate, criteria, t_interval
from .contract import data_parts

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


# ---------------------------------------------------------------------------------------------
# data and jobs


def _source_job(config: Config, keep, seed: int) -> SourceJob:
    world = config.world(cache=None)
    ref = class_subset_ref(world_ref(world, config.source_part()), keep)
    return SourceJob(config.arch, ref, config.source_recipe(), seed=seed)


def _only_job(config: Config, keep, seed: int):
    """Transfer of a source model trained on the classes ``keep`` only (seed offset: the
    counterfactuals', so that every source of one seed starts alike)."""
    return config.transfer_job(
        _source_job(config, sorted(int(i) for i in keep), 2_000_000 + seed), config.target_part(), config.mode
    )


def _full_job(config: Config, seed: int):
    """Transfer of a source model trained on every source class (the counterfactuals' and the
    pilot's reference, and the gradient-based estimator's models)."""
    return _only_job(config, range(config.n_classes()), seed)


def _without_job(config: Config, removed, seed: int):
    return _only_job(config, sorted(set(range(config.n_classes())) - {int(i) for i in removed}), seed)


def full_seeds(config: Config) -> tuple[int, ...]:
    """Seeds of the full-source models: the gradient-based estimator's, the counterfactuals' and the pilot's."""
    return tuple(
        sorted(
            set(range(config.gradient_models)) | set(config.counterfactual_seeds) | set(config.pilot_seeds)
        )
    )


@dataclasses.dataclass(frozen=True)
class PilotCondition:
    """A pilot model: the source without ``removed``, measured on the test images ``images`` (a
    boolean mask); ``relation`` and ``sign`` are the planted truth it checks."""

    name: str
    removed: tuple[int, ...]
    images: np.ndarray
    relation: str
    sign: int
    expected: str


def planted_images(test: TensorData, relation: str, targets=(), stickers=None) -> np.ndarray:
    """The planted world's test images a relation concerns: for a misleading class ("hurts") those
    that carry one of ``stickers`` (None: any sticker); for the subpopulation helper the
    subpopulation's images; for the other helpers the images of the target classes ``targets``.
    A helper is measured on images without a sticker, and outside the subpopulation but its own."""
    sticker, sub = test.attrs.sticker.to_numpy(), test.attrs.subpopulation.to_numpy()
    if relation == "hurts":
        return sticker >= 0 if stickers is None else np.isin(sticker, list(stickers))
    if relation == "helps (subpopulation)":
        return sub & (sticker < 0)
    return ~sub & (sticker < 0) & np.isin(test.y.numpy(), list(targets))


def pilot_conditions(config: Config) -> list[PilotCondition]:
    """The pilot's groups of source classes, each removed at once, and the test images each one
    concerns (on the planted world: single helpers, one and both of each redundant pair, the
    subpopulation helper, the misleading classes; on the main world: the helpers and the
    look-alikes; on real data: none)."""
    truth = _truth_of(config)
    if truth is None:
        return []
    world = config.world()
    test = world.get(config.target_part(), "test")
    y = test.y.numpy()
    cls = truth[truth.target_index < 0]
    out = []

    def of(relation):
        rows = cls[cls.relation == relation]
        return tuple(sorted(set(rows.source_label.astype(int)))), set(rows.target_label.astype(int))

    if config.planted():
        (singles, helped), (pairs, paired) = of("helps"), of("helps (redundant)")
        first = planted_catalogue().member.to_numpy() == 0
        on_pairs = planted_images(test, "helps (redundant)", paired)
        groups = [
            ("single helpers", singles, planted_images(test, "helps", helped), "helps"),
            ("one of each pair", tuple(i for i in pairs if first[i]), on_pairs, "helps (redundant)"),
            ("both of each pair", pairs, on_pairs, "helps (redundant)"),
            (
                "subpopulation helper",
                of("helps (subpopulation)")[0],
                planted_images(test, "helps (subpopulation)"),
                "helps (subpopulation)",
            ),
            ("misleading classes", of("hurts")[0], planted_images(test, "hurts"), "hurts"),
        ]
        expected = {"one of each pair": "small: its twin teaches the same shape"}
        return [
            PilotCondition(
                name,
                removed,
                images,
                rel,
                -1 if rel == "hurts" else 1,
                expected.get(name, PLANTED_EXPECTED[rel]),
            )
            for name, removed, images, rel in groups
        ]
    for relation, name, sign in (("helps", "helpers", 1), ("hurts", "look-alikes", -1)):
        removed, targets = of(relation)
        if removed:
            out.append(
                PilotCondition(
                    name, removed, np.isin(y, list(targets)), relation, sign, f"{relation} its classes"
                )
            )
    return out


@dataclasses.dataclass(frozen=True)
class Plan:
    """The runs (masks and jobs), the held-out runs, the full-source models and the pilot; the
    counterfactual and debugging jobs come later, once the influences say which classes to remove."""

    masks: np.ndarray
    holdout_masks: np.ndarray
    runs: list[Any]
    holdout: list[Any]
    full: list[Any]
    pilot: dict[str, list[Any]]  # condition (or scratch) -> a job per pilot seed


def plan(config: Config) -> Plan:
    n = config.n_classes()
    masks = inf.random_masks(config.models, n, config.alpha, seed=config.world_seed)
    held = (
        inf.random_masks(config.holdout_models, n, config.alpha, seed=config.world_seed + 10_000)
        if config.holdout_models
        else np.zeros((0, n), dtype=bool)
    )

    def transfers(ms, offset):
        return [
            config.transfer_job(
                _source_job(config, np.flatnonzero(mk), offset + i), config.target_part(), config.mode
            )
            for i, mk in enumerate(ms)
        ]

    pilot = {
        c.name: [_without_job(config, c.removed, s) for s in config.pilot_seeds]
        for c in pilot_conditions(config)
    }
    pilot[SCRATCH] = [config.scratch_job(config.target_part(), s) for s in config.pilot_seeds]
    return Plan(
        masks,
        held,
        transfers(masks, 0),
        transfers(held, 1_000_000),
        [_full_job(config, s) for s in full_seeds(config)],
        pilot,
    )


# ---------------------------------------------------------------------------------------------
# run and measure


def example_outputs(model, data: TensorData) -> dict[str, np.ndarray]:
    """Per example: softmax of the true class, correctness, margin (true logit − largest other)."""
    logits = predict(model, data)
    y = data.y
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other[torch.arange(len(y)), y] = -torch.inf
    return {
        "softmax": torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1).numpy(),
        "correct": (logits.argmax(1) == y).float().numpy(),
        "margin": (true - other.max(1).values).numpy(),
    }


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    classes: tuple[str, ...]  # source classes
    target_classes: tuple[str, ...]
    target_labels: np.ndarray  # (T,) true class of each target test example
    masks: np.ndarray  # (m, C)
    outputs: dict[str, np.ndarray]  # output name -> (m, T)
    holdout_masks: np.ndarray
    holdout_outputs: dict[str, np.ndarray]
    source_labels: np.ndarray  # (N,) class of each source training example
    gradient_scores: tuple[np.ndarray, ...]  # per gradient model: (N, T) example scores
    full_outputs: dict[str, np.ndarray]  # output name -> (full seeds, T), the full-source models
    pilot: dict[str, np.ndarray]  # pilot condition (or scratch) -> (pilot seeds, T) correctness
    counterfactuals: pd.DataFrame  # removal, k, seed, accuracy, removed
    debugging: pd.DataFrame  # seed, removal, removed, failures, fixed, accuracy

    @property
    def y(self) -> np.ndarray:
        return self.outputs[self.config.output]

    @functools.cached_property
    def all_estimates(self) -> dict[str, np.ndarray]:
        """Every estimator's influences from all runs and all gradient models (fitted once: the
        datamodels' cross-validation is the costly part)."""
        return estimates(self)

    def full_correct(self, seed: int) -> np.ndarray:
        """Correctness per target test example of the full-source model of ``seed``."""
        return self.full_outputs["correct"][full_seeds(self.config).index(seed)]


def _collect(entries, data: TensorData) -> dict[str, np.ndarray]:
    rows = [example_outputs(load_model(e), data) for e in entries]
    return {k: np.stack([r[k] for r in rows]) if rows else np.zeros((0, len(data))) for k in OUTPUTS}


def executor_of(config: Config) -> tuple[str, str | None]:
    """(executor, address) for :func:`run_jobs` from the config's ``scheduler``."""
    if not config.scheduler:
        return "local", None
    return "dask", None if config.scheduler == "local" else config.scheduler


def run(
    config: Config, progress: bool = True, executor: str | None = None, address: str | None = None
) -> Results:
    """Train (or fetch) every run, the full-source models and the pilot, collect the per-example
    outputs and the gradient-based scores, then train and measure the counterfactuals and the
    debugging runs. ``executor`` / ``address`` default to the config's ``scheduler`` (see
    :func:`run_jobs`)."""
    if executor is None:
        executor, address = executor_of(config)
    world = config.world()
    p = plan(config)
    pilot_jobs = [j for jobs in p.pilot.values() for j in jobs]
    jobs = p.runs + p.holdout + p.full + pilot_jobs
    entries = run_jobs(jobs, progress=progress, executor=executor, address=address)
    test = world.get(config.target_part(), "test")
    cut = np.cumsum([len(p.runs), len(p.holdout), len(p.full)])
    outputs = _collect(entries[: cut[0]], test)
    held = _collect(entries[cut[0] : cut[1]], test)
    full = entries[cut[1] : cut[2]]
    rest = iter(entries[cut[2] :])
    pilot = {name: _collect([next(rest) for _ in js], test)["correct"] for name, js in p.pilot.items()}
    source = world.get(config.source_part())
    grad_jobs = p.full[: config.gradient_models]
    sources = run_jobs([j.source for j in grad_jobs], progress=False)
    grads = tuple(
        gradient.scores(load_model(s), load_model(t), source, test, dim=config.gradient_dim, seed=i).astype(
            np.float32
        )
        for i, (s, t) in enumerate(progress_bar(list(zip(sources, full)), "gradient scores", progress))
    )
    partial = Results(
        config,
        tuple(source.classes),
        tuple(test.classes),
        test.y.numpy(),
        p.masks,
        outputs,
        p.holdout_masks,
        held,
        source.y.numpy(),
        grads,
        _collect(full, test),
        pilot,
        pd.DataFrame(),
        pd.DataFrame(),
    )
    cf_keys, cf_jobs = counterfactual_jobs(partial)
    dbg_keys, dbg_jobs = debugging_jobs(partial)
    done = run_jobs(cf_jobs + dbg_jobs, progress=progress, executor=executor, address=address)
    return dataclasses.replace(
        partial,
        counterfactuals=_counterfactual_table(partial, cf_keys, done[: len(cf_jobs)], test),
        debugging=_debugging_table(partial, dbg_keys, done[len(cf_jobs) :], test),
    )


def class_influence(results: Results, estimator: inf.Estimator = inf.difference_of_means) -> np.ndarray:
    """(source classes, target examples) influence estimates of the chosen output."""
    return estimator(results.masks, results.y)


def overall(infl: np.ndarray) -> np.ndarray:
    """The overall influence of each source class: its mean over the target test set (thesis § 8.2)."""
    return np.nanmean(infl, axis=1)


def gradient_influence(results: Results, models: int | None = None) -> np.ndarray:
    """(source classes, target examples): the gradient-based example scores of the first ``models``
    full-source models (all by default), averaged and summed over each class's examples."""
    chosen = results.gradient_scores[: models or len(results.gradient_scores)]
    return gradient.by_class(np.mean(chosen, axis=0), results.source_labels, len(results.classes))


GRADIENT = "gradient (TRAK-style)"


def estimates(results: Results, models: int | None = None) -> dict[str, np.ndarray]:
    """Every estimator's (classes, targets) influences: the mask-based ones from the first
    ``models`` runs, the gradient-based one from the first ``models`` full-source models."""
    ms, ys = results.masks[:models], results.y[:models]
    out = {name: est(ms, ys) for name, est in inf.ESTIMATORS.items()}
    out[GRADIENT] = gradient_influence(results, models)
    return out


def removal_sets(results: Results, k: int, seed: int = 0, models: int | None = None) -> dict[str, list[int]]:
    """The k source classes each counterfactual removes: the most positive and the most negative
    by overall influence (difference of means from the first ``models`` runs, all by default), and
    k random ones (a new draw per seed and k)."""
    infl = inf.difference_of_means(results.masks[:models], results.y[:models])
    order = np.argsort(-overall(infl), kind="stable")
    rng = np.random.default_rng(1000 + seed + k)
    return {
        "most positive": order[:k].tolist(),
        "most negative": order[::-1][:k].tolist(),
        "random": sorted(rng.choice(len(order), k, replace=False).tolist()),
    }


def _truth(results: Results) -> pd.DataFrame | None:
    """The world's planted relations to the target (None on real data)."""
    return _truth_of(results.config)


@functools.lru_cache(maxsize=8)
def _truth_of(config: Config) -> pd.DataFrame | None:
    world = config.world()
    return world.influence_truth(config.target_part()) if isinstance(world, World) else None


def truth_table(config: Config) -> pd.DataFrame:
    """The planted class-level relations, each with its sign and expected size (stated before any
    run), one row per source class and the target classes it relates to."""
    truth = _truth_of(config)
    if truth is None:
        return pd.DataFrame()
    cls = truth[truth.target_index < 0]
    return (
        cls.groupby(["source_class", "relation", "sign", "expected"], sort=False)
        .target_class.agg(", ".join)
        .reset_index()
        .rename(columns={"target_class": "target classes"})
    )


def related_classes(results: Results) -> list[int]:
    """Source classes the world says help a target class (any kind of help)."""
    truth = _truth(results)
    if truth is None:
        return []
    return sorted(set(truth[truth.relation.str.startswith("helps")].source_label.astype(int)))


def counterfactual_jobs(results: Results) -> tuple[list[tuple], list[Any]]:
    """Per seed: the source without each removal set for each k, the hand-picked source of the
    related classes only (where the world says which they are), and the top-k positive and negative
    sets chosen from the first m runs for each m of ``counterfactual_models`` (App. H.1.5; a set
    that equals the all-runs one is the same job, trained once). The full source of each seed is
    among the run's full-source models already. Keys: (removal, k, seed, removed, models)."""
    c = results.config
    m = len(results.masks)
    related = related_classes(results)
    keys, jobs = [], []
    for seed in c.counterfactual_seeds:
        for k in c.removals:
            for removal, removed in removal_sets(results, k, seed).items():
                keys.append((removal, k, seed, tuple(removed), m))
                jobs.append(_without_job(c, removed, seed))
            for fewer in (f for f in c.counterfactual_models if f < m and seed in c.extras()):
                for removal, removed in removal_sets(results, k, seed, fewer).items():
                    if removal != "random":
                        keys.append((removal, k, seed, tuple(removed), fewer))
                        jobs.append(_without_job(c, removed, seed))
        if related and seed in c.extras():
            removed = tuple(sorted(set(range(len(results.classes))) - set(related)))
            keys.append((HAND_PICKED, len(removed), seed, removed, m))
            jobs.append(_only_job(c, related, seed))
    return keys, jobs


def _counterfactual_table(results: Results, keys, entries, test: TensorData) -> pd.DataFrame:
    """A row per counterfactual source: first the full source of each seed (from the full-source
    models' outputs), then the removals of ``keys``."""
    m = len(results.masks)
    full = [
        {
            "removal": FULL,
            "k": 0,
            "seed": s,
            "models": m,
            "removed": "",
            "accuracy": float(results.full_correct(s).mean()),
        }
        for s in results.config.counterfactual_seeds
    ]
    rows = full + [
        {
            "removal": r,
            "k": k,
            "seed": s,
            "models": models,
            "removed": ", ".join(results.classes[i] for i in removed),
            "accuracy": float(example_outputs(load_model(e), test)["correct"].mean()),
        }
        for (r, k, s, removed, models), e in zip(keys, entries)
    ]
    return pd.DataFrame(rows, columns=["removal", "k", "seed", "models", "removed", "accuracy"])


def counterfactual_summary(results: Results) -> pd.DataFrame:
    """Target accuracy of each counterfactual source (the removal sets from all runs, the full
    source and the hand-picked one): mean, 95 % interval over the seeds and their number."""
    cf = results.counterfactuals
    cf = cf[cf.models == len(results.masks)]
    rows = []
    for (removal, k), g in cf.groupby(["removal", "k"], sort=False):
        mean, lo, hi, _ = t_interval(g.accuracy)
        rows.append({"removal": removal, "k": k, "accuracy": mean, "low": lo, "high": hi, "seeds": len(g)})
    return pd.DataFrame(rows)


def counterfactuals_by_models(results: Results) -> pd.DataFrame:
    """App. H.1.5 (Fig. H.1): the top-k positive and negative removals chosen from fewer runs,
    beside those chosen from all of them and the random ones: mean accuracy and its 95 % interval
    over the seeds, and how many of the removed classes the set shares with the all-runs set."""
    cf = results.counterfactuals
    m = len(results.masks)
    final = cf[cf.models == m].set_index(["removal", "k", "seed"]).removed
    rows = []
    for (removal, k, models), g in cf[cf.removal.isin(REMOVALS)].groupby(["removal", "k", "models"]):
        mean, lo, hi, _ = t_interval(g.accuracy)
        shared = [
            len(set(r.removed.split(", ")) & set(final[(removal, k, r.seed)].split(", ")))
            for r in g.itertuples()
        ]
        rows.append(
            {
                "removal": removal,
                "k": k,
                "models": models,
                "accuracy": mean,
                "low": lo,
                "high": hi,
                "classes shared with the all-runs set": float(np.mean(shared)),
            }
        )
    return pd.DataFrame(rows)


def failures(results: Results, seed: int | None = None) -> pd.DataFrame:
    """Target test examples the full-source model of ``seed`` (the first counterfactual seed by
    default) gets wrong, each with its most negative influencer (difference of means)."""
    seed = results.config.counterfactual_seeds[0] if seed is None else seed
    wrong = np.flatnonzero(results.full_correct(seed) == 0)
    worst = (
        np.nanargmin(np.nan_to_num(class_influence(results), nan=np.inf)[:, wrong], axis=0)
        if len(wrong)
        else []
    )
    return pd.DataFrame({"example": wrong, "worst": np.asarray(worst, dtype=int)})


def debug_choice(results: Results) -> tuple[list[int], list[int]]:
    """The ``debug_classes`` classes most often a failure's most negative influencer (over the
    full-source models of the extra seeds), and one random other class per each (the control)."""
    c = results.config
    worst = pd.concat([failures(results, s).worst for s in c.extras()])
    chosen = worst.value_counts().index[: c.debug_classes].tolist()
    rng = np.random.default_rng(c.world_seed + 77)
    others = [i for i in range(len(results.classes)) if i not in chosen]
    controls = rng.choice(others, len(chosen), replace=False).tolist() if len(others) >= len(chosen) else []
    return chosen, controls


def debugging_jobs(results: Results) -> tuple[list[tuple], list[Any]]:
    """Debugging failures (thesis § 8.3): each chosen class removed from the source at every extra
    seed (the first ``extra_seeds`` counterfactual seeds), and its random control class removed the same way."""
    c = results.config
    keys, jobs = [], []
    for cls, ctl in zip(*debug_choice(results)):
        for seed in c.extras():
            keys += [(seed, "most negative", cls, cls), (seed, "random", ctl, cls)]
            jobs += [_without_job(c, [cls], seed), _without_job(c, [ctl], seed)]
    return keys, jobs


def _debugging_table(results: Results, keys, entries, test: TensorData) -> pd.DataFrame:
    rows = []
    for (seed, removal, removed, target_of), e in zip(keys, entries):
        fails = failures(results, seed)
        which = fails.example[fails.worst == target_of].to_numpy()
        correct = example_outputs(load_model(e), test)["correct"]
        rows.append(
            {
                "seed": seed,
                "removal": removal,
                "removed": results.classes[removed],
                "failures": len(which),
                "fixed": int(correct[which].sum()),
                "accuracy": float(correct.mean()),
            }
        )
    return pd.DataFrame(rows, columns=["seed", "removal", "removed", "failures", "fixed", "accuracy"])


def debugging_summary(results: Results) -> pd.DataFrame:
    """Share of the failures fixed by removing their most negative influencer, against removing a
    random class (the control: retraining alone flips some examples), over every seed."""
    d = results.debugging
    if d.empty:
        return pd.DataFrame(columns=["failures", "fixed", "share fixed"])
    out = d.groupby("removal")[["failures", "fixed"]].sum()
    out["share fixed"] = out.fixed / out.failures.where(out.failures > 0)
    return out


# ---------------------------------------------------------------------------------------------
# the pilot: the planted effects, measured directly


def pilot_table(results: Results) -> pd.DataFrame:
    """Per pilot condition: accuracy on the images it concerns with the group in the source minus
    without it (the planted effect; its sign should match the truth's), with its 95 % t-interval
    over the pilot seeds; and the premise: full-source transfer minus training from scratch."""
    c = results.config
    full = np.stack([results.full_correct(s) for s in c.pilot_seeds])
    rows = []
    for cond in pilot_conditions(c):
        diff = full[:, cond.images].mean(1) - results.pilot[cond.name][:, cond.images].mean(1)
        mean, lo, hi, _ = t_interval(diff)
        rows.append(
            {
                "removed": cond.name,
                "classes": ", ".join(results.classes[i] for i in cond.removed),
                "measured on": f"{int(cond.images.sum())} test images",
                "planted sign": "+" if cond.sign > 0 else "−",
                "expected": cond.expected,
                "effect": mean,
                "low": lo,
                "high": hi,
            }
        )
    diff = full.mean(1) - results.pilot[SCRATCH].mean(1)
    mean, lo, hi, _ = t_interval(diff)
    rows.append(
        {
            "removed": "premise: transfer − scratch",
            "classes": "",
            "measured on": f"all {full.shape[1]} test images",
            "planted sign": "+",
            "expected": "transfer beats training from scratch on the target",
            "effect": mean,
            "low": lo,
            "high": hi,
        }
    )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# views of the results


def top_classes(results: Results, n: int = 8, by_target_class: bool = False) -> pd.DataFrame:
    """The most positive and most negative source classes, overall or per target class."""
    infl = class_influence(results)
    groups = (
        [("all", np.arange(infl.shape[1]))]
        if not by_target_class
        else [
            (name, np.flatnonzero(results.target_labels == i))
            for i, name in enumerate(results.target_classes)
        ]
    )
    rows = []
    for name, cols in groups:
        score = np.nanmean(infl[:, cols], axis=1)
        order = np.argsort(-score, kind="stable")
        for sign, picks in (("positive", order[:n]), ("negative", order[::-1][:n])):
            rows += [
                {
                    "target class": name,
                    "sign": sign,
                    "rank": rank + 1,
                    "source class": results.classes[i],
                    "influence": score[i],
                }
                for rank, i in enumerate(picks)
            ]
    return pd.DataFrame(rows)


def _per_target_class(results: Results, infl: np.ndarray) -> np.ndarray:
    """(source classes, target classes): mean influence over each target class's test examples."""
    return np.stack(
        [np.nanmean(infl[:, results.target_labels == t], axis=1) for t in range(len(results.target_classes))],
        axis=1,
    )


def _relevant(results: Results, relation: str) -> dict[int, set[int]]:
    """Target class -> the source classes the world relates to it by ``relation`` ('helps': any
    kind of help; 'hurts')."""
    truth = _truth(results)
    if truth is None:
        return {}
    cls = truth[truth.target_index < 0]
    rel = cls[cls.relation.str.startswith(relation)]
    return {int(t): set(g.source_label.astype(int)) for t, g in rel.groupby("target_label")}


def _precisions(score: np.ndarray, relevant: dict[int, set[int]], perm: np.ndarray) -> np.ndarray:
    return np.array([inf.precision_at_k(score[perm, t], rel, len(rel)) for t, rel in relevant.items()])


def _against_truth(results: Results, infl: np.ndarray, relation: str):
    """(per-target-class scores, oriented so that the planted ``relation`` ranks first; target
    class -> its planted source classes; each such target class's chance level |relevant| / classes)."""
    relevant = _relevant(results, relation)
    score = (1 if relation == "helps" else -1) * _per_target_class(results, infl)
    chance = np.array([len(rel) / len(results.classes) for rel in relevant.values()])
    return score, relevant, chance


def truth_precisions(results: Results, infl: np.ndarray, relation: str = "helps") -> np.ndarray:
    """Per target class that has the planted ``relation``: R-precision of its most positive source
    classes (most negative for ``hurts``), i.e. precision at as many as it has, minus the chance
    level ``|relevant| / classes``."""
    score, relevant, chance = _against_truth(results, infl, relation)
    return _precisions(score, relevant, np.arange(len(results.classes))) - chance


def truth_precision(
    results: Results, infl: np.ndarray, relation: str = "helps", *, permutations: int = 0, seed: int = 0
) -> tuple[float, float, float]:
    """(R-precision, chance, p-value) of each target class's most positive source classes (most
    negative for ``hurts``) against the planted relation, averaged over the target classes that
    have it. The p-value (NaN unless ``permutations``) is the share of random relabellings of the
    source classes that score at least as high."""
    score, relevant, chances = _against_truth(results, infl, relation)
    if not relevant:
        return float("nan"), float("nan"), float("nan")
    n = len(results.classes)
    observed = float(_precisions(score, relevant, np.arange(n)).mean())
    chance = float(chances.mean())
    if not permutations:
        return observed, chance, float("nan")
    rng = np.random.default_rng(seed)
    null = np.array([_precisions(score, relevant, rng.permutation(n)).mean() for _ in range(permutations)])
    return observed, chance, float((1 + (null >= observed).sum()) / (1 + permutations))


def truth_correlation(results: Results, infl: np.ndarray) -> float:
    """Rank correlation between the per-target-class influences and the planted signs (+1 helps,
    −1 hurts, 0 neither), over every (source class, target class) pair."""
    truth = np.zeros((len(results.classes), len(results.target_classes)))
    for relation, sign in (("helps", 1), ("hurts", -1)):
        for t, rel in _relevant(results, relation).items():
            truth[list(rel), t] = sign
    return spearman(_per_target_class(results, infl), truth) if truth.any() else float("nan")


def truth_scores(results: Results, permutations: int = 1000) -> pd.DataFrame:
    """Per estimator (all runs, all gradient models): R-precision against the planted helpers and
    against the planted harms, with the chance level and a permutation p-value, and the rank
    correlation with the planted signs."""
    rows = []
    for name, infl in results.all_estimates.items():
        corr = truth_correlation(results, infl)
        for relation in ("helps", "hurts"):
            precision, chance, p = truth_precision(results, infl, relation, permutations=permutations)
            rows.append(
                {
                    "estimator": name,
                    "relation": relation,
                    "precision": precision,
                    "chance": chance,
                    "p-value": p,
                    "rank correlation": corr,
                }
            )
    return pd.DataFrame(rows)


def aggregate_lds(results: Results, infl: np.ndarray, runs: np.ndarray | None = None) -> float:
    """The aggregate LDS of App. H.6: over the held-out runs (``runs``: their indices, all by
    default), the rank correlation between the mean target output the overall influences predict
    (the sum over the run's classes) and the actual one."""
    runs = np.arange(len(results.holdout_masks)) if runs is None else runs
    return inf.aggregate_lds(
        infl, results.holdout_masks[runs], results.holdout_outputs[results.config.output][runs]
    )


def model_grid(results: Results) -> tuple[int, ...]:
    m = len(results.masks)
    return tuple(sorted({g for g in (m // 8, m // 4, m // 2, m) if g >= 8} | {m}))


def lds_draws(results: Results, models: tuple[int, ...], draws: int, seed: int = 0) -> np.ndarray:
    """(draws, len(models)): the aggregate LDS of the difference of means from the first m runs,
    for each m, on the same bootstrap resamples of the held-out runs."""
    rng = np.random.default_rng(seed)
    infls = [inf.difference_of_means(results.masks[:m], results.y[:m]) for m in models]
    h = len(results.holdout_masks)
    return np.array(
        [
            [aggregate_lds(results, w, idx) for w in infls]
            for idx in (rng.integers(0, h, h) for _ in range(draws))
        ]
    )


def convergence(results: Results, seed: int = 0) -> pd.DataFrame:
    """Against the number of models, per estimator: the bootstrap std of the overall influences
    (App. H.1.5, difference of means), the aggregate LDS and the per-example LDS on the held-out
    runs (App. H.6), R-precision against the planted helpers and the rank correlation with the
    planted signs. The gradient-based estimator counts its full-source models."""
    held = results.holdout_outputs[results.config.output]
    has_held = len(results.holdout_masks) > 2
    rows = []

    def row(n, name, w, **extra):
        return {
            "models": n,
            "estimator": name,
            **extra,
            "aggregate LDS": aggregate_lds(results, w) if has_held else np.nan,
            "LDS": inf.lds(w, results.holdout_masks, held) if has_held else np.nan,
            "R-precision": truth_precision(results, w)[0],
            "truth correlation": truth_correlation(results, w),
        }

    for n in model_grid(results):
        ms, ys = results.masks[:n], results.y[:n]
        for name, est in inf.ESTIMATORS.items():
            extra = {}
            if name == "difference of means":
                std = inf.bootstrap(
                    ms, ys.mean(1, keepdims=True), est, n=results.config.bootstrap, seed=seed
                )[0]
                extra["bootstrap std"] = float(np.nanmean(std))
            rows.append(row(n, name, est(ms, ys), **extra))
    for n in range(1, len(results.gradient_scores) + 1):
        rows.append(row(n, GRADIENT, gradient_influence(results, n)))
    return pd.DataFrame(rows)


def copy_recall(results: Results, kind: str = "leaks", k: int = 10) -> pd.DataFrame:
    """Example-level attribution against the planted copies (``leaks``: the copy should be among
    its test image's k most positive source images; ``misleads``: among its k most negative), by the
    gradient-based score, against the number of full-source models averaged: recall@k, the median
    rank and the chance level k/N."""
    truth = _truth(results)
    copies = truth[truth.relation == kind] if truth is not None else pd.DataFrame()
    rows = []
    n = len(results.source_labels)
    sign = 1 if kind == "leaks" else -1
    for models in range(1, len(results.gradient_scores) + 1):
        sc = sign * np.mean(results.gradient_scores[:models], axis=0)
        ranks = [
            int((sc[:, int(r.target_index)] > sc[int(r.source_index), int(r.target_index)]).sum()) + 1
            for _, r in copies.iterrows()
        ]
        if not ranks:
            continue
        rows.append(
            {
                "models": models,
                "copies": len(ranks),
                "found": int((np.array(ranks) <= k).sum()),
                f"recall@{k}": float(np.mean(np.array(ranks) <= k)),
                f"chance@{k}": k / n,
                "median rank": float(np.median(ranks)),
            }
        )
    return pd.DataFrame(rows)


def most_influenced(results: Results, source_class: int, n: int = 10, sign: int = 1) -> np.ndarray:
    """The ``n`` target test images with the most positive (``sign`` −1: most negative)
    difference-of-means influence of ``source_class`` (Fig. 8.4/8.5)."""
    score = sign * np.nan_to_num(class_influence(results)[source_class], nan=-np.inf)
    return np.argsort(-score, kind="stable")[:n]


def influenced_images(results: Results) -> pd.DataFrame:
    """Per source class with a planted relation: its most influenced target test images (most
    positive for a helper, most negative for a misleading class), as many as the images it is
    planted to affect, and the share of them that are those images, against their share of the test set."""
    c = results.config
    if not c.planted():
        return pd.DataFrame()
    test = c.world().get(c.target_part(), "test")
    truth = _truth(results)
    cls = truth[truth.target_index < 0].drop_duplicates("source_label")
    sticker = planted_catalogue().sticker
    rows = []
    for _, r in cls.iterrows():
        s = int(r.source_label)
        planted = planted_images(test, r.relation, [int(r.target_label)], [sticker[s]])
        top = most_influenced(results, s, int(planted.sum()), int(r.sign))
        rows.append(
            {
                "source class": r.source_class,
                "relation": r.relation,
                "planted images": int(planted.sum()),
                "top images on them": int(planted[top].sum()),
                "precision": float(planted[top].mean()),
                "share of the test set": float(planted.mean()),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# claims


def _proportion(
    criterion: Criterion, found: int, n: int, chance: float, replicates: str, label: str = ""
) -> Estimate:
    """A share found − its chance level, with the Wilson interval of the share."""
    lo, hi = wilson(found, n, LEVEL)
    return Estimate.interval(
        criterion, found / n - chance, lo - chance, hi - chance, n, replicates, "Wilson", label
    )


def _counterfactual_estimates(results: Results) -> tuple[Estimate, ...]:
    cf = results.counterfactuals
    if not cf.empty:
        cf = cf[cf.removal.isin(REMOVALS) & (cf.models == len(results.masks))]
    replicate = "counterfactual seed (sources and transfers)"
    if cf.empty or not set(REMOVALS) <= set(cf.removal):
        return tuple(
            Estimate.not_measured(CRITERIA[n], "no counterfactual removals")
            for n in ("positive-hurts", "negative-helps")
        )
    by = cf.pivot_table(index="seed", columns=["removal", "k"], values="accuracy")
    pos, neg, rnd = (by[r].mean(axis=1) for r in REMOVALS)
    return (
        Estimate.t(CRITERIA["positive-hurts"], rnd - pos, replicate, "random − most positive"),
        Estimate.t(CRITERIA["negative-helps"], neg - rnd, replicate, "most negative − random"),
    )


def _convergence_estimates(results: Results) -> tuple[Estimate, ...]:
    names = ("lds-positive", "lds-improves")
    if len(results.holdout_masks) < 3:
        return tuple(Estimate.not_measured(CRITERIA[n], "fewer than 3 held-out runs") for n in names)
    grid = model_grid(results)
    m = len(results.masks)
    draws = lds_draws(results, (grid[0], m), results.config.bootstrap)
    point = [
        aggregate_lds(results, inf.difference_of_means(results.masks[:g], results.y[:g]))
        for g in (grid[0], m)
    ]
    lo, hi = 100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2
    replicate = f"bootstrap resample of the {len(results.holdout_masks)} held-out runs"

    def est(name, value, samples, label):
        return Estimate.interval(
            CRITERIA[name],
            value,
            *np.nanpercentile(samples, [lo, hi]),
            len(results.holdout_masks),
            replicate,
            f"percentiles over {len(samples)} bootstrap resamples",
            label,
        )

    out = [est("lds-positive", point[1], draws[:, 1], f"{m} models")]
    out.append(
        est("lds-improves", point[1] - point[0], draws[:, 1] - draws[:, 0], f"{m} − {grid[0]} models")
        if grid[0] < m
        else Estimate.not_measured(CRITERIA["lds-improves"], "fewer than 16 runs: no smaller model count")
    )
    return tuple(out)


def _truth_estimates(results: Results) -> tuple[Estimate, ...]:
    if _truth(results) is None:
        return (Estimate.not_measured(CRITERIA["recovers-helpers"], "no planted truth in this data"),)
    return tuple(
        Estimate.t(
            CRITERIA["recovers-helpers"],
            truth_precisions(results, w),
            "target class with planted helpers",
            name,
        )
        for name, w in results.all_estimates.items()
    )


def _copy_estimates(results: Results) -> tuple[Estimate, ...]:
    out = []
    for kind, name, label in (
        ("leaks", "finds-leaks", "leaks"),
        ("misleads", "finds-misleading", "misleading copies"),
    ):
        table = copy_recall(results, kind)
        if table.empty:
            out.append(Estimate.not_measured(CRITERIA[name], f"no planted {kind} in this data"))
            continue
        last = table.iloc[-1]
        out.append(
            _proportion(
                CRITERIA[name],
                int(last.found),
                int(last.copies),
                float(last["chance@10"]),
                f"planted copy ({int(last.models)} gradient models)",
                label,
            )
        )
    return tuple(out)


def _debugging_estimate(results: Results) -> Estimate:
    d = results.debugging
    if d.empty:
        return Estimate.not_measured(CRITERIA["debugging-fixes"], "no debugging runs")
    share = d.groupby(["seed", "removal"])[["failures", "fixed"]].sum()
    share = (share.fixed / share.failures.where(share.failures > 0)).unstack("removal").dropna()
    if share.empty:
        return Estimate.not_measured(CRITERIA["debugging-fixes"], "no failures point at the chosen class")
    return Estimate.t(
        CRITERIA["debugging-fixes"],
        share["most negative"] - share["random"],
        "counterfactual seed",
        "most negative − random",
    )


def _subpopulation_estimate(results: Results) -> Estimate:
    rows = influenced_images(results)
    rows = rows[rows.relation == "helps (subpopulation)"] if len(rows) else rows
    if rows.empty:
        return Estimate.not_measured(CRITERIA["finds-subpopulation"], "no planted subpopulation in this data")
    r = rows.iloc[0]
    return _proportion(
        CRITERIA["finds-subpopulation"],
        int(r["top images on them"]),
        int(r["planted images"]),
        float(r["share of the test set"]),
        "target test image",
        str(r["source class"]),
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(f) of thesis ch. 8 and App. H, measured in this run."""
    ks = ", ".join(map(str, results.config.removals))
    return ClaimsTable(
        "influences",
        [
            Claim(
                "a",
                "Removing the most positive source classes hurts target accuracy more than removing random "
                "ones; removing the most negative ones hurts less",
                SOURCE + ", Fig. 8.3; blog post",
                _counterfactual_estimates(results),
                note=f"Accuracy differences averaged over k = {ks}.",
            ),
            Claim(
                "b",
                "The estimates converge as models are added: they predict held-out runs, better with more models",
                SOURCE + ", App. H.1.5 and H.6",
                _convergence_estimates(results),
            ),
            Claim(
                "c",
                "Each estimator recovers the planted helpers",
                "thesis ch. 8, on the world's planted truth",
                _truth_estimates(results),
                note="Per target class: precision of its most positive source classes at as many as it has "
                "planted helpers, minus chance.",
            ),
            Claim(
                "d",
                "Example-level attribution finds leaked and misleading near-copies of target images",
                SOURCE + ", § 8.3 and App. H.4",
                _copy_estimates(results),
                note="The gradient-based estimator, averaged over its full-source models.",
            ),
            Claim(
                "e",
                "Removing a failure's most negative source class fixes it more often than removing a random class",
                SOURCE + ", § 8.3 (debugging)",
                (_debugging_estimate(results),),
            ),
            Claim(
                "f",
                "A source class's most influenced target images are the subpopulation it shares",
                SOURCE + ", Fig. 8.4/8.5",
                (_subpopulation_estimate(results),),
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# figures and text


def figure_pilot(results: Results):
    """The pilot's planted effects with their 95 % intervals over the pilot seeds, coloured by the
    planted sign (and the premise, transfer − scratch)."""
    table = pilot_table(results)
    fig, ax = plots.panels(1, width=6.5, height=0.35 * len(table) + 0.9)
    ax = ax[0]
    y = np.arange(len(table))[::-1]
    width = np.abs(np.stack([table.effect - table.low, table.high - table.effect]))
    colours = [
        plots.color("full-network") if s == "+" else plots.color("biased source")
        for s in table["planted sign"]
    ]
    ax.barh(y, table.effect, xerr=np.where(np.isfinite(width), width, 0), color=colours, capsize=3)
    ax.set_yticks(y, table.removed, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="accuracy on the images concerned: with the classes − without them")
    return fig


def figure_world(config: Config, per_class: int = 1):
    """The planted-influence world: an image of every source class (titled with its role), then
    target test images: one of each class, and some carrying a sticker or from the subpopulation."""
    if not config.planted():
        return plots.left_out(
            "the planted-influence world: this run uses another world (`setting`, `data_dir`)."
        )
    world = config.world()
    source, test = world.get(config.source_part(), "test"), world.get(config.target_part(), "test")
    cat = planted_catalogue()
    ims, titles = [], []
    for i, r in cat.iterrows():
        rows = (source.y == i).nonzero().flatten()[:per_class]
        ims += [source.x[j] for j in rows]
        titles += [f"{r['name']}\n({r.role})"] * len(rows)
    a = test.attrs
    picks = [int((test.y == t).nonzero().flatten()[0]) for t in range(len(test.classes))]
    picks += [
        int(np.flatnonzero(a.sticker.to_numpy() == i)[0])
        for i in range(planted_catalogue().sticker.max() + 1)
    ]
    picks += np.flatnonzero(a.subpopulation.to_numpy())[:2].tolist()
    for j in picks:
        ims.append(test.x[j])
        mark = " + sticker" if a.sticker[j] >= 0 else (" (subpop.)" if a.subpopulation[j] else "")
        titles.append(f"target: {test.classes[int(test.y[j])]}{mark}")
    return plots.image_grid(torch.stack(ims), titles, ncols=6, size=1.0)


def figure_top_classes(results: Results, n: int = 8):
    """The most positive and most negative source classes overall (mean influence over the target
    test set) with bootstrap intervals."""
    score = overall(class_influence(results))
    _, lo, hi = inf.bootstrap(results.masks, results.y.mean(1, keepdims=True), n=results.config.bootstrap)
    order = np.argsort(-score, kind="stable")
    n = min(n, len(order) // 2)
    pick = np.concatenate([order[:n], order[::-1][:n][::-1]])
    fig, ax = plots.panels(1, width=6.5, height=0.22 * len(pick) + 0.8)
    ax = ax[0]
    y = np.arange(len(pick))[::-1]
    err = np.abs(np.stack([score[pick] - lo[pick, 0], hi[pick, 0] - score[pick]]))
    ax.barh(
        y,
        score[pick],
        xerr=err,
        color=[plots.color("full-network") if s > 0 else plots.color("biased source") for s in score[pick]],
        capsize=2,
    )
    ax.set_yticks(y, [results.classes[i] for i in pick], fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel=f"influence on the target's {results.config.output} (mean over its test set)")
    return fig


def figure_counterfactuals(results: Results):
    """Target accuracy after removing k classes of each kind (mean and 95 % interval over seeds),
    against the full source and the hand-picked source of related classes only."""
    cf = results.counterfactuals
    cf = cf[cf.models == len(results.masks)]
    fig, ax = plots.panels(1, width=5.5, height=3.0)
    ax = ax[0]
    ks = list(results.config.removals)
    for i, removal in enumerate(REMOVALS):
        g = cf[cf.removal == removal].groupby("k").accuracy
        if not len(g.mean()):
            continue
        stats = [t_interval(g.get_group(k)) for k in ks]
        mean = np.array([s[0] for s in stats])
        err = np.nan_to_num(np.array([s[2] - s[0] for s in stats]), posinf=0)
        ax.errorbar(
            np.array(ks) + (i - 1) * 0.12,
            mean,
            yerr=err,
            marker="o",
            capsize=3,
            ls="-",
            label=f"without the {removal}",
        )
    for removal, style in ((FULL, "--"), (HAND_PICKED, ":")):
        acc = cf[cf.removal == removal].accuracy
        if len(acc):
            ax.axhline(acc.mean(), color="black", ls=style, lw=1, label=removal)
    ax.set(xlabel="source classes removed (k)", ylabel="target accuracy", xticks=ks)
    ax.legend(fontsize=7)
    return fig


def figure_convergence(results: Results, conv: pd.DataFrame | None = None):
    """Against the number of trained models: the bootstrap std of the overall influences
    (difference of means, App. H.1.5), the aggregate LDS on the held-out runs per estimator (App.
    H.6), and R-precision against the planted helpers (with its chance level)."""
    conv = convergence(results) if conv is None else conv
    panels = [
        ("bootstrap std", "bootstrap std, overall influences"),
        ("aggregate LDS", "aggregate LDS (held-out runs)"),
    ]
    truth = _truth(results) is not None  # real data has no planted helpers: no third panel
    if truth:
        panels.append(("R-precision", "R-precision, planted helpers"))
    fig, axes = plots.panels(len(panels), width=3.0, height=2.7)
    for ax, (col, label) in zip(axes, panels):
        for name, g in conv.groupby("estimator", sort=False):
            if col in g and g[col].notna().any():
                ax.plot(g.models, g[col], marker="o", label=name)
        ax.set(xlabel="models trained", ylabel=label, xscale="log")
        shown = sorted({int(m) for line in ax.get_lines() for m in line.get_xdata()})
        ax.minorticks_off()  # the counts themselves, not a log scale's crowded minor labels
        ax.set_xticks(shown, [str(m) for m in shown], fontsize=7)
    if truth:
        chance = truth_precision(results, np.zeros((len(results.classes), len(results.target_labels))))[1]
        if np.isfinite(chance):
            axes[-1].axhline(chance, color="grey", ls=":", lw=1, label="chance")
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=6)
    return fig


def figure_influenced(results: Results, per_class: int = 6):
    """Fig. 8.4/8.5: for a few source classes with a planted relation (the subpopulation helper, a
    misleading class, a single helper), a source image of the class followed by the target test
    images it influences most (most negatively for the misleading class)."""
    c = results.config
    rows = influenced_images(results)
    if rows.empty:
        return plots.left_out(
            "a source class's most influenced images: this data has no planted relations to show."
        )
    picks = [
        rows[rows.relation == rel].iloc[0]
        for rel in ("helps (subpopulation)", "hurts", "helps")
        if (rows.relation == rel).any()
    ]
    world = c.world()
    source, test = world.get(c.source_part(), "test"), world.get(c.target_part(), "test")
    ims, titles = [], []
    for r in picks:
        s = results.classes.index(r["source class"])
        sign = -1 if r.relation == "hurts" else 1
        first = int((source.y == s).nonzero().flatten()[0])
        top = most_influenced(results, s, per_class, sign)
        ims += [source.x[first]] + [test.x[int(t)] for t in top]
        titles += [f"source: {r['source class']}"] + [
            f"{'−' if sign < 0 else '+'}{results.target_classes[int(results.target_labels[t])]}" for t in top
        ]
    return plots.image_grid(torch.stack(ims), titles, ncols=per_class + 1, size=0.9)


def figure_attributions(
    results: Results, examples, per_example: int = 5, mark: dict[int, int] | None = None, sign: int = 1
):
    """Target test images, each followed by its top source images by the gradient-based score (most
    negative with ``sign`` −1). ``mark``: target index -> a source index to label "the copy"."""
    c = results.config
    world = c.world()
    test, source = world.get(c.target_part(), "test"), world.get(c.source_part())
    sc = sign * np.mean(results.gradient_scores, axis=0)
    mark = mark or {}
    ims, titles = [], []
    for t in examples:
        top = np.argsort(-sc[:, t], kind="stable")[:per_example]
        ims += [test.x[t]] + [source.x[i] for i in top]
        titles += [f"target: {results.target_classes[int(test.y[t])]}"] + [
            ("the copy" if mark.get(t) == i else results.classes[int(source.y[i])]) + f"\n#{rank + 1}"
            for rank, i in enumerate(top)
        ]
    return plots.image_grid(torch.stack(ims), titles, ncols=per_example + 1, size=0.9)


def figure_copies(results: Results, kind: str = "leaks", n: int = 4):
    """:func:`figure_attributions` of target test images that have a planted near-copy in the
    source (``leaks``: their most positive source images; ``misleads``: their most negative)."""
    truth = _truth(results)
    if truth is None or not (truth.relation == kind).any():
        return plots.left_out(f"the planted {kind}: this data has no planted near-copies to find.")
    rows = truth[truth.relation == kind].head(n)
    return figure_attributions(
        results,
        rows.target_index.astype(int).tolist(),
        mark=dict(zip(rows.target_index.astype(int), rows.source_index.astype(int))),
        sign=1 if kind == "leaks" else -1,
    )


def figure_class_images(results: Results, n_classes: int = 3, per_class: int = 5):
    """Source images of the most positive and the most negative classes overall."""
    top = top_classes(results, n_classes)
    c = results.config
    source = c.world().get(c.source_part(), "test")
    ims, titles = [], []
    for sign in ("positive", "negative"):
        for name in top[top.sign == sign]["source class"]:
            rows = (source.y == source.classes.index(name)).nonzero().flatten()[:per_class]
            ims.append(source.x[rows])
            titles += [f"{sign}: {name}"] + [""] * (len(rows) - 1)
    return plots.image_grid(torch.cat(ims), titles, ncols=per_class, size=0.8)


def table(results: Results) -> pd.DataFrame:
    """The runs in one tidy table: a row per (run, target test example) with its outputs, and the
    run's subset mask as one boolean column per source class (held-out runs marked)."""
    frames = []
    for kind, masks, outputs in (
        ("run", results.masks, results.outputs),
        ("held out", results.holdout_masks, results.holdout_outputs),
    ):
        m, t = outputs["softmax"].shape
        if not m:
            continue
        frame = pd.DataFrame(
            {
                "run": np.repeat(np.arange(m), t),
                "kind": kind,
                "example": np.tile(np.arange(t), m),
                "target class": np.array(results.target_classes)[np.tile(results.target_labels, m)],
                **{k: outputs[k].reshape(-1) for k in OUTPUTS},
            }
        )
        mask = pd.DataFrame(np.repeat(masks, t, axis=0), columns=list(results.classes))
        frames.append(pd.concat([frame, mask], axis=1))
    return pd.concat(frames, ignore_index=True)


def summary_text(results: Results) -> str:
    c = results.config
    top = top_classes(results, 3)
    pos = ", ".join(top[top.sign == "positive"]["source class"])
    neg = ", ".join(top[top.sign == "negative"]["source class"])
    world = (
        "the planted-influence world"
        if c.planted()
        else ("the folder's data" if c.data_dir else "the main world")
    )
    return (
        f"On {world}: {len(results.masks)} source models, each on {c.alpha:.0%} of the {len(results.classes)} "
        f"source classes, transferred ({c.mode}) to the target: mean target accuracy "
        f"{results.outputs['correct'].mean():.1%} (full source: {results.full_outputs['correct'].mean():.1%}). "
        f"The most helpful source classes overall: {pos}; the most harmful: {neg}."
    )


def findings_text(results: Results, conv: pd.DataFrame, scores: pd.DataFrame | None = None) -> str:
    """What this run found, in words that follow the numbers: the pilot, the estimators against the
    truth, the gradient-based one against the mask-based ones, leaks and debugging against the control."""
    lines = []
    pilot = pilot_table(results)
    wrong = [
        r.removed
        for _, r in pilot.iterrows()
        if r["planted sign"] in "+−"
        and not r.removed.startswith("premise")
        and r.removed != "one of each pair"
        and not ((r.low > 0) if r["planted sign"] == "+" else (r.high < 0))
    ]
    lines.append(
        "- **The world**: every planted group the pilot removed moved the accuracy of its images the planted way, "
        "with the interval clear of zero."
        if not wrong
        else f"- **The world**: the pilot could not confirm the planted effect of {', '.join(wrong)} (interval "
        "touching zero or on the wrong side): the claims that rely on it are weaker evidence."
    )
    if _truth(results) is not None:
        scores = (truth_scores(results) if scores is None else scores).set_index(["estimator", "relation"])
        dom, grad = scores.loc[("difference of means", "helps")], scores.loc[(GRADIENT, "helps")]
        lines.append(
            f"- **Against the planted helpers**, the difference of means over {len(results.masks)} runs reaches "
            f"R-precision {dom.precision:.2f} (chance {dom.chance:.2f}, p = {dom['p-value']:.3f}); the gradient-based "
            f"estimator over {len(results.gradient_scores)} full-source models {grad.precision:.2f} "
            f"(p = {grad['p-value']:.3f})."
        )
    held = conv[conv.estimator == "difference of means"].sort_values("models")
    if held["aggregate LDS"].notna().any():
        lines.append(
            "- **Convergence**: the aggregate LDS of the difference of means goes "
            + " → ".join(f"{v:.2f}" for v in held["aggregate LDS"])
            + " at "
            + ", ".join(str(int(m)) for m in held.models)
            + " models, while the bootstrap std of the overall influences falls "
            + " → ".join(f"{v:.4f}" for v in held["bootstrap std"])
            + "."
        )
    for kind, word in (("leaks", "leaked"), ("misleads", "misleadingly copied")):
        rec = copy_recall(results, kind)
        if len(rec):
            last = rec.iloc[-1]
            lines.append(
                f"- **{word.capitalize()} images**: the copy is among the 10 "
                f"{'most positive' if kind == 'leaks' else 'most negative'} source images of its target image in "
                f"{last['recall@10']:.0%} of {int(last.copies)} cases (chance {last['chance@10']:.1%}; median rank "
                f"{last['median rank']:.0f} of {len(results.source_labels):,})."
            )
    d = debugging_summary(results)
    if {"most negative", "random"} <= set(d.index):
        lines.append(
            f"- **Debugging failures**: removing the class most often a failure's most negative influencer fixes "
            f"{d.loc['most negative', 'share fixed']:.0%} of its {int(d.loc['most negative', 'failures'])} failures "
            f"(over the first {len(results.config.extras())} counterfactual seeds); removing a random class "
            f"fixes {d.loc['random', 'share fixed']:.0%} of the same."
        )
    return "\n".join(lines)


def explorer(results: Results, n: int = 5):
    """An ipywidgets explorer for readers running the notebook live: pick a target test example,
    see it and its most positive and most negative source classes with example images. In an
    unattended run (the book build, ``transferlab run``) it shows nothing: a widget needs a live
    reader, and twice in this project's builds papermill waited forever at this widget's cell."""
    if os.environ.get(UNATTENDED):
        return None
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    infl = class_influence(results)
    c = results.config
    world = c.world()
    test, source = world.get(c.target_part(), "test"), world.get(c.source_part(), "test")

    def show(index: int) -> None:
        order = np.argsort(-np.nan_to_num(infl[:, index]), kind="stable")
        picks = [("positive", i) for i in order[:n]] + [("negative", i) for i in order[::-1][:n]]
        fig, axes = plt.subplots(1, len(picks) + 1, figsize=(1.3 * (len(picks) + 1), 1.8))
        axes[0].imshow(test.x[index].permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[0].set_title(f"target: {test.classes[int(test.y[index])]}", fontsize=7)
        for ax, (sign, i) in zip(axes[1:], picks):
            first = int((source.y == i).nonzero().flatten()[0])
            ax.imshow(source.x[first].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(
                f"{'+' if sign == 'positive' else '−'}{abs(infl[i, index]):.3f}\n{results.classes[i]}",
                fontsize=6,
            )
        for ax in axes:
            ax.axis("off")
        display(fig)
        plt.close(fig)

    return widgets.interactive(show, index=widgets.IntSlider(0, 0, len(test) - 1, description="example"))
