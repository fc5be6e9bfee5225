"""Chapter 2's views of the results, one per claim (each shared by the claim and its figure): the
main comparison, the frequency sweep, weight decay, de-biasing, scratch and architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..claims import Estimate
from .config import CONDITIONS, CRITERIA, Config
from .measure import Results


def select(frame: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The rows of ``frame`` whose columns match every condition: a list allows its values, a float
    is compared with ``isclose`` (weight decays), anything else must be equal."""
    keep = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        col = frame[column]
        if isinstance(value, (list, tuple)):
            keep &= col.isin(value).to_numpy()
        elif isinstance(value, float):
            keep &= np.isclose(col, value)
        else:
            keep &= (col == value).to_numpy()
    return frame[keep]


def pair(config: Config) -> list[float]:
    """The two sources every comparison but the frequency sweep reads: clean (0) and the main fraction."""
    return [0.0, config.trigger_fraction]


def main_table(results: Results) -> pd.DataFrame:
    """The main comparison (claims (a), (c), (g), Fig. 7.1): the chapter's architecture, clean and
    backdoored sources at the main fraction, the transfer recipes' own weight decay, every target
    and mode, a ``source`` column naming the condition."""
    c = results.config
    d = select(
        results.transfers, arch=c.arch, fraction=pair(c), debiased=False, weight_decay=results.default_wd
    )
    return d.assign(source=np.where(d.fraction == 0, CONDITIONS[0], CONDITIONS[1]))


def asr_gap(d: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Backdoored minus clean source ASR (and accuracy), matched by seed, per group ``by``."""
    keys = by + ["seed"]
    clean = d[d.fraction == 0].set_index(keys)[["asr", "accuracy"]]
    out = []
    for f, g in d[d.fraction > 0].groupby("fraction"):
        diff = g.set_index(keys)[["asr", "accuracy"]] - clean
        out.append(diff.dropna().reset_index().assign(fraction=f))
    return (
        pd.concat(out, ignore_index=True)
        if out
        else pd.DataFrame(columns=keys + ["asr", "accuracy", "fraction"])
    )


def source_asr(results: Results) -> pd.DataFrame:
    """The source models' (``arch``) ASR, a row per seed and a column per fraction (NaN kept: a
    source with no correct non-dog answer has no ASR)."""
    src = results.sources[results.sources.arch == results.config.arch]
    return src.pivot(index="seed", columns="fraction", values="asr")


def source_learning(results: Results, fraction: float) -> Estimate:
    """Whether the source (``arch``) has learned the trigger at ``fraction``: its ASR above the
    clean source's by the 'source-learns' margin, over seeds (each seed's backdoored source
    against the clean source of the same seed)."""
    src = source_asr(results)
    return Estimate.t(CRITERIA["source-learns"], src[fraction] - src[0.0], "seed (source models)")


def learned_fractions(results: Results) -> list[float]:
    """The fractions of the sweep at which the source has learned the trigger (its
    :func:`source_learning` holds: the whole interval above the margin)."""
    return [
        f
        for f in sorted(set(results.config.trigger_fractions))
        if source_learning(results, f).verdict == "holds"
    ]


REGIME_GRID = Path(__file__).with_name("regime_grid.csv")  # the grid as last measured, committed


def committed_regime() -> tuple[pd.DataFrame, str]:
    """The regime grid as last measured (:func:`regime_table`'s columns) and where it comes from
    (commit, machine, date: the file's comment lines)."""
    text = REGIME_GRID.read_text()
    provenance = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    return pd.read_csv(REGIME_GRID, comment="#"), provenance


def regime_table(results: Results) -> pd.DataFrame:
    """The regime grid, one row per backdoored source: its dog scale, fraction, dog and triggered
    training images, source ASR gap (against the clean source of the same scale and seed), accuracy
    on the dog test images, and whether it has learned the trigger (gap above the 'source-learns'
    margin: one seed's reading, a point). A run without a grid (the default) shows the committed one
    (:func:`committed_regime`)."""
    r = results.regime
    if r.empty:
        return committed_regime()[0]
    clean = r.loc[r.fraction == 0, ["scale", "seed", "asr", "dog_accuracy"]]
    d = r[r.fraction > 0].merge(clean, on=["scale", "seed"], suffixes=("", "_clean"))
    margin = CRITERIA["source-learns"].margin
    return (
        d.assign(asr_gap=d.asr - d.asr_clean, learned=lambda x: x.asr_gap > margin)
        .loc[
            :,
            [
                "scale",
                "fraction",
                "dog_images",
                "triggered",
                "asr_gap",
                "dog_accuracy",
                "dog_accuracy_clean",
                "learned",
            ],
        ]
        .sort_values(["scale", "fraction"])
        .reset_index(drop=True)
    )


def per_seed(frame: pd.DataFrame, column: str = "asr") -> pd.Series:
    """A column's mean per seed (over targets, or whatever else ``frame`` holds): the replicate."""
    return frame.groupby("seed")[column].mean()


def main_gaps(results: Results) -> pd.DataFrame:
    """Backdoored − clean ASR and accuracy per target, mode and seed in the main comparison."""
    return asr_gap(main_table(results), ["target", "mode"])


def frequency_sweep(results: Results) -> pd.DataFrame:
    """The frequency sweep (claim (b), Fig. 7.2): fixed-feature transfers of the chapter's
    architecture to every target at every fraction, the recipes' own weight decay."""
    c = results.config
    return select(
        results.transfers,
        arch=c.arch,
        target=list(c.targets),
        mode="fixed",
        debiased=False,
        weight_decay=results.default_wd,
    )


def weight_decay_sweep(results: Results) -> pd.DataFrame:
    """The weight-decay sweep (claim (d), Fig. 7.3): both sources and modes on ``sweep_target`` at
    every weight decay of the sweep."""
    c = results.config
    return select(
        results.transfers,
        arch=c.arch,
        target=c.sweep_target,
        debiased=False,
        weight_decay=list(c.weight_decays),
        fraction=pair(c),
    )


def debias_comparison(results: Results) -> pd.DataFrame:
    """De-biasing (claim (e), Fig. 7.4): both sources and modes on ``sweep_target``, as it is and
    de-biased."""
    c = results.config
    return select(
        results.transfers,
        arch=c.arch,
        target=c.sweep_target,
        weight_decay=results.default_wd,
        fraction=pair(c),
    )


def scratch_change(results: Results) -> pd.DataFrame:
    """Scratch models (claim (f), Fig. G.5): accuracy with the trigger minus without, per model."""
    return results.scratch.assign(change=lambda d: d.triggered_accuracy - d.accuracy)


def arch_gaps(results: Results) -> pd.DataFrame:
    """Architectures (claim (h), App. G.1.7): backdoored − clean ASR per architecture, target, mode
    and seed, at the main fraction and the recipes' own weight decay."""
    picked = select(
        results.transfers, debiased=False, weight_decay=results.default_wd, fraction=pair(results.config)
    )
    return asr_gap(picked, ["arch", "target", "mode"])
