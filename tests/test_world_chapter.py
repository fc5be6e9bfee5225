"""The tour chapter's premise check: the claim logic on given numbers, and the shared jobs."""

from __future__ import annotations

import pandas as pd
import pytest

from transferlab.chapters import world as tour
from transferlab.chapters.params import ParameterError


def _results(gap_fixed: dict, gap_full: dict, seeds=(0, 1, 2)) -> tour.Results:
    rows = []
    for target in gap_fixed:
        for s in seeds:
            scratch = 0.5 + 0.01 * s
            rows += [
                {"target": target, "condition": "scratch", "seed": s, "accuracy": scratch},
                {
                    "target": target,
                    "condition": "fixed-feature",
                    "seed": s,
                    "accuracy": scratch + gap_fixed[target][s],
                },
                {
                    "target": target,
                    "condition": "full-network",
                    "seed": s,
                    "accuracy": scratch + gap_full[target][s],
                },
            ]
    acc = pd.DataFrame(rows).assign(mean_class_accuracy=lambda d: d.accuracy)
    source = pd.DataFrame({"accuracy": [0.9]}, index=["all classes"])
    return tour.Results(tour.Config(targets=tuple(gap_fixed), seeds=tuple(seeds)), acc, source)


def test_premise_claims_hold_and_fail_with_the_numbers():
    r = _results(
        {"objects": [0.2, 0.1, 0.15], "pets": [-0.05, -0.02, 0.01]},
        {"objects": [0.3, 0.2, 0.25], "pets": [0.05, 0.04, 0.06]},
    )
    frame = tour.claims(r).frame().set_index("key")
    verdict = frame.verdict
    assert verdict["objects-fixed"] == verdict["objects-full"] == verdict["pets-full"] == "holds"
    assert verdict["pets-fixed"] == "undecided"  # mean below 0, but three seeds cannot tell
    assert frame.loc["objects-fixed", "measured [95% interval]"].startswith("0.15 [")
    text = tour.summary_text(r)
    assert "only full-network transfer beats scratch" in text and "both transfers beat scratch" in text


def test_the_source_job_is_the_same_for_every_chapter_config():
    a, b = tour.Config(), tour.Config(seeds=(4,), targets=("pets",))
    assert a.source_job().spec() == b.source_job().spec()
    assert a.source_job().spec() != tour.Config(world_seed=1).source_job().spec()
    assert a.transfer_job(a.source_job(), "pets", "full").recipe.epochs == a.full_epochs


def test_each_seed_transfers_its_own_source_model(monkeypatch):
    class Planned(Exception):
        pass

    def capture(jobs, progress=True):
        raise Planned(jobs)

    monkeypatch.setattr(tour, "run_jobs", capture)
    config = tour.Config(seeds=(3, 4), targets=("pets",))
    with pytest.raises(Planned) as planned:
        tour.run(config, progress=False)
    (jobs,) = planned.value.args
    sources = [config.source_job(3).spec(), config.source_job(4).spec()]
    assert [j.spec() for j in jobs[:2]] == sources and sources[0] != sources[1]
    transfers = [j for j in jobs[2:] if getattr(j, "source", None) is not None]
    assert sorted((j.seed, j.source.spec() == sources[j.seed - 3]) for j in transfers) == [
        (3, True),
        (3, True),
        (4, True),
        (4, True),
    ]


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="targets"):
        tour.Config(targets=("imagenet",))
    with pytest.raises(ParameterError, match="seeds"):
        tour.Config(seeds=(1, 1))
