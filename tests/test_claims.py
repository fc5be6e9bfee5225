"""The claims table: criteria, 95 % intervals, three verdicts, the power statement, HTML, and the
record read back from a notebook."""

import json
import math

import nbformat
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from transferlab.chapters.claims import (
    RECORD_MIMETYPE,
    Claim,
    ClaimsTable,
    Criterion,
    Estimate,
    combine,
    criteria,
    read_claims,
    read_record,
    t_interval,
)

ABOVE = Criterion("gap", "ASR gap", ">", 0.05, "five points")
BELOW = Criterion("cost", "accuracy cost", "<", 0.05)
WITHIN = Criterion("same", "accuracy difference", "within", 0.03)


def test_t_interval_is_students():
    x = [0.1, 0.3, 0.2, 0.4]
    mean, low, high, sd = t_interval(x)
    ci = stats.ttest_1samp(x, 0).confidence_interval(0.95)
    assert (mean, sd) == pytest.approx((0.25, np.std(x, ddof=1)))
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert t_interval([0.5])[1:3] == (-math.inf, math.inf)  # one replicate decides nothing
    assert math.isnan(t_interval([])[0]) and math.isnan(t_interval([1.0, float("nan")])[0])


@pytest.mark.parametrize(
    "criterion, low, high, verdict",
    [
        (ABOVE, 0.06, 0.2, "holds"),
        (ABOVE, -0.1, 0.04, "contradicted"),
        (ABOVE, 0.0, 0.1, "undecided"),
        (BELOW, -0.1, 0.04, "holds"),
        (BELOW, 0.06, 0.2, "contradicted"),
        (WITHIN, -0.02, 0.02, "holds"),
        (WITHIN, 0.04, 0.1, "contradicted"),
        (WITHIN, -0.1, -0.04, "contradicted"),
        (WITHIN, -0.05, 0.0, "undecided"),
        (ABOVE, math.nan, math.nan, "n/a"),
    ],
)
def test_three_verdicts_from_an_interval(criterion, low, high, verdict):
    assert criterion.verdict(low, high) == verdict


def test_oriented_interval_is_on_the_claims_side():
    assert ABOVE.oriented(0.1, 0.2) == pytest.approx((0.05, 0.15))
    assert BELOW.oriented(0.0, 0.1) == pytest.approx((-0.05, 0.05))
    assert WITHIN.oriented(-0.01, 0.02) == pytest.approx((0.01, 0.03))
    assert WITHIN.oriented(0.04, 0.05) == pytest.approx((-0.02, -0.01))


def test_bad_criteria_are_refused():
    with pytest.raises(ValueError, match="side"):
        Criterion("x", "q", ">=", 0.0)
    with pytest.raises(ValueError, match="margin"):
        Criterion("x", "q", "within", 0.0)
    with pytest.raises(ValueError, match="duplicate"):
        criteria(ABOVE, ABOVE)


def test_a_claim_holds_only_if_every_estimate_does():
    holds = Estimate.t(ABOVE, [0.3, 0.35, 0.4], "seed", "pets")
    straddles = Estimate.t(ABOVE, [0.0, 0.1, 0.05], "seed", "flowers")
    against = Estimate.t(ABOVE, [0.0, 0.005, 0.01], "seed", "objects")  # clear even after Holm over 3
    assert (holds.verdict, straddles.verdict, against.verdict) == ("holds", "undecided", "contradicted")
    assert Claim("a", "c", "s", (holds,)).verdict == "holds"
    assert Claim("a", "c", "s", (holds, straddles)).verdict == "undecided"
    assert Claim("a", "c", "s", (holds, straddles, against)).verdict == "contradicted"
    missing = Estimate.not_measured(ABOVE, "no planted truth")
    assert Claim("a", "c", "s", (holds, missing)).verdict == "n/a"
    assert Claim("a", "c", "s", (missing, against)).verdict == "contradicted"  # n/a hides nothing
    assert combine([]) == "n/a" and combine(["n/a", "contradicted"]) == "contradicted"


def test_the_power_line_uses_the_declared_smallest_effect_never_the_observed_mean():
    crit = Criterion("gap", "ASR gap", ">", 0.05, "five points", effect=0.05)
    near, far = Estimate.t(crit, [0.0, 0.2, 0.1], "seed"), Estimate.t(crit, [0.02, 0.22, 0.12], "seed")
    assert near.sd == pytest.approx(far.sd) and near.value != far.value
    n = near.replicates_needed
    assert n == far.replicates_needed  # the same spread and effect: the same count, whatever the mean
    power = TTestPower().power
    assert power(effect_size=0.05 / near.sd, nobs=n, alpha=0.025, alternative="larger") >= 0.8
    assert power(effect_size=0.05 / near.sd, nobs=n - 1, alpha=0.025, alternative="larger") < 0.8
    claim = Claim("a", "c", "s", (near,))
    assert claim.verdict == "undecided"
    assert f"would need about {n}" in claim.power_text() and "this run's 3 replicates" in claim.power_text()
    bare = Claim("b", "c", "s", (Estimate.t(ABOVE, [0.0, 0.2, 0.1], "seed"),))
    assert bare.replicates_needed is None and "no smallest effect declared" in bare.power_text()
    assert Claim("c", "c", "s", (Estimate.t(crit, [1.0, 1.1, 1.2], "seed"),)).power_text() == ""
    precise = Criterion("gap", "gap", ">", 0.05, effect=0.05)
    assert Estimate.t(precise, [0.06, 0.0601, 0.0602], "seed").replicates_needed == 2  # a tiny spread
    assert (
        Estimate.t(Criterion("g", "g", ">", 0.0, effect=0.001), [0.0, 1.0, 2.0], "seed").replicates_needed
        is None
    )
    with pytest.raises(ValueError, match="smallest effect"):
        Criterion("x", "q", ">", 0.0, effect=0.0)
    with pytest.raises(ValueError, match="below the margin"):
        Criterion("x", "q", "within", 0.03, effect=0.03)


def test_table_html_shows_interval_criterion_and_verdict():
    t = ClaimsTable(
        "demo",
        [
            Claim("a", "up", "s", (Estimate.t(ABOVE, [0.3, 0.35, 0.4], "seed", "pets"),)),
            Claim("b", "<down>", "s", (Estimate.t(ABOVE, [0.0, 0.1], "seed"),), note="context"),
            Claim("c", "gone", "s", (Estimate.not_measured(ABOVE, "real data"),)),
        ],
    )
    html = t._repr_html_()
    assert 'class="tl-claims"' in html and "tl-holds" in html and "tl-undecided" in html and "tl-na" in html
    assert "&lt;down&gt;" in html and "ASR gap &gt; 0.05" in html and "pets: 0.35 [" in html
    assert "3 × seed" in html and "context" in html and "not measured" in html
    assert list(t.frame().verdict) == ["holds", "undecided", "n/a"]
    assert t.counts() == {"holds": 1, "contradicted": 0, "undecided": 1, "n/a": 1}
    with pytest.raises(ValueError, match="duplicate"):
        ClaimsTable("demo", [t.claims[0], t.claims[0]])


def _notebook_with(record, path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "", outputs=[nbformat.v4.new_output("display_data", data={RECORD_MIMETYPE: record})]
            )
        ]
    )
    nbformat.write(nb, str(path))


def test_record_roundtrip_through_a_notebook(tmp_path):
    claim = Claim(
        "a", "up", "s", (Estimate.t(ABOVE, [0.3, 0.4], "seed", "pets"), Estimate.t(WITHIN, [0.01], "seed"))
    )
    t = ClaimsTable("demo", [claim])
    rec = json.loads(json.dumps(t.to_json({"n": np.int64(3), "xs": (1, 2)}), allow_nan=False))  # strict JSON
    path = tmp_path / "nb.ipynb"
    _notebook_with(rec, path)
    back = read_record(path)
    assert back["chapter"] == "demo" and back["metrics"] == {"n": 3, "xs": [1, 2]}
    assert back["claims"][0]["verdict"] == "undecided"
    assert read_claims(path) == [claim]  # the infinite interval of one replicate survives as null
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    with pytest.raises(LookupError, match="no claims record"):
        read_record(path)


def test_a_value_not_measured_survives_the_record_and_the_summary(tmp_path):
    """JSON has no NaN: an unmeasured value is stored as null and shown as n/a on the summary page."""
    from transferlab.chapters import what_transfers as summary

    t = ClaimsTable("demo", [Claim("a", "up", "s", (Estimate.not_measured(ABOVE, "no truth"),))])
    rec = json.loads(json.dumps(t.to_json(), allow_nan=False))
    assert rec["claims"][0]["estimates"][0]["value"] is None
    claim = Claim.from_json(rec["claims"][0])
    row = {"chapter": 7, "doc": "07_x", "title": "7. X", "key": "a", "verdict": claim.verdict, "claim": claim}
    table = summary.markdown_table(pd.DataFrame([row]))
    assert "not measured" in table and "– n/a |" in table
