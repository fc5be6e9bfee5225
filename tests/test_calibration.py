"""The verdict rule's error rates, simulated (no training, seconds): a claim whose quantity sits
exactly on its margin is called "holds" at most at the nominal one-sided 2.5 %, and a claim of many
estimates on the margin is not called "contradicted" more often than that either (Holm)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from transferlab.chapters.claims import Claim, Criterion, Estimate

NOMINAL = (0.015, 0.035)  # one-sided 2.5 %, with room for the simulation's own error


def verdicts_of(claims: list[Claim]) -> list[str]:
    """Each claim's verdict. statsmodels' Holm runs ``gc.collect()`` on every call; with the
    simulated claims frozen out of the collector's view this takes seconds, not minutes."""
    gc.freeze()
    try:
        return [c.verdict for c in claims]
    finally:
        gc.unfreeze()


def _draws(n: int, replicates: int, mean: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, size=(n, replicates))


@pytest.mark.parametrize("side", [">", "<"])
def test_a_null_on_the_margin_holds_at_the_nominal_rate(side):
    criterion = Criterion("gap", "gap", side, 0.3)
    draws = _draws(20_000, 6, mean=0.3, seed=1)
    held = np.mean([Estimate.t(criterion, row, "seed").verdict == "holds" for row in draws])
    assert NOMINAL[0] <= held <= NOMINAL[1], held


def test_an_equivalence_on_its_margin_holds_no_more_than_nominal():
    criterion = Criterion("same", "difference", "within", 0.5)
    draws = _draws(20_000, 8, mean=0.5, seed=2)
    held = np.mean([Estimate.t(criterion, row, "seed").verdict == "holds" for row in draws])
    assert held <= NOMINAL[1], held


def test_twelve_estimates_on_the_margin_contradict_a_claim_no_more_than_nominal():
    """Without an adjustment "contradicted if any estimate is" errs at 1 − 0.975¹² ≈ 26 %."""
    criterion = Criterion("gap", "gap", ">", 0.0)
    draws = _draws(4_000 * 12, 5, mean=0.0, seed=3).reshape(4_000, 12, 5)
    claims = [Claim("a", "c", "s", tuple(Estimate.t(criterion, r, "seed") for r in rows)) for rows in draws]
    raw = np.mean([any(e.verdict == "contradicted" for e in c.estimates) for c in claims])
    adjusted = np.mean([v == "contradicted" for v in verdicts_of(claims)])
    assert raw > 0.15  # the unadjusted rule would fail this test
    assert adjusted <= NOMINAL[1], adjusted


def test_every_estimate_on_the_margin_holds_a_claim_no_more_than_nominal():
    """Holds if every estimate holds: an intersection–union test, which needs no adjustment."""
    criterion = Criterion("gap", "gap", ">", 0.0)
    draws = _draws(4_000 * 3, 5, mean=0.0, seed=4).reshape(4_000, 3, 5)
    claims = [Claim("a", "c", "s", tuple(Estimate.t(criterion, r, "seed") for r in rows)) for rows in draws]
    held = np.mean([v == "holds" for v in verdicts_of(claims)])
    assert held <= NOMINAL[1], held


def test_a_clear_contradiction_survives_the_adjustment():
    criterion = Criterion("gap", "gap", ">", 0.0)
    fine = [Estimate.t(criterion, [0.5, 0.6, 0.55, 0.58], "seed", str(i)) for i in range(11)]
    against = Estimate.t(criterion, [-1.0, -1.1, -0.9, -1.05], "seed", "bad")
    claim = Claim("a", "c", "s", (*fine, against))
    assert claim.verdict == "contradicted" and claim.verdicts()[-1] == "contradicted"
    weak = Estimate.t(criterion, [-0.2, -0.1, -0.25, -0.05], "seed", "weak")  # raw: contradicted
    assert weak.verdict == "contradicted"
    diluted = Claim("b", "c", "s", (*fine, weak))
    assert diluted.verdict == "undecided" and diluted.verdicts()[-1] == "undecided"


def test_an_interval_computed_otherwise_gives_its_p_value_back():
    """A t-interval over 1,000 images, read back from its bounds: the same p-value as from the
    samples, so a clear contradiction among twelve estimates survives the adjustment."""
    criterion = Criterion("skew", "skew", ">", 0.1)
    samples = np.random.default_rng(5).normal(0.02, 0.3, 1000)
    from_samples = Estimate.t(criterion, samples, "image")
    from_bounds = Estimate.interval(
        criterion, from_samples.value, from_samples.low, from_samples.high, 1000, "image", "t over images"
    )
    assert from_bounds.p_other_side == pytest.approx(from_samples.p_other_side, rel=1e-6)
    fine = [Estimate.t(criterion, [0.5, 0.6, 0.55, 0.58], "seed", str(i)) for i in range(11)]
    assert Claim("a", "c", "s", (*fine, from_bounds)).verdict == "contradicted"
