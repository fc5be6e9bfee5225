"""Chapter 9's run: the selection stage chooses ε per target and mode on seeds of its own, then the
evaluation stage transfers the chosen sources; every source's accuracy and robustness."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ...run import SourceJob, TransferJob, load_model, run_jobs
from ...train import accuracy, predict
from .config import Config
from .jobs import (
    attacked_radii,
    choose,
    evaluation_jobs,
    granularity_jobs,
    rescaled_ref,
    robustness_jobs,
    selection_jobs,
    texture_jobs,
)


@dataclasses.dataclass(frozen=True)
class Results:
    """Tidy measurements of both stages."""

    config: Config
    selection: pd.DataFrame  # eps, seed, target, mode, accuracy (selection seeds, arch)
    chosen: pd.DataFrame  # target, mode, eps: the chosen radius of each
    transfers: pd.DataFrame  # arch, eps, seed, target, mode, accuracy (evaluation seeds)
    sources: pd.DataFrame  # arch, eps, seed, stage, accuracy, and robust accuracy at each radius (robust@ε)
    # eps, seed, target, factor, accuracy (fixed-feature, selection seeds; factor 1: as drawn)
    granularity: pd.DataFrame
    texture: pd.DataFrame  # seed, target, accuracy, source (the texture-invariant sources, fixed-feature)


def _source_rows(config: Config, sources: dict[tuple, SourceJob], entries: dict, stage: str) -> list[dict]:
    """Each source (keys: arch, eps, seed): its clean accuracy on the source test set and its robust
    accuracy at the stage's radii (:func:`attacked_radii`)."""
    rows = []
    for (arch, eps, seed), job in sources.items():
        row = {"arch": arch, "eps": eps, "seed": seed, "stage": stage}
        row["accuracy"] = entries[job].info["test_accuracy"]
        for r, measure in robustness_jobs(config, job, attacked_radii(config, stage)).items():
            row[f"robust@{r:g}"] = entries[measure].info["robust_accuracy"]
        rows.append(row)
    return rows


def _made(
    config: Config, transfers: list[TransferJob], sources: dict[tuple, SourceJob], stage: str, progress: bool
) -> dict:
    """Every transfer, every source and each source's robust accuracies at the ``stage``'s radii,
    made (or fetched): job → store entry."""
    radii = attacked_radii(config, stage)
    measures = [m for s in sources.values() for m in robustness_jobs(config, s, radii).values()]
    every = list(dict.fromkeys([*(j.source for j in transfers), *transfers, *measures]))
    return dict(zip(every, run_jobs(every, progress=progress)))


def _scores(
    config: Config, names: tuple[str, ...], jobs: dict, entries: dict, tests: dict | None = None
) -> pd.DataFrame:
    """A row per job: its key's fields (``names``) and its test accuracy, on ``tests[target]`` (by
    default each target's test set as drawn) or, for keys ending in a factor, ``tests[(target, factor)]``."""
    if tests is None:
        world = config.world()
        tests = {t: world.target(t, "test") for t in config.targets}
    rows = []
    for key, job in jobs.items():
        row = dict(zip(names, key))
        test = tests[(row["target"], row["factor"]) if "factor" in row else row["target"]]
        rows.append({**row, "accuracy": accuracy(predict(load_model(entries[job]), test), test.y)})
    return pd.DataFrame(rows)


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch from the store) the selection stage (and the granularity transfers of its
    sources), choose ε, then the evaluation stage; every source's robust accuracy on the way."""
    select, coarse = selection_jobs(config), granularity_jobs(config)
    select_sources = {(config.arch, k[0], k[1]): j.source for k, j in select.items()}
    entries = _made(config, [*select.values(), *coarse.values()], select_sources, "selection", progress)
    selection = _scores(config, ("eps", "seed", "target", "mode"), select, entries)
    chosen = choose(config, selection)
    evaluate = evaluation_jobs(config, chosen)
    evaluate_sources = {k[:3]: j.source for k, j in evaluate.items()}
    texture = texture_jobs(config)
    entries.update(
        _made(config, [*evaluate.values(), *texture.values()], evaluate_sources, "evaluation", progress)
    )
    transfers = _scores(config, ("arch", "eps", "seed", "target", "mode"), evaluate, entries)
    textured = _scores(config, ("seed", "target"), texture, entries)
    if texture:
        textured["source"] = [entries[j.source].info["test_accuracy"] for j in texture.values()]
    rows = _source_rows(config, select_sources, entries, "selection")
    rows += _source_rows(config, evaluate_sources, entries, "evaluation")
    chosen_frame = pd.DataFrame([{"target": t, "mode": m, "eps": e} for (t, m), e in chosen.items()])
    return Results(
        config,
        selection,
        chosen_frame,
        transfers,
        pd.DataFrame(rows),
        _granularity(config, selection, coarse, entries),
        textured,
    )


def _granularity(config: Config, selection: pd.DataFrame, jobs: dict, entries: dict) -> pd.DataFrame:
    """Fixed-feature transfer accuracy of every ε at each granularity (``jobs``: :func:`granularity_jobs`),
    on the rescaled test sets; factor 1 is the selection stage's own (the targets as drawn)."""
    tests = {
        (t, f): rescaled_ref(config, t, f, "test").load()
        for t in config.targets
        for f in config.granularities
    }
    rescaled = _scores(config, ("eps", "seed", "target", "factor"), jobs, entries, tests)
    drawn = selection[selection["mode"] == "fixed"].drop(columns="mode").assign(factor=1.0)
    return pd.concat([drawn, rescaled.reindex(columns=drawn.columns)], ignore_index=True)
