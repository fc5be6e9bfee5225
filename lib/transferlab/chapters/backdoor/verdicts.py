"""Chapter 2's claims (a)-(h) of thesis §7.2, each read from its view in :mod:`.analysis`.

The replicate is a seed: seed s trains the clean and the backdoored sources of seed s and transfers
both with seed s, so every gap is a per-seed difference that holds the variance of the sources and
of the transfers."""

from __future__ import annotations

import numpy as np

from ..claims import Claim, ClaimsTable, Estimate
from ..registry import stamp
from .analysis import (
    arch_gaps,
    asr_gap,
    debias_comparison,
    frequency_sweep,
    learned_fractions,
    main_gaps,
    per_seed,
    scratch_change,
    source_asr,
    source_learning,
    weight_decay_sweep,
)
from .config import CRITERIA, REGISTRY, REPLICATE, SOURCE
from .measure import Results


def claim_a(results: Results) -> Claim:
    """Fixed-feature: the backdoored source's target ASR above the clean one's, per target."""
    c, gap = results.config, main_gaps(results)
    fixed = gap[gap["mode"] == "fixed"]
    return Claim(
        "a",
        "Fixed-feature: a backdoored source gives a clearly higher target ASR than a clean one, on every target",
        SOURCE + ", Fig. 7.1",
        tuple(
            Estimate.t(CRITERIA["asr-gap"], per_seed(fixed[fixed.target == target]), REPLICATE, target)
            for target in c.targets
        ),
        note=f"Trigger on {c.trigger_fraction:.0%} of the dogs.",
    )


def claim_b(results: Results) -> Claim:
    """At the smallest fraction of the sweep (the thesis' 10 %), the target gap, where the sources
    have learned the trigger there (n/a with the reason otherwise); the source ASR's growth; and no
    trend of the target gap across the fractions the sources learn (an equivalence)."""
    freq = asr_gap(frequency_sweep(results), ["target"])
    src = source_asr(results)
    fractions = sorted(f for f in src.columns if f > 0)
    small = min(results.config.trigger_fractions)
    learned = learned_fractions(results)

    def gap(f: float):
        return per_seed(freq[freq.fraction == f])

    if small in learned:
        transfers = Estimate.t(CRITERIA["asr-gap"], gap(small), REPLICATE, f"{small:.0%}, targets")
    else:
        learns = source_learning(results, small)
        transfers = Estimate.not_measured(
            CRITERIA["asr-gap"],
            f"the sources have not learned the trigger at {small:.0%}: their ASR gap "
            f"{learns.value:+.3f} [{learns.low:.3f}, {learns.high:.3f}] is not above the "
            f"'source-learns' margin {CRITERIA['source-learns'].margin:g}, so there is nothing to pass on "
            "(the regime grid is the finding)",
            f"{small:.0%}, targets",
        )
    trend = (
        Estimate.t(
            CRITERIA["no-trend"],
            gap(max(learned)) - gap(min(learned)),
            REPLICATE,
            f"target gap, {min(learned):.0%} → {max(learned):.0%}",
        )
        if len(learned) >= 2
        else Estimate.not_measured(
            CRITERIA["no-trend"],
            f"the sources learn the trigger at {len(learned)} fraction(s) of the sweep: no trend to read",
            "target gap",
        )
    )
    return Claim(
        "b",
        "Bias transfers even at a small trigger frequency, with no clear trend in frequency on the "
        "target although the source ASR grows",
        SOURCE + ", Fig. 7.2",
        (
            transfers,
            Estimate.t(
                CRITERIA["source-asr-grows"],
                src[max(fractions)] - src[min(fractions)],
                "seed (source models)",
                f"source, {min(fractions):.0%} → {max(fractions):.0%}",
            ),
            trend,
        ),
        note="Fixed-feature target gaps, means over targets. The sources have learned the trigger "
        "(source ASR gap above the 'source-learns' margin, whole interval) at: "
        + (", ".join(f"{f:.0%}" for f in learned) or "no fraction")
        + "; source ASR gap per fraction: "
        + ", ".join(f"{f:.0%} {(src[f] - src[0.0]).mean():+.3f}" for f in fractions)
        + ".",
    )


def claim_c(results: Results) -> Claim:
    """Full-network transfer keeps part of the fixed-feature gap."""
    gap = main_gaps(results)
    fixed, full = per_seed(gap[gap["mode"] == "fixed"]), per_seed(gap[gap["mode"] == "full"])
    return Claim(
        "c",
        "Full-network transfer reduces the transferred bias but does not remove it",
        SOURCE + ", Fig. 7.1",
        (
            Estimate.t(CRITERIA["full-remains"], full, REPLICATE, "full"),
            Estimate.t(CRITERIA["full-reduces"], fixed - full, REPLICATE, "fixed − full"),
        ),
        note="ASR gaps are means over targets.",
    )


def claim_d(results: Results) -> Claim:
    """The largest weight decay against the smallest, per mode."""
    c = results.config
    wgap = asr_gap(weight_decay_sweep(results), ["mode", "weight_decay"])
    lo, hi = min(c.weight_decays), max(c.weight_decays)

    def at(mode: str, w: float):
        return per_seed(wgap[(wgap["mode"] == mode) & np.isclose(wgap.weight_decay, w)])

    return Claim(
        "d",
        "Weight decay reduces the bias in full-network transfer, not in fixed-feature",
        SOURCE + ", Fig. 7.3",
        (
            Estimate.t(CRITERIA["decay-halves"], at("full", hi) - 0.5 * at("full", lo), REPLICATE, "full"),
            Estimate.t(CRITERIA["decay-keeps"], at("fixed", hi) - 0.5 * at("fixed", lo), REPLICATE, "fixed"),
        ),
        note=f"On {c.sweep_target}, weight decay {hi:g} against {lo:g}.",
    )


def claim_e(results: Results) -> Claim:
    """The de-biased target's gap, per mode."""
    c = results.config
    dgap = asr_gap(debias_comparison(results), ["mode", "debiased"])

    def dg(mode: str, debiased: bool):
        return per_seed(dgap[(dgap["mode"] == mode) & (dgap.debiased == debiased)])

    return Claim(
        "e",
        "De-biasing the target removes the bias in full-network transfer, not in fixed-feature",
        SOURCE + ", Fig. 7.4",
        (
            Estimate.t(
                CRITERIA["debias-removes"],
                dg("full", True) - np.maximum(0.02, 0.25 * dg("full", False)),
                REPLICATE,
                "full",
            ),
            Estimate.t(CRITERIA["asr-gap"], dg("fixed", True), REPLICATE, "fixed"),
        ),
        note=f"On {c.sweep_target} with {c.debias_fraction:.0%} of its training images triggered.",
    )


def claim_f(results: Results) -> Claim:
    """Scratch models' accuracy change under the trigger, per target."""
    s = scratch_change(results)
    return Claim(
        "f",
        "Models trained from scratch on the target are not affected by the trigger",
        SOURCE + ", App. G.1.7 (Fig. G.5b)",
        tuple(
            Estimate.t(CRITERIA["scratch-unaffected"], s[s.target == target].change, "seed (scratch)", target)
            for target in results.config.targets
        ),
    )


def claim_g(results: Results) -> Claim:
    """Backdoored − clean clean accuracy, per target and mode."""
    gap = main_gaps(results)
    return Claim(
        "g",
        "Clean accuracy is about the same after transfer from a clean or a backdoored source",
        SOURCE + ", App. G.1.6 (Fig. G.4)",
        tuple(
            Estimate.t(
                CRITERIA["same-accuracy"],
                per_seed(gap[(gap.target == target) & (gap["mode"] == mode)], "accuracy"),
                REPLICATE,
                f"{target}, {mode}",
            )
            for target in results.config.targets
            for mode in ("fixed", "full")
        ),
    )


def claim_h(results: Results) -> Claim:
    """The fixed-feature gap per architecture."""
    archs = arch_gaps(results)
    fixed = archs[archs["mode"] == "fixed"]
    return Claim(
        "h",
        "The bias transfers across architectures (fixed-feature)",
        SOURCE + ", App. G.1.4 (Fig. G.1)",
        tuple(
            Estimate.t(CRITERIA["asr-gap"], per_seed(fixed[fixed.arch == arch]), REPLICATE, arch)
            for arch in results.config.archs
        ),
        note="ASR gap, mean over targets.",
    )


CLAIMS = (claim_a, claim_b, claim_c, claim_d, claim_e, claim_f, claim_g, claim_h)


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(h) of thesis §7.2 as registered (:data:`.config.REGISTRY`), measured in this run
    (one function per claim above)."""
    return ClaimsTable(
        "backdoor", [claim(results) for claim in CLAIMS], registration=stamp(results.config, REGISTRY)
    )
