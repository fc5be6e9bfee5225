"""The one projected-gradient ascent: its balls, adversarial training in the one loop, robust accuracy."""

from __future__ import annotations

import pytest
import torch

from transferlab.models import build_model
from transferlab.train import Adversary, accuracy, ascend, fit, predict, recipe, robust_accuracy
from transferlab.world import toy_task


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_ascent_stays_in_its_ball_and_in_the_image_range_and_raises_the_objective(norm):
    torch.manual_seed(0)
    x0 = torch.rand(8, 3, 6, 6)
    w = torch.randn(3 * 6 * 6)
    objective = lambda z: z.flatten(1) @ w  # noqa: E731 - linear: its maximiser is known
    ball = Adversary(norm, 0.1, steps=10)
    x = ascend(objective, x0, ball, generator=torch.Generator().manual_seed(0))
    delta = (x - x0).flatten(1)
    size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert (size <= 0.1 + 1e-5).all() and x.min() >= 0 and x.max() <= 1
    assert (objective(x) > objective(x0)).all()
    # the objective's best point in the ball (away from the image's edges): the ascent gets close
    inside = x0.clamp(0.2, 0.8)
    best = w.abs().sum() * 0.1 if norm == "linf" else w.norm() * 0.1
    gain = objective(ascend(objective, inside, ball, generator=torch.Generator().manual_seed(1))) - objective(
        inside
    )
    assert (gain > 0.9 * best).all()


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_adversarial_training_runs_in_the_one_loop_and_keeps_the_other_keys():
    plain = recipe("synthetic-source")
    assert "adversary" not in plain.spec()  # the models trained before it keep their store keys
    robust = plain.replace(epochs=3, peak_epoch=1.0, adversary=Adversary("l2", 0.5, 2))
    assert robust.spec()["adversary"] == {"norm": "l2", "eps": 0.5, "steps": 2}
    data = toy_task(4, 24, 12, seed=0)
    torch.manual_seed(0)
    model = build_model("cresnet-xs", 4)
    losses = fit(model, data, robust, seed=0)
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert model.training  # the attacks ran in eval mode; the mode is restored


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_robust_accuracy_is_the_clean_accuracy_in_a_vanishing_ball_and_lower_in_a_large_one():
    data = toy_task(4, 20, 12, seed=3)
    torch.manual_seed(0)
    model = build_model("cresnet-xs", 4)
    fit(model, data, recipe("synthetic-source").replace(epochs=10, lr=0.05, batch_size=16), seed=0)
    clean = accuracy(predict(model, data), data.y)
    assert clean > 0.5
    assert robust_accuracy(model, data, Adversary("linf", 1e-6, 1)) == pytest.approx(clean, abs=0.02)
    assert robust_accuracy(model, data, Adversary("linf", 0.5, 5)) < clean - 0.2
    with pytest.raises(ValueError, match="norm"):
        Adversary("l1", 0.1)
