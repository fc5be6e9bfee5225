"""Chapter 9's summary, written from the numbers."""

from __future__ import annotations

from .analysis import gains, source_table
from .config import MODE_NAMES, MODES
from .measure import Results


def summary_text(results: Results) -> str:
    """What this run found, from the numbers."""
    g = gains(results)
    src = source_table(results)
    c = results.config
    ev = src.loc["evaluation"] if "evaluation" in src.index.get_level_values(0) else src
    std = ev.loc[(c.arch, 0.0)]
    rob = ev.loc[(c.arch, c.width_eps)] if (c.arch, c.width_eps) in ev.index else None
    text = (
        f"The standard {c.arch} source reaches {std.accuracy:.1%} on the source test set"
        + (
            f"; trained at ε = {c.width_eps:g} it reaches {rob.accuracy:.1%}, and under a {c.test_steps}-step PGD "
            f"attack of that radius {rob[f'robust@{c.width_eps:g}']:.1%} (the standard one: "
            f"{std[f'robust@{c.width_eps:g}']:.1%})"
            if rob is not None and f"robust@{c.width_eps:g}" in ev.columns
            else ""
        )
        + ". "
    )
    for mode in MODES:
        m = g[g["mode"] == mode]
        text += (
            f"{MODE_NAMES[mode].capitalize()}: the robust sources (ε chosen per target on the selection seeds) "
            f"change transfer accuracy by {m.gain.mean():+.3f} on average over targets and seeds. "
        )
    return text
