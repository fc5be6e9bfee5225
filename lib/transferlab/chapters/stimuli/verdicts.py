"""Chapter 7's claims, each read from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...methods.stats import spearman
from ..claims import Claim, ClaimsTable, Estimate
from ..registry import stamp
from .analysis import child_order, consistent, mode_table, size_gap
from .config import CRITERIA, REGISTRY, SOURCE
from .measure import READINGS, Results, outperforming_column

REPLICATE = "seed (children; one foundation)"
READING_IDS = {"mean output": "output", "mean image": "image"}


def _frozen_claim(results: Results, reading: str) -> Claim:
    """Claim (b) under one reading of the centroid."""
    counts = results.main().groupby(["seed", "child"])[outperforming_column(reading)].sum().unstack("child")
    frozen = [c for c in child_order(counts.columns) if c != "scratch"]
    levels = np.array([int(c.split()[0]) for c in frozen])
    # per seed; equal counts at every level have no ordering: correlation 0
    rho = counts.apply(lambda row: spearman(levels, row[frozen].to_numpy(dtype=float)), axis=1).fillna(0.0)
    if "scratch" in counts:
        fewest = Estimate.t(
            CRITERIA["scratch-fewest"], counts[frozen].min(axis=1) - counts["scratch"], REPLICATE, "scratch"
        )
    else:
        fewest = Estimate.not_measured(CRITERIA["scratch-fewest"], "no scratch child", "scratch")
    return Claim(
        f"b-{READING_IDS[reading]}",
        f"More outperforming stimuli the more blocks are frozen; fewest for scratch (centroid: {reading})",
        SOURCE,
        (Estimate.t(CRITERIA["more-when-frozen"], rho, REPLICATE, "frozen blocks"), fewest),
        note=f"Outperforming stimuli of {len(results.source_classes)} per start, per child (mean over seeds, "
        "starts summed): " + ", ".join(f"{c}: {counts[c].mean():.1f}" for c in counts.columns) + ".",
    )


def _sizes_claim(results: Results, reading: str) -> Claim:
    """Claim (c) under one reading of the centroid: per seed, the poster's comparison of class sizes."""
    gap = size_gap(results, reading)
    measured = gap.dropna()
    if len(measured) >= 2:
        smaller = Estimate.t(CRITERIA["fewer-points"], measured, REPLICATE)
    else:
        smaller = Estimate.not_measured(
            CRITERIA["fewer-points"],
            f"{len(measured)} of {len(gap)} seeds have both consistently outperforming stimuli and others: "
            "too few to compare",
        )
    cons = consistent(results, reading)
    sizes = [cons[cons.consistent]["train size"].mean(), cons[~cons.consistent]["train size"].mean()]
    left_out = len(gap) - len(measured)
    return Claim(
        f"c-{READING_IDS[reading]}",
        f"Consistently outperforming stimuli target classes with fewer training points (centroid: {reading})",
        SOURCE + " (46.84 vs 102.84 mean)",
        (smaller,),
        note=f"{int(cons.consistent.sum())} of {len(cons)} stimuli (both starts, every seed) outperform on every "
        f"fine-tuned child of their seed; their classes' mean training size "
        + " against ".join("–" if pd.isna(v) else f"{v:.1f}" for v in sizes)
        + " for the rest."
        + (
            f" {left_out} seed(s) with no comparison (every or no stimulus consistent) are left out."
            if left_out
            else ""
        ),
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of the strong-stimuli poster as registered (:data:`.config.REGISTRY`),
    measured in this run, (b) and (c) under each reading of the centroid (:data:`READINGS`). The
    replicate is a seed of the children; the foundation is one model, so every claim is about this
    foundation model."""
    modes = mode_table(results)
    fine = modes[modes.child != "scratch"]
    k = len(results.target_classes)
    return ClaimsTable(
        "stimuli",
        registration=stamp(results.config, REGISTRY),
        claims=[
            Claim(
                "a",
                "Most stimuli are mapped to a single label by each fine-tuned child",
                SOURCE + " (mode table)",
                (
                    Estimate.t(
                        CRITERIA["single-label"], fine.groupby("seed")["share of mode"].mean(), REPLICATE
                    ),
                ),
                note=f"A uniform spread over the {k} classes would give {1 / k:.2f}. Finding, not the claim: "
                f"the three most frequent labels take {float(fine['share in top 3'].mean()):.2f} of the "
                "stimuli.",
            ),
            *(_frozen_claim(results, r) for r in READINGS),
            *(_sizes_claim(results, r) for r in READINGS),
        ],
    )
