"""Chapter 6's run: train (or fetch) the plan's models, collect each model's per-example outputs,
then train and measure the counterfactual and debugging sources they choose."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ...methods import gradient_influence as gradient
from ...run import load_model, run_jobs
from ...utils import progress as progress_bar
from ...world import TensorData
from .config import FULL, HAND_PICKED, OUTPUTS, Config
from .jobs import full_seeds, gradient_seeds, only_job, plan, without_job
from .results import Results, debug_choice, example_outputs, failures, related_classes, removal_sets


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
    seeds = full_seeds(config)
    grad_jobs = [p.full[seeds.index(s)] for s in gradient_seeds(config)]
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
                jobs.append(without_job(c, removed, seed))
            for fewer in (f for f in c.counterfactual_models if f < m and seed in c.extras()):
                for removal, removed in removal_sets(results, k, seed, fewer).items():
                    if removal != "random":
                        keys.append((removal, k, seed, tuple(removed), fewer))
                        jobs.append(without_job(c, removed, seed))
        if related and seed in c.extras():
            removed = tuple(sorted(set(range(len(results.classes))) - set(related)))
            keys.append((HAND_PICKED, len(removed), seed, removed, m))
            jobs.append(only_job(c, related, seed))
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


def debugging_jobs(results: Results) -> tuple[list[tuple], list[Any]]:
    """Debugging failures (thesis § 8.3): each chosen class removed from the source at every extra
    seed (the first ``extra_seeds`` counterfactual seeds), and its random control class removed the same way."""
    c = results.config
    keys, jobs = [], []
    for cls, ctl in zip(*debug_choice(results)):
        for seed in c.extras():
            keys += [(seed, "most negative", cls, cls), (seed, "random", ctl, cls)]
            jobs += [without_job(c, [cls], seed), without_job(c, [ctl], seed)]
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
