"""The source-influence chapter: class subsets, plans, removal sets, scoring against the truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from transferlab.chapters import influences as si
from transferlab.chapters.base import class_subset_ref, world_ref
from transferlab.params import ParameterError, resolve
from transferlab.world import World


def smoke(**changes):
    return si.Config(**{**resolve(si.Config, si.PRESETS, "smoke"), **changes})


def test_subset_source_keeps_and_relabels_the_chosen_classes():
    config = smoke()
    world = World(config.world_config(), cache=None)
    full = world.source("train")
    keep = (5, 1, 9)
    sub = class_subset_ref(world_ref(world, "source"), keep).load()
    assert sub.classes == tuple(full.classes[i] for i in sorted(keep))
    assert set(sub.y.tolist()) == {0, 1, 2}
    for new, old in enumerate(sorted(keep)):
        assert torch.equal(sub.x[sub.y == new], full.x[full.y == old])


def test_plan_has_one_run_per_mask_and_distinct_jobs():
    config = smoke()
    p = si.plan(config)
    n = config.n_classes()
    assert p.masks.shape == (config.models, n) and p.holdout_masks.shape == (config.holdout_models, n)
    assert (p.masks.sum(1) == round(config.alpha * n)).all()
    keeps = [dict(j.source.data.kwargs)["keep"] for j in p.runs]
    assert [tuple(np.flatnonzero(m)) for m in p.masks] == keeps
    specs = {str(j.spec()) for j in p.runs + p.holdout}
    assert len(specs) == len(p.runs) + len(p.holdout)


def test_the_scheduler_parameter_picks_the_executor():
    assert si.executor_of(smoke()) == ("local", None)
    assert si.executor_of(smoke(scheduler="local")) == ("dask", None)
    assert si.executor_of(smoke(scheduler="tcp://10.0.0.5:8786")) == ("dask", "tcp://10.0.0.5:8786")
    with pytest.raises(ParameterError, match="Dask scheduler address"):
        smoke(scheduler="10.0.0.5")


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="removals"):
        smoke(removals=[40])
    with pytest.raises(ParameterError, match="not allowed"):
        smoke(output="loss")


def _results(infl_by_class: np.ndarray, config=None, gradient_scores=None, full_correct=None):
    """Results whose runs follow a linear model with the given per-class influence."""
    config = config or smoke()
    n, t = infl_by_class.shape
    masks = np.random.default_rng(0).random((400, n)) < 0.5
    y = masks @ infl_by_class + 0.5
    world = World(config.world_config(), cache=None)
    test = world.target(config.target, "test")
    labels = test.y.numpy()[:t]
    source_labels = world.source("train").y.numpy()
    grads = gradient_scores if gradient_scores is not None else (np.zeros((len(source_labels), t)),)
    full = {k: np.ones((len(grads), t)) for k in si.OUTPUTS}
    if full_correct is not None:
        full["correct"] = np.asarray(full_correct, dtype=float)[None].repeat(len(grads), 0)
    return si.Results(
        config,
        tuple(world.source_classes().name),
        tuple(test.classes),
        labels,
        masks,
        {k: y for k in si.OUTPUTS},
        masks[:0],
        {k: y[:0] for k in si.OUTPUTS},
        source_labels,
        tuple(grads),
        full,
        pd.DataFrame(),
        pd.DataFrame(),
    )


def test_removal_sets_follow_the_estimated_influence():
    config = smoke()
    n = config.n_classes()
    infl = np.zeros((n, 6))
    infl[3], infl[7], infl[11] = 0.2, 0.1, -0.3
    sets = si.removal_sets(_results(infl, config), 2)
    assert sets["most positive"] == [3, 7] and sets["most negative"][0] == 11
    assert len(sets["random"]) == 2 and len(set(sets["random"])) == 2
    assert set(sets["hand-picked"]) <= set(si.related_classes(_results(infl, config)))


def test_truth_scores_find_planted_helpers():
    config = smoke()
    world = World(config.world_config(), cache=None)
    truth = world.influence_truth(config.target)
    test = world.target(config.target, "test")
    t = len(test)
    infl = np.zeros((config.n_classes(), t))
    for _, r in truth[truth.relation == "helps"].iterrows():  # each class helps its target class's examples
        infl[int(r.source_label), test.y.numpy() == r.target_label] = 0.1
    scores = si.truth_scores(_results(infl, config)).set_index(["estimator", "relation"])
    assert scores.loc[("difference of means", "helps"), "precision"] == 1.0
    assert scores.loc[("difference of means", "helps"), "chance"] < 0.5


def test_leak_recovery_ranks_each_planted_copy():
    config = smoke()
    world = World(config.world_config(), cache=None)
    truth = world.influence_truth(config.target)
    leaks = truth[truth.relation == "leaks"]
    t = len(world.target(config.target, "test"))
    n = len(world.source("train"))
    rng = np.random.default_rng(0)
    good, bad = rng.normal(0, 1, (n, t)), rng.normal(0, 1, (n, t))
    for _, r in leaks.iterrows():
        good[int(r.source_index), int(r.target_index)] = 10.0  # the copy is the top influencer
        bad[int(r.source_index), int(r.target_index)] = -10.0  # the copy is the last
    table = si.leak_recovery(_results(np.zeros((config.n_classes(), t)), config, gradient_scores=(good, bad)))
    assert list(table.models) == [1, 2] and (table.leaks == len(leaks)).all()
    first = table.iloc[0]
    assert (
        first["recall@1"] == 1.0 and first["median rank"] == 1 and first["chance@1"] == pytest.approx(1 / n)
    )
    assert table.iloc[1]["recall@1"] < 1.0  # averaged with a model that ranks every copy last


def test_failures_point_at_their_most_negative_class_and_debugging_counts_fixes():
    config = smoke()
    n = config.n_classes()
    infl = np.zeros((n, 6))
    infl[4, :3], infl[9, 3:] = -0.3, -0.2
    correct = np.array([0, 1, 0, 0, 1, 0])
    r = _results(infl, config, full_correct=correct)
    fails = si.failures(r)
    assert fails.example.tolist() == [0, 2, 3, 5]
    assert fails.worst.tolist() == [4, 4, 9, 9]
    debug = pd.DataFrame(
        [
            {"removal": "most negative", "removed": "a", "failures": 4, "fixed": 3, "accuracy": 0.5},
            {"removal": "random", "removed": "b", "failures": 4, "fixed": 1, "accuracy": 0.5},
        ]
    )
    summary = si.debugging_summary(dataclasses.replace(r, debugging=debug))
    assert (
        summary.loc["most negative", "share fixed"] == 0.75 and summary.loc["random", "share fixed"] == 0.25
    )


def test_the_live_explorer_shows_nothing_in_an_unattended_run(monkeypatch):
    from transferlab.params import UNATTENDED

    monkeypatch.setenv(UNATTENDED, "1")
    assert si.explorer(None) is None  # returns before it reads anything: no widget, no comm
