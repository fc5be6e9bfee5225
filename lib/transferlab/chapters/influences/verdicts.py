"""Chapter 6's claims: each claim's estimates read from the views in :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...methods import subset_influence as inf
from ..claims import LEVEL, Claim, ClaimsTable, Criterion, Estimate, t_interval
from ..registry import stamp
from .analysis import (
    aggregate_lds,
    copy_recall,
    copy_recall_draws,
    influenced_images,
    lds_draws,
    model_grid,
    subpopulation_draws,
    truth_precisions,
)
from .config import CF_SEED, CRITERIA, FULL, REGISTRY, REMOVALS, SOURCE
from .results import Results, planted_truth


def _percentile(
    criterion: Criterion, value: float, draws: np.ndarray, n: int, replicates: str, label: str = ""
) -> Estimate:
    """An estimate with the central 95 % percentile interval of its bootstrap ``draws``."""
    lo, hi = np.nanpercentile(draws, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return Estimate.interval(
        criterion,
        value,
        float(lo),
        float(hi),
        n,
        replicates,
        f"percentiles over {len(draws)} bootstrap draws",
        label,
    )


def _counterfactuals(results: Results) -> pd.DataFrame:
    """(counterfactual seed) × (removal or the full source): accuracy averaged over k (removals
    chosen from all runs)."""
    cf = results.counterfactuals
    if cf.empty:
        return pd.DataFrame()
    cf = cf[cf.removal.isin((*REMOVALS, FULL)) & (cf.models == len(results.masks))]
    return cf.pivot_table(index="seed", columns="removal", values="accuracy")


def _counterfactual_estimates(by: pd.DataFrame) -> tuple[Estimate, ...]:
    """Claim (a)'s estimates from :func:`_counterfactuals`' table."""
    if by.empty or not {*REMOVALS, FULL} <= set(by.columns):
        return tuple(
            Estimate.not_measured(CRITERIA[n], "no counterfactual removals")
            for n in ("positive-hurts", "negative-beats-full")
        )
    return (
        Estimate.t(
            CRITERIA["positive-hurts"], by["random"] - by["most positive"], CF_SEED, "random − most positive"
        ),
        Estimate.t(
            CRITERIA["negative-beats-full"],
            by["most negative"] - by[FULL],
            CF_SEED,
            "most negative − full source",
        ),
    )


def _negative_vs_random(by: pd.DataFrame) -> str:
    """The labelled finding beside claim (a), from :func:`_counterfactuals`' table."""
    if by.empty or not set(REMOVALS) <= set(by.columns):
        return ""
    mean, low, high, _ = t_interval(by["most negative"] - by["random"])
    return (
        f" Finding, not the claim: without the top-k negative − without k random classes, {mean:+.3f} "
        f"[{low:+.3f}, {high:+.3f}] over the counterfactual seeds."
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
    replicate = f"bootstrap resample of the {m} runs and the {len(results.holdout_masks)} held-out runs"
    h = len(results.holdout_masks)
    out = [_percentile(CRITERIA["lds-positive"], point[1], draws[:, 1], h, replicate, f"{m} models")]
    out.append(
        _percentile(
            CRITERIA["lds-improves"],
            point[1] - point[0],
            draws[:, 1] - draws[:, 0],
            h,
            replicate,
            f"{m} − {grid[0]} models",
        )
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
            _percentile(
                CRITERIA[name],
                float(last["recall@10"]),
                copy_recall_draws(results, kind, results.config.bootstrap),
                int(last.copies),
                f"bootstrap resample of the planted copies and the {int(last.models)} gradient models",
                label,
            )
        )
    return tuple(out)


def _debugging_estimates(results: Results) -> tuple[Estimate, ...]:
    names = ("debugging-usually", "debugging-fixes")
    d = results.debugging
    if d.empty:
        return tuple(Estimate.not_measured(CRITERIA[n], "no debugging runs") for n in names)
    share = d.groupby(["seed", "removal"])[["failures", "fixed"]].sum()
    share = (share.fixed / share.failures.where(share.failures > 0)).unstack("removal").dropna()
    if share.empty:
        return tuple(
            Estimate.not_measured(CRITERIA[n], "no failures point at the chosen class") for n in names
        )
    return (
        Estimate.t(
            CRITERIA["debugging-usually"], share["most negative"], "counterfactual seed", "most negative"
        ),
        Estimate.t(
            CRITERIA["debugging-fixes"],
            share["most negative"] - share["random"],
            "counterfactual seed",
            "most negative − random",
        ),
    )


def _subpopulation_estimate(results: Results) -> Estimate:
    rows = influenced_images(results)
    rows = rows[rows.relation == "helps (subpopulation)"] if len(rows) else rows
    if rows.empty:
        return Estimate.not_measured(CRITERIA["finds-subpopulation"], "no planted subpopulation in this data")
    r = rows.iloc[0]
    return _percentile(
        CRITERIA["finds-subpopulation"],
        float(r.precision),
        subpopulation_draws(results, r, results.config.bootstrap),
        int(r["planted images"]),
        f"bootstrap resample of the {len(results.masks)} runs",
        str(r["source class"]),
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(f) of thesis ch. 8 and App. H as registered (:data:`.config.REGISTRY`), measured
    in this run."""
    ks = ", ".join(map(str, results.config.removals))
    by = _counterfactuals(results)
    return ClaimsTable(
        "influences",
        [
            Claim(
                "a",
                "Removing the most positive source classes hurts more than removing random ones; removing the "
                "most negative ones improves on the full source",
                SOURCE + ", § 8.2, Fig. 8.2",
                _counterfactual_estimates(by),
                note=f"Accuracy differences averaged over k = {ks}." + _negative_vs_random(by),
            ),
            Claim(
                "b",
                "Correlation (of predicted and actual outputs on held-out runs) improves with more trained models",
                SOURCE + ", App. H.6, Fig. H.12",
                _convergence_estimates(results),
            ),
            Claim(
                "c",
                "The most positively influencing source classes are related to the target class",
                SOURCE + ", § 8.3.1, Fig. 8.3 (here: each estimator, on the world's planted helpers)",
                _truth_estimates(results),
                note="Per target class: precision of its most positive source classes at as many as it has "
                "planted helpers.",
            ),
            Claim(
                "d",
                "Highly positively influential source images are often leaked copies of the target test "
                "image; highly negatively influential ones misleading",
                SOURCE + ", § 8.3, Fig. 8.7, App. H.4",
                _copy_estimates(results),
                note="The gradient-based estimator, averaged over its full-source models.",
            ),
            Claim(
                "e",
                "Removing an image's most negative influencer usually improves its prediction",
                SOURCE + ", § 8.3, App. H.5 (debugging)",
                _debugging_estimates(results),
            ),
            Claim(
                "f",
                "A source class's most influenced target images are the subpopulation it shares",
                SOURCE + ", Fig. 8.4/8.5",
                (_subpopulation_estimate(results),),
            ),
        ],
        registration=stamp(results.config, REGISTRY),
    )
