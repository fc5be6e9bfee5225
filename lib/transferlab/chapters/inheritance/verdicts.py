"""Chapter 8's claims, each read from a view of :mod:`.analysis`."""

from __future__ import annotations

import pandas as pd

from ..claims import Claim, ClaimsTable, Estimate
from ..registry import stamp
from .analysis import front_share, ratio_of_means
from .config import CRITERIA, INHERITED, REGISTRY, REPLICATE, SOURCE
from .measure import Results


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of the ReMoS paper, §5, as registered (:data:`.config.REGISTRY`), measured in
    this run. The replicate is a seed: its own clean teacher (chapter 0's source model of that seed),
    the backdoored copies, malicious sets and students made from it; per seed, means over the
    targets."""
    t = results.table
    per = t.groupby(["defect", "method", "seed"])[["accuracy", "dir"]].mean()
    defects = list(dict.fromkeys(t.defect))
    methods = set(t.method)

    def of(defect: str, method: str, column: str) -> pd.Series:
        return per.loc[(defect, method), column]

    inherit = tuple(
        Estimate.t(CRITERIA["inherits"], of(d, "finetune", "dir") - of(d, "retrain", "dir"), REPLICATE, d)
        if "retrain" in methods
        else Estimate.not_measured(CRITERIA["inherits"], "no retrained students", d)
        for d in defects
    )
    if "remos" in methods:
        ft = t[t.method == "finetune"].set_index(["defect", "target", "seed"])
        rm = t[t.method == "remos"].set_index(["defect", "target", "seed"])
        inherited = [d for d in INHERITED if d in defects]
        rdir = (
            Estimate.t(CRITERIA["rdir"], ratio_of_means(rm.dir, ft.dir, inherited), REPLICATE, "rDIR")
            if inherited
            else Estimate.not_measured(
                CRITERIA["rdir"], "none of the defects the registry's rDIR is over is in this run", "rDIR"
            )
        )
        drop = (ft.accuracy - rm.accuracy).groupby("seed").mean()
        front = t.groupby("seed").apply(front_share)
        remos = (rdir, Estimate.t(CRITERIA["accuracy-cost"], drop, REPLICATE, "accuracy cost"))
        trade = (Estimate.t(CRITERIA["on-front"], front, REPLICATE),)
    else:
        remos = tuple(Estimate.not_measured(CRITERIA[n], "ReMoS not run") for n in ("rdir", "accuracy-cost"))
        trade = (Estimate.not_measured(CRITERIA["on-front"], "ReMoS not run"),)
    return ClaimsTable(
        "inheritance",
        [
            Claim(
                "a",
                "Fine-tuned students inherit the teacher's defects (high DIR), students trained from scratch do not",
                SOURCE + ", §5.2",
                inherit,
            ),
            Claim(
                "b",
                "ReMoS cuts DIR well below fine-tuning at a small accuracy cost",
                SOURCE + ", §5.2 (rDIR, rACC)",
                remos,
                note="rDIR per seed: the sum of ReMoS' DIRs over the sum of fine-tuning's, over the "
                "defects fine-tuning inherited in the pilot (" + ", ".join(INHERITED) + "); the accuracy "
                "cost: a mean over every defect's teacher (and target).",
            ),
            Claim(
                "c",
                "ReMoS has a better ACC–DIR trade-off than the baselines",
                SOURCE + ", §5.2",
                trade,
                note="The front of each seed: no method has both higher accuracy and lower DIR.",
            ),
        ],
        registration=stamp(results.config, REGISTRY),
    )
