"""Chapter 2's run: train (or fetch) the plan's models and measure each one's accuracy and ASR."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ...run import SourceJob, load_model, run_jobs
from ...train import accuracy, attack_success_rate, predict
from ...world import (
    TensorData,
    apply_overlay,
)
from ..params import ParameterError
from .config import Config
from .data import dog_classes, is_dog
from .jobs import plan


@dataclasses.dataclass(frozen=True)
class Results:
    """Tidy measurements: one row per model (source, transfer or scratch) and test set."""

    config: Config
    sources: pd.DataFrame  # arch, fraction, seed, source_accuracy (all test images), dog_accuracy (the
    # dog test images, never triggered); accuracy, triggered_accuracy, asr on the non-dog test images
    transfers: pd.DataFrame  # arch, fraction, target, mode, weight_decay, debiased, seed, accuracy, asr
    scratch: pd.DataFrame  # target, seed, accuracy, triggered_accuracy, asr
    default_wd: float  # the transfer recipes' own weight decay (the main comparison's)
    regime: pd.DataFrame  # scale, fraction, seed, dog_images, triggered (training images), and the
    # sources' columns: the regime grid's source models


def triggered(config: Config, data: TensorData) -> TensorData:
    return apply_overlay(data, config.trigger(), seed=3, column="trigger")


def _measure(model, clean: TensorData, triggered: TensorData) -> dict[str, float]:
    a, b = predict(model, clean), predict(model, triggered)
    return {
        "accuracy": accuracy(a, clean.y),
        "triggered_accuracy": accuracy(b, clean.y),
        "asr": attack_success_rate(a, b, clean.y),
    }


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch from the store) every model of the chapter and measure ASR and accuracy."""
    world = config.world()
    src_test = world.source("test")
    if not dog_classes(src_test):
        raise ParameterError(
            "the source has no class in the superclass 'dog' to plant the trigger in "
            "(on real data: name it 'dog' in imagenet/superclasses.csv)"
        )
    p = plan(config)
    jobs = [*p.sources.values(), *p.transfers.values(), *p.scratch.values(), *p.regime.values()]
    made = dict(zip(jobs, run_jobs(jobs, progress=progress)))  # a job shared by two roles: once
    dog = is_dog(src_test)
    non_dog, dogs = src_test.subset(~dog), src_test.subset(dog)
    src_pair = (non_dog, triggered(config, non_dog))
    tests = {t: (d, triggered(config, d)) for t in config.targets for d in [world.target(t, "test")]}

    def measure_source(job: SourceJob) -> dict[str, float]:
        m = load_model(made[job])
        return {
            "source_accuracy": accuracy(predict(m, src_test), src_test.y),
            "dog_accuracy": accuracy(predict(m, dogs), dogs.y),
            **_measure(m, *src_pair),
        }

    # each source measured once: the regime grid's cells at scale 1 are the sweep's own sources
    measured = {job: measure_source(job) for job in dict.fromkeys([*p.sources.values(), *p.regime.values()])}
    sources = pd.DataFrame(
        [{"arch": a, "fraction": f, "seed": seed, **measured[job]} for (a, f, seed), job in p.sources.items()]
    )
    regime = pd.DataFrame(
        [
            {"scale": scale, "fraction": f, "seed": job.seed, **_dog_counts(job.data.load()), **measured[job]}
            for (scale, f), job in p.regime.items()
        ]
    )
    rows = [
        {**key._asdict(), **_measure(load_model(made[job]), *tests[key.target])}
        for key, job in p.transfers.items()
    ]
    scratch = pd.DataFrame(
        [
            {"target": t, "seed": s, **_measure(load_model(made[job]), *tests[t])}
            for (t, s), job in p.scratch.items()
        ]
    )
    return Results(config, sources, pd.DataFrame(rows), scratch, p.default_wd, regime)


def _dog_counts(data: TensorData) -> dict[str, int]:
    """How many dog images a source trains on, and how many of them carry the trigger."""
    has = data.attrs is not None and "trigger" in data.attrs
    return {
        "dog_images": int(is_dog(data).sum()),
        "triggered": int(data.attrs["trigger"].sum()) if has else 0,
    }
