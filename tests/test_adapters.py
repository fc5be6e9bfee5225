"""Real-data adapters, each on tiny files written here in the data set's real on-disk format."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from scipy.io import savemat

from transferlab.world.adapters import (
    CelebA,
    Coco,
    DataError,
    cifar,
    flowers102,
    image_folder,
    imagenet_subset,
)

from .conftest import write_celeba, write_image, write_pickle, write_real_root

# -- ImageFolder and ImageNet -----------------------------------------------------------------


def test_image_folder(tmp_path):
    for i in range(3):
        write_image(tmp_path / "cat" / f"{i}.png", (200, 10, 10))
        write_image(tmp_path / "dog" / f"{i}.jpg", (10, 10, 200))
    data = image_folder(tmp_path, size=8)
    assert data.classes == ("cat", "dog") and data.x.shape == (6, 3, 8, 8)
    assert data.x.dtype == torch.uint8 and data.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.x[0, 0].float().mean() > 150 and data.x[5, 2].float().mean() > 150
    some = image_folder(tmp_path, size=8, classes=["dog"], max_per_class=2, superclasses={"dog": "animal"})
    assert some.classes == ("dog",) and len(some) == 2 and some.superclasses == ("animal",)


def test_image_folder_errors_say_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="(?s)does not exist.*one folder per class"):
        image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not an image folder"):
        image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="no valid file for the classes empty"):
        image_folder(tmp_path)
    write_image(tmp_path / "bad" / "a" / "x.png", (0, 0, 0))
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*broken.png"):
        image_folder(tmp_path / "bad")


def test_imagenet_subset_with_superclasses_and_names(tmp_path):
    wnids = ["n02085620", "n02085782", "n01440764"]
    for split in ("train", "val"):
        for j, w in enumerate(wnids):
            for i in range(2):
                write_image(tmp_path / split / w / f"{w}_{i}.JPEG", (j * 80, 50, 50))
    (tmp_path / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn02085620 Chihuahua\nn02085782 Japanese spaniel\n"
    )
    sup = tmp_path / "dogs.csv"
    sup.write_text("# wnid,superclass\nn02085620,dog\nn02085782,dog\n")
    data = imagenet_subset(tmp_path, sup, "test", size=8)
    assert data.classes == ("Chihuahua", "Japanese spaniel") and data.superclasses == ("dog", "dog")
    assert len(data) == 4 and set(data.attrs.wnid) == {"n02085620", "n02085782"}
    sup.write_text("n02085620\n")
    with pytest.raises(DataError, match="line 1"):
        imagenet_subset(tmp_path, sup)


# -- CIFAR ------------------------------------------------------------------------------------


def test_cifar10_python_batches(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_pickle(
            base / name,
            {
                b"batch_label": b"x",
                b"labels": [1, 0, 2],
                b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
                b"filenames": [b"a", b"b", b"c"],
            },
        )
    write_pickle(
        base / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird"], b"num_vis": 3072}
    )
    train = cifar(tmp_path, "cifar10", "train")
    assert (
        len(train) == 15
        and train.x.shape[1:] == (3, 32, 32)
        and train.classes[:2] == ("airplane", "automobile")
    )
    raw = pickle.load(open(base / "test_batch", "rb"), encoding="bytes")[b"data"]
    test = cifar(tmp_path, "cifar10", "test", size=16)
    assert test.x.shape == (3, 3, 16, 16) and test.y.tolist() == [1, 0, 2]
    assert torch.equal(cifar(tmp_path, "cifar10", "test").x, torch.from_numpy(raw.reshape(3, 3, 32, 32)))


def test_cifar100_has_superclasses(tmp_path):
    base = tmp_path / "cifar-100-python"
    data = np.zeros((4, 3072), dtype=np.uint8)
    for split in ("train", "test"):
        write_pickle(
            base / split, {b"data": data, b"fine_labels": [0, 1, 2, 1], b"coarse_labels": [0, 1, 1, 1]}
        )
    write_pickle(
        base / "meta",
        {
            b"fine_label_names": [b"beaver", b"apple", b"pear"],
            b"coarse_label_names": [b"aquatic mammals", b"fruit"],
        },
    )
    d = cifar(tmp_path, "cifar100", "test")
    assert d.classes == ("beaver", "apple", "pear")
    assert d.superclasses == ("aquatic mammals", "fruit", "fruit")


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    base = tmp_path / "cifar-10-batches-py"

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    write_pickle(base / "batches.meta", Evil())
    with pytest.raises(DataError, match="refusing to load"):
        cifar(tmp_path)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        cifar(tmp_path / "other")


# -- Flowers-102 ------------------------------------------------------------------------------


def test_flowers102_mat_files(tmp_path):
    labels = np.array([1, 2, 3, 1, 2, 3, 1, 2])
    for i, lab in enumerate(labels, 1):
        write_image(tmp_path / "jpg" / f"image_{i:05d}.jpg", (lab * 60, 100, 30))
    savemat(tmp_path / "imagelabels.mat", {"labels": labels[None]})
    savemat(
        tmp_path / "setid.mat",
        {"trnid": np.array([[1, 2, 3]]), "valid": np.array([[4]]), "tstid": np.array([[5, 6, 7, 8]])},
    )
    train = flowers102(tmp_path, "train", size=8)
    assert len(train) == 4 and train.y.tolist() == [0, 1, 2, 0] and train.num_classes == 3
    assert len(flowers102(tmp_path, "train", size=8, with_validation=False)) == 3
    assert flowers102(tmp_path, "test", size=8).y.tolist() == [1, 2, 0, 1]
    (tmp_path / "setid.mat").write_bytes(b"garbage")
    with pytest.raises(DataError, match="Flowers-102"):
        flowers102(tmp_path)


# -- CelebA -----------------------------------------------------------------------------------


def test_celeba_draws_the_face_tables(tmp_path):
    write_celeba(tmp_path)
    faces = CelebA(tmp_path, size=8).faces((1, 3, 0, 2), split="train")
    assert faces.attrs.value_counts(["age", "gender"]).to_dict() == {
        ("young", "female"): 3,
        ("old", "female"): 2,
        ("young", "male"): 1,
    }
    assert (faces.y.numpy() == (faces.attrs.age == "old").to_numpy()).all()
    first = faces.attrs.file[0]
    i = int(first[:6])
    assert (faces.attrs.gender[0] == "male") == bool(i % 2)  # attributes follow the file's row
    with pytest.raises(DataError, match="only"):
        CelebA(tmp_path).faces("spurious")


def test_celeba_malformed_attributes(tmp_path):
    write_celeba(tmp_path, 4)
    text = (tmp_path / "list_attr_celeba.txt").read_text().replace("Young", "Old")
    (tmp_path / "list_attr_celeba.txt").write_text(text)
    with pytest.raises(DataError, match="no attribute 'Young'"):
        CelebA(tmp_path)
    with pytest.raises(DataError, match="list_attr_celeba.txt"):
        CelebA(tmp_path / "missing")


# -- COCO -------------------------------------------------------------------------------------


def _coco(root):
    cats = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]
    kinds = [("cat",), ("cat", "person"), ("dog",), ("dog", "person"), ("cat", "dog"), ("person",)] * 3
    images, anns = [], []
    for i, kind in enumerate(kinds):
        images.append({"id": 100 + i, "file_name": f"{i:012d}.jpg", "width": 64, "height": 48})
        for name in kind:
            cid = next(c["id"] for c in cats if c["name"] == name)
            anns.append({"id": len(anns), "image_id": 100 + i, "category_id": cid, "bbox": [1, 1, 10, 10]})
        write_image(root / "val2017" / f"{i:012d}.jpg", (10, 200 if "dog" in kind else 10, 10), (64, 48))
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )


def test_coco_draws_the_scene_tables(tmp_path):
    _coco(tmp_path)
    scenes = Coco(tmp_path, size=8).scenes((1, 2, 3, 0), split="test")
    assert len(scenes) == 6
    assert scenes.attrs.value_counts(["animal", "person"]).to_dict() == {
        ("dog", True): 3,
        ("cat", False): 2,
        ("cat", True): 1,
    }
    assert scenes.x[scenes.y == 1, 1].float().mean() > 150  # dogs' files are the green ones
    with pytest.raises(DataError, match="only 3"):
        Coco(tmp_path).scenes((4, 0, 0, 0), split="test")
    with pytest.raises(DataError, match="instances_train2017.json"):
        Coco(tmp_path).scenes(split="train")
    (tmp_path / "annotations" / "instances_val2017.json").write_text('{"images": [')
    with pytest.raises(DataError, match="not a COCO instances file"):
        Coco(tmp_path).scenes(split="test")


# -- a whole real world -----------------------------------------------------------------------


def _data_entries(store) -> list[str]:
    return [k for k in store.keys() if store.get(k).spec.get("kind") == "data"]


def test_real_world_gives_the_parts_chapters_use(tmp_path):
    from transferlab.store import Store
    from transferlab.world import RealWorld

    root = write_real_root(tmp_path / "data")
    store = Store(tmp_path / "store")
    world = RealWorld(root, size=8, cache=store)
    pets = world.target("pets", "test")
    assert pets.classes == ("beagle", "persian") and pets.x.shape == (8, 3, 8, 8)
    faces = world.faces((1, 1, 1, 1))
    assert faces.classes == ("young", "old") and len(faces) == 4
    assert len(_data_entries(store)) == 2
    assert torch.equal(RealWorld(root, size=8, cache=store).target("pets", "test").x, pets.x)
    assert len(_data_entries(store)) == 2  # read back, not loaded again
    write_image(root / "pets" / "test" / "beagle" / "9.jpg", (0, 0, 0))  # the data set changed
    assert len(RealWorld(root, size=8, cache=store).target("pets", "test")) == 9
    with pytest.raises(DataError, match="(?s)the 'objects' part.*cifar-10-batches-py"):
        world.target("objects")
    kwargs = world.data_kwargs("faces", "train", table=[1, 1, 1, 1], scale=0.5)
    assert kwargs["table"] == (1, 1, 1, 1) and kwargs["scale"] == 0.5  # a scale is not a table
    with pytest.raises(ValueError, match="only in the synthetic world"):
        world.influence_truth()
    with pytest.raises(DataError, match="does not exist"):
        RealWorld(tmp_path / "nothing")


def test_jobs_train_on_real_data_through_the_same_references(tmp_path, monkeypatch):
    from transferlab.chapters.base import world_ref
    from transferlab.run import SourceJob, load_model, run_jobs
    from transferlab.store import Store
    from transferlab.train import recipe
    from transferlab.world import RealWorld

    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "store"))
    world = RealWorld(write_real_root(tmp_path / "data"), size=12)
    job = SourceJob(
        "cresnet-xs",
        world_ref(world, "pets"),
        recipe("synthetic-scratch", epochs=2, peak_epoch=1),
        eval_data=world_ref(world, "pets", "test"),
    )
    entry = run_jobs([job], Store(tmp_path / "store"), progress=False)[0]
    assert load_model(entry).num_classes == 2 and 0 <= entry.info["test_accuracy"] <= 1


def test_real_data_is_named_by_its_content_not_its_path(tmp_path):
    """A job's key holds a fingerprint of the part's files, not the folder: the same images at
    another path reuse the models trained on them; changed images make a new key (before: the key
    held the path alone, and a model trained on the old images was reused)."""
    import shutil

    from transferlab.chapters.base import world_ref
    from transferlab.store import Store, spec_key
    from transferlab.world import RealWorld
    from transferlab.world.adapters import real_dataset

    store = Store(tmp_path / "store")
    here = write_real_root(tmp_path / "here")
    there = shutil.copytree(here, tmp_path / "elsewhere" / "copy")

    def key(root):
        return spec_key(world_ref(RealWorld(root, size=8, cache=store), "pets").spec())

    assert key(here) == key(there) and str(here) not in json.dumps(
        world_ref(RealWorld(here, cache=store), "pets").spec()
    )
    ref = world_ref(RealWorld(there, size=8, cache=store), "pets")
    write_image(there / "pets" / "train" / "beagle" / "0.jpg", (255, 0, 0))  # other pixels, same name
    assert key(there) != key(here)
    with pytest.raises(DataError, match="changed since this job was planned"):
        real_dataset(**dict(ref.kwargs))
    assert len(real_dataset(**dict(world_ref(RealWorld(there, size=8, cache=store), "pets").kwargs))) > 0
