"""Influence estimators on runs whose outputs follow a known linear model of the subset masks."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.methods import subset_influence as inf
from transferlab.methods.stats import spearman, wilson


def _runs(m, units=20, targets=4, noise=0.05, seed=0, sparse=False):
    rng = np.random.default_rng(seed + 100)
    w = rng.normal(0, 0.1, (units, targets))
    if sparse:
        w[rng.random((units, targets)) < 0.7] = 0.0
    masks = inf.random_masks(m, units, 0.5, seed=seed)
    outputs = masks @ w + 0.3 + rng.normal(0, noise, (m, targets))
    return masks, outputs, w


def test_random_masks_keep_alpha_of_the_units_per_run():
    masks = inf.random_masks(50, 10, 0.3, seed=1)
    assert masks.shape == (50, 10) and (masks.sum(1) == 3).all()
    assert (masks.any(0)).all() and not (masks.all(0)).any()
    assert np.array_equal(masks, inf.random_masks(50, 10, 0.3, seed=1))
    assert not np.array_equal(masks, inf.random_masks(50, 10, 0.3, seed=2))
    with pytest.raises(ValueError, match="alpha"):
        inf.random_masks(5, 10, 1.0)
    with pytest.raises(ValueError, match="both in and out"):
        inf.random_masks(5, 3, 0.1)


def test_difference_of_means_recovers_planted_influence():
    masks, outputs, w = _runs(600)
    est = inf.difference_of_means(masks, outputs)
    assert est.shape == w.shape
    assert spearman(est, w) > 0.9
    always = masks.copy()
    always[:, 0] = True
    assert np.isnan(inf.difference_of_means(always, outputs)[0]).all()
    with pytest.raises(ValueError, match="as many runs"):
        inf.difference_of_means(masks[:-1], outputs)


@pytest.mark.parametrize("kind", ["ridge", "lasso"])
def test_datamodels_recover_planted_weights(kind):
    masks, outputs, w = _runs(300, sparse=True)
    weights, intercept, alpha = inf.datamodel(masks, outputs, kind)
    assert weights.shape == w.shape and intercept.shape == (w.shape[1],) and alpha > 0
    assert spearman(weights, w) > 0.8
    assert np.abs(weights - w).mean() < np.abs(w).mean()
    if kind == "lasso":  # sparsity: most planted zeros stay (near) zero
        assert (np.abs(weights[w == 0]) < 0.01).mean() > 0.6


def test_estimates_converge_with_more_runs():
    few, many = _runs(40, noise=0.2), _runs(800, noise=0.2)
    assert inf.halves(*many[:2]) > inf.halves(*few[:2])
    std_few = inf.bootstrap(*few[:2], n=40)[0]
    std_many = inf.bootstrap(*many[:2], n=40)[0]
    assert np.nanmean(std_many) < np.nanmean(std_few) / 2
    std, lo, hi = inf.bootstrap(*many[:2], n=40)
    assert (lo <= hi).all() and std.shape == many[2].shape


def test_lds_and_precision_score_an_estimate():
    masks, outputs, w = _runs(400)
    held_masks, held_outputs, _ = _runs(200, seed=7)
    held_outputs = held_masks @ w + 0.3 + np.random.default_rng(3).normal(0, 0.05, held_outputs.shape)
    good = inf.lds(inf.difference_of_means(masks, outputs), held_masks, held_outputs)
    shuffled = inf.lds(np.random.default_rng(0).permutation(w), held_masks, held_outputs)
    assert good > 0.7 and abs(shuffled) < good / 2
    assert inf.precision_at_k(np.array([0.9, 0.1, 0.8, np.nan, 0.5]), {0, 2}, 2) == 1.0
    assert inf.precision_at_k(np.array([0.9, 0.1, 0.8, 0.0, 0.5]), {1}, 3) == 0.0
    # the aggregate LDS: the overall influences predict the mean output of the held-out runs
    agg = inf.aggregate_lds(inf.difference_of_means(masks, outputs), held_masks, held_outputs)
    flipped = inf.aggregate_lds(-w, held_masks, held_outputs)
    assert agg > 0.7 and flipped < -0.7


def test_the_wilson_interval_covers_its_proportion_and_narrows_with_n():
    lo, hi = wilson(9, 10)
    assert lo < 0.9 < hi <= 1.0 and lo > 0.5
    lo0, hi0 = wilson(0, 10)
    assert lo0 == 0.0 and 0 < hi0 < 0.35
    wide, narrow = wilson(5, 10), wilson(50, 100)
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 2


def test_lasso_for_all_targets_at_once_matches_scikit_learn():
    from sklearn.linear_model import Lasso

    masks, outputs, _ = _runs(120, units=15, targets=6, sparse=True)
    for alpha in (1e-4, 3e-3, 3e-2):
        ours = inf.Lasso(alpha, tol=1e-10, max_iter=50_000).fit(masks.astype(float), outputs)
        ref = Lasso(alpha=alpha, tol=1e-12, max_iter=200_000).fit(masks.astype(float), outputs)
        assert np.allclose(ours.coef_, ref.coef_, atol=1e-5)
        assert np.allclose(ours.intercept_, ref.intercept_, atol=1e-5)
        assert np.allclose(ours.predict(masks[:5]), ref.predict(masks[:5]), atol=1e-5)
