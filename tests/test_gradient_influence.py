"""The gradient-based (TRAK-style) estimator: its per-example gradients, scores and class sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferlab.methods import gradient_influence as trak
from transferlab.models import build_model
from transferlab.world import TensorData


def _data(n, classes, seed=0, size=12):
    g = torch.Generator().manual_seed(seed)
    return TensorData(
        torch.rand(n, 3, size, size, generator=g),
        torch.randint(0, classes, (n,), generator=g),
        classes=tuple(f"c{i}" for i in range(classes)),
    )


def _model(classes, seed=0):
    torch.manual_seed(seed)
    return build_model("cresnet-xs", classes).eval()


def test_projected_gradients_match_autograd_one_example_at_a_time():
    model, data = _model(5), _data(6, 5)
    n = sum(p.numel() for p in model.blocks.parameters())
    proj = trak.projection(n, 16, seed=3)
    feats, probs = trak.features(model, model.head, data, proj, batch_size=4)
    xs, ys = next(data.batches(len(data), shuffle=False))
    for i in range(len(data)):
        model.zero_grad()
        x, y = xs[i : i + 1], ys[i : i + 1]
        trak._log_odds(model(x), y).sum().backward()
        flat = torch.cat([p.grad.flatten() for p in model.blocks.parameters()])
        assert torch.allclose(feats[i], flat @ proj, rtol=1e-3, atol=1e-5)
        assert probs[i] == pytest.approx(float(torch.softmax(model(x), -1)[0, y].detach()), rel=1e-4)


def test_projection_is_seeded_and_checked_against_the_model():
    assert torch.equal(trak.projection(50, 8, seed=1), trak.projection(50, 8, seed=1))
    assert not torch.equal(trak.projection(50, 8, seed=1), trak.projection(50, 8, seed=2))
    model = _model(3)
    with pytest.raises(ValueError, match="backbone parameters"):
        trak.features(model, model.head, _data(2, 3), trak.projection(10, 8, seed=0))


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_a_copy_of_the_target_image_in_the_source_scores_near_the_top():
    model, source = _model(4), _data(200, 4, seed=1)
    copies = [3, 50, 120]
    target = TensorData(source.x[copies].clone(), source.y[copies].clone(), classes=source.classes)
    sc = trak.scores(model, model, source, target, dim=128)
    assert sc.shape == (200, 3)
    for j, i in enumerate(copies):
        rank = int((sc[:, j] > sc[i, j]).sum())
        assert rank < 10, f"the copy of target {j} ranks {rank + 1} of 200"


def test_ensemble_averages_and_by_class_sums():
    model, other = _model(4), _model(4, seed=1)
    source, target = _data(30, 4, seed=2), _data(5, 4, seed=3)
    a = trak.scores(model, model, source, target, dim=16, seed=0)
    b = trak.scores(other, other, source, target, dim=16, seed=1)
    assert np.allclose(trak.ensemble([(model, model), (other, other)], source, target, dim=16), (a + b) / 2)
    by = trak.by_class(a, source.y.numpy(), 4)
    assert by.shape == (4, 5)
    assert np.allclose(by[2], a[source.y.numpy() == 2].sum(0))
    with pytest.raises(ValueError, match="at least one"):
        trak.ensemble([], source, target)
