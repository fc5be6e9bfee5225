"""The backdoor chapter: ASR, triggered data, the plan of jobs, and the claims on given numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from transferlab.chapters import backdoor
from transferlab.chapters.backdoor import analysis as backdoor_analysis
from transferlab.chapters.backdoor import data as backdoor_data
from transferlab.chapters.backdoor import jobs as backdoor_jobs
from transferlab.chapters.backdoor import measure as backdoor_measure
from transferlab.chapters.params import ParameterError
from transferlab.train import attack_success_rate

from .conftest import write_real_data

SMALL = dict(
    size=16,
    superclasses=4,
    fine=2,
    dog_breeds=3,
    cat_breeds=2,
    source_train=10,
    source_test=4,
    target_train=10,
    target_test=10,
    flowers_classes=6,
    flowers_max=8,
    flowers_min=3,
    flowers_test=4,
    leaks=2,
    pets_breeds=2,
)


def test_attack_success_rate_is_conditional_on_correct_clean_predictions():
    labels = torch.tensor([0, 1, 2, 0])
    clean = torch.eye(3)[[0, 1, 0, 0]] * 5  # example 2 is wrong already: it does not count
    trig = torch.eye(3)[[1, 1, 2, 0]] * 5  # the trigger flips example 0 only
    assert attack_success_rate(clean, trig, labels) == pytest.approx(1 / 3)
    assert np.isnan(attack_success_rate(torch.eye(3)[[1, 0, 0, 1]], trig, labels))


def test_backdoored_source_triggers_only_dogs_and_keeps_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path))
    kwargs = {"part": "source", "split": "train", **SMALL}
    from transferlab.world import DataRef, dataset

    clean = dataset(**kwargs)
    data = backdoor_data.backdoored_source(
        DataRef.of("world.synthetic", **kwargs), 0.5, 2, "bottom-right", (255, 255, 0)
    )
    dogs = np.isin(np.asarray(data.classes)[data.y.numpy()], backdoor_data.dog_classes(data))
    marked = data.attrs.trigger.to_numpy()
    assert marked[~dogs].sum() == 0 and marked.sum() == round(0.5 * dogs.sum())
    assert torch.equal(data.y, clean.y)
    changed = (data.x != clean.x).flatten(1).any(1).numpy()
    assert (changed == marked).all()
    assert (
        data.x[torch.tensor(marked)][:, :, -3:-1, -3:-1] == torch.tensor([255, 255, 0])[:, None, None]
    ).all()
    objects = DataRef.of("world.synthetic", **{**kwargs, "part": "objects"})
    target = backdoor_data.debiased_target(objects, 0.3, 2, "bottom-right", (255, 255, 0))
    assert target.attrs.trigger.sum() == round(0.3 * len(target))
    assert len(set(target.y[torch.tensor(target.attrs.trigger.to_numpy())].tolist())) > 1  # across classes


def test_plan_shares_the_clean_source_and_scratch_models_with_the_world_chapter():
    from transferlab.chapters import world as tour

    cfg, world = backdoor.Config(), tour.Config()
    p = backdoor_jobs.plan(cfg)
    # the confirmatory seeds are chapter 0's: their clean sources, clean transfers and scratch
    # models are one store entry each, made by whichever chapter runs first
    assert set(cfg.seeds) <= set(world.seeds)
    for s in cfg.seeds:
        assert p.sources[(cfg.arch, 0.0, s)].spec() == world.source_job(s).spec()
        assert p.scratch[("objects", s)].spec() == world.scratch_job("objects", s).spec()
        key = backdoor_jobs.TransferKey(cfg.arch, 0.0, "pets", "full", p.default_wd, False, s)
        assert p.transfers[key].spec() == world.transfer_job(world.source_job(s), "pets", "full", s).spec()
    conditions = {("cresnet-s", f) for f in (0.0, 0.1, 0.5, 1.0)}
    conditions |= {(a, f) for a in ("cresnet-xs", "cvgg-s") for f in (0.0, 0.5)}
    # each seed trains its own sources: a gap between sources holds their variance
    assert set(p.sources) == {(a, f, s) for a, f in conditions for s in cfg.seeds}
    assert {p.sources[("cresnet-s", 1.0, s)].seed for s in cfg.seeds} == set(cfg.seeds)
    for key, job in p.transfers.items():
        assert job.source == p.sources[(key.arch, key.fraction, key.seed)]  # paired by seed
    # every architecture in both modes (the thesis' Fig. G.1b), at the main fraction and clean
    assert {(k.arch, k.mode) for k in p.transfers if k.fraction == cfg.trigger_fraction} == {
        (a, m) for a in cfg.archs for m in ("fixed", "full")
    }
    wds = {k[4] for k in p.transfers}
    assert wds == set(cfg.weight_decays) and p.default_wd in wds
    debiased = [k for k in p.transfers if k[5]]
    assert {k[2] for k in debiased} == {cfg.sweep_target} and {k[3] for k in debiased} == {"fixed", "full"}


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="archs"):
        backdoor.Config(archs=("cresnet-xs",))
    with pytest.raises(ParameterError, match="trigger_colour"):
        backdoor.Config(trigger_colour=(255, 0))
    with pytest.raises(ParameterError, match="does not fit"):
        backdoor.Config(image_size=12, trigger_size=11)
    with pytest.raises(ParameterError, match="sweep_target"):
        backdoor.Config(targets=("pets",), sweep_target="objects")
    with pytest.raises(ParameterError, match="above 0"):
        backdoor.Config(trigger_fractions=(0.0, 1.0))


def _results(
    fixed_gap: float,
    full_gap: float,
    small_gap: float,
    debiased_full: float,
    wd_full_high: float,
    small_source_asr: float = 0.15,
) -> backdoor_measure.Results:
    """Made-up measurements with the given ASR differences between backdoored and clean sources."""
    cfg = backdoor.Config(
        targets=("objects", "pets"), seeds=(0, 1, 2), trigger_fraction=1.0, trigger_fractions=(0.1, 1.0)
    )
    rows = []
    for arch in cfg.archs:
        for target in cfg.targets:
            for mode in ("fixed", "full") if arch == cfg.arch else ("fixed",):
                for f in (0.0, 0.1, 1.0) if arch == cfg.arch else (0.0, 1.0):
                    if f == 0.1 and mode == "full":
                        continue
                    for wd in cfg.weight_decays if target == cfg.sweep_target else (5e-4,):
                        for debiased in (
                            (False, True) if target == cfg.sweep_target and wd == 5e-4 else (False,)
                        ):
                            for s in cfg.seeds:
                                gap = {(1.0, "fixed"): fixed_gap, (1.0, "full"): full_gap}.get((f, mode), 0.0)
                                if f == 0.1:
                                    gap = small_gap
                                if mode == "full" and f > 0 and wd == max(cfg.weight_decays):
                                    gap = wd_full_high
                                if debiased and mode == "full" and f > 0:
                                    gap = debiased_full
                                rows.append(
                                    {
                                        "arch": arch,
                                        "fraction": f,
                                        "target": target,
                                        "mode": mode,
                                        "weight_decay": wd,
                                        "debiased": debiased,
                                        "seed": s,
                                        "accuracy": 0.6 + 0.01 * s,
                                        "triggered_accuracy": 0.55,
                                        "asr": 0.05 + (gap if f > 0 else 0.0) + 0.01 * s,
                                    }
                                )
    sources = pd.DataFrame(
        [
            {
                "arch": cfg.arch,
                "fraction": f,
                "seed": s,
                "source_accuracy": 0.9,
                "accuracy": 0.9,
                "triggered_accuracy": 0.8,
                "asr": asr + 0.01 * s,
            }
            for f, asr in ((0.0, 0.01), (0.1, small_source_asr), (1.0, 0.4))
            for s in cfg.seeds
        ]
    )
    scratch = pd.DataFrame(
        {
            "target": ["objects", "pets"] * 3,
            "seed": [0, 0, 1, 1, 2, 2],
            "accuracy": 0.5,
            "triggered_accuracy": 0.5,
            "asr": 0.02,
        }
    )
    regime = pd.DataFrame(
        [
            {
                "scale": scale,
                "fraction": f,
                "seed": 0,
                "dog_images": int(60 * scale),
                "triggered": int(60 * scale * f),
            }
            | {"source_accuracy": 0.9, "dog_accuracy": 0.9, "accuracy": 0.9, "triggered_accuracy": 0.8}
            | {"asr": 0.01 + (0.2 if 60 * scale * f >= 30 else 0.0)}  # learned from 30 triggered images on
            for scale in (1.0, 3.0)
            for f in (0.0, 0.1, 0.5)
        ]
    )
    return backdoor_measure.Results(cfg, sources, pd.DataFrame(rows), scratch, 5e-4, regime)


def test_the_regime_grid_says_where_the_source_learns_by_share_and_by_count():
    results = _results(0.4, 0.15, 0.3, 0.0, 0.02)
    table = backdoor.regime_table(results)
    assert list(zip(table.scale, table.fraction, table.learned)) == [
        (1.0, 0.1, False),
        (1.0, 0.5, True),
        (3.0, 0.1, False),
        (3.0, 0.5, True),
    ]
    assert np.allclose(table.asr_gap, [0.0, 0.2, 0.0, 0.2])  # against the clean source of its own size
    text = backdoor.regime_text(results)
    assert "cannot tell which decides" in text and "fewest triggered images it learns from: 30" in text
    shifted = results.regime.assign(asr=np.where(results.regime.triggered == 18, 0.3, results.regime.asr))
    text = backdoor.regime_text(dataclasses.replace(results, regime=shifted))
    assert "The number of triggered images, not their share, separates" in text


def test_resized_dogs_takes_a_larger_draw_or_a_share_of_each_breed(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path))
    from transferlab.world import dataset

    kwargs = {"part": "source", "split": "train", **SMALL}
    small, large = dataset(**kwargs), dataset(**{**kwargs, "source_train": 30})
    dogs = backdoor_data.is_dog(small)
    grown = backdoor_data.resized_dogs(small, large, None)
    assert grown.class_counts()[backdoor_data.dog_classes(small)].eq(30).all()
    others = grown.subset(~backdoor_data.is_dog(grown))
    assert torch.equal(others.x, small.subset(~dogs).x) and torch.equal(others.y, small.subset(~dogs).y)
    cut = backdoor_data.resized_dogs(small, None, 0.3)
    assert cut.class_counts()[backdoor_data.dog_classes(small)].eq(3).all()
    assert torch.equal(cut.subset(~backdoor_data.is_dog(cut)).x, small.subset(~dogs).x)


def test_the_regime_grid_reuses_the_sweep_sources_and_grows_only_the_dogs():
    assert backdoor_jobs.plan(backdoor.Config()).regime == {}  # the default shows the committed grid
    cfg = backdoor.Config(regime_fractions=(0.1, 0.5))
    p = backdoor_jobs.plan(cfg)
    assert set(p.regime) == {(s, f) for s in (1.0, 3.0) for f in (0.0, 0.1, 0.5)}
    for f in (0.0, 0.1, 0.5):  # at scale 1 the cells are the sweep's own sources (first seed)
        assert p.regime[(1.0, f)] == p.sources[(cfg.arch, f, cfg.seeds[0])]
    grown = dict(p.regime[(3.0, 0.5)].data.kwargs)
    assert dict(grown["dogs"].kwargs)["source_train"] == 900 and grown["fraction"] == 0.5
    assert dict(p.regime[(3.0, 0.0)].data.kwargs)["fraction"] == 0.0
    real = backdoor.Config(data_dir="/somewhere", dog_scales=(0.5, 1.0, 3.0))
    assert real.regime_scales() == (0.5, 1.0)


def test_claims_follow_the_numbers():
    holds = backdoor.claims(_results(0.4, 0.15, 0.38, 0.0, 0.02)).frame().set_index("key").verdict
    assert (holds == "holds").all(), holds
    fails = backdoor.claims(_results(0.01, 0.0, 0.0, 0.15, 0.15)).frame().set_index("key").verdict
    assert (fails[["a", "b", "c", "d", "e", "h"]] == "contradicted").all(), fails
    assert fails["f"] == "holds" and fails["g"] == "holds"


def _claim_b(results):
    return {c.key: c for c in backdoor.claims(results).claims}["b"]


def test_claim_b_is_read_at_the_small_fraction_and_is_na_where_the_source_has_not_learned_it():
    # the 10 % source learns the square: (b) is the gap at 10 %, 0 here, and 0.4 at 100 % is a trend
    learned = _claim_b(_results(0.4, 0.15, 0.0, 0.0, 0.02))
    transfers, grows, trend = learned.estimates
    assert transfers.label.startswith("10%") and transfers.verdict == "contradicted"
    assert grows.verdict == "holds" and trend.verdict == "contradicted" and learned.verdict == "contradicted"
    # the same gaps at both learned fractions: no trend, an equivalence that holds
    assert _claim_b(_results(0.4, 0.15, 0.4, 0.0, 0.02)).verdict == "holds"
    # it does not learn it at 10 % (source ASR at the clean source's): n/a with the reason, never
    # re-read at a larger fraction, even where that gap (0.4 at 100 %) would hold
    unlearned = _results(0.4, 0.15, 0.0, 0.0, 0.02, small_source_asr=0.01)
    assert backdoor_analysis.learned_fractions(unlearned) == [1.0]
    transfers, grows, trend = _claim_b(unlearned).estimates
    assert transfers.verdict == "n/a" and transfers.label.startswith("10%")
    assert "not learned the trigger at 10%" in transfers.missing
    assert trend.verdict == "n/a" and _claim_b(unlearned).verdict != "holds"


def test_a_run_without_a_regime_grid_shows_the_committed_one_and_says_where_it_comes_from():
    results = _results(0.4, 0.15, 0.38, 0.0, 0.02)
    results = dataclasses.replace(results, regime=results.regime.iloc[:0])
    committed, provenance = backdoor_analysis.committed_regime()
    table = backdoor.regime_table(results)
    assert table.equals(committed) and len(table) >= 2 and "commit" in provenance
    assert "last measured" in backdoor.regime_text(results) and provenance in backdoor.regime_text(results)


@pytest.mark.timeout(300)
def test_the_chapter_runs_on_real_data_folders(tmp_path, monkeypatch):
    """The whole chapter on a folder of real-format files (data_dir): same code path as the world."""
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "store"))
    cfg = backdoor.Config(
        data_dir=str(write_real_data(tmp_path / "data")),
        image_size=16,
        arch="cresnet-xs",
        archs=("cresnet-xs",),
        targets=("objects", "pets"),
        sweep_target="pets",
        seeds=(0,),
        trigger_fraction=1.0,
        trigger_fractions=(0.5,),
        regime_fractions=(0.5,),
        weight_decays=(5e-4, 5e-2),
        source_epochs=1,
        full_epochs=1,
        scratch_epochs=1,
        trigger_size=2,
    )
    results = backdoor.run(cfg, progress=False)
    assert set(results.sources.fraction) == {0.0, 0.5, 1.0}
    assert set(results.regime.scale) == {1.0}  # the default grid's 3 × dogs needs the synthetic world
    assert "left out" in backdoor.regime_text(results)
    assert results.transfers.asr.notna().any() and set(results.transfers.target) == {"objects", "pets"}
    assert len(backdoor.claims(results).claims) == 8
    with pytest.raises(ParameterError, match="superclass 'dog'"):
        (tmp_path / "data" / "imagenet" / "superclasses.csv").write_text("n01440764,fish\n")
        backdoor.run(dataclasses.replace(cfg, source_per_class=11), progress=False)
