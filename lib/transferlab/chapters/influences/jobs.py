"""Chapter 6's jobs: the source models on random class subsets, the full sources, the pilot's
sources without each planted group, and the plan that lists them all."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pandas as pd

from ...methods import subset_influence as inf
from ...run import SourceJob
from ...world import (
    PLANTED_EXPECTED,
    TensorData,
    World,
    planted_catalogue,
)
from ..base import class_subset_ref, world_ref
from .config import SCRATCH, Config


def _source_job(config: Config, keep, seed: int) -> SourceJob:
    world = config.world(cache=None)
    ref = class_subset_ref(world_ref(world, config.source_part()), keep)
    return SourceJob(config.arch, ref, config.source_recipe(), seed=seed)


def only_job(config: Config, keep, seed: int):
    """Transfer of a source model trained on the classes ``keep`` only (seed offset: the
    counterfactuals', so that every source of one seed starts alike)."""
    return config.transfer_job(
        _source_job(config, sorted(int(i) for i in keep), 2_000_000 + seed), config.target_part(), config.mode
    )


def _full_job(config: Config, seed: int):
    """Transfer of a source model trained on every source class (the counterfactuals' and the
    pilot's reference, and the gradient-based estimator's models)."""
    return only_job(config, range(config.n_classes()), seed)


def without_job(config: Config, removed, seed: int):
    return only_job(config, sorted(set(range(config.n_classes())) - {int(i) for i in removed}), seed)


def gradient_seeds(config: Config) -> tuple[int, ...]:
    """Seeds of the gradient-based estimator's full-source models (those of the draw ``runs_seed``)."""
    return tuple(range(10_000 * config.runs_seed, 10_000 * config.runs_seed + config.gradient_models))


def full_seeds(config: Config) -> tuple[int, ...]:
    """Seeds of the full-source models: the gradient-based estimator's, the counterfactuals' and the pilot's."""
    return tuple(
        sorted(set(gradient_seeds(config)) | set(config.counterfactual_seeds) | set(config.pilot_seeds))
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
    truth = truth_of(config)
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
    draw = 100_000 * config.runs_seed  # the draw of the runs: their subsets and training seeds
    masks = inf.random_masks(config.models, n, config.alpha, seed=config.world_seed + draw)
    held = (
        inf.random_masks(config.holdout_models, n, config.alpha, seed=config.world_seed + 10_000 + draw)
        if config.holdout_models
        else np.zeros((0, n), dtype=bool)
    )

    def transfers(ms, offset):
        return [
            config.transfer_job(
                _source_job(config, np.flatnonzero(mk), offset + 100 * draw + i),
                config.target_part(),
                config.mode,
            )
            for i, mk in enumerate(ms)
        ]

    pilot = {
        c.name: [without_job(config, c.removed, s) for s in config.pilot_seeds]
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


@functools.lru_cache(maxsize=8)
def truth_of(config: Config) -> pd.DataFrame | None:
    world = config.world()
    return world.influence_truth(config.target_part()) if isinstance(world, World) else None
