"""Chapter 5's views of the results: the biases the finder found, each model's skew towards the
class an overlay favours, its excess over scratch, and the sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import KIND_NAMES, KINDS
from .measure import Results


def favoured_class(results: Results, overlay: str, target: str, seed: int) -> int:
    """The target class an overlay makes the fixed-feature models pile onto, for the models of
    ``seed``: chosen on the *other* seeds' models (mean gain; all seeds when there is one), so that a
    seed's own noise does not pick the class its excess is then measured on."""
    seeds = [s for s in results.config.seeds if s != seed] or [seed]
    gains = np.mean([results.target_shifts[(overlay, target, "fixed", s)].gain for s in seeds], axis=0)
    return int(np.argmax(gains))


def excess(results: Results) -> pd.DataFrame:
    """Per overlay, target and seed, class-matched: the share of predictions the class the overlay
    favours (:func:`favoured_class`) gains in the fixed-feature and the full-network model, minus
    what the same class gains in the scratch model of the seed (column ``scratch``: that gain). A
    model that only loses sight of an occluded object scatters its predictions or piles them onto a
    class the overlay looks like; a model with the source's bias piles them onto the class its
    transferred features map the overlay to, which a scratch model has no reason to favour."""
    rows = []
    for text, target, seed in results.targets.set_index(["overlay", "target", "seed"]).index.unique():
        c = favoured_class(results, text, target, seed)
        gain = {k: float(results.target_shifts[(text, target, k, seed)].gain[c]) for k in KINDS}
        rows.append(
            {
                "overlay": text,
                "target": target,
                "seed": seed,
                "class": results.target_shifts[(text, target, "fixed", seed)].classes[c],
                "fixed": gain["fixed"] - gain["scratch"],
                "full": gain["full"] - gain["scratch"],
                "scratch": gain["scratch"],
            }
        )
    return pd.DataFrame(rows)


def sweep_table(results: Results) -> pd.DataFrame:
    """The full-network sweep on `sweep_target`: per overlay, seed, epochs and weight decay, the
    class-matched excess over the seed's scratch model (as :func:`excess`)."""
    c = results.config
    rows = []
    for (text, seed, epochs, wd), shift in results.sweep_shifts.items():
        k = favoured_class(results, text, c.sweep_target, seed)
        scratch = results.target_shifts[(text, c.sweep_target, "scratch", seed)].gain[k]
        rows.append(
            {
                "overlay": text,
                "seed": seed,
                "epochs": epochs,
                "weight_decay": wd,
                "excess": float(shift.gain[k] - scratch),
            }
        )
    return pd.DataFrame(rows)


def shift_table(results: Results) -> pd.DataFrame:
    """Mean skew (share gained by the most-favoured class) and TV distance under each overlay, per
    target and kind of model."""
    t = results.targets.groupby(["overlay", "target", "kind"])[["top_gain", "tv"]].mean().unstack("kind")
    t = t.rename(columns={"top_gain": "skew", "tv": "TV", **KIND_NAMES})
    return t.reindex(results.overlays, level=0)
