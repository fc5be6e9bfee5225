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


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_a_grouped_model_attacks_each_member_s_images_in_each_image_s_own_ball():
    from transferlab.models import GroupedCompactResNet
    from transferlab.train import adversarial_batch

    torch.manual_seed(0)
    members = [build_model("cresnet-xs", 4) for _ in range(2)]
    grouped = GroupedCompactResNet.from_models(members)
    x = torch.rand(2, 6, 3, 12, 12)
    y = torch.randint(0, 4, (2, 6))
    ball = Adversary("l2", 0.3, steps=1)  # one step of 2.5 ε: every image ends on its ball's surface
    adv = adversarial_batch(grouped, (x - 0.5) / 0.25, y, ball, mean=0.5, std=0.25)
    moved = (adv * 0.25 + 0.5 - x).flatten(2).norm(dim=2)  # per image
    assert moved.shape == (2, 6) and (moved <= 0.3 + 1e-4).all() and (moved > 0.2).all()
    # each member's images raise that member's own loss
    for g, member in enumerate(members):
        member.eval()
        with torch.no_grad():
            before = torch.nn.functional.cross_entropy(member((x[g] - 0.5) / 0.25), y[g])
            after = torch.nn.functional.cross_entropy(member(adv[g]), y[g])
        assert after > before


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_a_grouped_model_trains_every_member_on_its_attacked_images():
    """Adversarial training of a grouped model: every member's loss is the loss on its attacked
    images, well above a standard grouped model's on the same data."""
    from transferlab.models import GroupedCompactResNet

    data = toy_task(4, 40, 12, seed=0)
    base = recipe("synthetic-source").replace(epochs=6, lr=0.05, batch_size=16, peak_epoch=1.5)

    def grouped_fit(r):
        torch.manual_seed(0)
        model = GroupedCompactResNet.from_models([build_model("cresnet-xs", 4) for _ in range(2)])
        return model, fit(model, [data, data], r, seed=[0, 1])

    with pytest.raises(ValueError, match="normalisation"):  # the attack needs one pixel scale
        fit(
            GroupedCompactResNet.from_models([build_model("cresnet-xs", 4) for _ in range(2)]),
            [data, data.replace(std=0.5)],
            base.replace(adversary=Adversary("l2", 0.5, 1)),
            seed=[0, 1],
        )
    _, robust_losses = grouped_fit(base.replace(adversary=Adversary("l2", 0.5, 1)))
    _, standard_losses = grouped_fit(base)
    assert len(robust_losses) == 2 and all(len(m) == 6 for m in robust_losses)
    for attacked, clean in zip(robust_losses, standard_losses):
        assert attacked[-1] > clean[-1] + 0.3
