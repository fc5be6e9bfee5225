"""The synthetic world: determinism, make-up, overlays, sampling tables, ground truth, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transferlab.store import Store
from transferlab.world import (
    FACE_TABLES,
    SCENE_TABLES,
    Ball,
    Fence,
    Hat,
    Square,
    World,
    WorldConfig,
    apply_overlay,
    dataset,
    overlay_name,
    parse_overlay,
)
from transferlab.world.synthetic import source_catalogue

SMALL = dict(
    size=16,
    superclasses=4,
    fine=2,
    dog_breeds=3,
    cat_breeds=2,
    source_train=12,
    source_test=4,
    target_train=10,
    target_test=10,
    flowers_classes=6,
    flowers_max=12,
    flowers_min=3,
    flowers_test=4,
    leaks=5,
    pets_breeds=2,
)


@pytest.fixture(scope="module")
def world() -> World:
    return World(cache=None, **SMALL)


def test_same_seed_same_images_other_seed_other_images(world):
    again = World(cache=None, **SMALL)
    other = World(cache=None, **{**SMALL, "seed": 1})
    for part in ("source", "objects", "flowers", "pets"):
        a, b = world.get(part, "test"), again.get(part, "test")
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
        assert not torch.equal(a.x, other.get(part, "test").x)
    assert not torch.equal(world.source("train").x[:20], world.source("test").x[:20])


def test_parts_have_the_configured_make_up(world):
    c = world.config
    src = world.source("train")
    cat = world.source_classes()
    assert src.x.dtype == torch.uint8 and src.x.shape[1:] == (3, 16, 16)
    assert src.classes == tuple(cat.name) and len(src.superclasses) == len(src.classes)
    assert (src.class_counts() >= c.source_train).all()
    assert src.superclasses.count("dog") == c.dog_breeds
    for pattern in ("fence", "tennis ball", "hat"):
        assert pattern in src.classes
    assert sum("look-alike" in n for n in src.classes) == c.lookalikes
    assert len(src) == len(cat) * c.source_train + c.leaks
    objects = world.target("objects")
    assert {"dog", "cat"} <= set(objects.classes) and len(objects.classes) == 2 + min(8, c.superclasses)
    flowers = world.target("flowers").class_counts()
    assert flowers.max() == c.flowers_max and flowers.min() == c.flowers_min  # imbalanced
    assert len(world.target("pets").classes) == 2 * c.pets_breeds
    assert world.summary().set_index("part").loc["source", "train images"] == len(src)


def test_the_source_has_up_to_about_a_hundred_classes():
    big = source_catalogue(WorldConfig(superclasses=12, fine=6, dog_breeds=12))
    assert 90 <= len(big) <= 110 and big.name.is_unique


def test_bad_configs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="superclasses"):
        WorldConfig(superclasses=13)
    with pytest.raises(ValueError, match="leaks"):
        WorldConfig(leaks=500, target_test=100)
    with pytest.raises(ValueError, match="unknown part"):
        World(cache=None, **SMALL).get("imagenet")
    with pytest.raises(ValueError, match="takes no option"):
        World(cache=None, **SMALL).get("source", table="spurious")
    with pytest.raises(ValueError, match="unknown split"):
        World(cache=None, **SMALL).get("source", "val")


def test_square_trigger_is_exactly_where_it_is_said():
    x = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    out = Square(size=3, position="bottom-right")(x, torch.Generator().manual_seed(0))
    changed = (out != x).any(1)
    assert changed[:, 12:15, 12:15].all() and changed.sum() == 4 * 9
    assert out[0, :, 13, 13].tolist() == [255, 255, 0]
    rand = Square(size=2, position="random")(x, torch.Generator().manual_seed(0))
    assert ((rand != x).any(1).flatten(1).sum(1) == 4).all()
    with pytest.raises(ValueError, match="position"):
        Square(position="middle")
    with pytest.raises(ValueError, match="does not fit"):
        Square(size=16)(x, torch.Generator())


@pytest.mark.parametrize("overlay", [Fence(), Ball(), Hat(), parse_overlay("square+fence")])
def test_overlays_change_images_and_keep_labels(world, overlay):
    data = world.target("objects", "test")
    out = apply_overlay(data, overlay, fraction=0.5, seed=3)
    mark = out.attrs[overlay_name(overlay)].to_numpy()
    assert mark.sum() == len(data) // 2 and torch.equal(out.y, data.y)
    changed = (out.x != data.x).flatten(1).any(1).numpy()
    assert changed[mark].all() and not changed[~mark].any()


def test_overlay_on_chosen_classes_only(world):
    src = world.source("train")
    dogs = [c for c, s in zip(src.classes, src.superclasses) if s == "dog"]
    out = apply_overlay(src, Square(), fraction=0.25, classes=dogs, seed=0, column="trigger")
    marked = out.attrs.trigger.to_numpy()
    on_dog = np.isin(out.y.numpy(), [src.classes.index(d) for d in dogs])
    assert marked[~on_dog].sum() == 0 and marked.sum() == round(0.25 * on_dog.sum())


def test_overlay_text_form_round_trips_and_rejects_unknowns():
    for text in ("square", "square:size=4,position=random", "ball:scale=0.3+hat", "fence:spacing=4.0"):
        assert overlay_name(parse_overlay(text)) == text
    with pytest.raises(ValueError, match="unknown overlay"):
        parse_overlay("sticker")
    with pytest.raises(ValueError, match="no parameter"):
        parse_overlay("square:colour_name=red")


@pytest.mark.parametrize("table", ["spurious", "only-women", "80-women"])
def test_faces_draw_the_sampling_tables(world, table):
    faces = world.faces(table, scale=0.01)
    counts = faces.attrs.value_counts(["age", "gender"])
    for (age, gender), n in zip(
        [("young", "male"), ("young", "female"), ("old", "male"), ("old", "female")], FACE_TABLES[table]
    ):
        assert counts.get((age, gender), 0) == round(n * 0.01)
    assert ((faces.y == 1).numpy() == (faces.attrs.age == "old").to_numpy()).all()


def test_scenes_draw_the_sampling_tables(world):
    scenes = world.scenes("spurious", scale=0.02)
    counts = scenes.attrs.value_counts(["animal", "person"])
    assert counts[("dog", True)] == SCENE_TABLES["spurious"][2] * 0.02
    assert counts[("cat", False)] == SCENE_TABLES["spurious"][1] * 0.02
    with pytest.raises(ValueError, match="unknown table"):
        world.scenes("balanced")


def _pixel_probe(data, column, value) -> float:
    """Held-out accuracy of a logistic regression on 8×8 pixels predicting attrs[column] == value."""
    x = torch.nn.functional.avg_pool2d(data.x.float() / 255, data.x.shape[-1] // 8).flatten(1)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    y = torch.tensor((data.attrs[column] == value).to_numpy(), dtype=torch.float32)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = perm[: len(y) * 3 // 4], perm[len(y) * 3 // 4 :]
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(x[train] @ w + b, y[train])
            + 1e-2 * w.square().sum()
        )
        loss.backward()
        return loss

    opt.step(closure)
    return float(((x[test] @ w + b > 0).float() == y[test]).float().mean())


def test_faces_show_gender_more_plainly_than_age():
    """The design the gender–age chapter needs: both attributes visible, gender the easier cue."""
    faces = World(cache=None, size=24).faces("non-spurious", scale=0.12)
    gender, age = _pixel_probe(faces, "gender", "male"), _pixel_probe(faces, "age", "old")
    assert age > 0.6, age
    assert gender > age, (gender, age)


def test_influence_ground_truth_is_consistent_with_the_data(world):
    truth = world.influence_truth("objects")
    src, test = world.source("train"), world.target("objects", "test")
    cat, tcat = world.source_classes(), world.target_classes("objects")
    helps = truth[truth.relation == "helps"]
    assert (cat.family[helps.source_label].to_numpy() == tcat.family[helps.target_label].to_numpy()).all()
    hurts = truth[truth.relation == "hurts"]
    assert len(hurts) == 2 * world.config.lookalikes
    leaks = truth[truth.relation == "leaks"]
    assert len(leaks) == world.config.leaks
    s_idx, t_idx = torch.tensor(leaks.source_index.to_numpy()), torch.tensor(leaks.target_index.to_numpy())
    copies = src.x[s_idx].float()
    originals = test.x[t_idx].float().roll((1, 1), (2, 3))
    others = test.x[(t_idx + 1) % len(test)].float().roll((1, 1), (2, 3))
    near = (copies - originals).abs().mean()
    assert near < 10 and near * 3 < (copies - others).abs().mean()
    assert (src.y[s_idx].numpy() == leaks.source_label.to_numpy()).all()
    assert (test.y[t_idx].numpy() == leaks.target_label.to_numpy()).all()


def test_generated_data_is_cached_by_config_and_remade_if_corrupt(tmp_path):
    store = Store(tmp_path)
    first = World(cache=store, **SMALL).target("pets", "test")
    assert len(store.keys()) == 1
    again = World(cache=store, **SMALL).target("pets", "test")
    assert torch.equal(first.x, again.x) and again.classes == first.classes
    assert again.attrs.equals(first.attrs)
    World(cache=store, **{**SMALL, "seed": 5}).target("pets", "test")
    assert len(store.keys()) == 2
    for data_file in tmp_path.glob("objects/*/*/data.safetensors"):
        data_file.write_bytes(data_file.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match="set aside"):
        remade = World(cache=Store(tmp_path), **SMALL).target("pets", "test")
    assert torch.equal(remade.x, first.x)
    assert any((tmp_path / "corrupt").iterdir())


def test_dataset_function_rebuilds_a_part_from_flat_kwargs(world, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path))
    kwargs = world.data_kwargs("faces", "test", table="spurious", scale=0.01)
    assert kwargs["part"] == "faces" and kwargs["table"] == "spurious" and kwargs["size"] == 16
    data = dataset(**kwargs)
    assert torch.equal(data.x, world.faces("spurious", "test", scale=0.01).x)
    assert len(Store(tmp_path).keys()) == 1  # cached in the default store


def test_paint_keeps_each_images_order_of_objects_whatever_the_row_order():
    from transferlab.world import draw

    canvas = torch.zeros(2, 3, 8, 8)
    red, blue = torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 0, 1.0]])
    # image 0: disc then square (square on top); image 1: square then disc (disc on top)
    rows = [(0, "disc", red), (1, "square", blue), (0, "square", blue), (1, "disc", red)]
    objs = draw.Objects.cat(
        [
            draw.Objects.make(torch.tensor([i]), f, torch.zeros(1, 2), torch.tensor([0.5]), c)
            for i, f, c in rows
        ]
    )
    out = draw.paint(canvas, objs)
    assert out[0, :, 4, 4].tolist() == [0, 0, 1] and out[1, :, 4, 4].tolist() == [1, 0, 0]
