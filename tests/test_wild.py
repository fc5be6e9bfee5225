"""The bias finder (any model, any data set) and the biases-in-the-wild chapter's measures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw

from transferlab.chapters import wild
from transferlab.chapters.params import ParameterError
from transferlab.chapters.wild import analysis as wild_analysis
from transferlab.chapters.wild import config as wild_config
from transferlab.chapters.wild import measure as wild_measure
from transferlab.methods import bias_finder as finder
from transferlab.models import build_model
from transferlab.train import fit, recipe
from transferlab.world import TensorData, overlay_name, parse_overlay
from transferlab.world.adapters import image_folder
from transferlab.world.overlays import Patch

from .conftest import write_real_data


class _SeesYellow(torch.nn.Module):
    """Class 1 when at least 5% of the pixels are yellow, else class 0 (of 3)."""

    def forward(self, x):
        yellow = ((x[:, 0] > 0.8) & (x[:, 1] > 0.7) & (x[:, 2] < 0.4)).float().mean((1, 2)) > 0.05
        return torch.stack([(~yellow).float(), yellow.float(), torch.zeros(len(x))], 1)


def _grey(n=40, size=16):
    x = torch.full((n, 3, size, size), 90, dtype=torch.uint8)
    return TensorData(x, torch.arange(n) % 3, classes=("a", "b", "c"))


def test_output_shift_of_a_model_that_reacts_to_yellow():
    data = _grey()
    s = finder.output_shift(_SeesYellow(), data, Patch("disc", (250, 230, 40), scale=0.4))
    assert s.clean.tolist() == [1, 0, 0] and s.overlaid.tolist() == [0, 1, 0]
    assert s.tv == 1 and s.flip == 1 and s.top == "b" and s.gain_of("b") == 1
    blue = finder.output_shift(_SeesYellow(), data, Patch("disc", (40, 80, 220), scale=0.4))
    assert blue.tv == 0 and blue.flip == 0


def test_candidates_cover_the_family_and_round_trip_as_text():
    family = finder.candidates(
        ("disc", "star"), ("yellow", "red", (1, 2, 3)), ("solid",), (0.3,), ("centre",)
    )
    assert len(family) == 2 * 3 + 2 + 2  # patches, two fences, a ball and a hat
    for ov in family:
        assert parse_overlay(overlay_name(ov)) == ov
    with pytest.raises(ValueError, match="unknown shape"):
        finder.candidates(("blob",), ("red",))


def test_search_ranks_the_feature_the_model_uses_first():
    family = finder.candidates(
        ("disc", "square"), ("blue", "yellow", "red"), ("solid",), (0.4,), ("centre",), patterns=False
    )
    ranking = finder.search(_SeesYellow(), _grey(), family, n_images=20, progress=False)
    assert len(ranking) == len(family)
    assert set(ranking.overlay[:2]) == {
        overlay_name(o) for o in family if o.colour == finder.COLOURS["yellow"]
    }
    assert (ranking.tv.iloc[2:] == 0).all() and (ranking.top_class.iloc[:2] == "b").all()
    with pytest.raises(ValueError, match="unknown ranking"):
        finder.search(_SeesYellow(), _grey(), family, by="kl")


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_the_finder_finds_a_bias_of_a_torchvision_resnet_trained_on_an_image_folder(tmp_path):
    """A real-format folder where one class is 'things with a yellow ball': the finder, given a
    torchvision ResNet-18 trained on it, says a yellow disc pushes predictions to that class."""
    rng = np.random.default_rng(0)
    for cls in ("ball", "leaf", "sky"):
        (tmp_path / cls).mkdir()
        for i in range(16):
            base = {"ball": (120, 90, 80), "leaf": (60, 140, 60), "sky": (90, 120, 200)}[cls]
            im = Image.new("RGB", (32, 32), tuple(int(c + rng.integers(-25, 25)) for c in base))
            if cls == "ball":
                r, cx, cy = rng.integers(5, 9), rng.integers(8, 24), rng.integers(8, 24)
                ImageDraw.Draw(im).ellipse([cx - r, cy - r, cx + r, cy + r], fill=(240, 225, 50))
            im.save(tmp_path / cls / f"{i}.png")
    data = image_folder(tmp_path, size=32)
    torch.manual_seed(0)
    model = build_model("resnet18", 3)
    fit(
        model,
        data,
        recipe("synthetic-source", epochs=12, peak_epoch=2, batch_size=16, lr=0.05),
    )
    clean = data.subset(data.y != 0)  # leaves and skies
    s = finder.output_shift(model.eval(), clean, Patch("disc", finder.COLOURS["yellow"], scale=0.45))
    # the mechanism: the disc moves predictions towards "ball". How far (the share that ends up there)
    # is one training trajectory's outcome: 0.5 under bf16 autocast, over 0.9 in plain float32.
    assert s.top == "ball" and s.gain_of("ball") > 0.3
    ranking = finder.search(
        model,
        clean,
        finder.candidates(("disc",), ("yellow", "blue"), ("solid",), (0.45,), ("centre",), patterns=False),
        progress=False,
    )
    assert "250/230/40" in ranking.overlay[0]


# -- the chapter -----------------------------------------------------------------------------------


def test_config_checks_overlays_and_expected_classes():
    with pytest.raises(ParameterError, match="one class per overlay"):
        wild.Config(overlays=("fence", "ball"), expected=("fence",))
    with pytest.raises(ParameterError, match="cannot read 'blob'"):
        wild.Config(overlays=("blob",), expected=("",))
    with pytest.raises(ParameterError, match="unknown shape"):
        wild.Config(search_shapes=("blob",))
    assert len(wild.Config().candidates()) == 6 * 6 * 2 * 2 * 2 + 2 + 2 * 2 * 2


def test_found_biases_are_one_per_new_class():
    ranking = pd.DataFrame(
        {
            "overlay": ["f1", "f2", "p1", "p2", "p3", "p4"],
            "top_class": ["fence", "fence", "dog 1", "dog 1", "heart", "star"],
        }
    )
    assert wild_measure.found_biases(ranking, {"fence", "tennis ball"}, 2) == ("p1", "p3")
    assert wild_measure.found_biases(ranking, set(), 9) == ("f1", "p1", "p3", "p4")
    ranking.loc[0, "overlay"] = "fence"  # a studied overlay is not a finding, whatever it favours here
    assert wild_measure.found_biases(ranking, set(), 9, studied=("fence:spacing=5.0",)) == (
        "f2",
        "p1",
        "p3",
        "p4",
    )


def _shift(gain) -> finder.Shift:
    """A target model's shift with the given per-class gains (from an empty clean distribution)."""
    gain = np.asarray(gain, dtype=float)
    return finder.Shift(
        TARGET_CLASSES, np.zeros(len(gain)), gain, float(gain.sum()), gain, np.zeros(len(gain)), 500
    )


TARGET_CLASSES = ("t0", "t1", "t2")


def _results(fixed, full, gains, scratch_elsewhere=0.0):
    """A Results with given per-overlay excess skews over scratch (0.1, three seeds a point apart),
    all on target class t0, and source gains (the source model's shifts, measured on 1,000 images).
    ``scratch_elsewhere``: what the scratch models pile onto another class, t1."""
    config = wild.Config(targets=("objects",), seeds=(0, 1, 2))
    rows, target_shifts = [], {}
    for (o, f), u in zip(fixed.items(), full.values()):
        for seed, jitter in zip(config.seeds, (-0.01, 0.0, 0.01)):
            for kind, gain in (
                ("fixed", [0.1 + f + jitter, 0.0, 0.0]),
                ("full", [0.1 + u + jitter, 0.0, 0.0]),
                ("scratch", [0.1, scratch_elsewhere, 0.0]),
            ):
                target_shifts[(o, "objects", kind, seed)] = _shift(gain)
                rows.append(
                    {"overlay": o, "target": "objects", "kind": kind, "seed": seed, "top_gain": max(gain)}
                )
    classes = tuple(config.expected)
    # each seed's source model: the overlay's class gains g, a point more or less by seed
    shifts = {
        (o, seed): finder.Shift(
            classes,
            np.zeros(len(classes)),
            np.eye(len(classes))[i] * (g + jitter),
            g + jitter,
            np.eye(len(classes))[i] * (g + jitter),
            np.zeros(len(classes)),
            1000,
        )
        for i, (o, g) in enumerate(zip(config.overlays, gains))
        for seed, jitter in zip(config.seeds, (-0.01, 0.0, 0.01))
    }
    source = pd.DataFrame(
        [
            {
                "overlay": o,
                "seed": seed,
                "expected": e,
                "expected_gain": shifts[(o, seed)].gain_of(e),
                "top_class": e,
                "top_gain": shifts[(o, seed)].gain_of(e),
                "tv": shifts[(o, seed)].tv,
            }
            for o, e in zip(config.overlays, config.expected)
            for seed in config.seeds
        ]
    )
    return wild_measure.Results(config, source, shifts, None, (), pd.DataFrame(rows), target_shifts, {})


def test_excess_is_class_matched_and_the_class_chosen_on_the_other_seeds():
    fence, ball, hat = wild.Config().overlays
    r = _results({fence: 0.3, ball: 0.1, hat: 0.0}, {fence: 0.2, ball: 0.0, hat: 0.0}, [0.4, 0.5, 0.3], 0.6)
    ex = wild.excess(r).set_index(["overlay", "seed"])
    # the scratch models pile 0.6 onto t1, but the transferred models favour t0: measured there
    assert (ex["class"] == "t0").all()
    assert ex.loc[fence, "fixed"].to_numpy() == pytest.approx([0.29, 0.30, 0.31])
    assert ex.loc[ball, "full"].to_numpy() == pytest.approx([-0.01, 0.0, 0.01])
    # seed 0's own fixed-feature model favours t2, the other seeds t0: seed 0 is measured on t0
    r.target_shifts[(fence, "objects", "fixed", 0)] = _shift([0.2, 0.0, 0.5])
    assert wild_analysis.favoured_class(r, fence, "objects", 0) == 0
    assert wild_analysis.favoured_class(r, fence, "objects", 1) == 0
    assert wild.excess(r).set_index(["overlay", "seed"]).loc[(fence, 0), "fixed"] == pytest.approx(0.1)


def test_claims_follow_the_measures():
    fence, ball, hat = wild.Config().overlays
    both = _results({fence: 0.3, ball: 0.3, hat: 0.2}, {fence: 0.25, ball: 0.02, hat: 0.15}, [0.4, 0.5, 0.3])
    verdict = {c.key: c.verdict for c in wild.claims(both).claims}
    assert set(verdict.values()) == {"holds"}, verdict
    none_removed = _results(
        {fence: 0.3, ball: 0.3, hat: 0.01}, {fence: 0.25, ball: 0.2, hat: 0.0}, [0.4, 0.5, 0.02]
    )
    verdict = {c.key: c.verdict for c in wild.claims(none_removed).claims}
    assert verdict == {
        "a": "contradicted",
        "b1": "holds",
        "b2": "holds",
        "b3": "contradicted",
        "c": "contradicted",
    }
    # the roles are the thesis': the ball removed, the fence kept, whatever the data say; a run
    # where the fence is removed and the ball kept contradicts (c)
    swapped = _results(
        {fence: 0.3, ball: 0.3, hat: 0.2}, {fence: 0.0, ball: 0.25, hat: 0.15}, [0.4, 0.5, 0.3]
    )
    c = {c.key: c for c in wild.claims(swapped).claims}["c"]
    assert c.verdict == "contradicted" and [e.label for e in c.estimates] == [
        f"{ball}, fixed",
        f"{ball}, full",
        f"{fence}, full",
    ]
    without_ball = dataclasses.replace(
        both,
        config=wild.Config(
            overlays=("fence", "hat"), expected=("fence", "hat"), targets=("objects",), seeds=(0, 1, 2)
        ),
    )
    assert {c.key: c.verdict for c in wild.claims(without_ball).claims}["c"] == "n/a"


def test_the_shift_interval_is_over_the_images():
    shift = finder.Shift(
        ("a", "b"),
        np.array([0.5, 0.5]),
        np.array([0.6, 0.4]),
        0.1,
        np.array([0.1, 0.0]),
        np.array([0.0, 0.1]),
        400,
    )
    low, high = shift.gain_interval("a")
    assert low < 0.1 < high and high - low == pytest.approx(
        2 * 1.966 * np.sqrt((0.1 - 0.01) * 400 / 399 / 400), rel=1e-3
    )


@pytest.mark.timeout(300)
def test_the_chapter_runs_on_real_data_folders(tmp_path, monkeypatch):
    """The chapter on real-format files (data_dir): an ImageNet subset, CIFAR-10 and pets."""
    import dataclasses

    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "store"))
    cfg = wild.Config(
        data_dir=str(write_real_data(tmp_path / "data")),
        image_size=16,
        arch="cresnet-xs",
        targets=("objects", "pets"),
        seeds=(0,),
        source_epochs=1,
        full_epochs=1,
        scratch_epochs=1,
        expected=("", "", ""),
        search_images=8,
        search_shapes=("disc",),
        search_colours=("yellow",),
        search_scales=(0.4,),
        search_positions=("centre",),
        follow=1,
    )
    results = wild.run(cfg, progress=False)
    assert set(results.targets.target) == {"objects", "pets"} and set(results.targets.kind) == set(
        wild_config.KINDS
    )
    assert len(results.ranking) == len(cfg.candidates()) and len(results.followed) <= 1
    assert [c.key for c in wild.claims(results).claims] == ["a", "b1", "b2", "b3", "c"]
    # no class expected on real data: each overlay is reported with the class it favours most
    text = wild.summary_text(results)
    assert "test set, ." not in text and text.count("the class it favours most") == 3
    with pytest.raises(ParameterError, match="not source classes"):
        wild.run(dataclasses.replace(cfg, expected=("chain-link fence", "", "")), progress=False)
