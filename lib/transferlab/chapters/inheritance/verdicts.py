"""Chapter 8's claims, each read from a view of :mod:`.analysis`."""

from __future__ import annotations

import pandas as pd

from ..claims import Claim, ClaimsTable, Estimate
from .analysis import front_share, relative_dir
from .config import CRITERIA, SOURCE
from .measure import Results


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of the ReMoS paper, §5, measured in this run. The replicate is a seed of the
    students (the teachers are one draw each): per seed, means over the targets."""
    t = results.table
    per = t.groupby(["defect", "method", "seed"])[["accuracy", "dir"]].mean()
    defects = list(dict.fromkeys(t.defect))
    methods = set(t.method)
    replicate = (
        f"seed (students, {results.config.student_iterations} fine-tuning iterations; one teacher per defect)"
    )

    def of(defect: str, method: str, column: str) -> pd.Series:
        return per.loc[(defect, method), column]

    inherit = tuple(
        Estimate.t(CRITERIA["inherits"], of(d, "finetune", "dir") - of(d, "retrain", "dir"), replicate, d)
        if "retrain" in methods
        else Estimate.not_measured(CRITERIA["inherits"], "no retrained students", d)
        for d in defects
    )
    if "remos" in methods:
        ft = t[t.method == "finetune"].set_index(["defect", "target", "seed"])
        rm = t[t.method == "remos"].set_index(["defect", "target", "seed"])
        rdir = relative_dir(rm.dir, ft.dir).groupby("seed").mean()  # a defect not inherited has no rDIR
        drop = (ft.accuracy - rm.accuracy).groupby("seed").mean()
        front = t.groupby("seed").apply(front_share)
        remos = (
            Estimate.t(CRITERIA["rdir"], rdir, replicate, "rDIR"),
            Estimate.t(CRITERIA["accuracy-cost"], drop, replicate, "accuracy cost"),
        )
        trade = (Estimate.t(CRITERIA["on-front"], front, replicate),)
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
                note="Means over the defects (and targets) per seed.",
            ),
            Claim(
                "c",
                "ReMoS has a better ACC–DIR trade-off than the baselines",
                SOURCE + ", §5.2",
                trade,
                note="The front of each seed: no method has both higher accuracy and lower DIR.",
            ),
        ],
    )
