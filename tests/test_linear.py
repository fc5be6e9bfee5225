"""Chapter 1 maths: the SGD update stays in the target span; weight decay shrinks the rest exactly."""

import numpy as np
import pytest

from transferlab.chapters import linear
from transferlab.chapters.params import resolve


@pytest.fixture(scope="module")
def config():
    return linear.Config(**resolve(linear.Config, linear.PRESETS, "smoke"))


@pytest.fixture(scope="module")
def world(config):
    return linear.make_world(config, seed=3)


def test_world_geometry(world, config):
    assert world.basis.shape == (config.dim, config.target_rank)
    np.testing.assert_allclose(world.basis.T @ world.basis, np.eye(config.target_rank), atol=1e-12)
    assert abs(np.linalg.norm(world.u) - 1) < 1e-12
    assert np.abs(world.basis.T @ world.u).max() < 1e-12
    assert np.abs(world.target_x @ world.u).max() < 1e-10  # target inputs never point along u


def test_sgd_without_weight_decay_keeps_the_complement(world, config):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((2, config.dim))
    w, _ = linear.sgd_finetune(
        w0, world.target_x, world.target_y, np.zeros(2), lr=0.5, steps=200, batch_size=4, rng=rng
    )
    outside = lambda v: v - (v @ world.basis) @ world.basis.T  # noqa: E731
    np.testing.assert_allclose(outside(w), outside(w0), atol=1e-10)
    assert np.linalg.norm(w @ world.basis - w0 @ world.basis) > 0.1  # ...while the span part moves


def test_weight_decay_matches_closed_form(world, config):
    rng = np.random.default_rng(1)
    w0 = np.tile(rng.standard_normal(config.dim), (3, 1))
    lams = np.array([0.0, 0.01, 0.2])
    w, hist = linear.sgd_finetune(
        w0, world.target_x, world.target_y, lams, lr=0.1, steps=100, batch_size=4, rng=rng, record_every=10
    )
    expected = linear.decay_closed_form(w0 @ world.u, 0.1, lams, 100)
    np.testing.assert_allclose(w @ world.u, expected, rtol=1e-9)
    assert hist.shape == (11, 3, config.dim)
    np.testing.assert_allclose(hist[-1], w)


def test_attack_success_definition():
    w = np.array([[1.0, 0.0]])
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    y = np.array([1.0, 0.0, 1.0, 1.0])  # the third one is misclassified: not counted
    trigger = np.array([1.5, 0.0])  # flips the second, not the first/fourth
    assert linear.attack_success(w, x, y, trigger)[0] == pytest.approx(1 / 3)
    assert linear.accuracy(w, x, y)[0] == pytest.approx(3 / 4)


def test_plant_trigger_changes_the_right_fraction(world):
    rng = np.random.default_rng(0)
    x, y = linear.plant_trigger(world.source_x, world.source_y, world.u, 0.25, 2.0, rng)
    moved = np.abs((x - world.source_x) @ world.u - 2.0) < 1e-9
    assert moved.sum() == round(0.25 * len(x))
    assert (y[moved] == 1).all() and (y[~moved] == world.source_y[~moved]).all()


def test_logistic_fit_is_a_stationary_point(world):
    w = linear.fit_logistic(world.source_x, world.source_y, l2=1e-2)
    z = world.source_x @ w
    grad = world.source_x.T @ (1 / (1 + np.exp(-z)) - world.source_y) / len(z) + 1e-2 * w
    assert np.linalg.norm(grad) < 1e-5


def test_run_is_deterministic_and_claims_hold_on_smoke(config):
    a, b = linear.run(config, progress=False), linear.run(config, progress=False)
    assert a.summary.equals(b.summary)
    assert set(a.summary.init) == set(linear.INITS)
    assert len(a.summary) == len(config.seeds) * len(linear.INITS) * len(config.weight_decays)
    table = linear.claims(a)
    verdicts = {c.key: c.verdict for c in table.claims}
    assert verdicts["a"] == verdicts["b"] == "holds"  # exact statements: must hold at any size


def test_more_poison_gives_a_stronger_source_bias(config):
    weak = linear.run(linear.Config(**{**config.as_dict(), "poison_fraction": 0.02}), progress=False)
    strong = linear.run(linear.Config(**{**config.as_dict(), "poison_fraction": 0.3}), progress=False)
    pick = lambda r: r.summary[r.summary.init == "biased source"].u_before.mean()  # noqa: E731
    assert pick(strong) > pick(weak)
