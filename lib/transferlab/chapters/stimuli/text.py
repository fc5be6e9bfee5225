"""Chapter 7's words: the summary and the findings, written from the numbers."""

from __future__ import annotations

from .analysis import child_order, consistent, identification, mode_table, outperforming, responses
from .measure import READINGS, Results


def summary_text(results: Results) -> str:
    c = results.config
    acc = results.accuracy
    main = acc[(acc.parent <= 0)].groupby("child").accuracy.mean()
    ident = identification(results).groupby("probe").right.mean()
    return (
        f"A {c.arch} foundation on the first {c.k()} source classes; children fine-tuned on {c.target} "
        f"({len(results.target_classes)} classes, {results.train_sizes.min()}–{results.train_sizes.max()} "
        f"training images per class) reach "
        + ", ".join(f"{ch} {main[ch]:.0%}" for ch in child_order(main.index))
        + " test accuracy. "
        f"The shadow-model probe names the right parent of {ident['margin']:.0%} of the children by the "
        f"poster's distances and {ident['confidence']:.0%} by the children's confidence (chance {1 / c.shadows:.0%})."
    )


def findings_text(results: Results) -> str:
    """What this run found, in words that follow the numbers."""
    modes = mode_table(results)
    fine = modes[modes.child != "scratch"]
    scratch = modes[modes.child == "scratch"]
    out = outperforming(results).groupby(["reading", "child"])["mean"].sum()
    order = child_order(out.index.get_level_values("child"))
    ident = identification(results)
    overall = ident.groupby("probe").right.mean()
    lines = [
        f"- **Modes**: on average {fine['share in top 3'].mean():.0%} of a fine-tuned child's stimuli fall on its "
        f"three most frequent labels"
        + (f" ({scratch['share in top 3'].mean():.0%} for scratch)." if len(scratch) else ".")
    ]
    fit = results.centroids.groupby(["reading", "child"]).distance.mean()
    for reading in READINGS:
        lines.append(
            f"- **Outperforming stimuli, centroid = {reading}**, per child (of {2 * len(results.source_classes)}: "
            "both starts, mean over seeds): "
            + ", ".join(f"{c} {out[(reading, c)]:.1f}" for c in order)
            + "; the centroids' mean distance to their one-hot vectors: "
            + ", ".join(f"{c} {fit[(reading, c)]:.2f}" for c in order)
            + "."
        )
    resp = responses(results)
    lines.append(
        "- **Confidence on the stimuli** (whatever the label): "
        + ", ".join(f"{c} {v:.2f}" for c, v in resp["on stimuli"].items())
        + "; on the target's own test images: "
        + ", ".join(f"{c} {v:.2f}" for c, v in resp["on target test images"].items())
        + "."
    )
    for reading in READINGS:
        cons = consistent(results, reading)
        if cons.consistent.any():
            lines.append(
                f"- **Consistently outperforming** stimuli (centroid = {reading}): {int(cons.consistent.sum())} "
                f"of {len(cons)}, whose target classes have {cons[cons.consistent]['train size'].mean():.1f} "
                f"training images on average against {cons[~cons.consistent]['train size'].mean():.1f} for "
                "the rest."
            )
        else:
            lines.append(
                f"- **No stimulus outperforms on every fine-tuned child** (centroid = {reading}), so the "
                "poster's third comparison has nothing to compare under that reading."
            )
    lines.append(
        f"- **The probe** names the right parent of {overall['margin']:.0%} of the children by the poster's "
        f"distances and of {overall['confidence']:.0%} by the children's confidence on the stimuli (chance "
        f"{1 / results.config.shadows:.0%})."
    )
    return "\n".join(lines)
