"""Chapter "Which source classes matter?" (thesis ch. 8, App. H; the blog post "A data-based
perspective on transfer learning").

Many source models, each trained on a random half of the source classes and transferred to the
target; the influence of a source class on a target example is how much the target example's
output changes, on average, between the runs that had the class and the runs that did not
(:mod:`transferlab.methods.subset_influence`). The chapter then checks the estimates three ways: against the
relations planted in the synthetic world (shared shape families help, look-alikes hurt), by
convergence as the number of models grows, and by counterfactuals: remove the most helpful, the
most harmful, random or hand-picked classes, retrain, transfer, and compare target accuracy.

Beside the thesis' estimators (difference of means, ridge and LASSO datamodels), a gradient-based
one (:mod:`transferlab.methods.gradient_influence`) scores every source image from a few models on the whole source;
the chapter compares how many trained models each needs against the planted truth, and uses the
example-level scores to find leaked near-copies of target images. Debugging failures removes a
misclassified example's most negative class and counts fixes against removing a random class.

The default world is smaller than elsewhere (16 px, 8 shape superclasses of 2 fine classes, 34
source classes of 100 images; cresnet-xs) so that the 128 runs, their held-out runs and the
counterfactuals fit a few minutes of a 2-core CPU.
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
from ..methods.stats import spearman
from ..params import UNATTENDED, ParameterError, distinct, param
from ..run import SourceJob, load_model, run_jobs
from ..train import predict
from ..utils import progress as progress_bar
from ..world import TARGETS, TensorData, World, source_catalogue
from . import plots
from .base import ARCHS, TINY_WORLD, WorldParams, class_subset_ref, world_ref
from .claims import LEVEL, Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts

SOURCE = "thesis ch. 8"
OUTPUTS = ("softmax", "correct", "margin")
REMOVALS = ("most positive", "most negative", "random", "hand-picked")


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter. Many models are trained, so the world is smaller than elsewhere."""

    image_size: int = param(
        16, "side of every image in pixels (real images are resized to it)", low=12, high=256
    )
    superclasses: int = param(8, "generic shape superclasses in the source task", low=2, high=12)
    fine_classes: int = param(2, "fine classes per generic superclass", low=1, high=8)
    source_per_class: int = param(
        100, "source training images per class (on real data: at most this many)", low=5, high=100_000
    )
    target_per_class: int = param(50, "target training (and test) images per class", low=5, high=100_000)
    arch: str = param("cresnet-xs", "architecture of every source model", choices=ARCHS)
    source_epochs: int = param(
        8, "epochs of source training (triangular LR, peak at epoch 2)", low=1, high=1000
    )
    target: str = param("objects", "the target task", choices=TARGETS)
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
        16, "further models on new random subsets, held out to score the estimators (LDS)", low=0, high=10_000
    )
    removals: tuple[int, ...] = param(
        (4, 8), "numbers k of source classes removed in the counterfactuals", low=1, high=1000
    )
    counterfactual_seeds: tuple[int, ...] = param((0, 1), "seeds of each counterfactual source model", low=0)
    bootstrap: int = param(
        50, "bootstrap resamples of the runs for the estimates' spread", low=2, high=10_000
    )
    gradient_models: int = param(
        4,
        "models on the full source (one per seed) for the gradient-based estimator; "
        "the first counterfactual full-source models are among them",
        low=1,
        high=1000,
    )
    gradient_dim: int = param(
        256, "random projection size of the gradient-based estimator's features", low=8, high=100_000
    )
    debug_classes: int = param(
        4,
        "debugging failures: the source classes most often the most negative influencer "
        "of a misclassified target example, each removed in one retraining",
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

    def n_classes(self) -> int:
        """Source classes of this world (66 by default)."""

        return (
            len(source_catalogue(self.world_config()))
            if not self.data_dir
            else len(self.world().source().classes)
        )


PROTOCOL = """**Setup** (thesis ch. 8, App. H; the blog post). `models` source models, each trained on a random
half of the source classes (`alpha`), are each transferred to the target (`target`, fixed-feature);
the output recorded for every target test image is `output` (by default the softmax of its true
class). The influence of source class C on target image t is the difference of the mean output
over the models whose source contained C and those whose source did not (also: linear datamodels;
and a gradient-based TRAK-style estimator from `gradient_models` full-source models). Counterfactuals:
source models trained without the top-k most positive, the top-k most negative, or k random
classes (`removals`, over `counterfactual_seeds`), transferred, against the full source. The
synthetic world plants the truth: target classes owe a feature to specific source classes
(*helps*), look-alikes hurt, near-duplicates leak.

**Claims.**
- (a) Removing the most positive classes hurts target accuracy more than removing random ones, and
  removing the most negative ones helps (Fig. 8.3): per counterfactual seed, the accuracy
  differences averaged over k.
- (b) The estimates stabilise as models are added (App. H): the rank correlation between the
  estimates of two disjoint halves of the models, with all models, and its gain over the fewest
  models; the interval is over random half splits.
- (c) The planted relations are recovered: for each target class with planted helpers, precision@3
  of its most positive source classes against them, minus chance; the interval is over those
  target classes."""

CRITERIA = criteria(
    Criterion("positive-hurts", "accuracy without k random − without the top-k positive classes", ">", 0.0),
    Criterion("negative-helps", "accuracy without the top-k negative − without k random classes", ">", 0.0),
    Criterion(
        "halves-agree",
        "split-half rank correlation of the estimates, all models",
        ">",
        0.5,
        "a split-half reliability of 0.5: the halves' rankings agree more than they differ",
    ),
    Criterion("halves-improve", "split-half rank correlation, all models − fewest models", ">", 0.0),
    Criterion("recovers-helps", "precision@3 against the planted helpers − chance", ">", 0.0),
)

PAPER_NOTE = """The thesis' scale (App. H): ResNet-18s at 64 px on an ImageNet subset, 7,540 models on random
class subsets, removals of 10, 20 and 50 classes, three counterfactual seeds and 200 bootstrap
draws. That is thousands of trainings: a GPU, or a Dask cluster (`-p scheduler tcp://host:8786`,
every worker seeing the same store)."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source classes whose random subsets the models are trained on",
    objects="the target whose examples are attributed to source classes",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        **TINY_WORLD,
        "models": 12,
        "holdout_models": 4,
        "removals": [2],
        "counterfactual_seeds": [0],
        "bootstrap": 5,
        "gradient_models": 2,
        "gradient_dim": 32,
        "debug_classes": 2,
    },
    "default": {},
    "paper": {
        "image_size": 64,
        "source_per_class": 1300,
        "target_per_class": 500,
        "arch": "resnet18",
        "recipes": "thesis",
        "source_epochs": 16,
        "models": 7540,
        "holdout_models": 200,
        "removals": [10, 20, 50],
        "counterfactual_seeds": [0, 1, 2],
        "bootstrap": 200,
    },
}


# ---------------------------------------------------------------------------------------------
# data and jobs


def _source_job(config: Config, keep, seed: int) -> SourceJob:
    world = config.world(cache=None)
    ref = class_subset_ref(world_ref(world, "source"), keep)
    return SourceJob(config.arch, ref, config.source_recipe(), seed=seed)


def _full_job(config: Config, seed: int):
    """Transfer of a source model trained on every source class (the counterfactuals' reference and
    the gradient-based estimator's models)."""
    return config.transfer_job(
        _source_job(config, range(config.n_classes()), 2_000_000 + seed), config.target, config.mode
    )


def _without_job(config: Config, removed, seed: int):
    keep = sorted(set(range(config.n_classes())) - {int(i) for i in removed})
    return config.transfer_job(_source_job(config, keep, 2_000_000 + seed), config.target, config.mode)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The runs (masks and jobs), the held-out runs and the full-source models; the counterfactual
    and debugging jobs come later, once the influences say which classes to remove."""

    masks: np.ndarray
    holdout_masks: np.ndarray
    runs: list[Any]
    holdout: list[Any]
    full: list[Any]


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
                _source_job(config, np.flatnonzero(mk), offset + i), config.target, config.mode
            )
            for i, mk in enumerate(ms)
        ]

    return Plan(
        masks,
        held,
        transfers(masks, 0),
        transfers(held, 1_000_000),
        [_full_job(config, s) for s in range(config.gradient_models)],
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
    gradient_scores: tuple[np.ndarray, ...]  # per full-source model: (N, T) example scores
    full_outputs: dict[str, np.ndarray]  # output name -> (gradient_models, T), the full-source models
    counterfactuals: pd.DataFrame  # removal, k, seed, accuracy, removed
    debugging: pd.DataFrame  # removal, class, failures, fixed

    @property
    def y(self) -> np.ndarray:
        return self.outputs[self.config.output]


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
    """Train (or fetch) every run and the full-source models, collect the per-example outputs and
    the gradient-based scores, then train and measure the counterfactuals and the debugging runs.
    ``executor`` / ``address`` default to the config's ``scheduler`` (see :func:`run_jobs`)."""
    if executor is None:
        executor, address = executor_of(config)
    world = config.world()
    p = plan(config)
    jobs = p.runs + p.holdout + p.full
    entries = run_jobs(jobs, progress=progress, executor=executor, address=address)
    test = world.target(config.target, "test")
    outputs = _collect(entries[: len(p.runs)], test)
    held = _collect(entries[len(p.runs) : len(p.runs) + len(p.holdout)], test)
    full = entries[len(p.runs) + len(p.holdout) :]
    source = world.source("train")
    sources = run_jobs([j.source for j in p.full], progress=False)
    grads = tuple(
        gradient.scores(load_model(s), load_model(t), source, test, dim=config.gradient_dim, seed=i).astype(
            np.float32
        )
        for i, (s, t) in enumerate(progress_bar(list(zip(sources, full)), "gradient scores", progress))
    )
    partial = Results(
        config,
        tuple(world.source("test").classes),
        tuple(test.classes),
        test.y.numpy(),
        p.masks,
        outputs,
        p.holdout_masks,
        held,
        source.y.numpy(),
        grads,
        _collect(full, test),
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


def removal_sets(results: Results, k: int, seed: int = 0) -> dict[str, list[int]]:
    """The k source classes each counterfactual removes: most positive and most negative overall
    influence (mean over target examples), random, and hand-picked: the classes the world relates
    to the target by shape family (its metadata; on real data: none)."""
    overall = np.nanmean(class_influence(results), axis=1)
    order = np.argsort(-overall, kind="stable")
    rng = np.random.default_rng(1000 + seed + k)
    picked = related_classes(results)
    sets = {
        "most positive": order[:k].tolist(),
        "most negative": order[::-1][:k].tolist(),
        "random": sorted(rng.choice(len(overall), k, replace=False).tolist()),
    }
    if len(picked) >= k:
        sets["hand-picked"] = sorted(rng.choice(picked, k, replace=False).tolist())
    return sets


def _truth(results: Results) -> pd.DataFrame | None:
    """The world's planted relations to the target (None on real data)."""
    return _truth_of(results.config)


@functools.lru_cache(maxsize=8)
def _truth_of(config: Config) -> pd.DataFrame | None:
    world = config.world()
    return world.influence_truth(config.target) if isinstance(world, World) else None


def related_classes(results: Results) -> list[int]:
    """Source classes the world says share a shape family with a target class."""
    truth = _truth(results)
    if truth is None:
        return []
    return sorted(set(truth[truth.relation == "helps"].source_label.astype(int)))


def counterfactual_jobs(results: Results) -> tuple[list[tuple], list[Any]]:
    """Per seed: the full source, and the source without each removal set for each k."""
    c = results.config
    keys, jobs = [], []
    for seed in c.counterfactual_seeds:
        keys.append(("full source", 0, seed, ()))
        jobs.append(_full_job(c, seed))
        for k in c.removals:
            for removal, removed in removal_sets(results, k, seed).items():
                keys.append((removal, k, seed, tuple(removed)))
                jobs.append(_without_job(c, removed, seed))
    return keys, jobs


def _counterfactual_table(results: Results, keys, entries, test: TensorData) -> pd.DataFrame:
    rows = [
        {
            "removal": r,
            "k": k,
            "seed": s,
            "removed": ", ".join(results.classes[i] for i in removed),
            "accuracy": float(example_outputs(load_model(e), test)["correct"].mean()),
        }
        for (r, k, s, removed), e in zip(keys, entries)
    ]
    return pd.DataFrame(rows)


def failures(results: Results) -> pd.DataFrame:
    """Target test examples the first full-source model gets wrong, each with its most negative
    influencer (difference of means on the chosen output)."""
    wrong = np.flatnonzero(results.full_outputs["correct"][0] == 0)
    worst = (
        np.nanargmin(np.nan_to_num(class_influence(results), nan=np.inf)[:, wrong], axis=0)
        if len(wrong)
        else []
    )
    return pd.DataFrame({"example": wrong, "worst": np.asarray(worst, dtype=int)})


def debugging_jobs(results: Results) -> tuple[list[tuple], list[Any]]:
    """Debugging failures (thesis §8.3): the ``debug_classes`` classes that are most often a failure's
    most negative influencer, each removed from the first full-source model's training (same seed);
    as a control, as many random other classes, one paired with each."""
    c = results.config
    fails = failures(results)
    chosen = fails.worst.value_counts().index[: c.debug_classes].tolist()
    rng = np.random.default_rng(c.world_seed + 77)
    others = [i for i in range(len(results.classes)) if i not in chosen]
    controls = rng.choice(others, len(chosen), replace=False).tolist() if len(others) >= len(chosen) else []
    keys, jobs = [], []
    for cls, ctl in zip(chosen, controls):
        keys += [("most negative", cls, cls), ("random", ctl, cls)]
        jobs += [_without_job(c, [cls], 0), _without_job(c, [ctl], 0)]
    return keys, jobs


def _debugging_table(results: Results, keys, entries, test: TensorData) -> pd.DataFrame:
    fails = failures(results)
    rows = []
    for (removal, removed, target_of), e in zip(keys, entries):
        which = fails.example[fails.worst == target_of].to_numpy()
        correct = example_outputs(load_model(e), test)["correct"]
        rows.append(
            {
                "removal": removal,
                "removed": results.classes[removed],
                "failures": len(which),
                "fixed": int(correct[which].sum()),
                "accuracy": float(correct.mean()),
            }
        )
    return pd.DataFrame(rows, columns=["removal", "removed", "failures", "fixed", "accuracy"])


def debugging_summary(results: Results) -> pd.DataFrame:
    """Share of the failures fixed by removing their most negative influencer, against removing a
    random class (the control: retraining alone flips some examples)."""
    d = results.debugging
    if d.empty:
        return pd.DataFrame(columns=["failures", "fixed", "share fixed"])
    out = d.groupby("removal")[["failures", "fixed"]].sum()
    out["share fixed"] = out.fixed / out.failures
    return out


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
        for rank, i in enumerate(order[:n]):
            rows.append(
                {
                    "target class": name,
                    "sign": "positive",
                    "rank": rank + 1,
                    "source class": results.classes[i],
                    "influence": score[i],
                }
            )
        for rank, i in enumerate(order[::-1][:n]):
            rows.append(
                {
                    "target class": name,
                    "sign": "negative",
                    "rank": rank + 1,
                    "source class": results.classes[i],
                    "influence": score[i],
                }
            )
    return pd.DataFrame(rows)


def _per_target_class(results: Results, infl: np.ndarray) -> np.ndarray:
    """(source classes, target classes): mean influence over each target class's test examples."""
    return np.stack(
        [np.nanmean(infl[:, results.target_labels == t], axis=1) for t in range(len(results.target_classes))],
        axis=1,
    )


def _relevant(results: Results, relation: str) -> dict[int, set[int]]:
    """Target class -> the source classes the world relates to it by ``relation``."""
    truth = _truth(results)
    if truth is None:
        return {}
    rel = truth[truth.relation == relation]
    return {t: set(g.source_label.astype(int)) for t, g in rel.groupby("target_label")}


def _precisions(score: np.ndarray, relevant: dict[int, set[int]], k: int, perm: np.ndarray) -> np.ndarray:
    return np.array(
        [inf.precision_at_k(score[perm, t], rel, min(k, len(rel))) for t, rel in relevant.items()]
    )


def truth_precisions(results: Results, infl: np.ndarray, relation: str = "helps", k: int = 3) -> np.ndarray:
    """Per target class that has the planted ``relation``: precision@k of its most positive source
    classes (most negative for ``hurts``) minus the chance level ``|relevant| / classes``."""
    relevant = _relevant(results, relation)
    score = (1 if relation == "helps" else -1) * _per_target_class(results, infl)
    n = len(results.classes)
    chance = np.array([len(rel) / n for rel in relevant.values()])
    return _precisions(score, relevant, k, np.arange(n)) - chance


def truth_precision(
    results: Results,
    infl: np.ndarray,
    relation: str = "helps",
    k: int = 3,
    *,
    permutations: int = 0,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(precision@k, chance, p-value) of each target class's most positive source classes (most
    negative for ``hurts``) against the planted relation, averaged over the target classes that
    have it. The p-value (NaN unless ``permutations``) is the share of random relabellings of the
    source classes that score at least as high."""
    relevant = _relevant(results, relation)
    if not relevant:
        return float("nan"), float("nan"), float("nan")
    score = (1 if relation == "helps" else -1) * _per_target_class(results, infl)
    n = len(results.classes)
    observed = float(_precisions(score, relevant, k, np.arange(n)).mean())
    chance = float(np.mean([len(rel) / n for rel in relevant.values()]))
    if not permutations:
        return observed, chance, float("nan")
    rng = np.random.default_rng(seed)
    null = np.array([_precisions(score, relevant, k, rng.permutation(n)).mean() for _ in range(permutations)])
    return observed, chance, float((1 + (null >= observed).sum()) / (1 + permutations))


def truth_correlation(results: Results, infl: np.ndarray) -> float:
    """Rank correlation between the per-target-class influences and the planted relations
    (+1 helps, −1 hurts, 0 neither), over every (source class, target class) pair."""
    truth = np.zeros((len(results.classes), len(results.target_classes)))
    for relation, sign in (("helps", 1), ("hurts", -1)):
        for t, rel in _relevant(results, relation).items():
            truth[list(rel), t] = sign
    return spearman(_per_target_class(results, infl), truth) if truth.any() else float("nan")


def truth_scores(results: Results, k: int = 3, permutations: int = 1000) -> pd.DataFrame:
    """Per estimator (all runs, all full-source models): precision@k against the planted 'helps'
    relations (shared shape family) and 'hurts' (look-alikes), with the chance level and a
    permutation p-value, and the rank correlation with the planted relations."""
    rows = []
    for name, infl in estimates(results).items():
        corr = truth_correlation(results, infl)
        for relation in ("helps", "hurts"):
            precision, chance, p = truth_precision(results, infl, relation, k, permutations=permutations)
            rows.append(
                {
                    "estimator": name,
                    "relation": relation,
                    "k": k,
                    "precision": precision,
                    "chance": chance,
                    "p-value": p,
                    "rank correlation": corr,
                }
            )
    return pd.DataFrame(rows)


def models_for(r: float, models: int, target: float = 0.5) -> float:
    """Models (in all) at which two halves would agree with rank correlation ``target``, projected
    from the correlation ``r`` of two halves of ``models`` by Spearman–Brown (NaN if r ≤ 0)."""
    if not r > 0:
        return float("nan")
    return models * target * (1 - r) / (r * (1 - target))


def leak_recovery(results: Results, ks: tuple[int, ...] = (1, 10)) -> pd.DataFrame:
    """Example-level attribution against the planted leaks: for each target test image with a
    near-copy in the source, the rank of that copy among all source training images by the
    gradient-based score (1 = the top influencer), with recall@k and its chance level, against
    the number of full-source models averaged."""
    truth = _truth(results)
    leaks = truth[truth.relation == "leaks"] if truth is not None else pd.DataFrame()
    rows = []
    n = len(results.source_labels)
    for models in range(1, len(results.gradient_scores) + 1):
        sc = np.mean(results.gradient_scores[:models], axis=0)
        ranks = [
            int((sc[:, int(r.target_index)] > sc[int(r.source_index), int(r.target_index)]).sum()) + 1
            for _, r in leaks.iterrows()
        ]
        if not ranks:
            continue
        row = {"models": models, "leaks": len(ranks), "median rank": float(np.median(ranks))}
        for k in ks:
            row[f"recall@{k}"] = float(np.mean(np.array(ranks) <= k))
            row[f"chance@{k}"] = k / n
        rows.append(row)
    return pd.DataFrame(rows)


def misleading_examples(results: Results, n: int = 20) -> pd.DataFrame:
    """Example-level: for each target class, the ``n`` source images with the most negative summed
    gradient-based score on its test images; how many belong to a planted look-alike class that
    merges it with another target class, against the look-alikes' share of all source images."""
    truth = _truth(results)
    if truth is None:
        return pd.DataFrame()
    hurts = truth[truth.relation == "hurts"]
    sc = np.mean(results.gradient_scores, axis=0)
    rows = []
    for t, name in enumerate(results.target_classes):
        bad = set(hurts[hurts.target_label == t].source_label.astype(int))
        if not bad:
            continue
        worst = np.argsort(sc[:, results.target_labels == t].sum(1), kind="stable")[:n]
        rows.append(
            {
                "target class": name,
                "look-alikes among the most negative": int(
                    np.isin(results.source_labels[worst], list(bad)).sum()
                ),
                "of": n,
                "chance": n * float(np.isin(results.source_labels, list(bad)).mean()),
            }
        )
    return pd.DataFrame(rows)


def convergence(results: Results, grid: tuple[int, ...] | None = None, seed: int = 0) -> pd.DataFrame:
    """Against the number of models: rank correlation between estimates from two disjoint halves,
    bootstrap std (difference of means), LDS on the held-out runs and precision@3 against the
    planted helpers, per estimator. The gradient-based estimator counts its full-source models."""
    m = len(results.masks)
    grid = grid or tuple(sorted({g for g in (m // 8, m // 4, m // 2, m) if g >= 8}))
    held = results.holdout_outputs[results.config.output]
    rows = []

    def row(n, name, w, **extra):
        return {
            "models": n,
            "estimator": name,
            **extra,
            "lds": inf.lds(w, results.holdout_masks, held) if len(results.holdout_masks) else np.nan,
            "precision@3": truth_precision(results, w)[0],
        }

    for n in grid:
        ms, ys = results.masks[:n], results.y[:n]
        for name, est in inf.ESTIMATORS.items():
            extra = {"halves": inf.halves(ms, ys, est, seed=seed)}
            if name == "difference of means":
                extra["bootstrap_std"] = float(
                    np.nanmean(inf.bootstrap(ms, ys, est, n=results.config.bootstrap, seed=seed)[0])
                )
            rows.append(row(n, name, est(ms, ys), **extra))
    for n in range(1, len(results.gradient_scores) + 1):
        rows.append(row(n, GRADIENT, gradient_influence(results, n)))
    return pd.DataFrame(rows)


SPLITS = 20  # random half splits behind the convergence claim's interval


def split_halves(results: Results, models: int, splits: int = SPLITS) -> np.ndarray:
    """Split-half rank correlations of the difference of means from the first ``models`` runs, one
    per random split (seed 0, 1, ...)."""
    ms, ys = results.masks[:models], results.y[:models]
    return np.array([inf.halves(ms, ys, inf.difference_of_means, seed=s) for s in range(splits)])


def claims(
    results: Results, conv: pd.DataFrame | None = None, scores: pd.DataFrame | None = None
) -> ClaimsTable:
    """Claims (a)–(c) of thesis ch. 8, measured in this run (``conv``: :func:`convergence` and
    ``scores``: :func:`truth_scores`, if already computed)."""
    cf = results.counterfactuals
    by = cf[cf.removal != "full source"].pivot_table(
        index="seed", columns=["removal", "k"], values="accuracy"
    )
    replicate = "counterfactual seed (sources and transfers)"
    if {"most positive", "most negative", "random"} <= set(by.columns.get_level_values(0)):
        pos, neg, rnd = (by[r].mean(axis=1) for r in ("most positive", "most negative", "random"))
        counterfactual = (
            Estimate.t(CRITERIA["positive-hurts"], rnd - pos, replicate, "random − most positive"),
            Estimate.t(CRITERIA["negative-helps"], neg - rnd, replicate, "most negative − random"),
        )
    else:
        counterfactual = tuple(
            Estimate.not_measured(CRITERIA[n], "no counterfactual removals")
            for n in ("positive-hurts", "negative-helps")
        )
    conv = convergence(results) if conv is None else conv
    dom = conv[conv.estimator == "difference of means"].sort_values("models")
    last = dom.iloc[-1] if len(dom) else None
    needed = models_for(last.halves, int(last.models)) if last is not None else float("nan")
    if len(dom) > 1:
        first, final = (
            split_halves(results, int(dom.models.iloc[0])),
            split_halves(results, int(dom.models.iloc[-1])),
        )
        lo, hi = (100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2)
        stable = tuple(
            Estimate.interval(
                CRITERIA[name],
                float(np.mean(v)),
                *np.percentile(v, [lo, hi]),
                SPLITS,
                f"random half split of the {int(dom.models.iloc[-1])} runs",
                f"percentiles over {SPLITS} random half splits",
                label,
            )
            for name, v, label in (
                ("halves-agree", final, f"{int(dom.models.iloc[-1])} models"),
                (
                    "halves-improve",
                    final - first,
                    f"{int(dom.models.iloc[-1])} − {int(dom.models.iloc[0])} models",
                ),
            )
        )
    else:
        stable = tuple(
            Estimate.not_measured(CRITERIA[n], "fewer than two model counts")
            for n in ("halves-agree", "halves-improve")
        )
    truth = _truth(results)
    if truth is None:
        recovered: tuple[Estimate, ...] = (
            Estimate.not_measured(CRITERIA["recovers-helps"], "no planted truth in this data"),
        )
        grad_text = ""
    else:
        per_class = truth_precisions(results, estimates(results)["difference of means"])
        recovered = (Estimate.t(CRITERIA["recovers-helps"], per_class, "target class with planted helpers"),)
        scores = (truth_scores(results) if scores is None else scores).set_index(["estimator", "relation"])
        grad = scores.loc[(GRADIENT, "helps")]
        grad_text = (
            f" The gradient-based estimator's precision: {grad.precision:.2f} (chance {grad.chance:.2f})."
        )
    return ClaimsTable(
        "influences",
        [
            Claim(
                "a",
                "Removing the most positive source classes hurts target accuracy more than removing random "
                "ones; removing the most negative ones helps",
                SOURCE + ", Fig. 8.3; blog post",
                counterfactual,
                note="Accuracy differences averaged over k = "
                + ", ".join(map(str, results.config.removals))
                + ".",
            ),
            Claim(
                "b",
                "Estimates stabilise as the number of models grows",
                SOURCE + ", App. H (convergence)",
                stable,
                note=f"Spearman–Brown projects a split-half correlation of 0.5 at about {needed:,.0f} models.",
            ),
            Claim(
                "c",
                "The planted relations of the synthetic world are recovered",
                "thesis ch. 8, on the world's planted truth",
                recovered,
                note="Difference of means: precision@3 of each target class's most positive source classes "
                "against its planted helpers, minus chance." + grad_text,
            ),
        ],
    )


def figure_top_classes(results: Results, n: int = 8):
    """The most positive and most negative source classes overall (mean influence over the target
    test set) with bootstrap intervals."""
    infl = class_influence(results)
    score = np.nanmean(infl, axis=1)
    _, lo, hi = inf.bootstrap(results.masks, results.y.mean(1, keepdims=True), n=results.config.bootstrap)
    order = np.argsort(-score, kind="stable")
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
    """Target accuracy after removing k classes of each kind, against the full source."""
    cf = results.counterfactuals
    full = cf[cf.removal == "full source"].accuracy
    fig, ax = plots.panels(1, width=5.5, height=3.0)
    ax = ax[0]
    ks = list(results.config.removals)
    for i, removal in enumerate(REMOVALS):
        g = cf[cf.removal == removal].groupby("k").accuracy
        if not len(g.mean()):
            continue
        ax.errorbar(
            np.array(ks) + (i - 1.5) * 0.15,
            g.mean().reindex(ks),
            yerr=g.std().reindex(ks).fillna(0),
            marker="o",
            capsize=3,
            ls="-",
            label=f"without the {removal}",
        )
    ax.axhline(full.mean(), color="black", ls="--", lw=1, label="full source")
    ax.set(xlabel="source classes removed (k)", ylabel="target accuracy", xticks=ks)
    ax.legend(fontsize=7)
    return fig


def figure_convergence(results: Results, conv: pd.DataFrame | None = None):
    """Against the number of trained models, per estimator: the rank correlation of two disjoint
    halves (mask-based estimators), LDS on the held-out runs, and precision@3 against the planted
    helpers (with its chance level)."""
    conv = convergence(results) if conv is None else conv
    panels = [("halves", "rank correlation of two halves"), ("lds", "LDS (held-out runs)")]
    truth = _truth(results) is not None  # real data has no planted helpers: no third panel
    if truth:
        panels.append(("precision@3", "precision@3, planted helpers"))
    fig, axes = plots.panels(len(panels), width=3.0, height=2.7)
    for ax, (col, label) in zip(axes, panels):
        for name, g in conv.groupby("estimator", sort=False):
            if g[col].notna().any():
                ax.plot(g.models, g[col], marker="o", label=name)
        ax.set(xlabel="models trained", ylabel=label, xscale="log")
    if truth:
        chance = truth_precision(results, np.zeros((len(results.classes), len(results.target_labels))))[1]
        if np.isfinite(chance):
            axes[-1].axhline(chance, color="grey", ls=":", lw=1, label="chance")
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=6)
    return fig


def figure_attributions(results: Results, examples, per_example: int = 5, mark: dict[int, int] | None = None):
    """Target test images, each followed by its top source images by the gradient-based score: the
    subpopulation of the source each one leans on. ``mark``: target index -> a source index to
    label "the copy" (the planted leaks)."""
    world = results.config.world()
    test, source = world.target(results.config.target, "test"), world.source("train")
    sc = np.mean(results.gradient_scores, axis=0)
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


def figure_leaks(results: Results, n: int = 4):
    """:func:`figure_attributions` of target test images that have a near-copy in the source."""
    truth = _truth(results)
    if truth is None or not (truth.relation == "leaks").any():
        return plots.left_out("the planted leaks: this data has no planted near-copies to find.")
    leaks = truth[truth.relation == "leaks"].head(n)
    return figure_attributions(
        results,
        leaks.target_index.astype(int).tolist(),
        mark=dict(zip(leaks.target_index.astype(int), leaks.source_index.astype(int))),
    )


def figure_subpopulations(results: Results, per_class: int = 1, seed: int = 0):
    """:func:`figure_attributions` of one correctly classified test image per target class (by the
    first full-source model), chosen at random."""
    rng = np.random.default_rng(seed)
    right = results.full_outputs["correct"][0] > 0
    picks = [
        int(rng.choice(idx))
        for t in range(len(results.target_classes))
        if len(idx := np.flatnonzero(right & (results.target_labels == t)))
        for _ in range(per_class)
    ]
    return figure_attributions(results, picks) if picks else None


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
    return (
        f"{len(results.masks)} source models, each on {c.alpha:.0%} of the {len(results.classes)} source classes, "
        f"transferred ({c.mode}) to {c.target}: mean target accuracy {results.outputs['correct'].mean():.1%}. "
        f"The most helpful source classes overall: {pos}; the most harmful: {neg}."
    )


def findings_text(results: Results, conv: pd.DataFrame, scores: pd.DataFrame | None = None) -> str:
    """What this run found, in words that follow the numbers: the estimators against the truth, the
    gradient-based one against the mask-based ones, leak recovery and debugging against the control."""
    scores = (truth_scores(results) if scores is None else scores).set_index(["estimator", "relation"])
    dom, grad = scores.loc[("difference of means", "helps")], scores.loc[(GRADIENT, "helps")]
    held = conv[conv.estimator == "difference of means"].sort_values("models").iloc[-1]
    gconv = conv[conv.estimator == GRADIENT].sort_values("models").iloc[-1]

    def verdict(row):
        return "above chance" if row["p-value"] < 0.05 else "not distinguishable from chance"

    lines = [
        f"- **Against the planted helpers**, the difference of means over {len(results.masks)} runs reaches "
        f"precision@3 {dom.precision:.2f} (chance {dom.chance:.2f}, p = {dom['p-value']:.3f}: {verdict(dom)}); "
        f"the gradient-based estimator over {len(results.gradient_scores)} full-source models "
        f"{grad.precision:.2f} (p = {grad['p-value']:.3f}: {verdict(grad)}). "
        + (
            f"The gradient-based estimator is the better one here, from {len(results.gradient_scores)} trained "
            f"models against {len(results.masks)}."
            if grad.precision > dom.precision
            else "The mask-based estimator is at least as good here, at the cost of many more trained models."
        )
    ]
    lines.append(
        f"- **Predicting held-out runs (LDS)**: difference of means {held.lds:.2f}, gradient-based "
        f"{gconv.lds:.2f}"
        + (
            " — the gradient scores describe the full-source models they were computed "
            "on, not the subset runs."
            if gconv.lds < held.lds
            else "."
        )
    )
    leaks = leak_recovery(results)
    if len(leaks):
        last = leaks.iloc[-1]
        lines.append(
            f"- **Leakage**: the near-copy of a leaked target image is its top source image in "
            f"{last['recall@1']:.0%} of the {int(last.leaks)} cases and among the top 10 in "
            f"{last['recall@10']:.0%} (chance {last['chance@10']:.1%}), out of {len(results.source_labels):,} "
            "source images."
        )
    d = debugging_summary(results)
    if {"most negative", "random"} <= set(d.index):
        gap = d.loc["most negative", "share fixed"] - d.loc["random", "share fixed"]
        lines.append(
            f"- **Debugging failures**: removing a failure's most negative class fixes "
            f"{d.loc['most negative', 'share fixed']:.0%} of {int(d.loc['most negative', 'failures'])} "
            f"failures, removing a random class {d.loc['random', 'share fixed']:.0%}: "
            + (
                "a real effect beyond retraining noise."
                if gap > 0.05
                else "no better than the control, so the estimates do not yet point at the cause of a failure."
            )
        )
    return "\n".join(lines)


def figure_class_images(results: Results, n_classes: int = 3, per_class: int = 5):
    """Source images of the most positive and the most negative classes overall."""
    top = top_classes(results, n_classes)
    source = results.config.world().source("test")
    ims, titles = [], []
    for sign in ("positive", "negative"):
        for name in top[top.sign == sign]["source class"]:
            rows = (source.y == source.classes.index(name)).nonzero().flatten()[:per_class]
            ims.append(source.x[rows])
            titles += [f"{sign}: {name}"] + [""] * (len(rows) - 1)
    return plots.image_grid(torch.cat(ims), titles, ncols=per_class, size=0.8)


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
    world = results.config.world()
    test, source = world.target(results.config.target, "test"), world.source("test")

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
