"""Chapter 5's claims (a)–(c) of thesis §7.4, one function per claim, each read from a view of
:mod:`.analysis` ((b) for each studied overlay)."""

from __future__ import annotations

import pandas as pd

from ...world import overlay_name, parse_overlay
from ..claims import Claim, ClaimsTable, Estimate
from ..registry import stamp
from .analysis import excess
from .config import CRITERIA, REGISTRY, REPLICATE, ROLES, SOURCE
from .measure import Results


def per_seed_excess(results: Results) -> pd.DataFrame:
    """The class-matched excess over the scratch models per overlay and seed, mean over targets
    (claims (b) and (c))."""
    return excess(results).groupby(["overlay", "seed"])[["fixed", "full", "scratch"]].mean()


def claim_a(results: Results) -> Claim:
    """(a): the share of each seed's source model's predictions each overlay's expected class gains."""
    c, gains = results.config, []
    for text, expected in zip(c.overlays, c.expected):
        if not expected:
            gains.append(Estimate.not_measured(CRITERIA["source-skew"], "no expected class named", text))
            continue
        per_seed = [results.source_shifts[(text, seed)].gain_of(expected) for seed in c.seeds]
        gains.append(Estimate.t(CRITERIA["source-skew"], per_seed, REPLICATE, f"{text} → {expected}"))
    return Claim(
        "a",
        "Each overlay skews the source model towards its class",
        SOURCE + ", Fig. 7.7b, 7.8b, G.7",
        tuple(gains),
        note="Share of the source model's predictions its expected class gains under the overlay, per "
        "seed's source model.",
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


def role_overlay(results: Results, role: str) -> str | None:
    """The studied overlay that plays a role of claim (c) (:data:`.config.ROLES`: the tennis ball
    is removed by full-network transfer, the fence kept), by its overlay name; None if not studied."""
    return next(
        (t for t in results.config.overlays if overlay_name(parse_overlay(t)).split(":")[0] == ROLES[role]),
        None,
    )


def claim_c(results: Results, per_seed: pd.DataFrame) -> Claim:
    """(c): full-network transfer removes the tennis ball's skew, which transfers fixed-feature, and
    keeps the fence's (the roles the thesis names, fixed in the registry)."""
    removed, kept = role_overlay(results, "removed"), role_overlay(results, "kept")
    if removed is not None and kept is not None:
        parts = (
            Estimate.t(
                CRITERIA["skew-transfers"], per_seed.loc[removed, "fixed"], REPLICATE, f"{removed}, fixed"
            ),
            Estimate.t(
                CRITERIA["skew-removed"], per_seed.loc[removed, "full"], REPLICATE, f"{removed}, full"
            ),
            Estimate.t(CRITERIA["skew-transfers"], per_seed.loc[kept, "full"], REPLICATE, f"{kept}, full"),
        )
    else:
        why = f"the run does not study the {ROLES['removed']!r} and {ROLES['kept']!r} overlays"
        parts = (
            Estimate.not_measured(CRITERIA["skew-transfers"], why, "removed, fixed"),
            Estimate.not_measured(CRITERIA["skew-removed"], why, "removed, full"),
            Estimate.not_measured(CRITERIA["skew-transfers"], why, "kept, full"),
        )
    return Claim(
        "c",
        "Full-network transfer removes the tennis ball's skew but not the fence's",
        SOURCE + ", Fig. 7.7d, 7.8d (right), G.2",
        parts,
        note="Class-matched excess over the scratch models, mean over targets. The tennis ball's skew "
        "should transfer fixed-feature and be removed full-network; the fence's should remain "
        "full-network.",
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of thesis §7.4 as registered (:data:`.config.REGISTRY`), measured in this run
    on the studied overlays ((b) for each)."""
    per_seed = per_seed_excess(results)
    return ClaimsTable(
        "wild",
        [claim_a(results), *claims_b(results, per_seed), claim_c(results, per_seed)],
        registration=stamp(results.config, REGISTRY),
    )
