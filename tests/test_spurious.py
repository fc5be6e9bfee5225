"""The chapters on natural spurious correlations: tables, disjoint draws, measures, real files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from transferlab.chapters import cooccurrence, gender_age
from transferlab.chapters.params import ParameterError, resolve
from transferlab.chapters.spurious import SOURCE_TABLES, Results, excess, gaps, group_scores, plan, shifts
from transferlab.world import DataError, TensorData, World, overlap
from transferlab.world.adapters import CelebA, Coco
from transferlab.world.synthetic import dataset

from .conftest import write_celeba, write_image


def smoke(module, **changes):
    return module.Config(**{**resolve(module.Config, module.PRESETS, "smoke"), **changes})


# -- data ---------------------------------------------------------------------------------------


def test_source_and_target_draws_differ_in_the_synthetic_world():
    world = World(cache=None, size=16)
    src = world.faces("50-50", scale=0.002, role="source")
    tgt = world.faces("50-50", scale=0.002, role="target")  # the same table, for another model
    assert src.attrs.equals(tgt.attrs)
    flat_s, flat_t = src.x.flatten(1), tgt.x.flatten(1)
    assert not (flat_s[:, None] == flat_t[None]).all(-1).any()  # no image appears in both
    with pytest.raises(ValueError, match="unknown role"):
        world.scenes("target", scale=0.01, role="test")


def test_a_drawing_revision_travels_with_the_data_reference():
    world = World(cache=None, size=16)
    kwargs = world.data_kwargs("scenes", "test", table=(1, 1, 1, 1))
    assert "revision" in kwargs and "revision" not in world.data_kwargs("objects")
    assert torch.equal(dataset(**kwargs).x, world.scenes((1, 1, 1, 1), "test").x)
    with pytest.raises(ValueError, match="drawing revision"):
        dataset(**{**kwargs, "revision": kwargs["revision"] - 1})


def test_real_pools_give_sources_and_targets_opposite_ends(tmp_path):
    write_celeba(tmp_path, 120)  # 80 training faces: 20 per (age, gender) group
    pool = CelebA(tmp_path, size=8)
    src = pool.faces((10, 10, 10, 10), role="source")
    assert overlap(src, pool.faces((10, 10, 10, 10), role="target")) == 0
    assert overlap(src, pool.faces((12, 0, 0, 0), role="target")) == 2  # 10 + 12 > 20 young men
    assert overlap(src, pool.faces((5, 5, 5, 5), role="source")) == 20  # sources share a prefix


# -- configuration and plan ----------------------------------------------------------------------


def test_configs_check_their_tables_and_targets():
    with pytest.raises(ParameterError, match="'scale' 0.001 leaves the 'spurious' table"):
        gender_age.Config(scale=0.001)
    with pytest.raises(ParameterError, match="'targets'"):
        gender_age.Config(targets=("only-women", "only-women"))
    with pytest.raises(ParameterError, match="not allowed"):
        gender_age.Config(targets=("only-men",))
    with pytest.raises(ParameterError, match="seeds"):
        cooccurrence.Config(seeds=())
    assert cooccurrence.Config(recipes="thesis").source_recipe().batch_size == 256  # Table G.3
    assert gender_age.Config(recipes="thesis").transfer_recipe("full").weight_decay == 0.01  # Table G.6


def test_plan_pairs_every_source_with_every_target_and_mode():
    config = smoke(gender_age)
    p = plan(config)
    assert set(p.sources) == {(t, s) for t in SOURCE_TABLES for s in config.seeds}
    assert len(p.transfers) == len(p.sources) * len(config.targets) * 2
    for (table, target, mode, seed), job in p.transfers.items():
        assert job.source is p.sources[(table, seed)] and job.mode == mode and job.seed == seed
        data = dict(job.data.kwargs)
        assert data["table"] == target and data["role"] == "target" and data["scale"] == config.scale
        assert dict(job.source.data.kwargs)["role"] == "source"
    test = dict(next(iter(p.sources.values())).eval_data.kwargs)
    assert test["split"] == "test" and test["table"] == (config.test_per_group,) * 4


# -- measures ------------------------------------------------------------------------------------


class _ByPixel(torch.nn.Module):
    """Says class 1 when the first pixel is bright, else class 0."""

    def forward(self, x):
        bright = (x[:, 0, 0, 0] > 0.5).float()
        return torch.stack([1 - bright, bright], 1)


def test_group_scores_and_shift_of_a_model_that_only_sees_the_feature():
    config = smoke(cooccurrence)
    y = torch.tensor([0, 0, 1, 1] * 5)
    person = np.array([True, False] * 10)
    x = torch.zeros(20, 3, 4, 4, dtype=torch.uint8)
    x[torch.from_numpy(person), :, 0, 0] = 255  # the model says "dog" exactly when a person is there
    test = TensorData(x, y, classes=("cat", "dog"), attrs=pd.DataFrame({"person": person}))
    scores = group_scores(config, _ByPixel(), test)
    acc = scores.set_index(["label", "feature"]).accuracy
    assert acc["dog", "with people"] == 1 and acc["dog", "without people"] == 0
    assert acc["cat", "with people"] == 0 and acc["cat", "without people"] == 1
    rows = [scores.assign(stage="source", source=t, target="", seed=0) for t in SOURCE_TABLES]
    rows[0] = rows[0].assign(favoured_rate=0.5, accuracy=0.5)  # a non-spurious model that ignores people
    results = Results(config, pd.concat(rows, ignore_index=True))
    g = gaps(results).set_index(["source", "label"])
    assert g.loc[("spurious", "dog"), "gap"] == 1 and g.loc[("spurious", "cat"), "gap"] == -1
    assert shifts(results).set_index("source")["shift"].to_dict() == {"non-spurious": 0, "spurious": 1}
    assert excess(results).excess.tolist() == [1]


# -- end to end on real-format files ---------------------------------------------------------------


def _coco_pools(root, train_each=20, test_each=6):
    """COCO 2017 instance files with ``train_each`` / ``test_each`` images per (animal, person)."""
    cats = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]
    ids = {c["name"]: c["id"] for c in cats}
    for split, each in (("train2017", train_each), ("val2017", test_each)):
        images, anns = [], []
        kinds = [("cat",), ("cat", "person"), ("dog",), ("dog", "person")] * each + [("cat", "dog")]
        for i, kind in enumerate(kinds):
            name = f"{i:012d}.jpg"
            images.append({"id": i, "file_name": name, "width": 32, "height": 24})
            anns += [
                {"id": len(anns), "image_id": i, "category_id": ids[k], "bbox": [0, 0, 4, 4]} for k in kind
            ]
            write_image(
                root / split / name, (40 + 150 * ("dog" in kind), 90, 40 + 150 * ("person" in kind)), (32, 24)
            )
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": anns, "categories": cats})
        )


@pytest.mark.parametrize("module", [cooccurrence, gender_age], ids=["coco", "celeba"])
def test_chapter_runs_on_real_files(tmp_path, monkeypatch, module):
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "store"))
    root = tmp_path / "data"
    if module is cooccurrence:
        _coco_pools(root / "coco")
        Coco(root / "coco")  # the layout is found
    else:
        write_celeba(root / "celeba", 120)
    changes = {
        "data_dir": str(root),
        "scale": 0.004 if module is cooccurrence else 0.002,
        "test_per_group": 5,
        "seeds": [0],
    }
    if module is gender_age:
        changes["targets"] = ["only-women"]
        changes["curve_scales"] = [0.002]
    config = smoke(module, **changes)
    results = module.run(config, progress=False)
    assert set(results.groups.stage) == {"source", "fixed", "full"}
    assert (results.groups["count"] == 5).all()  # every (class, feature) group of the real test split
    table = module.claims(results)
    assert all(np.isfinite(e.value) for c in table.claims for e in c.estimates)
    assert module.summary_text(results)
    if module is cooccurrence:  # a scale too large for the pool: source and target would meet
        with pytest.raises(DataError, match="share 2 images"):
            module.run(smoke(module, **{**changes, "scale": 0.005}), progress=False)
    else:  # a curve's target too large for the pool meets the sources: refused before any training
        models = lambda: sorted((tmp_path / "store").rglob("model.safetensors"))  # noqa: E731
        before = models()
        with pytest.raises(DataError, match="at scale 0.008"):
            module.run(smoke(module, **{**changes, "curve_scales": [0.008]}), progress=False)
        assert models() == before
