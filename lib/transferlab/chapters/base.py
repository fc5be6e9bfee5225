"""What chapters share: the world parameters, the clean source model, transfer and scratch jobs.

Every chapter that runs on the synthetic world subclasses :class:`WorldParams`, so the world and
the source model have the same parameter names (and defaults) in every notebook, and the clean
source model of the default world is one store entry that every chapter reuses.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from ..run import SourceJob, TransferJob
from ..train import Recipe, recipe
from ..world import DataRef, RealWorld, TensorData, World, WorldConfig, data_function
from .params import ChapterConfig, param

RECIPE_SETS = ("synthetic", "thesis")
# The smoke preset of the world every chapter on it shares: 8 source classes of 30 images at 16 px, a
# tiny network and a few epochs, so that a chapter runs in seconds (the tests run every chapter so).
SMOKE_WORLD: dict[str, Any] = {
    "image_size": 16,
    "superclasses": 4,
    "fine_classes": 2,
    "source_per_class": 30,
    "target_per_class": 20,
    "arch": "cresnet-xs",
    "source_epochs": 3,
    "full_epochs": 2,
    "scratch_epochs": 3,
}
# A smaller smoke world for chapters that train many source models (class subsets, several ε):
# 12 px, 8 generic classes of 12 images, two source epochs.
TINY_WORLD: dict[str, Any] = {
    "image_size": 12,
    "superclasses": 4,
    "fine_classes": 2,
    "source_per_class": 12,
    "target_per_class": 10,
    "source_epochs": 2,
}
# The thesis' ImageNet setting (App. G.1), the start of a paper preset on real data: ResNet-18 at
# 64 px on 1,300 source images per class and 500 per target class, its recipes, 16 epochs each.
PAPER_WORLD: dict[str, Any] = {
    "image_size": 64,
    "source_per_class": 1300,
    "target_per_class": 500,
    "arch": "resnet18",
    "recipes": "thesis",
    "source_epochs": 16,
    "full_epochs": 16,
    "scratch_epochs": 16,
}
# compact models for the CPU world; torchvision's for real data on a GPU
ARCHS = (
    "cresnet-xs",
    "cresnet-s",
    "cresnet-m",
    "cresnet-l",
    "cvgg-s",
    "resnet18",
    "resnet50",
    "vgg11_bn",
    "mobilenet_v2",
)


@dataclasses.dataclass(frozen=True)
class ModelParams(ChapterConfig):
    """Parameters every chapter that trains models shares: the world's seed and image size, the
    architecture, the source and transfer epochs, the recipe set, and real data instead."""

    world_seed: int = param(0, "seed of the synthetic world (same seed, same images)", low=0)
    image_size: int = param(
        24, "side of every image in pixels (real images are resized to it)", low=12, high=256
    )
    arch: str = param("cresnet-s", "architecture of the source model", choices=ARCHS)
    source_epochs: int = param(
        12, "epochs of source training (triangular LR, peak at epoch 2)", low=1, high=1000
    )
    full_epochs: int = param(10, "epochs of full-network transfer to a target", low=1, high=1000)
    recipes: str = param(
        "synthetic",
        "training recipes: 'synthetic' (sized for the CPU world) or 'thesis' "
        "(the thesis' hyperparameters for this experiment, for real data on a GPU)",
        choices=RECIPE_SETS,
    )
    data_dir: str = param(
        "", "folder of real data sets (see transferlab.world.RealWorld); empty: the synthetic world"
    )

    # The named recipe of each role per recipe set; a chapter whose thesis section used other
    # hyperparameters overrides the "thesis" row.
    RECIPE_NAMES: ClassVar[dict[str, dict[str, str]]] = {
        "synthetic": {
            "source": "synthetic-source",
            "fixed": "synthetic-fixed",
            "full": "synthetic-full",
            "scratch": "synthetic-scratch",
        },
        # App. G.1: the ImageNet recipe for source and scratch models, the transfer recipe for both modes
        "thesis": {
            "source": "thesis-source",
            "fixed": "thesis-transfer",
            "full": "thesis-transfer",
            "scratch": "thesis-source",
        },
    }

    def world_config(self) -> WorldConfig:
        """The synthetic world of these parameters."""
        return WorldConfig(seed=self.world_seed, size=self.image_size)

    def max_per_class(self) -> int | None:
        """Images per class read from a real source data set (None: all)."""
        return None

    def world(self, cache: Any = "default") -> World | RealWorld:
        """The synthetic world, or the real one under ``data_dir`` (images resized to ``image_size``)."""
        if self.data_dir:
            return RealWorld(
                self.data_dir,
                size=self.image_size,
                seed=self.world_seed,
                max_per_class=self.max_per_class(),
                cache=cache,
            )
        return World(self.world_config(), cache=cache)

    def recipe(self, role: str, epochs: int) -> Recipe:
        """The recipe of a role (source, fixed, full, scratch) in the chosen recipe set, trained for
        ``epochs`` (its peak epoch kept within the first quarter). The synthetic fixed-feature head
        keeps its own epochs: it trains on features computed once, so epochs there cost little."""
        base = recipe(self.RECIPE_NAMES[self.recipes][role])
        if role == "fixed" and self.recipes == "synthetic":
            return base
        r = base.replace(epochs=epochs, peak_epoch=float(min(base.peak_epoch, epochs / 4)))
        return r.replace(augment=False) if role == "fixed" else r

    def source_recipe(self) -> Recipe:
        return self.recipe("source", self.source_epochs)

    def transfer_recipe(self, mode: str) -> Recipe:
        """The recipe of fixed-feature or full-network transfer."""
        if mode not in ("fixed", "full"):
            raise ValueError(f"unknown transfer mode {mode!r}; choose 'fixed' or 'full'")
        return self.recipe(mode, self.full_epochs)


@dataclasses.dataclass(frozen=True)
class WorldParams(ModelParams):
    """Parameters of the synthetic world's source and targets and of the source model trained on it."""

    superclasses: int = param(12, "generic shape superclasses in the source task", low=2, high=12)
    fine_classes: int = param(4, "fine classes per generic superclass", low=1, high=8)
    source_per_class: int = param(
        300, "source training images per class (on real data: at most this many)", low=5, high=100_000
    )
    target_per_class: int = param(100, "target training (and test) images per class", low=5, high=100_000)
    scratch_epochs: int = param(20, "epochs of training from scratch on a target", low=1, high=1000)

    def world_config(self) -> WorldConfig:
        """The world these parameters describe (flower sizes and leaks follow the target size)."""
        n = self.target_per_class
        return WorldConfig(
            seed=self.world_seed,
            size=self.image_size,
            superclasses=self.superclasses,
            fine=self.fine_classes,
            source_train=self.source_per_class,
            source_test=max(10, self.source_per_class // 6),
            target_train=n,
            target_test=n,
            flowers_max=max(2, round(0.8 * n)),
            flowers_min=max(2, round(0.1 * n)),
            flowers_test=max(5, round(0.3 * n)),
            leaks=min(20, n // 5),
            lookalikes=min(2, min(self.superclasses, 8) // 2),
        )

    def max_per_class(self) -> int | None:
        return self.source_per_class

    def source_job(self, seed: int = 0) -> SourceJob:
        """The clean source model of this world for ``seed``: one store entry per seed, shared by the
        chapters on the same world (the source zoo: chapter 0 trains one per confirmatory seed;
        chapter 2's clean sources, chapter 5's models and chapter 8's clean teachers are the same
        seeds' entries)."""
        w = self.world(cache=None)
        return SourceJob(
            self.arch,
            world_ref(w, "source"),
            self.source_recipe(),
            seed=seed,
            eval_data=world_ref(w, "source", "test"),
        )

    def transfer_job(
        self,
        source: SourceJob,
        target: str,
        mode: str,
        seed: int = 0,
        *,
        data: DataRef | None = None,
        **recipe_changes: Any,
    ) -> TransferJob:
        """Fixed-feature or full-network transfer of ``source`` to a target of this world (or to
        ``data``, e.g. a modified copy of the target), with optional recipe changes."""
        w = self.world(cache=None)
        r = self.transfer_recipe(mode)
        return TransferJob(
            source,
            data or world_ref(w, target),
            r.replace(**recipe_changes) if recipe_changes else r,
            mode=mode,
            seed=seed,
            eval_data=world_ref(w, target, "test"),
        )

    def scratch_job(self, target: str, seed: int = 0) -> SourceJob:
        """A model of ``arch`` trained from scratch on a target: the baseline of every transfer."""
        w = self.world(cache=None)
        return SourceJob(
            self.arch,
            world_ref(w, target),
            self.recipe("scratch", self.scratch_epochs),
            seed=seed,
            eval_data=world_ref(w, target, "test"),
        )


def world_ref(world: World | RealWorld, part: str, split: str = "train", **options: Any) -> DataRef:
    """A job's reference to a part of a world, synthetic or real (rebuilt from the store on any worker)."""
    return DataRef.of(world.DATASET_FN, **world.data_kwargs(part, split, **options))


@data_function("source.class_subset")
def class_subset(base: DataRef, keep: tuple[int, ...]) -> TensorData:
    """The data of ``base`` restricted to the classes ``keep`` (indices), relabelled
    0..len(keep)-1 in that order (the sources of chapters 6 and 7 on random class subsets)."""
    data = base.load()
    keep = tuple(sorted(keep))
    index = torch.full((len(data.classes),), -1, dtype=torch.long)
    index[list(keep)] = torch.arange(len(keep))
    rows = torch.isin(data.y, torch.tensor(keep)).nonzero().flatten()
    sub = data.subset(rows)
    return sub.replace(
        y=index[sub.y],
        classes=tuple(data.classes[i] for i in keep),
        superclasses=tuple(data.superclasses[i] for i in keep),
    )


def class_subset_ref(base: DataRef, keep) -> DataRef:
    """A job's reference to :func:`class_subset` of ``base``."""
    return DataRef.of("source.class_subset", base=base, keep=tuple(int(i) for i in sorted(keep)))
