"""Chapter 9's views of the results, one per claim (each shared by the claim and its table or
figure): robust gains, widths, texture, granularity and the sources."""

from __future__ import annotations

import pandas as pd

from ..claims import Estimate
from .config import CRITERIA, REPLICATE
from .measure import Results


def gains(results: Results) -> pd.DataFrame:
    """Per evaluation seed, target and mode: the chosen-ε source's transfer accuracy minus the
    standard source's (``arch``)."""
    c, t = results.config, results.transfers
    rows = []
    for r in results.chosen.itertuples():
        d = (
            t[(t.arch == c.arch) & (t.target == r.target) & (t["mode"] == r.mode)]
            .set_index(["seed", "eps"])
            .accuracy
        )
        for seed in c.seeds:
            rows.append(
                {
                    "seed": seed,
                    "target": r.target,
                    "mode": r.mode,
                    "eps": r.eps,
                    "gain": d[(seed, r.eps)] - d[(seed, 0.0)],
                }
            )
    return pd.DataFrame(rows)


def _fixed_transfers(results: Results, arch: str) -> pd.Series:
    """The evaluation stage's fixed-feature transfer accuracies of ``arch``'s sources, by target, ε and seed."""
    t = results.transfers
    return (
        t[(t.arch == arch) & (t["mode"] == "fixed")]
        .set_index(["target", "eps", "seed"])
        .sort_index()
        .accuracy
    )


def texture_gains(results: Results) -> pd.DataFrame:
    """Per evaluation seed and target: fixed-feature transfer accuracy of the standard, the
    texture-invariant and the robust source (its chosen ε), and the robust one's gain over the
    texture-invariant one (empty when ``texture`` is off)."""
    if results.texture.empty:
        return pd.DataFrame()
    c = results.config
    fixed = _fixed_transfers(results, c.arch)
    texture = results.texture.set_index(["target", "seed"]).accuracy
    rows = []
    for r in results.chosen[results.chosen["mode"] == "fixed"].itertuples():
        for seed in c.seeds:
            robust, invariant = fixed[(r.target, r.eps, seed)], texture[(r.target, seed)]
            rows.append(
                {
                    "seed": seed,
                    "target": r.target,
                    "eps": r.eps,
                    "standard": fixed[(r.target, 0.0, seed)],
                    "texture-invariant": invariant,
                    "robust": robust,
                    "gain": robust - invariant,
                }
            )
    return pd.DataFrame(rows)


def texture_table(results: Results) -> pd.DataFrame:
    """Fig. 2.8 as a table: per target, the three sources' fixed-feature transfer accuracy (mean over
    the evaluation seeds) and the robust one's gain over the texture-invariant one, with its 95 %
    interval."""
    g = texture_gains(results)
    if g.empty:
        return pd.DataFrame()
    rows = [
        {
            "target": target,
            **d[["standard", "texture-invariant", "robust"]].mean(),
            "ε": eps,
            **_interval(d.gain, "robust-beats-texture"),
        }
        for (target, eps), d in g.groupby(["target", "eps"])
    ]
    return pd.DataFrame(rows).set_index("target").round(3)


def width_table(results: Results) -> pd.DataFrame:
    """Per architecture, ε (0 and ``width_eps``) and seed: source accuracy and fixed-feature transfer
    accuracy (mean over targets)."""
    c = results.config
    t = results.transfers
    fixed = t[(t["mode"] == "fixed") & t.eps.isin([0.0, c.width_eps]) & t.arch.isin(c.archs)]
    transfer = fixed.groupby(["arch", "eps", "seed"]).accuracy.mean().rename("transfer")
    src = results.sources[results.sources.stage == "evaluation"].drop_duplicates(["arch", "eps", "seed"])
    source = src.set_index(["arch", "eps", "seed"]).accuracy.rename("source")
    return pd.concat([source, transfer], axis=1, join="inner").reset_index()


def best_eps(results: Results) -> pd.DataFrame:
    """Per selection seed, target and mode: the ε > 0 with the best transfer accuracy on that seed."""
    s = results.selection[results.selection.eps > 0]
    return s.loc[s.groupby(["seed", "target", "mode"]).accuracy.idxmax(), ["seed", "target", "mode", "eps"]]


def granularity_table(results: Results) -> pd.DataFrame:
    """Fig. 2.7 as a table: per target and granularity factor, the fixed-feature transfer accuracy
    of every ε (mean over the selection seeds) and the best ε > 0."""
    g = results.granularity
    if g.empty:
        return pd.DataFrame()
    means = g.groupby(["target", "factor", "eps"]).accuracy.mean().unstack("eps")
    robust = means[[e for e in means.columns if e > 0]]
    return means.assign(**{"best ε": robust.idxmax(axis=1)}).round(3)


def source_table(results: Results) -> pd.DataFrame:
    """Every source's clean and robust accuracy (mean over its seeds), per stage, architecture and ε."""
    s = results.sources
    cols = [c for c in s.columns if c == "accuracy" or c.startswith("robust@")]
    return s.groupby(["stage", "arch", "eps"])[cols].mean().round(3)


def _interval(gains: pd.Series, criterion: str) -> dict[str, float]:
    """A table row's mean gain over evaluation seeds, its 95 % t-interval and its seed count."""
    e = Estimate.t(CRITERIA[criterion], gains, REPLICATE)
    return {"gain": e.value, "low": e.low, "high": e.high, "seeds": e.n}


def gain_table(results: Results) -> pd.DataFrame:
    """Per target and mode: the robust source's gain over the standard one (its chosen ε), with its
    95 % interval over evaluation seeds (the claims read the mean over targets)."""
    rows = [
        {"target": target, "mode": mode, "ε": eps, **_interval(g.gain, "transfers-better")}
        for (target, mode, eps), g in gains(results).groupby(["target", "mode", "eps"])
    ]
    return pd.DataFrame(rows).set_index(["mode", "target"]).sort_index().round(3)


def mode_gain(results: Results, mode: str) -> pd.Series:
    """Claims (a), (b): the robust source's gain per evaluation seed, mean over targets, in ``mode``."""
    g = gains(results)
    return g[g["mode"] == mode].groupby("seed").gain.mean()


def widths(results: Results) -> pd.DataFrame:
    """Claims (c), (d): :func:`width_table` indexed by architecture, ε and seed."""
    return width_table(results).set_index(["arch", "eps", "seed"]).sort_index()


def width_series(table: pd.DataFrame, arch: str, eps: float, column: str) -> pd.Series:
    """``column`` ("source" or "transfer") of ``arch``'s source at ``eps`` per evaluation seed, from
    :func:`widths` (empty where that source was not trained)."""
    if (arch, eps) in table.index.droplevel("seed"):
        return table.loc[(arch, eps)][column]
    return pd.Series(dtype=float)


def coarse_minus_fine(results: Results) -> pd.Series:
    """Claim (e): per evaluation seed, the fixed-feature robust gain at ``width_eps`` (against the
    standard source) on the coarse target (objects) minus the fine-grained one (flowers)."""
    c = results.config
    fixed = _fixed_transfers(results, c.archs[0])

    def robust_gain(target: str) -> pd.Series:
        return fixed.loc[(target, c.width_eps)] - fixed.loc[(target, 0.0)]

    return robust_gain("objects") - robust_gain("flowers")
