"""The defect-inheritance chapter: parameters, the summary relative to fine-tuning, the front, the claims."""

from __future__ import annotations

import pandas as pd
import pytest

from transferlab import inheritance as ih
from transferlab.params import ParameterError, resolve


def smoke(**changes):
    return ih.Config(**{**resolve(ih.Config, ih.PRESETS, "smoke"), **changes})


def _results(rows):
    table = pd.DataFrame([{"defect": d, "target": "pets", "method": m, "seed": s, "accuracy": a, "dir": r}
                          for d, m, s, a, r in rows])
    return ih.Results(smoke(), table, pd.DataFrame(), {"clean": 0.5})


def _rows(remos_acc, remos_dir, defects=("penultimate", "badnets")):
    rows = []
    for d in defects:
        for s in (0, 1):
            rows += [(d, "finetune", s, 0.80, 0.60), (d, "retrain", s, 0.50, 0.10), (d, "magprune", s, 0.78, 0.62),
                     (d, "remos", s, remos_acc, remos_dir)]
    return rows


def test_summary_is_relative_to_fine_tuning_and_the_front_excludes_dominated_methods():
    r = _results(_rows(0.78, 0.30))
    s = ih.summary(r).set_index(["defect", "method"])
    assert s.loc[("penultimate", "remos"), "rdir"] == pytest.approx(0.5)
    assert s.loc[("penultimate", "remos"), "racc"] == pytest.approx(0.78 / 0.80)
    assert s.loc[("penultimate", "finetune"), "rdir"] == pytest.approx(1.0)
    front = ih.pareto(r).set_index(["defect", "method"])["on the front"]
    assert not front[("penultimate", "magprune")]    # fine-tuning beats it on both
    assert front[("penultimate", "remos")] and front[("penultimate", "retrain")]
    by_target = ih.summary(r, by_target=True)
    assert set(by_target.target) == {"pets"}


def test_claims_follow_the_measured_numbers():
    good = ih.claims(_results(_rows(0.78, 0.30))).frame().set_index("key")
    assert (good.holds == "yes").all()
    costly = ih.claims(_results(_rows(0.60, 0.30))).frame().set_index("key")   # 20 points of accuracy lost
    assert costly.loc["b", "holds"] == "no"
    useless = ih.claims(_results(_rows(0.70, 0.65))).frame().set_index("key")  # more DIR than fine-tuning
    assert useless.loc["b", "holds"] == "no" and useless.loc["c", "holds"] == "no"


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="finetune"):
        smoke(methods=["remos", "retrain"])
    with pytest.raises(ParameterError, match="trigger_size"):
        smoke(trigger_size=15)
    with pytest.raises(ParameterError, match="not allowed"):
        smoke(defects=["kmnc"])
