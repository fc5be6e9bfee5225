"""Chapter "The synthetic world": a tour of every part, and the premise check of the book.

The premise of transfer learning, and so of every chapter after this one, is that a model
pre-trained on the source task makes a better starting point for a small target task than a
random initialisation. The tour trains a clean source model of the world per seed, transfers it
to each target (fixed-feature and full-network) and trains the same architecture from scratch on
each target with the same seed, then checks that transfer wins.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from ..run import load_model, run_jobs
from ..train import accuracy, mean_per_class_accuracy, predict
from ..world import (
    FACE_GROUPS,
    SCENE_GROUPS,
    TARGETS,
    Ball,
    Fence,
    Hat,
    RealWorld,
    Square,
    TensorData,
    World,
    apply_overlay,
)
from . import plots
from .base import SMOKE_WORLD, WorldParams
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts
from .params import ParameterError, distinct, param
from .registry import Amendment, Registration, Registry, stamp

SOURCE = "thesis ch. 7–8 (premise)"
REPLICATE = "seed (source model, transfer and scratch, paired)"
SEEDS = tuple(range(200, 210))  # the registry's confirmatory seeds
CONDITIONS = ("fixed-feature", "full-network", "scratch")
MODES = {"fixed-feature": "fixed", "full-network": "full"}


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the tour: the world, the source models, and the seeds of the premise check."""

    targets: tuple[str, ...] = param(TARGETS, "target tasks of the premise check", choices=TARGETS)
    seeds: tuple[int, ...] = param(
        SEEDS,
        "seeds: each trains its own source model, its transfers and the scratch models (the default: "
        "the registry's confirmatory seeds)",
        low=0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("seeds", self.seeds)
        if not self.targets:
            raise ParameterError("parameter 'targets' needs at least one target")


PROTOCOL = """**Setup.** The source model (`arch`, trained for `source_epochs` on the world's source task) is
transferred to each target (`targets`) in two ways: fixed-feature (only a new last layer trains on
the frozen features) and full-network (every weight trains, `full_epochs`); a model of the same
architecture trained from scratch on the target (`scratch_epochs`) is the baseline. Each seed
(`seeds`) trains its own source model, its two transfers and the scratch model, so a replicate
holds the variance of pre-training too.

**Measured.** Test accuracy of each transferred and scratch model on its target.

**Claim, for each target and transfer mode** (the premise of the thesis' ch. 7–8): transfer from
a source model beats training from scratch. The replicate is a seed: the source model, its
transfer and the scratch model of one seed are paired, so the interval is over their per-seed
differences."""

CRITERIA = criteria(
    Criterion(
        "beats-scratch",
        "accuracy(transfer) − accuracy(scratch)",
        ">",
        0.0,
        "the premise is an ordering, so any gain counts; the interval, not the margin, guards against noise",
        effect=0.05,
    )
)

PREMISE = (
    '"the prepared dataset is so small that training a model from scratch on it does not yield an accurate '
    "enough model. To address this problem, the researcher resorts to a standard approach: transfer "
    '[...] This strategy indeed often yields models that are far more performant"'
)

# Registered on 2026-12-03, before the confirmatory run, from a pilot of the default protocol on
# seeds 100-104 (seeds 0-2 of earlier builds had been seen, so the confirmatory seeds are new).
REGISTRY = Registry(
    chapter="world",
    frozen="2026-12-03",
    seeds=SEEDS,
    pilot_seeds=(100, 101, 102, 103, 104),
    pilot=(
        "Pilot (default protocol, seeds 100-104, each its own source model; source accuracy 0.94 on "
        "average): transfer − scratch accuracy, fixed-feature / full-network: objects 0.268 (sd 0.020) / "
        "0.353 (sd 0.031), flowers 0.089 (sd 0.027) / 0.214 (sd 0.031), pets 0.056 (sd 0.047) / 0.213 "
        "(sd 0.048); all held but pets fixed-feature (undecided). Smallest effect of interest, declared "
        "with the registry: five points of accuracy ('far more performant' read at its most modest). "
        "Planned n: 80 % power at one-sided 2.5 % for that effect at the pilot's spread (statsmodels "
        "TTestPower): objects 4 / 6, flowers 5 / 6, pets 9 / 10; every seed trains its source model and "
        "every transfer, so the run uses the largest, 10 seeds, for every claim. Seeds 0-2 of earlier "
        "builds (one shared source model) had been seen; the pilot changed no world or recipe."
    ),
    claims=tuple(
        Registration(
            f"{target}-{mode}",
            PREMISE,
            "thesis ch. 7 (opening)",
            ("beats-scratch",),
            REPLICATE,
            planned_n=n,
            pilot_sd=sd,
        )
        for (target, mode), (n, sd) in {
            ("objects", "fixed"): (4, 0.0197),
            ("objects", "full"): (6, 0.0305),
            ("flowers", "fixed"): (5, 0.0266),
            ("flowers", "full"): (6, 0.0312),
            ("pets", "fixed"): (9, 0.0468),
            ("pets", "full"): (10, 0.0482),
        }.items()
    ),
    criteria=CRITERIA,
)
FROZEN_DIGEST = "a1a5d0cb1ff6c65f"  # the registry's digest when it was frozen
AMENDMENTS: tuple[Amendment, ...] = ()

PAPER_NOTE = """The `paper` preset draws a larger synthetic world (32 px, 1,000 images per source class, 200 per
target class) and pre-trains the wider `cresnet-m` for 16 epochs, with five seeds: the premise
check at a scale where the source models are much better trained, on the registry's seeds. It is
meant for a GPU. With
`-p data_dir` the same check runs on an ImageNet subset and real targets; give a torchvision
architecture (`-p arch resnet18`) for images of 64 px and more."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source task every model is pre-trained on",
    objects="a target of the premise check (transfer vs scratch)",
    flowers="a target of the premise check",
    pets="a target of the premise check",
)


PRESETS: dict[str, dict] = {
    "smoke": {**SMOKE_WORLD, "seeds": [0, 1]},
    "default": {},
    "paper": {
        "image_size": 32,
        "source_per_class": 1000,
        "target_per_class": 200,
        "arch": "cresnet-m",
        "source_epochs": 16,
    },
}


@dataclasses.dataclass(frozen=True)
class Results:
    """The tour's measurements: per-model target accuracies and the source models' own."""

    config: Config
    accuracy: pd.DataFrame  # target, condition, seed, accuracy, mean_class_accuracy
    source: pd.DataFrame  # superclass, accuracy of the source models on the source test set (mean over seeds)


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch from the store) the source models, their transfers and the scratch baselines."""
    world = config.world()
    sources = {seed: config.source_job(seed) for seed in config.seeds}
    jobs = {}
    for target in config.targets:
        for seed in config.seeds:
            for condition, mode in MODES.items():
                jobs[(target, condition, seed)] = config.transfer_job(sources[seed], target, mode, seed)
            jobs[(target, "scratch", seed)] = config.scratch_job(target, seed)
    entries = run_jobs([*sources.values(), *jobs.values()], progress=progress)
    source_entries, entries = entries[: len(sources)], entries[len(sources) :]
    rows = []
    for (target, condition, seed), entry in zip(jobs, entries):
        test = world.target(target, "test")
        logits = predict(load_model(entry), test)
        rows.append(
            {
                "target": target,
                "condition": condition,
                "seed": seed,
                "accuracy": accuracy(logits, test.y),
                "mean_class_accuracy": mean_per_class_accuracy(logits, test.y),
            }
        )
    source = pd.concat([_source_accuracy(load_model(e), world) for e in source_entries], axis=1)
    return Results(config, pd.DataFrame(rows), source.mean(axis=1).rename("accuracy").to_frame())


def _source_accuracy(model, world: World) -> pd.DataFrame:
    test = world.source("test")
    correct = (predict(model, test).argmax(1) == test.y).numpy()
    sup = np.asarray(test.superclasses)[test.y.numpy()]
    table = (
        pd.DataFrame({"superclass": sup, "correct": correct}).groupby("superclass", sort=False).correct.mean()
    )
    return pd.concat([table, pd.Series({"all classes": correct.mean()})]).rename("accuracy").to_frame()


def gaps(results: Results) -> pd.DataFrame:
    """Transfer minus scratch accuracy per target, condition and seed (the premise check)."""
    a = results.accuracy.pivot_table(index=["target", "seed"], columns="condition", values="accuracy")
    out = pd.concat({c: a[c] - a["scratch"] for c in MODES}, names=["condition"]).rename("gap")
    return out.reset_index()


def claims(results: Results) -> ClaimsTable:
    """Premise: on each target, transfer from a source model beats training from scratch (as
    registered, :data:`REGISTRY`)."""
    g = gaps(results)
    rows = []
    for target in results.config.targets:
        for condition in MODES:
            d = g[(g.target == target) & (g.condition == condition)].gap
            rows.append(
                Claim(
                    f"{target}-{MODES[condition]}",
                    f"On target '{target}', {condition} transfer from a source model beats training from scratch",
                    SOURCE,
                    (Estimate.t(CRITERIA["beats-scratch"], d, REPLICATE),),
                )
            )
    return ClaimsTable("world", rows, registration=stamp(results.config, REGISTRY))


# ---------------------------------------------------------------------------------------------
# figures


def _examples(data: TensorData, label: int, k: int) -> torch.Tensor:
    return data.x[(data.y == label).nonzero().flatten()[:k]]


SYNTHETIC_ONLY = "it is the synthetic world's own, and this run reads real data (`data_dir`)."


def figure_source(world: World | RealWorld, per_class: int = 1, max_classes: int = 48):
    """One image per source class (or ``per_class``; the first ``max_classes`` classes), titled by class."""
    test = world.source("test")
    shown = range(min(test.num_classes, max_classes))
    images = torch.cat([_examples(test, c, per_class) for c in shown])
    titles = [test.classes[c] for c in shown for _ in range(per_class)]
    return plots.image_grid(images, titles, ncols=12, title="The source task: one image per class")


def source_superclasses(world: World | RealWorld) -> pd.DataFrame:
    """The source's superclasses: how many classes each has, and their names."""
    test = world.source("test")
    table = pd.DataFrame({"name": test.classes, "superclass": test.superclasses or test.classes})
    return (
        table.groupby("superclass", sort=False)
        .name.agg(["count", lambda n: ", ".join(n)])
        .set_axis(["classes", "names"], axis=1)
    )


def figure_targets(world: World, targets=TARGETS, per_class: int = 1, max_classes: int = 12):
    """Example images of each target, a row per target (the first ``max_classes`` classes)."""
    images, titles = [], []
    for t in targets:
        d = world.target(t, "test")
        for c in range(min(d.num_classes, max_classes)):
            images.append(_examples(d, c, per_class))
            titles += [f"{t}: {d.classes[c]}"] * per_class
    return plots.image_grid(
        torch.cat(images),
        titles,
        ncols=min(max_classes, 12),
        title="Target tasks: same shapes, new looks, far fewer images",
    )


def figure_overlays(world: World, target: str = "objects", n: int = 6):
    """Target images clean and under each overlay, next to the source's pattern classes."""
    if isinstance(world, RealWorld):
        return plots.left_out(
            f"the overlays next to the source classes drawn by the same code: {SYNTHETIC_ONLY}"
        )
    test = world.target(target, "test")
    d = test.subset(torch.arange(n) * 97 % len(test))
    overlays = {
        "clean": None,
        "yellow square": Square(),
        "fence": Fence(),
        "tennis ball": Ball(),
        "hat": Hat(),
    }
    images, titles = [], []
    for name, ov in overlays.items():
        x = d.x if ov is None else apply_overlay(d, ov, seed=1).x
        images.append(x)
        titles += [name] + [""] * (n - 1)
    src = world.source("test")
    for name in ("fence", "tennis ball", "hat"):
        images.append(_examples(src, src.classes.index(name), n))
        titles += [f"source class '{name}'"] + [""] * (n - 1)
    return plots.image_grid(
        torch.cat(images),
        titles,
        ncols=n,
        title="Overlays (rows 1–5) and the source classes that are those patterns",
    )


def figure_groups(data: TensorData, columns: tuple[str, str], groups, n: int = 8, title: str = ""):
    """``n`` images of each group (a pair of attribute values), a row per group."""
    images, titles = [], []
    a, b = columns
    for ga, gb in groups:
        mask = torch.tensor(((data.attrs[a] == ga) & (data.attrs[b] == gb)).to_numpy())
        images.append(data.x[mask.nonzero().flatten()[:n]])
        titles += [f"{ga}, {gb}"] + [""] * (n - 1)
    return plots.image_grid(torch.cat(images), titles, ncols=n, title=title)


def figure_faces(world: World, n: int = 8):
    if isinstance(world, RealWorld):
        return plots.left_out(f"the synthetic faces: {SYNTHETIC_ONLY}")
    data = world.faces((n, n, n, n), split="test")
    return figure_groups(
        data,
        ("age", "gender"),
        FACE_GROUPS,
        n,
        "Faces: gender in hair length, beard and lips; age in grey hair and lines",
    )


def figure_scenes(world: World, n: int = 8):
    if isinstance(world, RealWorld):
        return plots.left_out(f"the synthetic scenes: {SYNTHETIC_ONLY}")
    data = world.scenes((n, n, n, n), split="test")
    data.attrs["person"] = np.where(data.attrs.person, "person", "no person")
    return figure_groups(
        data,
        ("animal", "person"),
        SCENE_GROUPS,
        n,
        "Scenes: a cat-like or dog-like animal, with a person-like figure or not",
    )


def figure_class_sizes(world: World, targets=TARGETS):
    """Training images per class of the source and each target (flowers: imbalanced)."""
    parts = ["source", *targets]
    fig, axes = plots.panels(len(parts), width=2.6, height=2.4)
    for ax, part in zip(axes, parts):
        counts = world.get(part, "train").class_counts()
        ax.bar(np.arange(len(counts)), np.sort(counts.to_numpy())[::-1], color=plots.color(part), width=1.0)
        ax.set(title=part, xlabel="class (sorted)", ylabel="training images" if part == "source" else None)
    return fig


def figure_premise(results: Results):
    """Target accuracy of fixed-feature, full-network and scratch models (mean ± std over seeds)."""
    a = results.accuracy
    fig, ax = plots.panels(1, width=6.4, height=3.2)
    ax = ax[0]
    targets = list(results.config.targets)
    by_condition = {cond: a[a.condition == cond].groupby("target").accuracy for cond in CONDITIONS}
    plots.grouped_bars(ax, by_condition, targets, span=0.8)
    ax.set(ylabel="target test accuracy", ylim=(0, 1))
    ax.set_title("Transfer vs training from scratch", pad=24)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(CONDITIONS))
    return fig


def figure_leaks(world: World, k: int = 6):
    """Target test images (top) and their near-copies planted in the source training set (bottom)."""
    if isinstance(world, RealWorld):
        return plots.left_out(f"the planted leaks: {SYNTHETIC_ONLY}")
    leaks = world.influence_truth("objects").query("relation == 'leaks'").head(k)
    if leaks.empty:
        return None
    test, src = world.target("objects", "test"), world.source("train")
    images = torch.cat(
        [
            test.x[torch.tensor(leaks.target_index.to_numpy())],
            src.x[torch.tensor(leaks.source_index.to_numpy())],
        ]
    )
    titles = [f"test: {c}" for c in leaks.target_class] + [f"source: {c}" for c in leaks.source_class]
    return plots.image_grid(
        images,
        titles,
        ncols=len(leaks),
        title="Leakage: target test images and their near-copies in the source",
    )


def truth_counts(world: World) -> pd.DataFrame:
    """How many planted relations of each kind each target has."""
    if isinstance(world, RealWorld):
        return plots.left_out(f"the planted ground truth: {SYNTHETIC_ONLY}")
    frames = {t: world.influence_truth(t).relation.value_counts() for t in TARGETS}
    return pd.DataFrame(frames).fillna(0).astype(int).rename_axis("relation")


def summary_text(results: Results) -> str:
    """A paragraph (Markdown) stating what this run found, written from the numbers."""
    a = results.accuracy.groupby(["target", "condition"]).accuracy.mean().unstack()
    src = results.source.loc["all classes", "accuracy"]
    parts = [f"The source models reached **{src:.1%}** accuracy on the source test set (mean over seeds)."]
    for target in results.config.targets:
        acc = a.loc[target]
        winners = [c for c in MODES if acc[c] > acc["scratch"]]
        verdict = {
            2: "both transfers beat scratch",
            1: f"only {winners[0] if winners else ''} transfer beats scratch",
            0: "**neither transfer beats scratch**",
        }[len(winners)]
        parts.append(
            f"On *{target}*: fixed-feature {acc['fixed-feature']:.1%}, full-network "
            f"{acc['full-network']:.1%}, scratch {acc['scratch']:.1%}: {verdict}."
        )
    return " ".join(parts)
