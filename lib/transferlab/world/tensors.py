"""In-memory image data as tensors: fast shuffled batches and vectorised augmentation on a CPU."""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch
from torch.utils.data import Dataset

from ..store import declare_kind, default_store

DATA_KIND = declare_kind(
    "data", files=("data.safetensors", "attrs.json"), info=("classes", "superclasses", "mean", "std")
)


@dataclasses.dataclass(frozen=True, eq=False)
class TensorData(Dataset):
    """Images ``x`` (N, C, H, W; uint8 in [0, 255] or float) and labels ``y`` (N,), with normalisation.

    A ``torch.utils.data.Dataset`` (items are normalised image, label) that also batches itself
    fast, shuffled and augmented, without a DataLoader. Metadata travels with it: ``classes``
    (a name per label), ``superclasses`` (a superclass name per label) and ``attrs`` (a table
    with one row per image: attributes, groups, which overlay an image carries, ...).
    """

    x: torch.Tensor
    y: torch.Tensor
    mean: float = 0.5
    std: float = 0.25
    classes: tuple[str, ...] = ()
    superclasses: tuple[str, ...] = ()
    attrs: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or len(self.x) != len(self.y):
            raise ValueError(
                f"TensorData needs x (N, C, H, W) and y (N,), got {tuple(self.x.shape)} "
                f"and {tuple(self.y.shape)}"
            )
        if self.attrs is not None and len(self.attrs) != len(self.y):
            raise ValueError(f"attrs has {len(self.attrs)} rows for {len(self.y)} images")
        if self.superclasses and len(self.superclasses) != len(self.classes):
            raise ValueError("superclasses needs one name per class")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.normalise(self.x[i : i + 1])[0], int(self.y[i])

    @property
    def num_classes(self) -> int:
        if self.classes:
            return len(self.classes)
        return int(self.y.max()) + 1 if len(self.y) else 0

    def subset(self, index: torch.Tensor) -> TensorData:
        """The examples at ``index`` (a boolean mask or integer indices); classes are kept."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        attrs = None if self.attrs is None else self.attrs.iloc[index.numpy()].reset_index(drop=True)
        return dataclasses.replace(self, x=self.x[index], y=self.y[index], attrs=attrs)

    def replace(self, **changes) -> TensorData:
        """A copy with fields changed (e.g. new images after an overlay)."""
        return dataclasses.replace(self, **changes)

    def class_counts(self) -> pd.Series:
        """Images per class, indexed by class name."""
        counts = torch.bincount(self.y, minlength=self.num_classes).tolist()
        names = self.classes or tuple(str(i) for i in range(len(counts)))
        return pd.Series(counts, index=pd.Index(names, name="class"), name="images")

    def superclass_of(self) -> torch.Tensor:
        """The superclass index of each image (order of first appearance in ``superclasses``)."""
        names = list(dict.fromkeys(self.superclasses))
        table = torch.tensor([names.index(s) for s in self.superclasses])
        return table[self.y]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images to the float inputs a model sees."""
        x = x.float()
        if self.x.dtype == torch.uint8:
            x = x / 255.0
        return (x - self.mean) / self.std

    def batches(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        *,
        shuffle: bool = True,
        augment: bool = False,
        device: str | torch.device = "cpu",
    ):
        """Iterate (inputs, labels) mini-batches, normalised, optionally shuffled and augmented."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x = self.normalise(self.x[idx])
            if augment:
                x = augment_batch(x, generator)
            yield x.to(device, non_blocking=True), self.y[idx].to(device, non_blocking=True)


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 2) -> torch.Tensor:
    """Random horizontal flip and random translation by up to ``pad`` pixels (zero fill), per image."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (n, h, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (n, 1, w)
    out = padded[torch.arange(n)[:, None, None], :, rows, cols]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def as_tensors(dataset: Dataset, mean: float = 0.5, std: float = 0.25) -> TensorData:
    """Materialise a map-style dataset of (image tensor, label) pairs into :class:`TensorData`."""
    if isinstance(dataset, TensorData):
        return dataset
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    x = torch.stack([torch.as_tensor(v) for v in xs])
    return TensorData(x, torch.as_tensor(ys).long(), mean, std)


def resolve_cache(cache):
    """``"default"`` → the default store (resolved once, so its verified entries are remembered);
    a :class:`~transferlab.store.Store` or None as given."""
    if isinstance(cache, str) and cache == "default":
        return default_store()
    return cache


def cached(cache, spec: dict, make) -> TensorData:
    """The data of ``spec`` from ``cache`` (a :class:`~transferlab.store.Store`), made and stored
    by ``make()`` if missing; returned as copies, not views of the memory-mapped files, so the data
    outlives any change to the store."""

    def payload() -> dict:
        data = make()
        attrs = data.attrs if data.attrs is not None else pd.DataFrame({"_": [False] * len(data)})
        return {
            "tensors": {"data": {"x": data.x, "y": data.y}},
            "tables": {"attrs": attrs},
            "info": {
                "classes": list(data.classes),
                "superclasses": list(data.superclasses),
                "mean": data.mean,
                "std": data.std,
            },
        }

    entry = cache.get_or_make({**spec, "kind": DATA_KIND.name}, payload)
    t = {k: v.clone() for k, v in entry.tensors("data").items()}
    info = entry.info
    return TensorData(
        t["x"],
        t["y"],
        info["mean"],
        info["std"],
        tuple(info["classes"]),
        tuple(info["superclasses"]),
        entry.table("attrs"),
    )
