"""Chapter 6's claims: each claim's estimates read from the views in :mod:`.analysis`."""

from __future__ import annotations

import numpy as np

from ...methods import subset_influence as inf
from ...methods.stats import wilson
from ..claims import LEVEL, Claim, ClaimsTable, Criterion, Estimate
from .analysis import aggregate_lds, copy_recall, influenced_images, lds_draws, model_grid, truth_precisions
from .config import CRITERIA, REMOVALS, SOURCE
from .results import Results, planted_truth


def _proportion(
    criterion: Criterion, found: int, n: int, chance: float, replicates: str, label: str = ""
) -> Estimate:
    """A share found − its chance level, with the Wilson interval of the share."""
    lo, hi = wilson(found, n, LEVEL)
    return Estimate.interval(
        criterion, found / n - chance, lo - chance, hi - chance, n, replicates, "Wilson", label
    )


def _counterfactual_estimates(results: Results) -> tuple[Estimate, ...]:
    cf = results.counterfactuals
    if not cf.empty:
        cf = cf[cf.removal.isin(REMOVALS) & (cf.models == len(results.masks))]
    replicate = "counterfactual seed (sources and transfers)"
    if cf.empty or not set(REMOVALS) <= set(cf.removal):
        return tuple(
            Estimate.not_measured(CRITERIA[n], "no counterfactual removals")
            for n in ("positive-hurts", "negative-helps")
        )
    by = cf.pivot_table(index="seed", columns=["removal", "k"], values="accuracy")
    pos, neg, rnd = (by[r].mean(axis=1) for r in REMOVALS)
    return (
        Estimate.t(CRITERIA["positive-hurts"], rnd - pos, replicate, "random − most positive"),
        Estimate.t(CRITERIA["negative-helps"], neg - rnd, replicate, "most negative − random"),
    )


def _convergence_estimates(results: Results) -> tuple[Estimate, ...]:
    names = ("lds-positive", "lds-improves")
    if len(results.holdout_masks) < 3:
        return tuple(Estimate.not_measured(CRITERIA[n], "fewer than 3 held-out runs") for n in names)
    grid = model_grid(results)
    m = len(results.masks)
    draws = lds_draws(results, (grid[0], m), results.config.bootstrap)
    point = [
        aggregate_lds(results, inf.difference_of_means(results.masks[:g], results.y[:g]))
        for g in (grid[0], m)
    ]
    lo, hi = 100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2
    replicate = f"bootstrap resample of the {len(results.holdout_masks)} held-out runs"

    def est(name, value, samples, label):
        return Estimate.interval(
            CRITERIA[name],
            value,
            *np.nanpercentile(samples, [lo, hi]),
            len(results.holdout_masks),
            replicate,
            f"percentiles over {len(samples)} bootstrap resamples",
            label,
        )

    out = [est("lds-positive", point[1], draws[:, 1], f"{m} models")]
    out.append(
        est("lds-improves", point[1] - point[0], draws[:, 1] - draws[:, 0], f"{m} − {grid[0]} models")
        if grid[0] < m
        else Estimate.not_measured(CRITERIA["lds-improves"], "fewer than 16 runs: no smaller model count")
    )
    return tuple(out)


def _truth_estimates(results: Results) -> tuple[Estimate, ...]:
    if planted_truth(results) is None:
        return (Estimate.not_measured(CRITERIA["recovers-helpers"], "no planted truth in this data"),)
    return tuple(
        Estimate.t(
            CRITERIA["recovers-helpers"],
            truth_precisions(results, w),
            "target class with planted helpers",
            name,
        )
        for name, w in results.all_estimates.items()
    )


def _copy_estimates(results: Results) -> tuple[Estimate, ...]:
    out = []
    for kind, name, label in (
        ("leaks", "finds-leaks", "leaks"),
        ("misleads", "finds-misleading", "misleading copies"),
    ):
        table = copy_recall(results, kind)
        if table.empty:
            out.append(Estimate.not_measured(CRITERIA[name], f"no planted {kind} in this data"))
            continue
        last = table.iloc[-1]
        out.append(
            _proportion(
                CRITERIA[name],
                int(last.found),
                int(last.copies),
                float(last["chance@10"]),
                f"planted copy ({int(last.models)} gradient models)",
                label,
            )
        )
    return tuple(out)


def _debugging_estimate(results: Results) -> Estimate:
    d = results.debugging
    if d.empty:
        return Estimate.not_measured(CRITERIA["debugging-fixes"], "no debugging runs")
    share = d.groupby(["seed", "removal"])[["failures", "fixed"]].sum()
    share = (share.fixed / share.failures.where(share.failures > 0)).unstack("removal").dropna()
    if share.empty:
        return Estimate.not_measured(CRITERIA["debugging-fixes"], "no failures point at the chosen class")
    return Estimate.t(
        CRITERIA["debugging-fixes"],
        share["most negative"] - share["random"],
        "counterfactual seed",
        "most negative − random",
    )


def _subpopulation_estimate(results: Results) -> Estimate:
    rows = influenced_images(results)
    rows = rows[rows.relation == "helps (subpopulation)"] if len(rows) else rows
    if rows.empty:
        return Estimate.not_measured(CRITERIA["finds-subpopulation"], "no planted subpopulation in this data")
    r = rows.iloc[0]
    return _proportion(
        CRITERIA["finds-subpopulation"],
        int(r["top images on them"]),
        int(r["planted images"]),
        float(r["share of the test set"]),
        "target test image",
        str(r["source class"]),
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(f) of thesis ch. 8 and App. H, measured in this run."""
    ks = ", ".join(map(str, results.config.removals))
    return ClaimsTable(
        "influences",
        [
            Claim(
                "a",
                "Removing the most positive source classes hurts target accuracy more than removing random "
                "ones; removing the most negative ones hurts less",
                SOURCE + ", Fig. 8.3; blog post",
                _counterfactual_estimates(results),
                note=f"Accuracy differences averaged over k = {ks}.",
            ),
            Claim(
                "b",
                "The estimates converge as models are added: they predict held-out runs, better with more models",
                SOURCE + ", App. H.1.5 and H.6",
                _convergence_estimates(results),
            ),
            Claim(
                "c",
                "Each estimator recovers the planted helpers",
                "thesis ch. 8, on the world's planted truth",
                _truth_estimates(results),
                note="Per target class: precision of its most positive source classes at as many as it has "
                "planted helpers, minus chance.",
            ),
            Claim(
                "d",
                "Example-level attribution finds leaked and misleading near-copies of target images",
                SOURCE + ", § 8.3 and App. H.4",
                _copy_estimates(results),
                note="The gradient-based estimator, averaged over its full-source models.",
            ),
            Claim(
                "e",
                "Removing a failure's most negative source class fixes it more often than removing a random class",
                SOURCE + ", § 8.3 (debugging)",
                (_debugging_estimate(results),),
            ),
            Claim(
                "f",
                "A source class's most influenced target images are the subpopulation it shares",
                SOURCE + ", Fig. 8.4/8.5",
                (_subpopulation_estimate(results),),
            ),
        ],
    )
