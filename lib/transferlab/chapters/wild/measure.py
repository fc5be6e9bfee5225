"""Chapter 5's jobs and run: transferred, scratch and sweep models, and the bias finder's search
over overlays on the source and on every model."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ...methods import bias_finder
from ...run import load_model, run_jobs
from ...train import predict
from ...world import (
    apply_overlay,
    overlay_name,
    parse_overlay,
)
from .config import KINDS, Config


@dataclasses.dataclass(frozen=True)
class Results:
    """The source models' shifts, the search, and every target model's shift per overlay."""

    config: Config
    source: pd.DataFrame  # overlay, seed, expected, tv, flip, top_class, top_gain, expected_gain
    source_shifts: dict[tuple[str, int], bias_finder.Shift]  # (overlay, seed) -> the seed's source model's
    # the search (on the first seed's source model): overlay, tv, flip, top_class, top_gain (best first)
    ranking: pd.DataFrame | None
    followed: tuple[str, ...]  # overlays found by the search and followed through transfer
    targets: pd.DataFrame  # overlay, target, kind, seed, tv, flip, top_class, top_gain
    target_shifts: dict[tuple[str, str, str, int], bias_finder.Shift]
    # the full-network sweep on `sweep_target`: overlay, seed, epochs, weight_decay and the shift
    sweep_shifts: dict[tuple[str, int, int, float], bias_finder.Shift]

    @property
    def overlays(self) -> tuple[str, ...]:
        """Every overlay followed through transfer: the studied ones, then the found ones."""
        return (*self.config.overlays, *self.followed)


def sweep_settings(config: Config) -> list[tuple[int, float]]:
    """(epochs, weight decay) of the full-network sweep: each epoch count at the recipe's weight
    decay, each weight decay at `full_epochs` (the main models' setting is among them)."""
    wd = config.transfer_recipe("full").weight_decay
    settings = [(e, wd) for e in config.sweep_epochs] + [
        (config.full_epochs, w) for w in config.sweep_weight_decays
    ]
    return list(dict.fromkeys(settings))


def _jobs(config: Config) -> dict[tuple, object]:
    """Per seed: its source model (chapter 0's of the same seed), the transfers and scratch models
    on every target, and the sweep's full-network models."""
    sources = {seed: config.source_job(seed) for seed in config.seeds}
    jobs: dict[tuple, object] = {("source", "", seed): job for seed, job in sources.items()}
    for target in config.targets:
        for seed in config.seeds:
            for mode in ("fixed", "full"):
                jobs[(mode, target, seed)] = config.transfer_job(sources[seed], target, mode, seed)
            jobs[("scratch", target, seed)] = config.scratch_job(target, seed)
    for seed in config.seeds:
        for epochs, wd in sweep_settings(config):
            r = config.recipe("full", epochs)
            jobs[("sweep", seed, epochs, wd)] = config.transfer_job(
                sources[seed],
                config.sweep_target,
                "full",
                seed,
                epochs=r.epochs,
                peak_epoch=r.peak_epoch,
                weight_decay=wd,
            )
    return jobs


def run(config: Config, progress: bool = True) -> Results:
    """Fetch (or train) the models, probe each seed's source model, search on the first seed's,
    and probe every target model."""
    world = config.world()
    jobs = _jobs(config)
    entries = dict(zip(jobs, run_jobs(list(jobs.values()), progress=progress)))
    test = world.source("test")  # its classes hold `expected` (checked by the Config)
    shifts = {}
    for seed in config.seeds:
        model = load_model(entries[("source", "", seed)])
        clean = predict(model, test).argmax(-1)
        for text in config.overlays:
            shifts[(text, seed)] = bias_finder.output_shift(
                model, test, parse_overlay(text), clean_pred=clean
            )
    source = pd.DataFrame(
        [
            {
                "overlay": t,
                "seed": seed,
                "expected": e,
                **shifts[(t, seed)].row(),
                "expected_gain": shifts[(t, seed)].gain_of(e) if e else float("nan"),
            }
            for t, e in zip(config.overlays, config.expected)
            for seed in config.seeds
        ]
    )
    ranking, followed = None, ()
    if config.search_images:
        ranking = bias_finder.search(
            load_model(entries[("source", "", config.seeds[0])]),
            test,
            config.candidates(),
            n_images=config.search_images,
            progress=progress,
        )
        followed = found_biases(
            ranking, {*config.expected, *source.top_class}, config.follow, config.overlays
        )
    rows, target_shifts, sweep_shifts = [], {}, {}

    def shifts_of(key, data, overlaid):
        model = load_model(entries[key])
        clean_pred = predict(model, data).argmax(-1)
        return {
            text: bias_finder.shift_between(model, data, over, clean_pred=clean_pred)
            for text, over in overlaid.items()
        }

    for target in config.targets:
        data = world.target(target, "test")
        overlaid = {text: apply_overlay(data, parse_overlay(text)) for text in (*config.overlays, *followed)}
        for kind in KINDS:
            for seed in config.seeds:
                for text, s in shifts_of((kind, target, seed), data, overlaid).items():
                    target_shifts[(text, target, kind, seed)] = s
                    rows.append({"overlay": text, "target": target, "kind": kind, "seed": seed, **s.row()})
        if target == config.sweep_target:
            for key in [k for k in entries if k[0] == "sweep"]:
                for text, s in shifts_of(key, data, overlaid).items():
                    sweep_shifts[(text, *key[1:])] = s
    return Results(config, source, shifts, ranking, followed, pd.DataFrame(rows), target_shifts, sweep_shifts)


def found_biases(
    ranking: pd.DataFrame, known: set[str], n: int, studied: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The ``n`` best-ranked candidates that each favour a class not in ``known`` (nor favoured by
    an earlier pick) and are not among the ``studied`` overlays: biases the search found beyond
    the studied ones, one per class."""
    out, seen = [], set(known)
    skip = {overlay_name(parse_overlay(t)) for t in studied}
    for overlay, top in zip(ranking.overlay, ranking.top_class):
        if len(out) == n:
            break
        if top not in seen and overlay not in skip:
            out.append(overlay)
            seen.add(top)
    return tuple(out)
