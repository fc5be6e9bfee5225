"""Chapter 5's words: the summary and the sweep, written from the numbers."""

from __future__ import annotations

import numpy as np

from .analysis import excess, sweep_table
from .config import EXCESS
from .measure import Results


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    src = results.source.groupby("overlay", sort=False).agg(
        expected=("expected", "first"),
        expected_gain=("expected_gain", "mean"),
        top_gain=("top_gain", "mean"),
        tv=("tv", "mean"),
        top_class=("top_class", lambda c: c.mode().iloc[0]),
    )
    parts = []
    for row in src.reset_index().itertuples():
        if row.expected:
            parts.append(
                f"'{row.overlay}' moves {row.expected_gain:+.0%} of the source models' predictions to "
                f"'{row.expected}' (TV {row.tv:.2f})"
            )
        else:  # no class named: the class it favours most
            parts.append(
                f"'{row.overlay}' moves {row.top_gain:+.0%} of them to '{row.top_class}', the class it "
                f"favours most (no class expected; TV {row.tv:.2f})"
            )
    ex = excess(results).groupby("overlay")[["fixed", "full"]].mean()
    found = ""
    if results.ranking is not None and len(results.ranking):
        top = results.ranking.iloc[0]
        found = (
            f" The search's strongest candidate, '{top.overlay}', moves {top.top_gain:+.0%} of the "
            f"predictions to '{top.top_class}' (TV {top.tv:.2f})."
        )
    transfer = "; ".join(
        f"{o}: {ex.loc[o, 'fixed']:+.3f} fixed-feature, {ex.loc[o, 'full']:+.3f} full-network"
        for o in results.overlays
        if o in ex.index
    )
    return (
        "On the source test set (mean over the seeds' source models), "
        + "; ".join(parts)
        + "."
        + found
        + " On the targets, the share of predictions the favoured class gains in the transferred "
        "models in excess of what it gains in the scratch models (class-matched; mean over targets "
        f"and seeds) is {transfer}."
    )


def sweep_text(results: Results) -> str:
    """Where the skew goes under longer fine-tuning and more weight decay, from the sweep's numbers."""
    c = results.config
    t = sweep_table(results)
    wd0 = c.transfer_recipe("full").weight_decay
    e_lo, e_hi = min(c.sweep_epochs), max(c.sweep_epochs)
    w_lo, w_hi = min(c.sweep_weight_decays), max(c.sweep_weight_decays)

    def at(text: str, epochs: int, wd: float) -> float:
        d = t[(t.overlay == text) & (t.epochs == epochs) & np.isclose(t.weight_decay, wd)]
        return float(d.excess.mean())

    parts = [
        f"'{o}' {at(o, e_lo, wd0):+.3f} after {e_lo} epochs and {at(o, e_hi, wd0):+.3f} after {e_hi}; "
        f"{at(o, c.full_epochs, w_lo):+.3f} at weight decay {w_lo:g} and {at(o, c.full_epochs, w_hi):+.3f} at {w_hi:g}"
        for o in c.overlays
    ]
    return (
        f"On {c.sweep_target}, the full-network models' class-matched excess (mean over seeds) is "
        + "; ".join(parts)
        + f". The claims' margin is {EXCESS:g}."
    )
