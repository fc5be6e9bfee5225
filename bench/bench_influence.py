"""Influence benchmark: the influence chapter's three costly steps, each against a naive way.

1. Training: many source models, each on a random half of the source classes, each transferred
   to the target (fixed-feature). Plain loop (one model at a time, eager float32, then its
   transfer) vs the chapter's path: ``run_jobs`` (grouped source training, channels-last / bf16
   where the hardware has it, fixed-feature transfer on features computed once), into a fresh store.
2. The LASSO datamodel with cross-validation at the default's shape (runs × source classes, 500
   target examples): scikit-learn's coordinate descent, one target after the other, vs
   :class:`transferlab.methods.subset_influence.Lasso`, every target in one FISTA iteration.
3. The gradient-based estimator's per-example gradients: one example at a time with autograd vs
   batched with ``torch.func.vmap``.

Usage: python bench/bench_influence.py [--models 8]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from transferlab.chapters import influences as si
from transferlab.chapters.influences import jobs as si_jobs
from transferlab.chapters.params import resolve
from transferlab.methods import gradient_influence as trak
from transferlab.methods import subset_influence as inf
from transferlab.models import build_model
from transferlab.run import run_jobs
from transferlab.store import Store
from transferlab.train import PLAIN, Speed, fit, pick_device, transfer
from transferlab.utils import timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    args = parser.parse_args()
    config = si.Config(
        **{**resolve(si.Config, si.PRESETS, "default"), "models": args.models, "holdout_models": 0}
    )
    plan = si_jobs.plan(config)
    jobs = plan.runs
    target = config.world().get(config.target_part(), "train")
    datas = [j.source.data.load() for j in jobs]  # built before timing: both paths get them ready-made
    print(
        f"{len(jobs)} runs: {config.arch} at {config.image_size} px, {len(datas[0])} source images, "
        f"{config.source_epochs} epochs, fixed-feature transfer to {config.target_part()}; {pick_device()}, "
        f"{torch.get_num_threads()} threads"
    )

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
    print(f"\n1. training\n   {'path':34s} {'s/model':>8s} {'models/hour':>12s} {'× plain':>8s}")
    for name, t in rows:
        print(f"   {name:34s} {t / len(jobs):8.2f} {3600 * len(jobs) / t:12.0f} {t_plain / t:8.2f}")
    bench_lasso(config)
    bench_gradients(config, target)


def bench_lasso(config: si.Config) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    n, t = config.n_classes(), 500
    masks = inf.random_masks(config.models if config.models >= 64 else 128, n, config.alpha, seed=0)
    rng = np.random.default_rng(0)
    outputs = masks @ rng.normal(0, 0.02, (n, t)) + rng.normal(0, 0.1, (len(masks), t))

    alphas = np.logspace(-5, -1, 9)

    def cv(make):
        for a in alphas:
            make(a).fit(masks.astype(float), outputs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, t_sk = timed(lambda: cv(lambda a: Lasso(alpha=a, max_iter=20_000)))
    _, t_ours = timed(lambda: cv(lambda a: inf.Lasso(a)))
    print(
        f"\n2. LASSO on {len(masks)} runs × {n} classes × {t} targets, {len(alphas)} penalties\n"
        f"   scikit-learn, target by target {t_sk:7.2f} s\n   all targets at once (FISTA)   {t_ours:7.2f} s"
        f"   ({t_sk / t_ours:.1f}×)"
    )


def bench_gradients(config: si.Config, target) -> None:
    model = build_model(config.arch, config.n_classes()).eval()
    data = target.subset(torch.arange(min(256, len(target))))
    proj = trak.projection(sum(p.numel() for p in model.blocks.parameters()), config.gradient_dim, seed=0)

    def one_at_a_time():
        for i in range(len(data)):
            model.zero_grad()
            x, y = next(data.subset(torch.tensor([i])).batches(1, shuffle=False))
            trak._log_odds(model(x), y).sum().backward()
            torch.cat([p.grad.flatten() for p in model.blocks.parameters()]) @ proj

    _, t_loop = timed(one_at_a_time)
    _, t_vmap = timed(lambda: trak.features(model, model.head, data, proj))
    print(
        f"\n3. per-example gradients of {len(data)} images ({config.arch}, {config.gradient_dim} projections)\n"
        f"   autograd, one at a time {len(data) / t_loop:8.0f} images/s\n"
        f"   vmap, batched           {len(data) / t_vmap:8.0f} images/s   ({t_loop / t_vmap:.1f}×)"
    )


if __name__ == "__main__":
    main()
