"""Chapter 7's jobs: the foundation model (and its shadow models) and its children with 1-5 frozen blocks."""

from __future__ import annotations

import dataclasses

from ...run import SourceJob, TransferJob
from ..base import class_subset_ref, world_ref
from .config import Config


def foundation_job(config: Config, shadow: int = 0) -> SourceJob:
    """The foundation (candidate 0) or another candidate of the probe: ``arch`` trained on the
    candidate's K source classes."""
    world = config.world(cache=None)
    ref = class_subset_ref(world_ref(world, "source"), config.shadow_classes(shadow))
    return SourceJob(config.arch, ref, config.source_recipe(), seed=config.shadow_seed(shadow))


def child_job(config: Config, foundation: SourceJob, frozen: int, seed: int) -> TransferJob:
    """A child: the foundation fine-tuned on the target with its first ``frozen`` blocks frozen."""
    job = config.transfer_job(foundation, config.target, "full", seed)
    return dataclasses.replace(job, mode="partial", frozen_blocks=frozen)


def plan_jobs(config: Config) -> dict[tuple, object]:
    """Keys: ("foundation", shadow), ("child", shadow, frozen, seed), ("scratch", seed)."""
    jobs: dict[tuple, object] = {}
    for shadow in range(config.shadows):
        f = foundation_job(config, shadow)
        jobs[("foundation", shadow)] = f
        for frozen in config.frozen:
            for seed in config.child_seeds(shadow):
                jobs[("child", shadow, frozen, seed)] = child_job(config, f, frozen, seed)
    for seed in config.seeds:
        jobs[("scratch", seed)] = config.scratch_job(config.target, seed)
    return jobs
