"""Chapter 5's claims, each read from a view of :mod:`.analysis`."""

from __future__ import annotations

from ..claims import Claim, ClaimsTable, Estimate
from .analysis import excess
from .config import CRITERIA, SOURCE
from .measure import Results


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of thesis §7.4, measured in this run on the studied overlays ((b) for each)."""
    c = results.config
    ex = excess(results)
    per_seed = ex.groupby(["overlay", "seed"])[["fixed", "full", "scratch"]].mean()
    replicate = "seed (transfers and scratch; one source model)"
    gains = []
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
    out = [
        Claim(
            "a",
            "Each overlay skews the source model towards its class",
            SOURCE + ", Fig. 7.7b, 7.8b, G.7",
            tuple(gains),
            note="Share of the source model's predictions its expected class gains under the overlay.",
        )
    ]
    may_transfer = []  # overlays whose fixed-feature skew (b) is not contradicted
    for i, text in enumerate(c.overlays, 1):
        e = per_seed.loc[text]
        b = Claim(
            f"b{i}",
            f"'{text}': fixed-feature transferred models skew under the overlay, models trained from "
            "scratch much less",
            SOURCE + ", Fig. 7.7d, 7.8d (left)",
            (Estimate.t(CRITERIA["skew-transfers"], e["fixed"], replicate),),
            note=f"Mean over targets; the scratch models' own skew towards the same classes is "
            f"{e['scratch'].mean():.3f}.",
        )
        out.append(b)
        if b.verdict != "contradicted":
            may_transfer.append(text)
    if len(may_transfer) >= 2:
        full = per_seed.loc[may_transfer, "full"].groupby("overlay")
        removed, kept = full.mean().idxmin(), full.mean().idxmax()
        parts = (
            Estimate.t(
                CRITERIA["skew-transfers"], per_seed.loc[removed, "fixed"], replicate, f"{removed}, fixed"
            ),
            Estimate.t(CRITERIA["skew-removed"], full.get_group(removed), replicate, f"{removed}, full"),
            Estimate.t(CRITERIA["skew-transfers"], full.get_group(kept), replicate, f"{kept}, full"),
        )
    else:
        why = "fewer than two overlays whose skew may transfer in (b)"
        parts = (
            Estimate.not_measured(CRITERIA["skew-removed"], why, "removed"),
            Estimate.not_measured(CRITERIA["skew-transfers"], why, "kept"),
        )
    out.append(
        Claim(
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
    )
    return ClaimsTable("wild", out)
