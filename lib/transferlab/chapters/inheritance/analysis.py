"""Chapter 8's views of the results: the methods × defects summary (ACC, DIR, rACC, rDIR) and the
accuracy–inheritance front."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...methods.slicing import METHODS
from .measure import Results


def relative_dir(dir_: pd.Series, reference: pd.Series) -> pd.Series:
    """rDIR: a DIR over fine-tuning's (NaN where fine-tuning inherits nothing: no ratio to take)."""
    return dir_ / reference.where(reference > 0)


def ratio_of_means(dir_: pd.Series, reference: pd.Series, defects: list[str]) -> pd.Series:
    """rDIR per seed as the ReMoS paper's ratio of DIRs, taken as a ratio of means: the sum of a
    method's DIRs over ``defects`` (and targets) over the sum of fine-tuning's (``reference``), so a
    defect fine-tuning barely inherits cannot blow the ratio up. Both series are indexed by
    (defect, target, seed)."""

    def total(s: pd.Series) -> pd.Series:
        return s[s.index.get_level_values("defect").isin(defects)].groupby("seed").sum()

    den = total(reference)
    return total(dir_) / den.where(den > 0)


def summary(results: Results, by_target: bool = False) -> pd.DataFrame:
    """Methods × defects (× targets with ``by_target``): mean ACC and DIR over seeds (and targets)
    with their spreads, and rACC and rDIR against fine-tuning (per target and seed, then averaged)."""
    t = results.table
    ft = t[t.method == "finetune"][["defect", "target", "seed", "accuracy", "dir"]]
    rel = t.merge(ft, on=["defect", "target", "seed"], how="left", suffixes=("", "_ft"))
    rel["racc"] = rel.accuracy / rel.accuracy_ft
    rel["rdir"] = relative_dir(rel.dir, rel.dir_ft)
    keys = ["defect", "target", "method"] if by_target else ["defect", "method"]
    out = (
        rel.groupby(keys)
        .agg(
            accuracy=("accuracy", "mean"),
            acc_std=("accuracy", "std"),
            dir=("dir", "mean"),
            dir_std=("dir", "std"),
            racc=("racc", "mean"),
            rdir=("rdir", "mean"),
        )
        .reset_index()
    )
    order = [d for d in results.config.labels() if d in set(out.defect)]
    out["defect"] = pd.Categorical(out.defect, order + sorted(set(out.defect) - set(order)), ordered=True)
    out["method"] = pd.Categorical(out.method, [m for m in METHODS if m in set(out.method)], ordered=True)
    return out.sort_values(keys).reset_index(drop=True)


def on_front(methods: pd.DataFrame) -> pd.Series:
    """Per method (rows: mean ``accuracy`` and ``dir``): whether no other method has both a higher
    accuracy and a lower DIR (the ACC–DIR Pareto front)."""
    acc, dir_ = methods.accuracy.to_numpy(), methods.dir.to_numpy()
    better = (acc[None, :] >= acc[:, None]) & (dir_[None, :] <= dir_[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (dir_[None, :] < dir_[:, None])
    return pd.Series(~(better & strictly).any(axis=1), index=methods.index)


def pareto(results: Results) -> pd.DataFrame:
    """Per defect: the methods no other method beats on both mean ACC (higher) and DIR (lower)."""
    s = summary(results)
    fronts = [
        on_front(g.set_index("method")).rename("on the front").reset_index().assign(defect=defect)
        for defect, g in s.groupby("defect", observed=True)
    ]
    return pd.concat(fronts, ignore_index=True)[["defect", "method", "on the front"]]


def front_share(table: pd.DataFrame, method: str = "remos") -> float:
    """Share of the defects on which ``method`` is on the ACC–DIR Pareto front of ``table`` (means
    over the rows of each method)."""
    on = [
        on_front(g.groupby("method")[["accuracy", "dir"]].mean()).get(method)
        for _, g in table.groupby("defect")
    ]
    on = [x for x in on if x is not None]
    return float(np.mean(on)) if on else float("nan")
