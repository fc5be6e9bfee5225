"""A real data set in the real layouts, with nothing to download: scikit-learn's handwritten digits
(1,797 scans of 8 × 8 pixels, ten classes) written as a data folder that :class:`RealWorld` reads.

The folder tries every chapter's real-data path (``-p data_dir``) on real images, and the tests run
chapters on it. Its parts, from disjoint images:

- ``imagenet/`` (the source, ImageNet's layout): the digits 0–5, 80 % of each class to ``train/``,
  the rest to ``val/``, with ``LOC_synset_mapping.txt`` naming them (zero … five) and
  ``superclasses.csv`` putting 0, 1 and 2 in a superclass named ``dog`` (chapter 2 plants its
  trigger there) and 3, 4, 5 in ``other``;
- ``cifar10/`` (the *objects* target, CIFAR-10's python batches): half of the digits 6–9;
- ``pets/`` (the *pets* target, one folder per class): the other half of the digits 6–9.

No flowers, faces or scenes: a chapter that needs them says so before it starts.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

SOURCE_DIGITS = (0, 1, 2, 3, 4, 5)
TARGET_DIGITS = (6, 7, 8, 9)
NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DOG_DIGITS = (0, 1, 2)  # the superclass chapter 2 plants its trigger in


def _images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits as uint8 RGB (N, size, size, 3), white on black, and their labels."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1).permute(0, 2, 3, 1)
    return x.numpy(), digits.target


def _save(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # as the published CIFAR batches: protocol 2, bytes keys


def digits_folder() -> Path:
    """The digits folder next to the default store (``.transferlab/digits`` in a checkout), written
    once: a fixed path, so that the models trained on it are found in the store again."""
    from ..store import default_store_path

    root = default_store_path().parent / "digits"
    done = root / "WRITTEN"
    if not done.exists():
        write_digits_folder(root)
        done.write_text("written by transferlab.world.digits\n")
    return root


def write_digits_folder(root: str | Path) -> Path:
    """Write the digits under ``root`` in the layouts :class:`RealWorld` reads (see the module's
    docstring); returns ``root``. Deterministic: the same files every time."""
    root = Path(root)
    images, labels = _images(32)  # CIFAR's batches hold 32 × 32 images
    wnid = {d: f"n{d:08d}" for d in SOURCE_DIGITS}
    for d in SOURCE_DIGITS:
        rows = np.flatnonzero(labels == d)
        n_train = round(0.8 * len(rows))
        for i, r in enumerate(rows):
            split = "train" if i < n_train else "val"
            _save(root / "imagenet" / split / wnid[d] / f"{r}.png", images[r])
    (root / "imagenet" / "LOC_synset_mapping.txt").write_text(
        "".join(f"{wnid[d]} {NAMES[d]}\n" for d in SOURCE_DIGITS)
    )
    (root / "imagenet" / "superclasses.csv").write_text(
        "".join(f"{wnid[d]},{'dog' if d in DOG_DIGITS else 'other'}\n" for d in SOURCE_DIGITS)
    )
    parts: dict[str, dict[str, list[int]]] = {
        "objects": {"train": [], "test": []},
        "pets": {"train": [], "test": []},
    }
    for d in TARGET_DIGITS:
        rows = np.flatnonzero(labels == d)
        for k, part in enumerate(("objects", "pets")):
            half = rows[k::2]
            n_train = round(2 / 3 * len(half))
            parts[part]["train"] += half[:n_train].tolist()
            parts[part]["test"] += half[n_train:].tolist()
    for split, rows in parts["pets"].items():
        for r in rows:
            _save(root / "pets" / split / NAMES[labels[r]] / f"{r}.png", images[r])
    base = root / "cifar10" / "cifar-10-batches-py"

    def batch(rows: list[int]) -> dict:
        planes = images[rows].transpose(0, 3, 1, 2).reshape(len(rows), -1)  # R plane, G plane, B plane
        return {
            b"labels": [TARGET_DIGITS.index(int(labels[r])) for r in rows],
            b"data": np.ascontiguousarray(planes, dtype=np.uint8),
            b"filenames": [f"{r}.png".encode() for r in rows],
        }

    train = parts["objects"]["train"]
    for i, chunk in enumerate(np.array_split(np.asarray(train), 5), 1):
        _pickle(base / f"data_batch_{i}", batch(chunk.tolist()))
    _pickle(base / "test_batch", batch(parts["objects"]["test"]))
    _pickle(base / "batches.meta", {b"label_names": [NAMES[d].encode() for d in TARGET_DIGITS]})
    return root
