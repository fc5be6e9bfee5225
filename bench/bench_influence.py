"""Influence benchmark: models per hour of the influence chapter's training path, against a plain loop.

The chapter trains many source models, each on a random half of the source classes, and
transfers each to the target (fixed-feature). Measured side by side on the same runs:

1. plain loop: one model at a time, eager float32, then its transfer;
2. the chapter's path: ``run_jobs`` (grouped source training, channels-last / bf16 where the
   hardware has it, fixed-feature transfer on features computed once), into a fresh store.

Usage: python bench/bench_influence.py [--models 8]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from transferlab import source_influence as si
from transferlab.models import build_model
from transferlab.params import resolve
from transferlab.run import run_jobs
from transferlab.store import Store
from transferlab.train import PLAIN, Speed, fit, pick_device, transfer
from transferlab.utils import timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    args = parser.parse_args()
    config = si.Config(**{**resolve(si.Config, si.PRESETS, "default"), "models": args.models, "holdout_models": 0})
    plan = si.plan(config)
    jobs = plan.runs
    target = config.world().target(config.target, "train")
    datas = [j.source.data.load() for j in jobs]  # built before timing: both paths get them ready-made
    print(f"{len(jobs)} runs: {config.arch} at {config.image_size} px, {len(datas[0])} source images, "
          f"{config.source_epochs} epochs, fixed-feature transfer to {config.target}; {pick_device()}, "
          f"{torch.get_num_threads()} threads")

    plain = Speed(pick_device(), **PLAIN)

    def plain_loop():
        for job, data in zip(jobs, datas):
            torch.manual_seed(job.source.seed)
            model = build_model(job.source.arch, data.num_classes)
            fit(model, data, job.source.recipe, seed=job.source.seed, speed=plain)
            transfer(model, target, job.recipe, mode="fixed", speed=plain)

    _, t_plain = timed(plain_loop)
    with tempfile.TemporaryDirectory() as tmp:
        _, t_path = timed(lambda: run_jobs(jobs, Store(tmp), progress=False))

    rows = [("plain loop", t_plain), ("chapter path (grouped, run_jobs)", t_path)]
    print(f"\n   {'path':34s} {'s/model':>8s} {'models/hour':>12s} {'× plain':>8s}")
    for name, t in rows:
        print(f"   {name:34s} {t / len(jobs):8.2f} {3600 * len(jobs) / t:12.0f} {t_plain / t:8.2f}")


if __name__ == "__main__":
    main()
