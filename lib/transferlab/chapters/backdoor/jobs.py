"""Chapter 2's jobs: every source (clean and backdoored, per fraction, seed and architecture), transfer
and scratch model, and the regime grid's sources, as one plan."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from ...run import SourceJob, TransferJob
from ...world import (
    RealWorld,
    World,
)
from ..base import world_ref
from .config import Config
from .data import dog_options, source_ref


class TransferKey(NamedTuple):
    """What a transfer of the chapter is: its source (architecture, trigger fraction) and its setting."""

    arch: str
    fraction: float
    target: str
    mode: str
    weight_decay: float
    debiased: bool
    seed: int


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every model of the chapter, by what it is: sources by (arch, fraction, seed), transfers by
    :class:`TransferKey`, scratch models by (target, seed)."""

    sources: dict[tuple[str, float, int], SourceJob]
    transfers: dict[TransferKey, TransferJob]
    scratch: dict[tuple[str, int], SourceJob]
    default_wd: float
    regime: dict[tuple[float, float], SourceJob]  # the regime grid's sources (``arch``, first seed)
    # by (dog scale, fraction); at scale 1 they are the sweep's own


def _source_job(
    config: Config, world: World | RealWorld, arch: str, fraction: float, seed: int, scale: float = 1.0
) -> SourceJob:
    """The source of ``arch`` with the trigger on ``fraction`` of the dogs (0: the clean source every
    chapter shares), its dog superclass at ``scale`` × its size."""
    if fraction == 0 and np.isclose(scale, 1.0):
        return dataclasses.replace(config.source_job(seed), arch=arch)
    return SourceJob(
        arch,
        source_ref(
            config,
            "backdoor.triggered_source",
            world,
            "source",
            fraction,
            **dog_options(config, world, scale),
        ),
        config.source_recipe(),
        seed=seed,
        eval_data=world_ref(world, "source", "test"),
    )


def plan(config: Config) -> Plan:
    """The jobs of every experiment; shared ones (the clean source, scratch models) appear once."""
    world = config.world(cache=None)
    sources: dict[tuple[str, float, int], SourceJob] = {}
    for seed in config.seeds:  # seed s: sources of seed s, transferred with seed s (paired by seed)
        for arch in config.archs:
            fractions = {0.0, config.trigger_fraction} | (
                set(config.trigger_fractions) if arch == config.arch else set()
            )
            for f in sorted(fractions):
                sources[(arch, f, seed)] = _source_job(config, world, arch, f, seed)
    regime = {
        (scale, f): _source_job(config, world, config.arch, f, config.seeds[0], scale)
        for scale in config.regime_scales()
        for f in ((0.0, *config.regime_fractions) if config.regime_fractions else ())  # empty: no grid
    }
    main = config.trigger_fraction
    defaults = {
        m: config.transfer_job(
            sources[(config.arch, 0.0, config.seeds[0])], config.sweep_target, m
        ).recipe.weight_decay
        for m in ("fixed", "full")
    }
    if len(set(defaults.values())) != 1:
        raise ValueError(f"the fixed and full recipes must share a weight decay, got {defaults}")
    transfers: dict[TransferKey, TransferJob] = {}

    def add(arch, f, target, mode, seed, wd=None, debiased=False):
        data = (
            source_ref(config, "backdoor.debiased_target", world, target, config.debias_fraction)
            if debiased
            else None
        )
        job = config.transfer_job(
            sources[(arch, f, seed)],
            target,
            mode,
            seed,
            data=data,
            **({} if wd is None else {"weight_decay": wd}),
        )
        transfers[TransferKey(arch, f, target, mode, job.recipe.weight_decay, debiased, seed)] = job

    for seed in config.seeds:
        for f in (0.0, main):
            for target in config.targets:
                for mode in ("fixed", "full"):
                    add(config.arch, f, target, mode, seed)
                for arch in config.archs[1:]:
                    for mode in ("fixed", "full"):
                        add(arch, f, target, mode, seed)
            for mode in ("fixed", "full"):
                for wd in config.weight_decays:
                    add(config.arch, f, config.sweep_target, mode, seed, wd=wd)
                add(config.arch, f, config.sweep_target, mode, seed, debiased=True)
        for f in config.trigger_fractions:
            for target in config.targets:
                add(config.arch, f, target, "fixed", seed)
    scratch = {(t, s): config.scratch_job(t, s) for t in config.targets for s in config.seeds}
    return Plan(sources, transfers, scratch, defaults["full"], regime)
