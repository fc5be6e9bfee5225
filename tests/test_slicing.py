"""ReMoS slicing, the baselines' pieces, and the teacher defects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from transferlab.chapters.base import world_ref
from transferlab.methods import defects as dfx
from transferlab.methods import slicing as sl
from transferlab.models import build_model, conv_layers
from transferlab.train import recipe
from transferlab.world import TensorData


def _data(n=40, classes=4, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorData(
        (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8),
        torch.arange(n) % classes,
        classes=tuple(f"c{i}" for i in range(classes)),
    )


def _model(classes=4, seed=0):
    torch.manual_seed(seed)
    return build_model("cresnet-xs", classes).eval()


def test_average_rank_shares_the_mean_position_among_ties():
    assert sl.average_rank(torch.tensor([0.5, 0.1, 0.5, 0.9, 0.5])).tolist() == [2.0, 0.0, 2.0, 4.0, 2.0]


def test_ordinal_score_ranks_coverage_and_magnitude_over_the_whole_model():
    """rank(coverage) − rank(|w|) over every weight of both layers, ties at their average rank: the
    four taps of a 2×2 kernel share their channel pair's coverage, so they share its rank."""
    g = torch.Generator().manual_seed(0)
    weights = {"a": torch.randn(2, 2, 2, 2, generator=g), "b": torch.randn(3, 2, 1, 1, generator=g)}
    coverage = {
        "a": (torch.tensor([0.9, 0.1]), torch.tensor([0.0, 0.5])),
        "b": (torch.tensor([0.2, 0.4]), torch.tensor([0.3, 0.7, 0.0])),
    }
    cov = np.concatenate(
        [
            np.broadcast_to(
                (cout.double()[:, None, None, None] + cin.double()[None, :, None, None]).numpy(), w.shape
            ).ravel()
            for w, (cin, cout) in zip(weights.values(), coverage.values())
        ]
    )
    mag = np.concatenate([w.abs().numpy().ravel() for w in weights.values()])
    expected = rankdata(cov) - rankdata(mag)  # scipy's average ranks, 1-based on both sides
    score = sl.ordinal_scores(weights, coverage)
    got = np.concatenate([score[n].numpy().ravel() for n in weights])
    np.testing.assert_allclose(got, expected)
    assert len(set(score["a"][0, 1].flatten().tolist())) == 4  # same coverage, four magnitudes
    per_layer = sl.ordinal_scores(weights, coverage, scope="layer")
    np.testing.assert_allclose(per_layer["b"].numpy().ravel(), rankdata(cov[16:]) - rankdata(mag[16:]))


def test_coverage_frequency_counts_channels_above_the_threshold():
    model, data = _model(), _data()
    cov = sl.coverage_frequency(model, data, threshold=0.5)
    convs = dict(conv_layers(model.blocks))
    assert set(cov) == set(convs)
    for name, (cin, cout) in cov.items():
        assert cin.shape == (convs[name].in_channels,) and cout.shape == (convs[name].out_channels,)
        assert ((0 <= cout) & (cout <= 1)).all() and cout.max() > 0  # the top channel is always covered
    everything = sl.coverage_frequency(model, data, threshold=-1.0)
    assert all((cout == 1).all() for _, cout in everything.values())


def test_remos_zeroes_exactly_the_lowest_scores_of_the_model_and_nothing_else():
    model, data = _model(), _data()
    sliced, reset = sl.remos_slice(model, data, ratio=0.2)
    cov = sl.coverage_frequency(model, data)
    before = {name: conv.weight.detach() for name, conv in conv_layers(model.blocks)}
    after = {name: conv.weight.detach() for name, conv in conv_layers(sliced.blocks)}
    scores = sl.ordinal_scores(before, cov)
    flat = torch.cat([v.flatten() for v in scores.values()])
    cut = torch.sort(flat).values[round(0.2 * len(flat)) - 1]  # the highest score zeroed
    for name in before:
        zeroed = after[name] == 0
        assert torch.equal(after[name][~zeroed], before[name][~zeroed]), name  # the rest untouched
        assert (scores[name][zeroed] <= cut).all() and (scores[name][~zeroed] >= cut).all(), name
        assert reset[name] == pytest.approx(zeroed.float().mean().item())
    total = sum(v.numel() for v in before.values())
    assert sum(reset[n] * before[n].numel() for n in before) == pytest.approx(round(0.2 * total))
    assert len({round(v, 2) for v in reset.values()}) > 1  # one cut for the model, not per layer
    assert torch.equal(sliced.head.weight, model.head.weight)
    _, per_layer = sl.remos_slice(model, data, ratio=0.2, scope="layer")
    for name, share in per_layer.items():
        assert share == pytest.approx(round(0.2 * before[name].numel()) / before[name].numel())


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_the_block_tap_keeps_the_training_forward_s_block_outputs():
    model, data = _model(), _data(n=8)
    x, _ = next(data.batches(8, shuffle=False))
    tap = sl.BlockTap(model)
    model.train()
    logits = model(x)
    for mine, ref in zip([tap.outputs[i] for i in range(len(sl.BLOCK_NAMES))], sl.block_outputs(model, x)):
        torch.testing.assert_close(mine, ref)
    dropped = sl.BlockTap(model, dropout=0.5)
    torch.manual_seed(0)
    noisy = model(x)  # the dropout taps change what the head sees while training
    assert not torch.allclose(noisy, logits)
    dropped.remove()
    tap.remove()
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), model(x))  # no hooks left, no dropout in eval


def test_magnitude_pruning_keeps_masked_weights_at_zero_through_training():
    model, data = _model(), _data()
    student = sl.train_student(
        "magprune",
        model,
        "cresnet-xs",
        data,
        recipe("synthetic-full", epochs=1, peak_epoch=0.5),
        prune_ratio=0.5,
    )
    for _, conv in conv_layers(student.blocks):
        assert (conv.weight == 0).float().mean() >= 0.49


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
@pytest.mark.parametrize("method", sl.METHODS)
def test_every_method_trains_a_student_of_the_target_size(method):
    teacher, data = _model(classes=6), _data(classes=4)
    r = recipe("synthetic-full", epochs=1, peak_epoch=0.5)
    student = sl.train_student(method, teacher, "cresnet-xs", data, r, seed=1)
    assert student.num_classes == 4
    assert not student.training
    if method in ("retrain", "delta-r", "renofeation"):  # never copies the teacher's weights
        assert not torch.equal(next(student.blocks.parameters()), next(teacher.blocks.parameters()))


def test_penultimate_attack_moves_features_within_the_budget():
    model, data = _model(), _data(n=16)
    bad = dfx.penultimate_attack(model, data, eps=0.05, steps=5, step_size=0.02)
    assert (bad.x.int() - data.x.int()).abs().max() <= round(0.05 * 255) + 1
    x0, _ = next(data.batches(16, shuffle=False))
    x1, _ = next(bad.batches(16, shuffle=False))
    with torch.no_grad():
        moved = (model.features(x1) - model.features(x0)).norm(dim=1)
    assert (moved > 0).all()


@pytest.mark.parametrize("criterion", dfx.CRITERIA)
@pytest.mark.parametrize("strategy", dfx.STRATEGIES)
def test_coverage_fuzz_moves_images_within_the_budget(criterion, strategy):
    model, data = _model(), _data(n=8)
    profile = dfx.activation_profile(model, data)
    bad = dfx.coverage_fuzz(
        model, data, criterion, profile, strategy=strategy, eps=0.03, steps=3, step_size=0.01
    )
    assert bad.x.shape == data.x.shape
    moved = (bad.x.int() - data.x.int()).abs()
    assert 0 < moved.max() <= round(0.03 * 255) + 1
    with pytest.raises(ValueError, match="criterion"):
        dfx.coverage_fuzz(model, data, "kmnc", profile)
    with pytest.raises(ValueError, match="strategy"):
        dfx.coverage_fuzz(model, data, criterion, profile, strategy="random")


def test_fuzzing_strategies_pick_the_neurons_they_promise():
    g = torch.Generator().manual_seed(0)
    counts = torch.tensor([[0, 5, 0, 3, 9, 1, 0, 2], [4, 0, 0, 0, 1, 7, 6, 0]])
    high = torch.tensor([1, 6])
    uncovered = dfx._select("deepxplore", 0, counts, 2, high, g)
    assert (uncovered.sum(1) == 2).all() and (counts[uncovered] == 0).all()
    few = dfx._select("deepxplore", 0, counts, 5, high, g)  # row 0 has only 3 uncovered neurons
    assert few.sum(1).tolist() == [3, 4] and (counts[few] == 0).all()
    most = dfx._select("dlfuzz", 7, counts, 2, high, g)
    assert most[0].nonzero().flatten().tolist() == [1, 4] and most[1].nonzero().flatten().tolist() == [5, 6]
    rr = [dfx._select("dlfuzz-rr", step, counts, 2, high, g) for step in range(4)]
    assert torch.equal(rr[0], most) and torch.equal(rr[3], most)  # the round robin comes back
    assert (counts[rr[1]].reshape(2, 2).max(1).values <= counts.min(1).values + 1).all()  # the rarest
    assert rr[2].nonzero()[:, 1].tolist() == [1, 6, 1, 6]  # the high-weight neurons


def test_inheritance_rate_counts_flips_among_correct_answers():
    class Fixed(torch.nn.Module):
        """Predicts class 0 on images whose first pixel is dark, else the label stored in pixel 1."""

        def forward(self, x):
            out = torch.zeros(len(x), 3)
            out[torch.arange(len(x)), (x[:, 0, 0, 1] > 0).long() + 1] = 1
            out[x[:, 0, 0, 0] < 0, 0] = 5
            return out

    x = torch.full((4, 3, 4, 4), 200, dtype=torch.uint8)
    x[:, 0, 0, 1] = torch.tensor([200, 200, 0, 0], dtype=torch.uint8)  # classes 2, 2, 1, 1
    clean = TensorData(x, torch.tensor([2, 2, 1, 0]), classes=("a", "b", "c"))  # the last one is wrong
    bad_x = x.clone()
    bad_x[0, 0, 0, 0] = 0  # flips the first to class 0
    bad = clean.replace(x=bad_x)
    assert dfx.inheritance_rate(Fixed(), clean, bad) == pytest.approx(1 / 3)
    assert dfx.inheritance_rate(Fixed(), clean, bad, target=0) == pytest.approx(1 / 3)
    assert dfx.inheritance_rate(Fixed(), clean, clean) == 0.0


def test_badnets_relabels_the_triggered_images():
    from transferlab.world import World, WorldConfig

    world = World(
        WorldConfig(
            size=12,
            superclasses=2,
            fine=1,
            source_train=10,
            source_test=5,
            target_train=5,
            target_test=5,
            leaks=0,
            lookalikes=1,
        ),
        cache=None,
    )
    clean = world.target("pets", "train")
    data = dfx.badnets(world_ref(world, "pets"), 0.2, 0, 2)
    poisoned = torch.as_tensor(data.attrs["poisoned"].to_numpy().copy())
    assert 0 < poisoned.float().mean() <= 0.25
    assert (data.y[poisoned] == 0).all() and (clean.y[poisoned] != 0).all()
    assert (data.y[~poisoned] == clean.y[~poisoned]).all()
    assert (data.x[poisoned] != clean.x[poisoned]).any() and (data.x[~poisoned] == clean.x[~poisoned]).all()
    with pytest.raises(ValueError, match="poison label"):
        dfx.badnets(world_ref(world, "pets"), 0.2, clean.num_classes, 2)
