"""Chapter 5's claims (a)–(c) of thesis §7.4, one function per claim, each read from a view of
:mod:`.analysis` ((b) for each studied overlay)."""

from __future__ import annotations

import pandas as pd

from ..claims import Claim, ClaimsTable, Estimate
from .analysis import excess
from .config import CRITERIA, SOURCE
from .measure import Results

REPLICATE = "seed (transfers and scratch; one source model)"


def per_seed_excess(results: Results) -> pd.DataFrame:
    """The class-matched excess over the scratch models per overlay and seed, mean over targets
    (claims (b) and (c))."""
    return excess(results).groupby(["overlay", "seed"])[["fixed", "full", "scratch"]].mean()


def claim_a(results: Results) -> Claim:
    """(a): the share of the source model's predictions each overlay's expected class gains."""
    c, gains = results.config, []
    for text, expected in zip(c.overlays, c.expected):
        if not expected:
            gains.append(Estimate.not_measured(CRITERIA["source-skew"], "no expected class named", text))
            continue
        shift = results.source_shifts[text]
        low, high = shift.gain_interval(expected)
        gains.append(
            Estimate.interval(
                CRITERIA["source-skew"],
                shift.gain_of(expected),
                low,
                high,
                shift.n,
                "source test image (one source model)",
                "t over images",
                f"{text} → {expected}",
            )
        )
    return Claim(
        "a",
        "Each overlay skews the source model towards its class",
        SOURCE + ", Fig. 7.7b, 7.8b, G.7",
        tuple(gains),
        note="Share of the source model's predictions its expected class gains under the overlay.",
    )


def claims_b(results: Results, per_seed: pd.DataFrame) -> list[Claim]:
    """(b), one claim per studied overlay: its fixed-feature skew in excess of scratch."""
    out = []
    for i, text in enumerate(results.config.overlays, 1):
        e = per_seed.loc[text]
        out.append(
            Claim(
                f"b{i}",
                f"'{text}': fixed-feature transferred models skew under the overlay, models trained from "
                "scratch much less",
                SOURCE + ", Fig. 7.7d, 7.8d (left)",
                (Estimate.t(CRITERIA["skew-transfers"], e["fixed"], REPLICATE),),
                note=f"Mean over targets; the scratch models' own skew towards the same classes is "
                f"{e['scratch'].mean():.3f}.",
            )
        )
    return out


def claim_c(per_seed: pd.DataFrame, may_transfer: list[str]) -> Claim:
    """(c): among the overlays whose (b) is not contradicted, full-network transfer removes the
    skew of one and keeps the other's."""
    if len(may_transfer) >= 2:
        full = per_seed.loc[may_transfer, "full"].groupby("overlay")
        removed, kept = full.mean().idxmin(), full.mean().idxmax()
        parts = (
            Estimate.t(
                CRITERIA["skew-transfers"], per_seed.loc[removed, "fixed"], REPLICATE, f"{removed}, fixed"
            ),
            Estimate.t(CRITERIA["skew-removed"], full.get_group(removed), REPLICATE, f"{removed}, full"),
            Estimate.t(CRITERIA["skew-transfers"], full.get_group(kept), REPLICATE, f"{kept}, full"),
        )
    else:
        why = "fewer than two overlays whose skew may transfer in (b)"
        parts = (
            Estimate.not_measured(CRITERIA["skew-removed"], why, "removed"),
            Estimate.not_measured(CRITERIA["skew-transfers"], why, "kept"),
        )
    return Claim(
        "c",
        "Full-network transfer removes the skew for some biases (thesis: tennis ball) but not for "
        "others (fence)",
        SOURCE + ", Fig. 7.7d, 7.8d (right), G.2",
        parts,
        note="Class-matched excess over the scratch models, mean over targets. Among the overlays whose "
        "fixed-feature skew (b) is not contradicted, the one with the smallest full-network mean "
        "should have transferred fixed-feature and be removed full-network, the one with the "
        "largest kept.",
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of thesis §7.4, measured in this run on the studied overlays ((b) for each)."""
    per_seed = per_seed_excess(results)
    b = claims_b(results, per_seed)
    may_transfer = [
        text for text, claim in zip(results.config.overlays, b) if claim.verdict != "contradicted"
    ]
    return ClaimsTable("wild", [claim_a(results), *b, claim_c(per_seed, may_transfer)])
