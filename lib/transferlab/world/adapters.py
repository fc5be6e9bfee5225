"""Real-data adapters: the same experiment objects as the synthetic world, built from real files.

Each adapter reads a data set in its own published on-disk layout, resizes images to ``size``
(centre crop to a square, then bilinear resize) and returns :class:`TensorData` with class names,
superclasses and a per-image attribute table, or a pool that draws the sampling tables of the
spurious-correlation chapters (:class:`CelebA` faces, :class:`Coco` scenes) with the same
interface as :class:`~transferlab.world.World`.

A missing or malformed directory raises :class:`DataError`, naming the files the layout needs.
Nothing is unpickled except CIFAR's batches, through an unpickler that admits only plain
containers and numpy arrays.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..store import declare_kind, sha256_file
from .registry import data_function
from .synthetic import (
    FACE_GROUPS,
    FACE_TABLES,
    SCENE_GROUPS,
    SCENE_TABLES,
    TARGETS,
    Parts,
    check_role,
    table_counts,
    table_option,
)
from .tensors import TensorData, cached, resolve_cache

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")


class DataError(FileNotFoundError):
    """A data directory is missing, incomplete or not in the expected format."""


def _need(path: Path, what: str, layout: str) -> Path:
    if not path.exists():
        raise DataError(f"{what}: {path} does not exist. Expected layout:\n{layout}")
    return path


def load_images(paths: Sequence[Path], size: int) -> torch.Tensor:
    """Images at ``paths`` as uint8 (N, 3, size, size): centre-cropped square, bilinear resize."""
    from PIL import Image, UnidentifiedImageError

    out = torch.empty(len(paths), 3, size, size, dtype=torch.uint8)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                im = im.resize((size, size), Image.Resampling.BILINEAR)
                out[i] = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"cannot read image {p}: {e}") from None
    return out


def _from_array(images: np.ndarray, size: int | None) -> torch.Tensor:
    """(N, 3, H, W) uint8 array, resized if ``size`` differs."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if size is not None and size != x.shape[-1]:
        x = (
            torch.nn.functional.interpolate(
                x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
    return x


# ---------------------------------------------------------------------------------------------
# folders of images


IMAGEFOLDER_LAYOUT = "  ROOT/<class name>/<image>.jpg|png  (one folder per class)"


def image_folder(
    root: str | Path,
    size: int = 32,
    *,
    classes: Sequence[str] | None = None,
    superclasses: Mapping[str, str] | None = None,
    max_per_class: int | None = None,
) -> TensorData:
    """A torchvision ``ImageFolder`` directory (one sub-folder per class) as TensorData.

    ``classes`` keeps only those folders (in that order); ``superclasses`` maps folder name to a
    superclass (default: the class itself); ``max_per_class`` keeps the first images of each class.
    """
    from torchvision.datasets import ImageFolder

    root = _need(Path(root), "image folder", IMAGEFOLDER_LAYOUT)
    try:
        folder = ImageFolder(
            str(root), allow_empty=False, is_valid_file=lambda p: p.lower().endswith(IMAGE_SUFFIXES)
        )
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(
            f"{root} is not an image folder ({e}). Expected layout:\n{IMAGEFOLDER_LAYOUT}"
        ) from None
    names = list(classes) if classes is not None else folder.classes
    missing = sorted(set(names) - set(folder.classes))
    if missing:
        raise DataError(f"{root} has no class folder(s) {missing}; it has {folder.classes[:10]}...")
    keep: list[tuple[str, int]] = []
    counts = dict.fromkeys(names, 0)
    for path, label in folder.samples:
        name = folder.classes[label]
        if name in counts and (max_per_class is None or counts[name] < max_per_class):
            counts[name] += 1
            keep.append((path, names.index(name)))
    paths = [Path(p) for p, _ in keep]
    sup = tuple((superclasses or {}).get(n, n) for n in names)
    return TensorData(
        load_images(paths, size),
        torch.tensor([lab for _, lab in keep]),
        classes=tuple(names),
        superclasses=sup,
        attrs=pd.DataFrame({"path": [str(p) for p in paths]}),
    )


IMAGENET_LAYOUT = """  ROOT/train/<wnid>/<image>.JPEG
  ROOT/val/<wnid>/<image>.JPEG           (validation images sorted into class folders)
  ROOT/LOC_synset_mapping.txt            (optional: "<wnid> <names>" per line)
  SUPERCLASS FILE: "<wnid>,<superclass>" per line (the class subset, e.g. the 118 dog wnids)"""


def imagenet_subset(
    root: str | Path,
    superclass_file: str | Path,
    split: str = "train",
    size: int = 32,
    max_per_class: int | None = None,
) -> TensorData:
    """The ImageNet classes listed in ``superclass_file`` (``wnid,superclass`` lines), with names."""
    root = Path(root)
    folder = _need(
        root / {"train": "train", "test": "val"}[_split(split)], "ImageNet split folder", IMAGENET_LAYOUT
    )
    table = _read_pairs(_need(Path(superclass_file), "superclass list", IMAGENET_LAYOUT), "superclass list")
    data = image_folder(folder, size, classes=list(table), superclasses=table, max_per_class=max_per_class)
    return data.replace(
        classes=_wnid_names(root, table),
        attrs=data.attrs.assign(wnid=[list(table)[int(y)] for y in data.y]),
    )


def imagenet_class_names(root: str | Path, superclass_file: str | Path) -> tuple[str, ...]:
    """The names of the classes ``superclass_file`` lists, in its order: each wnid's first name in
    ``LOC_synset_mapping.txt`` where that file exists, else the wnid (no image is read)."""
    table = _read_pairs(_need(Path(superclass_file), "superclass list", IMAGENET_LAYOUT), "superclass list")
    return _wnid_names(root, table)


def _wnid_names(root: str | Path, wnids) -> tuple[str, ...]:
    """Each wnid's first name in ``root``'s ``LOC_synset_mapping.txt`` (the wnid where it has none)."""
    names = {}
    mapping = Path(root) / "LOC_synset_mapping.txt"
    if mapping.exists():
        for line in mapping.read_text().splitlines():
            wnid, _, words = line.partition(" ")
            names[wnid] = words.split(",")[0].strip()
    return tuple(names.get(w, w) for w in wnids)


def _read_pairs(path: Path, what: str) -> dict[str, str]:
    pairs = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.replace("\t", ",").split(",")]
        if len(parts) < 2 or not parts[0]:
            raise DataError(f"{path}, line {n}: expected '<id>,<name>' in the {what}, got {line!r}")
        pairs[parts[0]] = parts[1]
    if not pairs:
        raise DataError(f"{path}: the {what} is empty")
    return pairs


def _split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    return split


# ---------------------------------------------------------------------------------------------
# CIFAR


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only what CIFAR's batches hold: dicts, lists, strings, bytes and numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataError(f"{path} is not a CIFAR python batch ({e})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path} is not a CIFAR python batch (holds {type(raw).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


CIFAR_LAYOUT = {
    "cifar10": "  ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}",
    "cifar100": "  ROOT/cifar-100-python/{train, test, meta}",
}


def cifar(
    root: str | Path, which: str = "cifar10", split: str = "train", size: int | None = None
) -> TensorData:
    """CIFAR-10 or CIFAR-100 from the python version of the archive (as torchvision downloads it).

    CIFAR-100's classes carry their coarse superclass.
    """
    if which not in CIFAR_LAYOUT:
        raise ValueError(f"unknown CIFAR {which!r}; choose cifar10 or cifar100")
    layout = CIFAR_LAYOUT[which]
    base = _need(
        Path(root) / ("cifar-10-batches-py" if which == "cifar10" else "cifar-100-python"), which, layout
    )
    if which == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if _split(split) == "train" else ["test_batch"]
        meta = _unpickle(_need(base / "batches.meta", "CIFAR-10 metadata", layout))
        batches = [_unpickle(_need(base / f, "CIFAR-10 batch", layout)) for f in files]
        labels = np.concatenate([np.asarray(_field(b, "labels", base)) for b in batches])
        classes = tuple(_field(meta, "label_names", base))
        superclasses = classes
    else:
        meta = _unpickle(_need(base / "meta", "CIFAR-100 metadata", layout))
        batches = [_unpickle(_need(base / _split(split), "CIFAR-100 split", layout))]
        labels = np.asarray(_field(batches[0], "fine_labels", base))
        coarse = np.asarray(_field(batches[0], "coarse_labels", base))
        classes = tuple(_field(meta, "fine_label_names", base))
        coarse_names = _field(meta, "coarse_label_names", base)
        fine_to_coarse = {int(f): int(c) for f, c in zip(labels, coarse)}
        superclasses = tuple(
            coarse_names[fine_to_coarse[i]] if i in fine_to_coarse else "" for i in range(len(classes))
        )
    data = np.concatenate([np.asarray(_field(b, "data", base)) for b in batches])
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(
            f"{base}: expected 'data' of shape (N, 3072) and N labels, got {data.shape} and {len(labels)}"
        )
    x = _from_array(data.reshape(-1, 3, 32, 32).astype(np.uint8), size)
    return TensorData(
        x,
        torch.from_numpy(labels.astype(np.int64)),
        classes=classes,
        superclasses=superclasses,
        attrs=pd.DataFrame({"index": np.arange(len(labels))}),
    )


def _field(batch: Mapping[str, Any], key: str, where: Path) -> Any:
    if key not in batch:
        raise DataError(f"{where}: a CIFAR file lacks the field {key!r} (has {sorted(batch)})")
    value = batch[key]
    return [v.decode() if isinstance(v, bytes) else v for v in value] if isinstance(value, list) else value


# ---------------------------------------------------------------------------------------------
# Flowers-102


FLOWERS_LAYOUT = (
    "  ROOT/jpg/image_00001.jpg ...\n"
    "  ROOT/imagelabels.mat  (labels, 1..102)\n"
    "  ROOT/setid.mat  (trnid, valid, tstid)"
)


def flowers102(
    root: str | Path,
    split: str = "train",
    size: int = 32,
    *,
    with_validation: bool = True,
    names: Sequence[str] | None = None,
) -> TensorData:
    """Oxford Flowers-102: ``train`` is trnid (+ valid by default), ``test`` is tstid."""
    from scipy.io import loadmat

    root = Path(root)
    from scipy.io.matlab import MatReadError

    files = [
        _need(root / name, f"Flowers-102 {what}", FLOWERS_LAYOUT)
        for name, what in (("imagelabels.mat", "labels"), ("setid.mat", "splits"))
    ]
    try:
        labels = loadmat(files[0])["labels"].ravel()
        setid = loadmat(files[1])
    except (MatReadError, ValueError, KeyError, TypeError) as e:
        raise DataError(
            f"{root}: cannot read the Flowers-102 .mat files ({e}). Expected layout:\n{FLOWERS_LAYOUT}"
        ) from None
    missing = [k for k in ("trnid", "valid", "tstid") if k not in setid]
    if missing:
        raise DataError(f"{files[1]} lacks {missing}. Expected layout:\n{FLOWERS_LAYOUT}")
    keys = ["trnid", "valid"] if with_validation else ["trnid"]
    ids = np.concatenate([setid[k].ravel() for k in (keys if _split(split) == "train" else ["tstid"])])
    ids = np.sort(ids.astype(int))
    k = int(labels.max())
    paths = [_need(root / "jpg" / f"image_{i:05d}.jpg", "Flowers-102 image", FLOWERS_LAYOUT) for i in ids]
    classes = tuple(names) if names is not None else tuple(f"flower {i + 1}" for i in range(k))
    return TensorData(
        load_images(paths, size),
        torch.from_numpy(labels[ids - 1].astype(np.int64) - 1),
        classes=classes,
        superclasses=("flower",) * len(classes),
        attrs=pd.DataFrame({"path": [str(p) for p in paths]}),
    )


# ---------------------------------------------------------------------------------------------
# pools that draw sampling tables: CelebA (faces) and COCO (scenes)


def _draw(
    pool: pd.DataFrame, keys: tuple[str, str], groups, counts, seed: int, what: str, role: str = "source"
) -> pd.DataFrame:
    """Rows of ``pool`` with ``counts`` drawn from each group (without replacement).

    Each group is shuffled once by ``seed``; a source draw takes rows from the front of that order
    and a target draw from the back, so the two are disjoint whenever a group has enough rows for
    both (:func:`overlap` checks).
    """
    check_role(role)
    rng = np.random.default_rng(seed)
    parts = []
    for (a, b), n in zip(groups, counts):
        rows = pool[(pool[keys[0]] == a) & (pool[keys[1]] == b)]
        order = rng.permutation(len(rows))
        if len(rows) < n:
            raise DataError(
                f"{what}: the table asks for {n} images of ({a}, {b}) but the split has only "
                f"{len(rows)}; ask for fewer (lower the table's scale or counts)"
            )
        parts.append(rows.iloc[order[:n] if role == "source" else order[::-1][:n]])
    return pd.concat(parts, ignore_index=True)


def overlap(a: TensorData, b: TensorData) -> int:
    """Images two real draws share (by file name; 0 for synthetic data, which has no files)."""
    if "file" not in a.attrs or "file" not in b.attrs:
        return 0
    return len(set(a.attrs.file) & set(b.attrs.file))


CELEBA_LAYOUT = """  ROOT/img_align_celeba/000001.jpg ...
  ROOT/list_attr_celeba.txt       (count, attribute names, then "<file> ±1 ..." per image)
  ROOT/list_eval_partition.txt    ("<file> 0|1|2": train, valid, test)"""


class CelebA:
    """CelebA faces as a pool: :meth:`faces` draws the gender–age tables, labels young (0) / old (1)."""

    def __init__(self, root: str | Path, size: int = 32, seed: int = 0):
        self.root, self.size, self.seed = Path(root), size, seed
        attr_file = _need(self.root / "list_attr_celeba.txt", "CelebA attributes", CELEBA_LAYOUT)
        part_file = _need(self.root / "list_eval_partition.txt", "CelebA partition", CELEBA_LAYOUT)
        _need(self.root / "img_align_celeba", "CelebA images", CELEBA_LAYOUT)
        lines = attr_file.read_text().splitlines()
        try:
            names = lines[1].split()
            rows = [line.split() for line in lines[2:] if line.strip()]
            attrs = pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows], columns=names).astype(int)
        except (IndexError, ValueError) as e:
            raise DataError(f"{attr_file} is malformed ({e}). Expected layout:\n{CELEBA_LAYOUT}") from None
        for needed in ("Young", "Male"):
            if needed not in attrs:
                raise DataError(f"{attr_file} has no attribute {needed!r}")
        part = pd.read_csv(part_file, sep=r"\s+", header=None, names=["file", "partition"], index_col=0)
        self.table = pd.DataFrame(
            {
                "file": attrs.index,
                "age": np.where(attrs.Young.to_numpy() > 0, "young", "old"),
                "gender": np.where(attrs.Male.to_numpy() > 0, "male", "female"),
                "partition": part.partition.reindex(attrs.index).to_numpy(),
            }
        )

    def faces(
        self, table: Any = "non-spurious", split: str = "train", scale: float = 1.0, role: str = "source"
    ) -> TensorData:
        """Faces drawn by a table of :data:`FACE_TABLES` (or counts in :data:`FACE_GROUPS` order);
        source and target draws come from opposite ends of the pool (see :func:`_draw`)."""
        counts = table_counts(table, FACE_TABLES, FACE_GROUPS, scale)
        pool = self.table[self.table.partition.isin([0, 1] if _split(split) == "train" else [2])]
        rows = _draw(pool, ("age", "gender"), FACE_GROUPS, counts, self.seed, "CelebA", role)
        x = load_images([self.root / "img_align_celeba" / f for f in rows.file], self.size)
        return TensorData(
            x,
            torch.from_numpy((rows.age == "old").to_numpy().astype(np.int64)),
            classes=("young", "old"),
            superclasses=("face", "face"),
            attrs=rows[["file", "age", "gender"]].reset_index(drop=True),
        )


COCO_LAYOUT = """  ROOT/annotations/instances_train2017.json, instances_val2017.json
  ROOT/train2017/<file_name>.jpg, ROOT/val2017/<file_name>.jpg"""


class Coco:
    """COCO images with a cat or a dog (not both) as a pool: :meth:`scenes` draws the co-occurrence
    tables, labels cat (0) / dog (1), attribute ``person`` when a person is annotated."""

    SPLITS = {"train": "train2017", "test": "val2017"}

    def __init__(self, root: str | Path, size: int = 32, seed: int = 0):
        self.root, self.size, self.seed = Path(root), size, seed
        self.tables = {}

    def _table(self, split: str) -> pd.DataFrame:
        if split in self.tables:
            return self.tables[split]
        name = self.SPLITS[_split(split)]
        path = _need(self.root / "annotations" / f"instances_{name}.json", "COCO annotations", COCO_LAYOUT)
        try:
            doc = json.loads(path.read_text())
            cats = {c["id"]: c["name"] for c in doc["categories"]}
            files = {im["id"]: im["file_name"] for im in doc["images"]}
            present: dict[int, set[str]] = {}
            for a in doc["annotations"]:
                present.setdefault(a["image_id"], set()).add(cats[a["category_id"]])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(
                f"{path} is not a COCO instances file ({e}). Expected layout:\n{COCO_LAYOUT}"
            ) from None
        rows = [
            (files[i], "dog" if "dog" in s else "cat", "person" if "person" in s else "no person")
            for i, s in present.items()
            if ("cat" in s) != ("dog" in s) and i in files
        ]
        self.tables[split] = pd.DataFrame(rows, columns=["file", "animal", "person"])
        return self.tables[split]

    def scenes(
        self, table: Any = "non-spurious", split: str = "train", scale: float = 1.0, role: str = "source"
    ) -> TensorData:
        """Scenes drawn by a table of :data:`SCENE_TABLES` (or counts in :data:`SCENE_GROUPS` order);
        ``role`` as for :meth:`CelebA.faces`."""
        counts = table_counts(table, SCENE_TABLES, SCENE_GROUPS, scale)
        rows = _draw(self._table(split), ("animal", "person"), SCENE_GROUPS, counts, self.seed, "COCO", role)
        folder = _need(self.root / self.SPLITS[split], "COCO images", COCO_LAYOUT)
        x = load_images([folder / f for f in rows.file], self.size)
        attrs = rows.assign(person=rows.person == "person").reset_index(drop=True)
        return TensorData(
            x,
            torch.from_numpy((rows.animal == "dog").to_numpy().astype(np.int64)),
            classes=("cat", "dog"),
            superclasses=("animal", "animal"),
            attrs=attrs,
        )


# ---------------------------------------------------------------------------------------------
# a world of real data: the same parts, the same interface as the synthetic World


def parts_present(root: str | Path) -> tuple[str, ...]:
    """The parts (``source``, ``objects``, ...) whose folder under ``root`` exists and is not empty."""
    folder = Path(root).expanduser()
    return tuple(
        part
        for part, name in REAL_FOLDERS.items()
        if (folder / name).is_dir() and any((folder / name).iterdir())
    )


def check_data_dir(root: str | Path, parts: Iterable[str], why: Mapping[str, str] | None = None) -> Path:
    """The real-data folder ``root``, checked to hold a non-empty folder for each of ``parts`` (the
    adapters check each folder's own layout when they read it); DataError naming what is missing
    and, from ``why`` (part → sentence), what asks for it and how to do without it."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist. Expected layout:\n{REAL_LAYOUT}")
    present = parts_present(folder)
    for part in parts:
        if part not in present:
            reason = (why or {}).get(part) or "this chapter reads it"
            raise DataError(
                f"{folder} has no {REAL_FOLDERS[part]}/ with data: the {part!r} part ({reason}). "
                f"The folder has: {', '.join(REAL_FOLDERS[p] + '/' for p in present) or 'none of the parts'}. "
                f"Expected layout:\n{REAL_LAYOUT}"
            )
    return folder


REAL_LAYOUT = """  ROOT/imagenet/{train,val}/<wnid>/   + ROOT/imagenet/superclasses.csv ("wnid,superclass")  -> source
  ROOT/cifar10/cifar-10-batches-py/                                                          -> objects
  ROOT/flowers102/{jpg/, imagelabels.mat, setid.mat}                                        -> flowers
  ROOT/pets/{train,test}/<breed>/                                                           -> pets
  ROOT/celeba/{img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt}           -> faces
  ROOT/coco/{annotations/, train2017/, val2017/}                                            -> scenes
(only the parts a chapter uses need to be there)"""

REAL_FOLDERS = {
    "source": "imagenet",
    "objects": "cifar10",
    "flowers": "flowers102",
    "pets": "pets",
    "faces": "celeba",
    "scenes": "coco",
}
REAL_PARTS = tuple(REAL_FOLDERS)


class RealWorld(Parts):
    """The parts of :class:`~transferlab.world.World` built from real data sets under one folder.

    ``get(part, split, **options)`` and the shortcuts (``source``, ``target``, ``faces``,
    ``scenes``) return the same kinds of objects as the synthetic world's, so a chapter runs on
    either. Loaded parts are cached in the store under the options and a fingerprint of the part's
    files' names and bytes (:func:`content_fingerprint`), never the folder's path: a changed data
    set is read again and its models trained again, and the same data elsewhere reuses both.
    """

    DATASET_FN = "world.real"  # the registered data function of its parts (job specs)

    def __init__(
        self,
        root: str | Path,
        size: int = 32,
        seed: int = 0,
        max_per_class: int | None = None,
        cache: Any = "default",
    ):
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"data folder {self.root} does not exist. Expected layout:\n{REAL_LAYOUT}")
        self.size, self.seed, self.max_per_class = size, seed, max_per_class
        self.cache = resolve_cache(cache)

    def __repr__(self) -> str:
        return f"RealWorld({str(self.root)!r}, size={self.size})"

    def get(self, part: str, split: str = "train", **options: Any) -> TensorData:
        """A part by name (see :data:`REAL_LAYOUT` for which folder each part reads)."""
        return self._part(part, split, options)

    def _part(self, part: str, split: str, options: dict[str, Any], expected: str = "") -> TensorData:
        """A part, its files' fingerprint taken once: for the cache's key and, when ``expected`` is
        given (a job's spec), to refuse a folder that changed since the job was planned."""
        if part not in REAL_PARTS:
            raise ValueError(f"unknown part {part!r}; a real world has {', '.join(REAL_PARTS)}")
        _split(split)
        folder = self.root / REAL_FOLDERS[part]
        _need(folder, f"the {part!r} part", REAL_LAYOUT)
        make = lambda: self._load(part, folder, split, options)  # noqa: E731
        if self.cache is None and not expected:
            return make()
        content = content_fingerprint(folder, self.cache)
        if expected and content != expected:
            raise DataError(
                f"the {part!r} part under {self.root} changed since this job was planned (its files' "
                "fingerprint differs): run the chapter again, so that its jobs are planned on the data as it is"
            )
        if self.cache is None:
            return make()
        spec = {
            "world": "real",
            "content": content,
            "part": part,
            "split": split,
            "size": self.size,
            "seed": self.seed,
            "max_per_class": self.max_per_class,
            "options": options,
        }
        return cached(self.cache, spec, make)

    def _load(self, part: str, folder: Path, split: str, options: dict[str, Any]) -> TensorData:
        if part == "source":
            return imagenet_subset(folder, folder / "superclasses.csv", split, self.size, self.max_per_class)
        if part == "objects":
            return cifar(folder, "cifar10", split, self.size)
        if part == "flowers":
            return flowers102(folder, split, self.size)
        if part == "pets":
            return image_folder(
                _need(folder / split, "pets split folder", REAL_LAYOUT),
                self.size,
                max_per_class=self.max_per_class,
            )
        if part == "faces":
            return CelebA(folder, self.size, self.seed).faces(split=split, **options)
        return Coco(folder, self.size, self.seed).scenes(split=split, **options)

    def source_class_names(self) -> tuple[str, ...]:
        folder = _need(self.root / REAL_FOLDERS["source"], "the 'source' part", REAL_LAYOUT)
        return imagenet_class_names(folder, folder / "superclasses.csv")

    def summary(self) -> pd.DataFrame:
        """The source and target parts this folder holds, with their classes and images per split."""
        rows, present = [], parts_present(self.root)
        for part in ("source", *TARGETS):
            if part not in present:
                continue
            train, test = self.get(part, "train"), self.get(part, "test")
            rows.append(
                {
                    "part": part,
                    "classes": train.num_classes,
                    "superclasses": len(set(train.superclasses or train.classes)),
                    "train images": len(train),
                    "test images": len(test),
                }
            )
        return pd.DataFrame(rows)

    def influence_truth(self, target: str = "objects"):
        raise ValueError(
            "planted ground truth exists only in the synthetic world; on real data the "
            "influence chapter can report its estimates but not score them"
        )

    def data_kwargs(self, part: str, split: str = "train", **options: Any) -> dict[str, Any]:
        """Flat keyword arguments of :func:`real_dataset` that rebuild this part (for job specs): the
        fingerprint of the part's files is what a job's key holds; the folder is only where to look."""
        return {
            "root": str(self.root),
            "content": content_fingerprint(self.root / REAL_FOLDERS[part], self.cache),
            "part": part,
            "split": split,
            "size": self.size,
            "seed": self.seed,
            "max_per_class": self.max_per_class,
            **{k: table_option(v) for k, v in options.items()},
        }


def content_fingerprint(folder: Path, cache: Any = None) -> str:
    """sha256 of the relative names and bytes of every file under ``folder``: what a real part *is*,
    wherever it lies. Reading every byte is paid once per folder state: the result is kept in
    ``cache`` (a store) under the folder's path and the names, sizes and modification times of its
    files, and read back while none of them changes."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    listing = hashlib.sha256()
    for p in files:
        st = p.stat()
        listing.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())

    def content() -> dict[str, Any]:
        h = hashlib.sha256()
        for p in files:
            h.update(f"{p.relative_to(folder)}\0{p.stat().st_size}\0".encode())
            h.update(sha256_file(p).encode())
        return {"info": {"sha256": h.hexdigest()}}

    if cache is None:
        return content()["info"]["sha256"]
    spec = {
        "kind": FINGERPRINT_KIND.name,
        "folder": str(Path(folder).resolve()),
        "listing": listing.hexdigest(),
    }
    return cache.get_or_make(spec, content).info["sha256"]


FINGERPRINT_KIND = declare_kind("folder fingerprint", info=("sha256",))


@data_function("world.real", hints=("root",))
def real_dataset(
    root: str,
    part: str,
    split: str = "train",
    size: int = 32,
    seed: int = 0,
    max_per_class: int | None = None,
    content: str = "",
    **options: Any,
) -> TensorData:
    """A part of a :class:`RealWorld` named by flat keyword arguments (what job specs use); with
    ``content``, the part's files must still be those it fingerprints."""
    return RealWorld(root, size, seed, max_per_class)._part(part, split, options, expected=content)
