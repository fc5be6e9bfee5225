"""What each kind of store entry must hold, whoever wrote its manifest.

An entry's key is the hash of its spec, and its spec names its kind (``spec["job"]``, else
``spec["kind"]``): a source model, a cached data set, an executed notebook. A manifest is only a
list of checksums, so a manifest (or an archive) listing no weights for a model would pass every
checksum; the kind says what must be there. The layer that defines a kind declares it with
:func:`declare` (the engine its models, the world its cached data, the book its notebooks, a chapter
its own jobs); the command line imports every chapter first, so ``store verify`` and ``store import``
know every kind the library makes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Kind:
    """What an entry of one kind must hold: files (by name) and keys of its info."""

    name: str
    files: tuple[str, ...] = ()
    info: tuple[str, ...] = ()

    def missing(self, files: Mapping[str, str], info: Mapping[str, Any]) -> str:
        """What such an entry lacks ("" if nothing)."""
        lacks = [f for f in self.files if f not in files] + [
            f"info {k!r}" for k in self.info if k not in info
        ]
        return f"a {self.name!r} entry without {', '.join(lacks)}" if lacks else ""


_KINDS: dict[str, Kind] = {}


def declare(name: str, files: tuple[str, ...] = (), info: tuple[str, ...] = ()) -> Kind:
    """Declare what entries of kind ``name`` hold (idempotent for the same declaration)."""
    kind = Kind(name, tuple(files), tuple(info))
    known = _KINDS.setdefault(name, kind)
    if known != kind:
        raise ValueError(f"store entry kind {name!r} is declared twice, differently: {known} and {kind}")
    return kind


def kind_name(spec: Mapping[str, Any]) -> str | None:
    """The kind a spec names (``job``, else ``kind``), or None."""
    name = spec.get("job", spec.get("kind"))
    return name if isinstance(name, str) else None


def kind_of(spec: Mapping[str, Any]) -> Kind | None:
    """The declared kind of a spec, or None when no module of this process declared it."""
    name = kind_name(spec)
    return _KINDS.get(name) if name is not None else None


def declared() -> tuple[str, ...]:
    """The kinds this process knows."""
    return tuple(sorted(_KINDS))
