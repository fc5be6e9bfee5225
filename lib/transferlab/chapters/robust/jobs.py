"""Chapter 9's jobs: standard and robust sources per ε, seed and width, their robustness, and the
transfers of the selection, evaluation, granularity and texture stages."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ...run import Job, SourceJob, TransferJob, load_model, made
from ...store import declare_kind
from ...train import Adversary, robust_accuracy
from ...world import DataRef
from ..base import world_ref
from .config import MODES, Config


def source_job(config: Config, arch: str, eps: float, seed: int) -> SourceJob:
    """The source of ``arch`` trained at radius ``eps`` (0: standard) with ``seed``."""
    base = config.source_job(seed)
    return dataclasses.replace(base, arch=arch, recipe=base.recipe.replace(adversary=config.adversary(eps)))


declare_kind("robust-accuracy", info=("robust_accuracy",))


@dataclasses.dataclass(frozen=True)
class RobustnessJob(Job):
    """A source's accuracy under a PGD attack by ``adversary`` on the first ``limit`` images of
    ``data`` (from a seeded random start): measured once, by the engine's workers, and kept in the
    store (one entry per source and radius)."""

    source: SourceJob
    data: DataRef
    adversary: Adversary
    limit: int = 600  # the attack's cost is per image

    def spec(self) -> dict[str, Any]:
        return {
            "job": "robust-accuracy",
            "source": self.source.spec(),
            "data": self.data.spec(),
            "adversary": dataclasses.asdict(self.adversary),
            "limit": self.limit,
            "attack_seed": 0,
        }

    def requires(self) -> tuple[Job, ...]:
        return (self.source,)

    def make(self, store, speed) -> dict[str, Any]:
        model = load_model(made(self.source, store, speed))
        test = self.data.load()
        test = test.subset(np.arange(min(len(test), self.limit)))
        return {"info": {"robust_accuracy": robust_accuracy(model, test, self.adversary, speed=speed)}}


def attacked_radii(config: Config, stage: str) -> tuple[float, ...]:
    """The radii at which a stage's sources are attacked: every ε > 0 of the grid on the selection
    seeds (each source's robustness curve), ``width_eps`` alone on the evaluation seeds (the radius
    the claims and the summary read; a third of the attacks)."""
    return tuple(e for e in config.epsilons if e > 0) if stage == "selection" else (config.width_eps,)


def robustness_jobs(
    config: Config, source: SourceJob, radii: tuple[float, ...]
) -> dict[float, RobustnessJob]:
    """The robust accuracy of ``source`` at each radius of ``radii`` (``test_steps`` steps), by ε."""
    test = world_ref(config.world(cache=None), "source", "test")
    return {eps: RobustnessJob(source, test, config.adversary(eps, config.test_steps)) for eps in radii}


def transfer_job(config: Config, source: SourceJob, target: str, mode: str) -> TransferJob:
    """``source`` transferred to ``target`` in ``mode`` with the source's own seed (paired)."""
    return config.transfer_job(source, target, mode, source.seed)


def selection_jobs(config: Config) -> dict[tuple, TransferJob]:
    """The selection stage: every ε of the grid, every target and mode, on the selection seeds."""
    return {
        (eps, seed, target, mode): transfer_job(
            config, source_job(config, config.arch, eps, seed), target, mode
        )
        for eps in config.epsilons
        for seed in config.selection_seeds
        for target in config.targets
        for mode in MODES
    }


def rescaled_ref(config: Config, target: str, factor: float, split: str = "train") -> DataRef:
    """A job's reference to target ``target`` down-then-up-scaled by ``factor``."""
    return DataRef.of(
        "robust.rescaled", base=world_ref(config.world(cache=None), target, split), factor=factor
    )


def granularity_jobs(config: Config) -> dict[tuple, TransferJob]:
    """Fig. 2.7: every ε's source of the selection seeds, transferred fixed-feature to each target
    down-then-up-scaled by each factor of ``granularities`` (keys: eps, seed, target, factor)."""
    return {
        (eps, seed, target, factor): config.transfer_job(
            source_job(config, config.arch, eps, seed),
            target,
            "fixed",
            seed,
            data=rescaled_ref(config, target, factor),
        )
        for eps in config.epsilons
        for seed in config.selection_seeds
        for target in config.targets
        for factor in config.granularities
    }


def texture_source_job(config: Config, seed: int) -> SourceJob:
    """Fig. 2.8's texture-invariant source: ``arch`` trained as the standard source of ``seed`` but
    on the stylized source task (its test accuracy still on the source test set as drawn)."""
    base = config.source_job(seed)
    return dataclasses.replace(base, data=DataRef.of("robust.stylized", base=base.data, seed=seed))


def texture_jobs(config: Config) -> dict[tuple, TransferJob]:
    """The texture-invariant source of each evaluation seed, transferred fixed-feature to every
    target (keys: seed, target); none when ``texture`` is off."""
    if not config.texture:
        return {}
    return {
        (seed, target): transfer_job(config, texture_source_job(config, seed), target, "fixed")
        for seed in config.seeds
        for target in config.targets
    }


def choose(config: Config, selection: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The best ε > 0 per (target, mode): the highest mean transfer accuracy over the selection seeds."""
    robust = selection[selection.eps > 0]
    means = robust.groupby(["target", "mode", "eps"]).accuracy.mean().reset_index()
    best = means.loc[means.groupby(["target", "mode"]).accuracy.idxmax()]
    return {(r.target, r.mode): float(r.eps) for r in best.itertuples()}


def evaluation_jobs(config: Config, chosen: dict[tuple[str, str], float]) -> dict[tuple, TransferJob]:
    """The evaluation stage on the evaluation seeds: per target and mode the standard source and
    the chosen ε; and every architecture at 0 and ``width_eps``, fixed-feature (keys: arch, eps,
    seed, target, mode)."""
    jobs = {}
    for seed in config.seeds:
        for (target, mode), eps in chosen.items():
            for e in (0.0, eps):
                jobs[(config.arch, e, seed, target, mode)] = transfer_job(
                    config, source_job(config, config.arch, e, seed), target, mode
                )
        for arch in config.archs:
            for e in (0.0, config.width_eps):
                for target in config.targets:
                    jobs[(arch, e, seed, target, "fixed")] = transfer_job(
                        config, source_job(config, arch, e, seed), target, "fixed"
                    )
    return jobs
