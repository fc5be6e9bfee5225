"""The training loop: schedule, grouped training = separate training, transfer modes, evaluation."""

import numpy as np
import pytest
import torch

from transferlab.models import CompactResNet, GroupedCompactResNet, build_model
from transferlab.train import (
    PLAIN,
    Recipe,
    Snapshots,
    Speed,
    accuracy,
    device,
    extract_features,
    fit,
    per_class_accuracy,
    per_group_accuracy,
    predict,
    predicted_distribution,
    recipe,
    transfer,
)
from transferlab.train.device import keep_freed_memory
from transferlab.world import toy_task

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data():
    return toy_task(6, 40, 16, seed=0), toy_task(6, 30, 16, seed=1)


def test_triangular_schedule():
    r = Recipe(epochs=10, lr=1.0, peak_epoch=2, batch_size=8)
    assert r.lr_at(0, 5) == 0 and r.lr_at(10, 5) == pytest.approx(1.0)
    assert r.lr_at(5, 5) == pytest.approx(0.5) and r.lr_at(50, 5) == pytest.approx(0.0)
    assert r.lr_at(30, 5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="peak_epoch"):
        Recipe(epochs=2, lr=1.0, peak_epoch=3, batch_size=8)
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe("nope")


def test_constant_recipes_count_iterations_and_keep_old_store_keys():
    r = recipe("remos-artifact", iterations=7)
    assert r.lr_at(0, 5) == r.lr_at(6, 5) == 5e-3
    assert r.steps(40) == 7 and r.passes(40) == 7  # batch 64 > 40 examples: one step per pass
    assert r.replace(batch_size=8).passes(40) == 2 and r.replace(batch_size=8).steps(40) == 7
    old = Recipe(epochs=3, lr=0.1, peak_epoch=1, batch_size=8)
    assert set(old.spec()) == {
        "epochs",
        "lr",
        "peak_epoch",
        "batch_size",
        "momentum",
        "weight_decay",
        "label_smoothing",
        "augment",
    }  # fields added later enter a key only when set
    assert {"schedule", "head_lr_scale", "iterations"} <= set(r.spec())
    with pytest.raises(ValueError, match="constant schedule"):
        old.replace(iterations=5)
    with pytest.raises(ValueError, match="unknown schedule"):
        old.replace(schedule="cosine")


def _after_one_step(data, head_lr_scale: float):
    train, _ = data
    torch.manual_seed(0)
    m = build_model("cresnet-xs", 6)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    r = Recipe(
        epochs=1,
        lr=0.01,
        peak_epoch=0,
        batch_size=16,
        momentum=0.0,
        schedule="constant",
        head_lr_scale=head_lr_scale,
        iterations=1,
        augment=False,
    )
    fit(m, train, r, seed=0, speed=Speed(CPU, **PLAIN))
    return {k: (m.state_dict()[k] - v).abs().sum().item() for k, v in before.items() if v.is_floating_point()}


def test_the_head_learns_at_its_own_rate(data):
    """One plain SGD step moves every weight by lr × its gradient: with the head at 10×, the head
    moves ten times as far and the rest exactly as far."""
    one, ten = _after_one_step(data, 1.0), _after_one_step(data, 10.0)
    assert ten["head.weight"] == pytest.approx(10 * one["head.weight"], rel=1e-3)
    body = [k for k in one if not k.startswith("head.") and "running" not in k and one[k] > 0]
    assert body and all(ten[k] == pytest.approx(one[k], rel=1e-4) for k in body)


def test_a_snapshot_is_the_shorter_run(data):
    """With a constant learning rate, the weights after k steps of an n-step run are those of a
    k-step run, and a run counted in iterations stops at exactly that many steps."""
    train, _ = data
    r = recipe("remos-artifact", batch_size=16, iterations=12)

    def trained(iterations, on_step=None):
        torch.manual_seed(0)
        m = build_model("cresnet-xs", 6)
        fit(m, train, r.replace(iterations=iterations), seed=3, speed=Speed(CPU, **PLAIN), after_step=on_step)
        return m.state_dict()

    snaps = Snapshots([4, 9])
    trained(12, snaps)
    assert sorted(snaps.states) == [4, 9] and snaps.step == 12
    short = trained(9)
    for k, v in short.items():
        torch.testing.assert_close(snaps.states[9][k], v, rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_training_learns(data):
    train, test = data
    torch.manual_seed(0)
    m = build_model("cresnet-xs", 6)
    before = accuracy(predict(m, test), test.y)
    losses = fit(m, train, recipe("synthetic-source", epochs=8, peak_epoch=1, batch_size=16, lr=0.05))
    assert losses[-1] < losses[0]
    assert accuracy(predict(m, test), test.y) > max(before, 0.5)


def test_freed_memory_is_reused_without_page_faults():
    """After keep_freed_memory, a tensor of 8 MiB allocated and freed again and again comes back
    from the heap: glibc's default maps fresh pages each time (a fault per 4 KiB page)."""
    resource = pytest.importorskip("resource")
    if not keep_freed_memory():
        pytest.skip("not glibc's malloc: nothing to tune")
    torch.ones(1 << 21)  # warm: the first allocation faults its pages in once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.ones(1 << 21)  # 8 MiB, touched, freed
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 20 * 2048 / 4, f"{faults} page faults for 20 reused 8 MiB tensors"


def _compile_every_run(monkeypatch):
    monkeypatch.setattr(device, "COMPILE_MIN_STEPS", 0)
    monkeypatch.setattr(device.multiprocessing, "parent_process", lambda: "a pool")  # as in a worker
    return Speed(CPU, **{**PLAIN, "compile": True})


def _eager_and_compiled_training() -> tuple[list, list]:
    """In a worker process (only workers compile): the same model trained eagerly and compiled."""
    device.COMPILE_MIN_STEPS = 0
    train = toy_task(num_classes=6, n_per_class=16, size=12, seed=0)
    r = recipe("synthetic-source", epochs=1, peak_epoch=0.5, batch_size=32)
    out = []
    for switches in (PLAIN, {**PLAIN, "compile": True}):
        torch.manual_seed(0)
        model = build_model("cresnet-xs", 6)
        speed = Speed(CPU, **switches)
        assert speed.compiles(1) == switches["compile"]
        out.append((fit(model, train, r, seed=1, speed=speed), model.state_dict()))
    return out


def test_compiled_training_follows_eager_training():
    """The compiled forward (inductor's fused kernels) trains the same model as eager float32,
    up to float rounding: same losses within 1 %, same weights within 1e-3. Compiling happens only
    in worker processes: this one would break autograd in the workers it forks later."""
    import concurrent.futures
    import multiprocessing

    if not device.can_compile(CPU):
        pytest.skip("no C++ compiler for torch.compile here")
    assert not Speed(CPU, compile=True).compiles(10**6)  # not in this process
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        (eager_losses, eager), (fast_losses, fast) = pool.submit(_eager_and_compiled_training).result()
    assert fast_losses == pytest.approx(eager_losses, rel=1e-2)
    for (k, a), b in zip(eager.items(), fast.values()):
        if a.dtype.is_floating_point:
            torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3, msg=k)


def test_a_failed_compile_warns_and_trains_eagerly(data, monkeypatch):
    def broken(module, **kwargs):
        def forward(x):
            raise RuntimeError("no compiler")

        return forward

    monkeypatch.setattr(torch, "compile", broken)
    train, test = data
    torch.manual_seed(0)
    m = build_model("cresnet-xs", 6)
    with pytest.warns(UserWarning, match="torch.compile failed .*no compiler.*training eagerly"):
        losses = fit(
            m,
            train,
            recipe("synthetic-source", epochs=2, peak_epoch=1, batch_size=16),
            speed=_compile_every_run(monkeypatch),
        )
    assert losses[-1] < losses[0]


def test_grouped_training_matches_separate_training(data):
    train, _ = data
    r = recipe("synthetic-source", epochs=1, peak_epoch=0.5, batch_size=32, augment=False)
    plain = Speed(CPU, **PLAIN)
    torch.manual_seed(0)
    members = [CompactResNet(6, width=8) for _ in range(2)]
    grouped = GroupedCompactResNet.from_models(members)
    grouped_losses = fit(grouped, [train, train], r, seed=[3, 4], speed=plain)
    for g, m in enumerate(members):
        own = fit(m, train, r, seed=3 + g, speed=plain)
        assert grouped_losses[g] == pytest.approx(own, rel=1e-3)  # each member's own loss
    for a, b in zip(members, grouped.split()):
        for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
            if va.dtype.is_floating_point:
                torch.testing.assert_close(va, vb, atol=2e-3, rtol=2e-3, msg=k)


def _block_params(model, name):
    return [p.detach().clone() for p in model.blocks[name].parameters()]


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_transfer_modes_train_the_right_parts(data):
    train, _ = data
    torch.manual_seed(0)
    source = build_model("cresnet-xs", 6)
    fit(source, train, recipe("synthetic-source", epochs=1, peak_epoch=0.5, batch_size=32))
    target = toy_task(3, 30, 16, seed=7)
    r = recipe("synthetic-full", epochs=1, peak_epoch=0.5, batch_size=16)
    for mode, k, changed in (
        ("fixed", None, set()),
        ("partial", 3, {"block4", "block5"}),
        ("full", None, {"block1", "block2", "block3", "block4", "block5"}),
    ):
        out = transfer(source, target, r, mode=mode, frozen_blocks=k)
        assert out.num_classes == 3
        moved = {
            n
            for n in ("block1", "block2", "block3", "block4", "block5")
            if any(not torch.equal(a, b) for a, b in zip(_block_params(source, n), _block_params(out, n)))
        }
        assert moved == changed, mode
        assert all(p.requires_grad for p in out.parameters())  # unfrozen again after training
    with pytest.raises(ValueError, match="unknown transfer mode"):
        transfer(source, target, r, mode="sideways")


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_cached_fixed_feature_matches_running_the_backbone(data):
    train, test = data
    torch.manual_seed(0)
    source = build_model("cresnet-xs", 6)
    fit(source, train, recipe("synthetic-source", epochs=3, peak_epoch=1, batch_size=32))
    target, target_test = toy_task(3, 40, 16, seed=8), toy_task(3, 40, 16, seed=9)
    r = recipe("synthetic-fixed", epochs=15, peak_epoch=2, batch_size=32)
    cached = transfer(source, target, r, mode="fixed", seed=1)
    naive = transfer(source, target, r, mode="fixed", seed=1, cache_features=False)
    a, b = (accuracy(predict(m, target_test), target_test.y) for m in (cached, naive))
    assert a > 1 / 3 + 0.15 and abs(a - b) < 0.15
    # the cached path trains on exactly the features the model computes in eval mode
    feats = extract_features(cached, target)
    torch.testing.assert_close(cached.head(feats).detach(), predict(cached, target), atol=0.1, rtol=0.02)


def test_evaluation_helpers():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 5.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert accuracy(logits, y) == 0.5
    np.testing.assert_allclose(per_class_accuracy(logits, y), [0.5, 0.5])
    np.testing.assert_allclose(predicted_distribution(logits), [0.5, 0.5])
    table = per_group_accuracy(logits, y, gender=["m", "f", "m", "f"])
    assert dict(zip(table.gender, table.accuracy)) == {"f": 0.5, "m": 0.5}


@pytest.mark.usefixtures("numeric_path")  # plain float32 and bf16 autocast
def test_many_heads_at_once_equal_one_at_a_time():
    from transferlab.train import train_heads

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 50, 8, generator=g)
    labels = torch.randint(0, 4, (50,), generator=g)
    r = recipe("synthetic-fixed", epochs=3, peak_epoch=1, batch_size=16)
    inits = (torch.randn(3, 4, 8, generator=g) * 0.1, torch.zeros(3, 4))
    w, b = train_heads(feats, labels, 4, r, seed=5, device=CPU, init=inits)
    assert w.shape == (3, 4, 8) and b.shape == (3, 4)
    for m in range(3):
        wm, bm = train_heads(feats[m], labels, 4, r, seed=5, device=CPU, init=(inits[0][m], inits[1][m]))
        torch.testing.assert_close(w[m], wm, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(b[m], bm, atol=1e-5, rtol=1e-4)
