"""Export part of a store as one archive with a manifest, and import it elsewhere, verified."""

from __future__ import annotations

import json
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .core import MANIFEST, CorruptEntry, Store, sha256_file

INDEX = "transferlab-archive.json"


def export_archive(store: Store, out: str | Path, keys: Iterable[str] | None = None) -> Path:
    """Write the verified entries ``keys`` (default: all) to a ``.tar.gz`` with an index of them."""
    out = Path(out)
    chosen = list(keys) if keys is not None else store.keys()
    index = []
    with tarfile.open(out, "w:gz") as tar:
        for key in chosen:
            entry = store.get(key)
            if entry is None:
                raise CorruptEntry(
                    f"{key} is not a valid entry of {store.root}; nothing exported "
                    "for it (run again without it, or remake it first)"
                )
            index.append({"key": key, "spec": entry.spec, "files": entry.files})
            for name in [*entry.files, MANIFEST]:
                tar.add(entry.path / name, arcname=f"{key}/{name}")
        data = json.dumps({"entries": index}, indent=1).encode()
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            tar.add(f.name, arcname=INDEX)
    return out


def import_archive(store: Store, archive: str | Path) -> dict[str, list[str]]:
    """Add an archive's entries to ``store``, checking every checksum; returns imported / skipped keys."""
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"no archive at {archive}")
    done: dict[str, list[str]] = {"imported": [], "skipped": []}
    with tempfile.TemporaryDirectory(dir=store.root / "tmp") as tmp, tarfile.open(archive, "r:*") as tar:
        tar.extractall(tmp, filter="data")
        try:
            index = json.loads((Path(tmp) / INDEX).read_text())["entries"]
        except (OSError, KeyError, json.JSONDecodeError) as e:
            raise CorruptEntry(f"{archive} is not a transferlab store archive ({e})") from None
        for item in index:
            key, src = item["key"], Path(tmp) / item["key"]
            if store.get(key) is not None:
                done["skipped"].append(key)
                continue
            for name, digest in item["files"].items():
                if not (src / name).is_file() or sha256_file(src / name) != digest:
                    raise CorruptEntry(
                        f"{archive}: {key}/{name} does not match its checksum; "
                        "nothing of this entry was imported"
                    )
            dest = store.path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dest)
            store.verify(key)
            done["imported"].append(key)
    return done
