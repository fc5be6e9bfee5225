"""Chapter 7's claims, each read from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ...methods.stats import spearman
from ..claims import LEVEL, Claim, ClaimsTable, Estimate
from .analysis import child_order, consistent, mode_table
from .config import CRITERIA, SOURCE
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
    """Claim (c) under one reading of the centroid."""
    cons = consistent(results, reading)
    sizes = [
        cons[cons.consistent]["train size"].to_numpy(float),
        cons[~cons.consistent]["train size"].to_numpy(float),
    ]
    if min(len(sizes[0]), len(sizes[1])) >= 2:
        test = stats.ttest_ind(*sizes, equal_var=False)
        ci = test.confidence_interval(LEVEL)
        smaller = Estimate.interval(
            CRITERIA["fewer-points"],
            sizes[0].mean() - sizes[1].mean(),
            ci.low,
            ci.high,
            len(cons),
            "stimulus",
            "Welch's t over stimuli",
        )
    else:
        smaller = Estimate.not_measured(
            CRITERIA["fewer-points"],
            f"{len(sizes[0])} consistently outperforming stimuli of {len(cons)}: too few to compare",
        )
    mean = [f"{v.mean():.1f}" if len(v) else "–" for v in sizes]
    return Claim(
        f"c-{READING_IDS[reading]}",
        f"Consistently outperforming stimuli target classes with fewer training points (centroid: {reading})",
        SOURCE + " (46.84 vs 102.84 mean)",
        (smaller,),
        note=f"{len(sizes[0])} of {len(cons)} stimuli outperform on every fine-tuned child; their "
        f"classes' mean training size {mean[0]} against {mean[1]} for the rest.",
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of the strong-stimuli poster, measured in this run, (b) and (c) under each
    reading of the centroid (:data:`READINGS`). The replicate of (a) and (b) is a seed of the
    children (the foundation is one model); that of (c) a stimulus."""
    modes = mode_table(results)
    fine = modes[modes.child != "scratch"]
    k = len(results.target_classes)
    return ClaimsTable(
        "stimuli",
        [
            Claim(
                "a",
                "Each child maps most stimuli to a few labels",
                SOURCE + " (mode table)",
                (
                    Estimate.t(
                        CRITERIA["few-labels"], fine.groupby("seed")["share in top 3"].mean(), REPLICATE
                    ),
                ),
                note=f"A uniform spread over the {k} classes would give {3 / k:.2f}; the most frequent label "
                f"takes {float((fine.frequency / fine.stimuli).mean()):.2f} of the stimuli.",
            ),
            *(_frozen_claim(results, r) for r in READINGS),
            *(_sizes_claim(results, r) for r in READINGS),
        ],
    )
