"""Chapter 2's words: what the regime grid says and the run's summary, written from the numbers."""

from __future__ import annotations

from .analysis import committed_regime, main_gaps, regime_table
from .measure import Results

# what the regime grid says, by whether the number (first) and the share (second) of triggered
# images separate the cells where the source learns the square from the others
SEPARATES = {
    (True, True): "Both the share and the number separate the cells where it learns from the others, so this "
    "grid cannot tell which decides (a larger superclass at a smaller share would, e.g. "
    "`-p dog_scales 1,5 -p regime_fractions 0.1,0.2,0.5`). ",
    (True, False): "The number of triggered images, not their share, separates the cells where it learns. ",
    (False, True): "Their share, not their number, separates the cells where it learns. ",
    (False, False): "Neither the share nor the number alone separates the cells where it learns. ",
}


def regime_text(results: Results) -> str:
    """What the regime grid says: where the source learns the trigger, by share and by count."""
    d, c = regime_table(results), results.config
    left_out = sorted(set(c.dog_scales) - set(c.regime_scales()))
    note = (
        f"Dog scales {', '.join(f'{s:g}' for s in left_out)} are left out: a real data set has the dog "
        "images it has (scales of at most 1 subsample them). "
        if left_out
        else ""
    )
    if results.regime.empty:
        note += (
            "This run has no regime grid (`regime_fractions` is empty, the default: its sources cost "
            "three times the dogs); these are the cells as last measured: " + committed_regime()[1] + " "
        )
    parts = []
    for scale, g in d.groupby("scale"):
        got = g[g.learned]
        parts.append(
            f"with {int(g.dog_images.iloc[0]):,} dog images (scale {scale:g}) the source learns the square at "
            + (
                ", ".join(f"{f:.0%} ({n:,} images)" for f, n in zip(got.fraction, got.triggered))
                or "no fraction"
            )
        )
    text = note + "In the regime grid (one source seed per cell), " + "; ".join(parts) + ". "
    learned, unlearned = d[d.learned], d[~d.learned]
    if len(learned) and len(unlearned):
        by_count = bool(learned.triggered.min() > unlearned.triggered.max())
        by_share = bool(learned.fraction.min() > unlearned.fraction.max())
        text += (
            f"The fewest triggered images it learns from: {learned.triggered.min():,}; "
            f"the most it does not: {unlearned.triggered.max():,}. " + SEPARATES[(by_count, by_share)]
        )
    return text + (
        "The thesis' 10 % of ImageNet's dogs is about 15,000 triggered images, more than any cell here."
    )


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    c = results.config
    src = results.sources[results.sources.arch == c.arch].groupby("fraction").mean(numeric_only=True)
    gap = main_gaps(results).groupby("mode").asr.mean()
    return (
        f"The clean source models reach {src.loc[0.0, 'source_accuracy']:.1%} on their test set (mean over "
        f"seeds), with a "
        f"source ASR of {src.loc[0.0, 'asr']:.3f} (the share of their correct answers on non-dog images that "
        f"the square overturns without any planting); with the "
        f"trigger on {c.trigger_fraction:.0%} of the dogs their source ASR is "
        f"{src.loc[c.trigger_fraction, 'asr']:.3f}. After transfer, the backdoored sources raise the "
        f"target ASR by {gap.get('fixed', float('nan')):+.3f} (fixed-feature) and "
        f"{gap.get('full', float('nan')):+.3f} (full-network) on average over the targets."
    )
