"""What the two chapters on natural spurious correlations share (thesis §7.3).

A binary task is learned from a source set drawn by a sampling table: a *non-spurious* table, in
which a feature (a person in the picture; the person's gender) says nothing about the class, and
a *spurious* one, in which it goes with one class (dogs with people; old men and young women).
Each source model is then transferred, fixed-feature and full-network, to target sets in which
the correlation is absent, and every model is scored per (class, feature) group on a balanced
test set. The question: does the model from the spurious source stay more sensitive to the feature
than the model from the non-spurious one, although the target never taught it so?

Two numbers are read from the groups (:func:`gaps`): per class, the accuracy with the feature
minus without (the thesis' figures); and the *shift*, how much more often the model predicts the
favoured class (dog; old) when the feature is present, averaged over the two true classes. The
*excess shift* of the spurious source over the non-spurious one, matched by seed, is the bias
that the source put there (:func:`excess`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..run import SourceJob, TransferJob, load_model, run_jobs
from ..train import predict
from ..world import DataError, DataRef, TensorData, overlap, table_counts
from . import plots
from .base import ModelParams, world_ref
from .claims import Claim, Criterion, Estimate
from .params import ParameterError, distinct, param

# What the smoke and paper presets of chapters 3 and 4 share: a tiny network at 16 px for a few
# epochs; the thesis' ResNet-18 at 224 px with its recipes on the full-size tables, on the
# registry's seeds (a paper preset never has fewer replicates than the default).
SMOKE_SPURIOUS: dict[str, Any] = {
    "image_size": 16,
    "arch": "cresnet-xs",
    "source_epochs": 3,
    "full_epochs": 2,
    "test_per_group": 20,
    "seeds": [0, 1],
}
PAPER_SPURIOUS: dict[str, Any] = {
    "image_size": 224,
    "arch": "resnet18",
    "recipes": "thesis",
    "scale": 1.0,
}

SOURCE_TABLES = ("non-spurious", "spurious")
THRESHOLD = 0.05  # an excess shift counts as bias from this size (5 points more of the favoured class)
# what chapters 3 and 4 measure, as their Protocol sections say it
MEASURED = """**Measured.** The *shift*: how much more often a model predicts the favoured class on test images
with the feature than on the same classes without it; the *excess shift* is the spurious source's
shift minus the non-spurious source's, per seed. Seed s trains both source models of seed s and
transfers them with seed s, so an excess holds the variance of the sources and of the transfers."""
REPLICATE = "seed (both sources and their transfers, paired)"
# the criteria chapters 3 and 4 share (each chapter's CRITERIA holds them)
EXCESS = Criterion(
    "excess-shift",
    "excess shift (spurious − non-spurious source)",
    ">",
    THRESHOLD,
    f"{THRESHOLD * 100:g} points more of the favoured class: the smallest excess read as bias",
    effect=0.05,  # an excess twice the threshold: the smallest a registration plans to detect
)
OWN_SHIFT = Criterion("own-shift", "shift of the spurious source model", ">", 0.0, effect=0.05)
STAGES = ("source", "fixed", "full")
STAGE_NAMES = {"source": "source model", "fixed": "fixed-feature", "full": "full-network"}


@dataclasses.dataclass(frozen=True)
class Study:
    """The part of the world a chapter draws from and the feature it studies."""

    part: str  # world part: "scenes" or "faces"
    tables: Mapping[str, tuple[int, ...]]  # its sampling tables
    groups: tuple[tuple[str, str], ...]  # (class, feature) of each table column
    attribute: str  # the column of ``attrs`` holding the feature
    present: Any  # its value that the spurious table ties to ``favoured``
    names: tuple[str, str]  # what to call the feature present / absent
    favoured: str  # the class the spurious table ties to the feature

    def feature(self, data: TensorData) -> np.ndarray:
        """Per image: is the feature present?"""
        return (data.attrs[self.attribute] == self.present).to_numpy()


@dataclasses.dataclass(frozen=True)
class SpuriousParams(ModelParams):
    """Parameters of a spurious-correlation chapter (the model parameters come first)."""

    source_epochs: int = param(
        15, "epochs of source training (triangular LR, peak at epoch 2)", low=1, high=1000
    )
    scale: float = param(
        0.25,
        "multiplies every count of the thesis' sampling tables (1: the thesis' sizes)",
        low=0.001,
        high=10.0,
    )
    test_per_group: int = param(
        250, "test images per (class, feature) group, drawn from the test split", low=5, high=100_000
    )
    seeds: tuple[int, ...] = param(
        (0, 1, 2), "seeds: each trains its own pair of source models and their transfers", low=0
    )

    STUDY: ClassVar[Study]

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("seeds", self.seeds)
        for table in (*SOURCE_TABLES, *self.target_tables()):
            self.check_table(table, self.scale, "scale")

    def check_table(self, table: str, scale: float, name: str) -> None:
        """Refuse a ``scale`` (parameter ``name``) that leaves a group of ``table`` almost empty."""
        st = self.STUDY
        full = table_counts(table, st.tables, st.groups)
        counts = table_counts(table, st.tables, st.groups, scale)
        if any(f > 0 and c < 2 for f, c in zip(full, counts)):
            raise ParameterError(
                f"'{name}' {scale} leaves the {table!r} table with {counts} images per "
                f"group ({', '.join(' '.join(g) for g in st.groups)}): raise it"
            )

    def target_tables(self) -> tuple[str, ...]:
        """The sampling tables of the targets."""
        raise NotImplementedError

    def target_draws(self) -> list[tuple[str, float]]:
        """Every (table, scale) a target set is drawn with (on real data, none may meet a source)."""
        return [(t, self.scale) for t in self.target_tables()]

    def data(self, table: str, role: str, scale: float | None = None) -> DataRef:
        """The training set drawn by ``table`` for a source or a target model (at ``scale``; by
        default the chapter's)."""
        return world_ref(
            self.world(cache=None),
            self.STUDY.part,
            "train",
            table=table,
            scale=self.scale if scale is None else scale,
            role=role,
        )

    def test_data(self) -> DataRef:
        """The balanced test set: ``test_per_group`` images of every (class, feature) group."""
        return world_ref(
            self.world(cache=None),
            self.STUDY.part,
            "test",
            table=(self.test_per_group,) * len(self.STUDY.groups),
            scale=1.0,
            role="source",
        )


# ---------------------------------------------------------------------------------------------
# jobs


@dataclasses.dataclass(frozen=True)
class Plan:
    """Source models by (table, seed); transfers by (source table, target table, mode, seed)."""

    sources: dict[tuple[str, int], SourceJob]
    transfers: dict[tuple[str, str, str, int], TransferJob]


def plan(config: SpuriousParams) -> Plan:
    """Every model of the chapter: one source model per table and seed, each transferred to every
    target in both modes with the same seed."""
    test = config.test_data()
    sources = {
        (table, seed): SourceJob(
            config.arch, config.data(table, "source"), config.source_recipe(), seed=seed, eval_data=test
        )
        for seed in config.seeds
        for table in SOURCE_TABLES
    }
    transfers = {
        (table, target, mode, seed): TransferJob(
            sources[(table, seed)],
            config.data(target, "target"),
            config.transfer_recipe(mode),
            mode=mode,
            seed=seed,
            eval_data=test,
        )
        for (table, seed) in sources
        for target in config.target_tables()
        for mode in ("fixed", "full")
    }
    return Plan(sources, transfers)


# ---------------------------------------------------------------------------------------------
# run and measure


@dataclasses.dataclass(frozen=True)
class Results:
    """Per model and (class, feature) group of the test set: accuracy, count and how often the
    favoured class is predicted."""

    config: SpuriousParams
    groups: pd.DataFrame  # stage, source, target ("" for source models), seed, label, feature, accuracy,
    # favoured_rate, count


def check_disjoint(config: SpuriousParams) -> None:
    """On real data, the target images must not be among the source images (they are drawn from
    opposite ends of each group's pool; a scale too large for the pool makes them meet)."""
    world = config.world()
    st = config.STUDY
    targets = {
        (t if s == config.scale else f"{t} at scale {s:g}"): world.get(
            st.part, "train", table=t, scale=s, role="target"
        )
        for t, s in dict.fromkeys(config.target_draws())
    }
    for table in SOURCE_TABLES:
        src = world.get(st.part, "train", table=table, scale=config.scale, role="source")
        for target, tgt in targets.items():
            shared = overlap(src, tgt)
            if shared:
                raise DataError(
                    f"the {table!r} source and the {target!r} target share {shared} images: the "
                    f"pool is too small for both at scale {config.scale}; lower 'scale'"
                )


def group_scores(config: SpuriousParams, model, test: TensorData) -> pd.DataFrame:
    """Accuracy and rate of the favoured class per (class, feature) group of ``test``."""
    st = config.STUDY
    pred = predict(model, test).argmax(-1).numpy()
    y = test.y.numpy()
    frame = pd.DataFrame(
        {
            "label": np.asarray(test.classes)[y],
            "feature": np.where(st.feature(test), st.names[0], st.names[1]),
            "correct": pred == y,
            "favoured": pred == test.classes.index(st.favoured),
        }
    )
    out = frame.groupby(["label", "feature"]).agg(
        accuracy=("correct", "mean"), favoured_rate=("favoured", "mean"), count=("correct", "size")
    )
    return out.reset_index()


def run(config: SpuriousParams, progress: bool = True) -> Results:
    """Train (or fetch from the store) every model and score it per group on the test set."""
    if config.data_dir:
        check_disjoint(config)
    p = plan(config)
    entries = run_jobs([*p.sources.values(), *p.transfers.values()], progress=progress)
    return score(config, p, dict(zip([*p.sources, *p.transfers], entries)), config.test_data().load())


def score(config: SpuriousParams, p: Plan, entry: dict, test: TensorData) -> Results:
    """Every model of plan ``p`` (its store entries in ``entry``) scored per group on ``test``."""
    rows = []
    for key in [*p.sources, *p.transfers]:
        table, target, stage, seed = (key[0], "", "source", key[1]) if len(key) == 2 else key
        scores = group_scores(config, load_model(entry[key]), test)
        rows.append(scores.assign(stage=stage, source=table, target=target, seed=seed))
    cols = ["stage", "source", "target", "seed", "label", "feature", "accuracy", "favoured_rate", "count"]
    return Results(config, pd.concat(rows, ignore_index=True)[cols])


# ---------------------------------------------------------------------------------------------
# views of the results

KEYS = ["stage", "source", "target", "seed"]


def gaps(results: Results) -> pd.DataFrame:
    """Per model and class: accuracy with the feature minus without (``gap``), and per model the
    ``shift``: how much more often the favoured class is predicted with the feature, averaged over
    the true classes (in [-1, 1]; 0 for a model that ignores the feature)."""
    st = results.config.STUDY
    g = results.groups.pivot_table(
        index=KEYS + ["label"], columns="feature", values=["accuracy", "favoured_rate"]
    )
    per_class = pd.DataFrame(
        {
            "gap": g["accuracy"][st.names[0]] - g["accuracy"][st.names[1]],
            "shift": g["favoured_rate"][st.names[0]] - g["favoured_rate"][st.names[1]],
        }
    )
    return per_class.reset_index()


def shifts(results: Results) -> pd.DataFrame:
    """One row per model: the shift averaged over the classes, and the overall accuracy."""
    per_class = gaps(results).groupby(KEYS)["shift"].mean()
    acc = results.groups.assign(w=lambda d: d.accuracy * d["count"]).groupby(KEYS)
    accuracy = acc.w.sum() / acc["count"].sum()
    return pd.DataFrame({"shift": per_class, "accuracy": accuracy}).reset_index()


def excess(results: Results) -> pd.DataFrame:
    """Shift of the spurious source's model minus the non-spurious one's, matched by stage, target
    and seed: the bias the spurious table put in (one row per stage, target, seed)."""
    s = shifts(results).set_index(["stage", "target", "seed", "source"])["shift"].unstack("source")
    return (s[SOURCE_TABLES[1]] - s[SOURCE_TABLES[0]]).rename("excess").reset_index()


def excess_of(ex: pd.DataFrame, stage: str, target: str | None = None) -> pd.Series:
    """The per-seed excess shifts of one stage (and target)."""
    rows = ex[(ex.stage == stage) & ((ex.target == target) if target is not None else True)]
    return rows.excess


def _in_order(frame: pd.DataFrame, config: SpuriousParams) -> pd.DataFrame:
    """Rows in reading order: source models, then fixed, then full; targets as configured."""
    targets = ["", *config.target_tables()]
    return frame.sort_values(
        ["stage", "target"],
        key=lambda col: col.map((STAGES if col.name == "stage" else targets).index),
        kind="stable",
    ).reset_index(drop=True)


def source_claim(results: Results, claim: str, source: str) -> Claim:
    """Claim (a) of both chapters: the spurious source model itself leans on the feature
    (:data:`OWN_SHIFT`), more than the non-spurious one (:data:`EXCESS`)."""
    st = results.config.STUDY
    s = shifts(results)
    own = s[(s.stage == "source") & (s.source == SOURCE_TABLES[1])].set_index("seed")["shift"]
    return Claim(
        "a",
        claim,
        source,
        (
            Estimate.t(EXCESS, excess_of(excess(results), "source"), REPLICATE, "excess"),
            Estimate.t(OWN_SHIFT, own, "seed (spurious source)", "own shift"),
        ),
        note=f"Shift towards '{st.favoured}' with the feature ({st.names[0]}).",
    )


def stage_table(results: Results) -> pd.DataFrame:
    """Mean and std over seeds of accuracy and shift, per stage, target and source table."""
    s = shifts(results)
    out = s.groupby(["stage", "target", "source"]).agg(
        accuracy=("accuracy", "mean"), shift=("shift", "mean"), shift_std=("shift", "std")
    )
    return _in_order(out.reset_index(), results.config)


# ---------------------------------------------------------------------------------------------
# figures

SOURCE_NAMES = {"non-spurious": "non-spurious source", "spurious": "spurious source"}


def figure_tables(config: SpuriousParams):
    """The sampling tables of the sources and targets as bars: images per (class, feature) group,
    at this run's scale."""
    st = config.STUDY
    tables = (*SOURCE_TABLES, *config.target_tables())
    fig, axes = plots.panels(len(tables), width=2.4, height=2.6, sharey=True)
    for ax, table in zip(axes, tables):
        counts = table_counts(table, st.tables, st.groups, config.scale)
        classes = list(dict.fromkeys(c for c, _ in st.groups))
        for i, ((c, _), n) in enumerate(zip(st.groups, counts)):  # pale: without the feature
            ax.bar(i, n, color=plots.CYCLE[2 + classes.index(c)], alpha=1.0 if i % 2 == 0 else 0.5)
        ax.set_xticks(range(len(counts)), [f"{c}\n{f}" for c, f in st.groups], fontsize=7)
        ax.set(title=table)
    axes[0].set_ylabel("training images")
    return fig


def figure_examples(config: SpuriousParams, per_group: int = 6):
    """Test images of every (class, feature) group, one row per group."""
    st = config.STUDY
    test = config.world().get(st.part, "test", table=(per_group,) * len(st.groups), scale=1.0)
    titles = [f"{c}, {f}" if i % per_group == 0 else "" for c, f in st.groups for i in range(per_group)]
    return plots.image_grid(test.x, titles, ncols=per_group * 2, size=0.9)


def figure_gaps(results: Results, panels: list[tuple[str, str]]):
    """The thesis' figures: per class, accuracy with the feature minus without, for the models of
    the non-spurious and the spurious source (mean ± std over seeds); one panel per (stage, target)."""
    st = results.config.STUDY
    g = gaps(results)
    classes = sorted(g.label.unique(), key=lambda c: c == st.favoured)
    fig, axes = plots.panels(len(panels), width=2.6, height=2.8, sharey=True)
    for ax, (stage, target) in zip(axes, panels):
        d = g[(g.stage == stage) & (g.target == target)]
        by_source = {
            SOURCE_NAMES[table]: d[d.source == table].groupby("label").gap for table in SOURCE_TABLES
        }
        plots.grouped_bars(ax, by_source, classes)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(STAGE_NAMES[stage] + (f"\n{target}" if target else ""), fontsize=9)
    axes[0].set_ylabel(f"accuracy: {st.names[0]} − {st.names[1]}")
    axes[0].legend(fontsize=7, loc="best")
    return fig


def figure_excess(results: Results):
    """The excess shift (spurious − non-spurious source) of every stage and target, over seeds."""
    ex = _in_order(excess(results), results.config)
    keys = list(dict.fromkeys(zip(ex.stage, ex.target)))
    fig, ax = plots.panels(1, width=max(3.0, 0.75 * len(keys) + 1.2), height=2.8)
    ax = ax[0]
    for i, (stage, target) in enumerate(keys):
        v = excess_of(ex, stage, target)
        ax.bar(
            i,
            v.mean(),
            yerr=v.std() if len(v) > 1 else 0,
            capsize=3,
            color=plots.color(STAGE_NAMES[stage] if stage != "source" else "spurious source"),
        )
        ax.plot(np.full(len(v), i), v, "k.", ms=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(keys)), [STAGE_NAMES[s] + (f"\n{t}" if t else "") for s, t in keys], fontsize=7)
    st = results.config.STUDY
    ax.set_ylabel(f"excess shift to '{st.favoured}'")
    return fig
