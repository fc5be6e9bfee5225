"""Data functions registered under stable names, so that a job's spec names its data without a module path.

A data function builds a :class:`~transferlab.world.tensors.TensorData` from keyword arguments that
fit in JSON (a part of a world, a triggered copy of it, a subset of its classes, ...). It is
registered with :func:`data_function` under a dotted name such as ``"world.synthetic"`` or
``"backdoor.triggered_source"``; job specs (and so the store's keys) hold that name and the
arguments, never ``"module:function"``, so moving or renaming a module keeps every stored model.
A name's meaning is a promise: a function that builds other data under the same arguments needs a
new name (or a revision argument), since stored models trained on the old data would be reused.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from typing import Any

from .tensors import TensorData

DataFunction = Callable[..., TensorData]
_REGISTRY: dict[str, DataFunction] = {}
_HINTS: dict[str, frozenset[str]] = {}


def data_function(name: str, hints: tuple[str, ...] = ()) -> Callable[[DataFunction], DataFunction]:
    """Register the decorated function under ``name`` (``"area.what"``); it is returned unchanged.

    ``hints`` name arguments that say where to find the data, not what it is (a real folder's path,
    beside a fingerprint of its content): the function gets them, a job's spec leaves them out, so
    the same data at another path keeps its stored models."""
    if not name or name.count(".") < 1 or ":" in name:
        raise ValueError(f"a data function's name is dotted, like 'world.synthetic', got {name!r}")
    _HINTS[name] = frozenset(hints)

    def register(fn: DataFunction) -> DataFunction:
        known = _REGISTRY.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(
                f"data function name {name!r} is taken by {known.__module__}.{known.__qualname__}"
            )
        _REGISTRY[name] = fn
        return fn

    return register


def data_function_named(name: str, module: str = "") -> DataFunction:
    """The function registered as ``name``; ``module`` (where it was registered, if known) is
    imported first when this process has not registered it yet (a fresh Dask worker)."""
    if name not in _REGISTRY and module:
        importlib.import_module(module)
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(
            f"no data function is registered as {name!r} (registered: {known}); import the "
            "module that defines it"
        ) from None


def data_functions() -> dict[str, str]:
    """Every registered name and the module that defines it."""
    return {name: fn.__module__ for name, fn in sorted(_REGISTRY.items())}


@dataclasses.dataclass(frozen=True)
class DataRef:
    """Data named by a registered function and its keyword arguments (JSON values or other
    DataRefs): what a job's spec holds, rebuilt on whichever process runs the job."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    # where the function is defined: lets a fresh process import it; not part of the spec or equality
    module: str = dataclasses.field(default="", compare=False, repr=False)

    @classmethod
    def of(cls, name: str, **kwargs: Any) -> DataRef:
        """The data ``name(**kwargs)``; lists become tuples so that the reference is hashable."""
        fn = _REGISTRY.get(name)
        items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
        return cls(name, items, fn.__module__ if fn is not None else "")

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> DataRef:
        """The reference a job's spec holds (:meth:`spec`), rebuilt: ValueError when the spec left
        out a hint the function needs (a real folder's path), so it cannot be loaded from the spec."""
        name, kwargs = spec["fn"], dict(spec["kwargs"])
        missing = sorted(_HINTS.get(name, frozenset()) - set(kwargs))
        if missing:
            raise ValueError(
                f"data {name!r} is named by content; its {', '.join(missing)} is not in the spec"
            )
        rebuilt = {
            k: cls.from_spec(v) if isinstance(v, dict) and set(v) == {"fn", "kwargs"} else v
            for k, v in kwargs.items()
        }
        return cls.of(name, **rebuilt)

    def load(self) -> TensorData:
        """The data (built once per process)."""
        return _load(self)

    def spec(self) -> dict[str, Any]:
        """What a job's spec (and so the store's key) holds of this data."""
        hints = _HINTS.get(self.name, frozenset())
        return {
            "fn": self.name,
            "kwargs": {
                k: v.spec() if isinstance(v, DataRef) else v for k, v in self.kwargs if k not in hints
            },
        }


@functools.lru_cache(maxsize=32)
def _load(ref: DataRef) -> TensorData:
    data = data_function_named(ref.name, ref.module)(**dict(ref.kwargs))
    if not isinstance(data, TensorData):
        raise TypeError(f"data function {ref.name!r} returned {type(data).__name__}, not TensorData")
    return data
