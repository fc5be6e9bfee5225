"""Export part of a store as one archive with an index, and import it elsewhere, verified.

An archive is untrusted input: import never lets tar write a path. It reads the index, checks
every member against it (only ``<key>/<file>`` members the index lists, regular files, within a
size limit), writes each listed file under a path it builds itself into a staging folder, checks
every checksum, every manifest (:func:`~transferlab.store.core.manifest_problem`: the key is the
hash of its spec, the entry holds what its kind needs) and that the archive fits the size limit
and the disk, and only when all of the archive is valid moves the entries into the store, each
marked with the archive it came from (its name and sha256). Any refusal is one line naming the
member and the reason, and leaves the store as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

from . import kinds
from .core import (
    DIGEST,
    FILE_NAME,
    KEY,
    MANIFEST,
    CorruptEntry,
    Store,
    _temporary_name,
    manifest_problem,
    sha256_file,
    write_manifest,
)
from .locks import SettingError

INDEX = "transferlab-archive.json"
MAX_MEMBER_BYTES = 16 << 30  # a file of an entry
MAX_INDEX_BYTES = 64 << 20
TOTAL_ENV = "TRANSFERLAB_ARCHIVE_MAX_BYTES"
DEFAULT_MAX_TOTAL = 8 << 30  # what one import may write, all files together


def max_total_bytes() -> int:
    """The most bytes one import may write: ``$TRANSFERLAB_ARCHIVE_MAX_BYTES`` (default 8 GiB)."""
    text = os.environ.get(TOTAL_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_TOTAL
    if not text.isdigit() or int(text) <= 0:
        raise SettingError(
            f"{TOTAL_ENV}={text!r} is not a positive number of bytes (the most one archive import may "
            f"write; default {DEFAULT_MAX_TOTAL}): set it to one, or unset it"
        )
    return int(text)


class ArchiveError(CorruptEntry):
    """An archive that is not a valid transferlab store archive; nothing of it was imported."""


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


def import_archive(
    store: Store, archive: str | Path, *, known_kinds_only: bool = False
) -> dict[str, list[str]]:
    """Add an archive's entries to ``store``, all or none; returns the imported and skipped keys.

    Raises :class:`ArchiveError` (one line: the member and the reason) for anything but a valid
    archive, before any entry enters the store. An entry of a kind this process declared must hold
    what the kind needs; with ``known_kinds_only`` (the command line, which imports every chapter
    first) an entry of an undeclared kind is refused too. Otherwise it is checked when a process that
    knows its kind reads it (and set aside then if incomplete).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"no archive at {archive}")
    limit = max_total_bytes()
    store.clean()  # what an interrupted import (or a killed run) left in tmp/
    staging = store.root / "tmp" / _temporary_name("import")
    try:
        with _open(archive) as tar:
            members = _members(archive, tar)
            index = _index(archive, tar, members)
            _check_members(archive, index, members)
            _check_size(archive, store, sum(m.size for m in members.values()), limit)
            staging.mkdir()
            for key, files in index.items():
                for name in [*files, MANIFEST]:
                    _copy_member(archive, tar, members[f"{key}/{name}"], staging / key / name)
        for key, files in index.items():
            _check_entry(archive, key, files, staging / key, known_kinds_only)
        origin = {"archive": archive.name, "sha256": sha256_file(archive), "time": time.time()}
        done: dict[str, list[str]] = {"imported": [], "skipped": []}
        for key in index:
            done["imported" if _move_in(store, staging / key, key, origin) else "skipped"].append(key)
        return done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_in(store: Store, staged: Path, key: str, origin: dict) -> bool:
    """Move one checked entry into the store, marked with its ``origin``; False when the store has
    a valid one already (there before, or moved in by a concurrent import of the same archive)."""
    if store.get(key) is not None:
        return False
    manifest = json.loads((staged / MANIFEST).read_text())
    write_manifest(staged, {**manifest, "imported": origin})
    dest = store.path(key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staged, dest)
    except OSError:  # the folder is there: another process put it there meanwhile
        if store.get(key) is None:
            raise
        return False
    store.verify(key)
    return True


def _refuse(archive: Path, what: str) -> ArchiveError:
    return ArchiveError(" ".join(f"{archive}: {what}; nothing was imported".split()))


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise _refuse(archive, f"not a readable .tar.gz archive ({e})") from None


def _members(archive: Path, tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    try:
        listed = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise _refuse(archive, f"the archive is truncated or damaged ({e})") from None
    members: dict[str, tarfile.TarInfo] = {}
    for m in listed:
        if m.name in members:
            raise _refuse(archive, f"member {m.name!r} appears twice")
        members[m.name] = m
    return members


def _index(
    archive: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]
) -> dict[str, dict[str, str]]:
    """The index as {key: {file name: sha256}}, every key, name and digest of a valid form."""
    m = members.get(INDEX)
    if m is None:
        raise _refuse(archive, f"no {INDEX}: not a transferlab store archive")
    if not m.isfile() or m.size > MAX_INDEX_BYTES:
        raise _refuse(archive, f"member {INDEX!r} is not a regular file of a sensible size")
    try:
        entries = json.loads(tar.extractfile(m).read())["entries"]
        if not isinstance(entries, list):
            raise TypeError("'entries' is not a list")
        index = {}
        for item in entries:
            key, files = item["key"], item["files"]
            if not isinstance(key, str) or not KEY.fullmatch(key):
                raise _refuse(archive, f"index key {key!r} is not a store key (32 hex digits)")
            if key in index:
                raise _refuse(archive, f"index lists key {key} twice")
            if not isinstance(files, dict):
                raise _refuse(archive, f"index entry {key} has no file list")
            for name, digest in files.items():
                if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or name == MANIFEST:
                    raise _refuse(
                        archive, f"index entry {key} lists a file named {name!r}, not an entry's file"
                    )
                if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
                    raise _refuse(archive, f"index entry {key} has no sha256 for {name!r}")
            index[key] = dict(files)
    except ArchiveError:
        raise
    except (OSError, KeyError, TypeError, ValueError, tarfile.TarError, EOFError, zlib.error) as e:
        raise _refuse(archive, f"its index is unreadable ({type(e).__name__}: {e})") from None
    return index


def _check_members(
    archive: Path, index: dict[str, dict[str, str]], members: dict[str, tarfile.TarInfo]
) -> None:
    """Every member is a regular file the index lists, within the size limit; every listed file is there."""
    listed = {INDEX} | {f"{key}/{name}" for key, files in index.items() for name in [*files, MANIFEST]}
    for name, m in members.items():
        if name not in listed:
            if m.isdir() and name.rstrip("/") in index:
                raise _refuse(archive, f"member {name!r} is a folder; entries are listed file by file")
            raise _refuse(archive, f"member {name!r} is not listed in the archive's index")
        if not m.isfile():
            raise _refuse(
                archive, f"member {name!r} is not a regular file (links, folders and devices are refused)"
            )
        if m.size > MAX_MEMBER_BYTES:
            raise _refuse(archive, f"member {name!r} is larger than the limit of {MAX_MEMBER_BYTES} bytes")
    missing = sorted(listed - set(members))
    if missing:
        raise _refuse(archive, f"member {missing[0]!r} is listed in the index but missing")


def _copy_member(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tar.extractfile(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise _refuse(archive, f"member {member.name!r} could not be read ({e})") from None


def _check_size(archive: Path, store: Store, total: int, limit: int) -> None:
    """Refuse, before anything is written, an archive that expands past the limit or the free disk."""
    if total > limit:
        raise _refuse(
            archive,
            f"it expands to {total} bytes, over the limit of {limit} (set {TOTAL_ENV} to import a larger "
            "archive you trust)",
        )
    free = shutil.disk_usage(store.root).free
    if total > free:
        raise _refuse(archive, f"it expands to {total} bytes and {store.root} has {free} free")


def _check_entry(
    archive: Path, key: str, files: dict[str, str], folder: Path, known_kinds_only: bool
) -> None:
    """The staged entry's checksums, its manifest's agreement with the index, and the manifest itself
    (the key is the hash of its spec; the entry holds what its kind needs)."""
    for name, digest in files.items():
        if sha256_file(folder / name) != digest:
            raise _refuse(archive, f"member '{key}/{name}' does not match its checksum")
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError) as e:
        raise _refuse(
            archive, f"member '{key}/{MANIFEST}' is not a valid manifest ({type(e).__name__})"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("files") != files or manifest.get("key") != key:
        raise _refuse(archive, f"member '{key}/{MANIFEST}' does not agree with the index")
    problem = manifest_problem(manifest, key)
    if problem:
        raise _refuse(archive, f"entry {key}: {problem}")
    if known_kinds_only and kinds.kind_of(manifest["spec"]) is None:
        raise _refuse(
            archive,
            f"entry {key} is of a kind this library does not make ({kinds.kind_name(manifest['spec'])!r}; "
            f"known: {', '.join(kinds.declared())})",
        )
