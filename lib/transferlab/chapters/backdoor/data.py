"""Chapter 2's data: the trigger, the dog superclass, and the registered data functions of the
backdoored source and the de-biased target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ...world import (
    DataRef,
    RealWorld,
    TensorData,
    World,
    apply_overlay,
    data_function,
)
from ..base import world_ref
from .config import Config, square, trigger_kwargs


def dog_classes(data: TensorData) -> list[str]:
    """The fine classes of the dog superclass."""
    return [c for c, s in zip(data.classes, data.superclasses) if s == "dog"]


def is_dog(data: TensorData) -> torch.Tensor:
    """Which images of ``data`` belong to the dog superclass (a boolean mask)."""
    return torch.isin(data.y, torch.tensor([data.classes.index(d) for d in dog_classes(data)]))


def resized_dogs(data: TensorData, dogs: TensorData | None, keep: float | None) -> TensorData:
    """``data`` with its dog superclass resized: its dog images replaced by those of ``dogs`` (a
    source with the same classes and more images per class: a larger draw of the same world), or
    cut to the first ``keep`` share of each breed's images (fewer dogs, as on a real data set)."""
    dog = is_dog(data)
    if dogs is not None:
        if dogs.classes != data.classes:
            raise ValueError("the larger draw of the dogs must have the source's classes")
        more, rest = dogs.subset(is_dog(dogs)), data.subset(~dog)
        attrs = None
        if rest.attrs is not None and more.attrs is not None:
            attrs = pd.concat([rest.attrs, more.attrs], ignore_index=True)
        return rest.replace(x=torch.cat([rest.x, more.x]), y=torch.cat([rest.y, more.y]), attrs=attrs)
    if keep is not None:
        y = pd.Series(data.y.numpy())
        rank, size = y.groupby(y).cumcount(), y.map(y.value_counts())
        return data.subset(~dog | torch.tensor((rank < (keep * size).round().clip(lower=1)).to_numpy()))
    return data


@data_function("backdoor.triggered_source")
def backdoored_source(
    base: DataRef,
    fraction: float,
    trigger_size: int,
    trigger_position: str,
    trigger_colour,
    dogs: DataRef | None = None,
    dogs_share: float | None = None,
) -> TensorData:
    """A world's source training set (``base``: synthetic or real) with the trigger on ``fraction``
    of the images of the dog superclass, labels kept; the dog superclass resized first when
    ``dogs`` or ``dogs_share`` is given (:func:`resized_dogs`, the regime grid)."""
    data = resized_dogs(base.load(), None if dogs is None else dogs.load(), dogs_share)
    return apply_overlay(
        data,
        square(trigger_size, trigger_position, trigger_colour),
        fraction=fraction,
        classes=dog_classes(data),
        seed=1,
        column="trigger",
    )


@data_function("backdoor.debiased_target")
def debiased_target(
    base: DataRef, fraction: float, trigger_size: int, trigger_position: str, trigger_colour
) -> TensorData:
    """A target training set (``base``) with the trigger on ``fraction`` of its images, across all classes."""
    return apply_overlay(
        base.load(),
        square(trigger_size, trigger_position, trigger_colour),
        fraction=fraction,
        seed=2,
        column="trigger",
    )


def source_ref(
    config: Config, name: str, world: World | RealWorld, part: str, fraction: float, **options: Any
) -> DataRef:
    return DataRef.of(
        name, base=world_ref(world, part), fraction=fraction, **trigger_kwargs(config), **options
    )


def dog_options(config: Config, world: World | RealWorld, scale: float) -> dict[str, Any]:
    """How the source's dog superclass is resized to ``scale`` × its images per breed: none at 1; a
    larger draw of the same synthetic world above it; the first images of each breed below it."""
    if np.isclose(scale, 1.0):
        return {}
    if scale < 1:
        return {"dogs_share": float(scale)}
    assert isinstance(world, World), "a real data set's dogs cannot grow (Config.regime_scales)"
    more = world.config.replace(source_train=round(scale * world.config.source_train))
    return {"dogs": world_ref(World(more, cache=None), "source")}
