"""Export part of a store as one archive with an index, and import it elsewhere, verified.

An archive is untrusted input: import never lets tar write a path. It reads the index, checks
every member against it (only ``<key>/<file>`` members the index lists, regular files, within a
size limit), writes each listed file under a path it builds itself into a staging folder, checks
every checksum and that every key is the hash of its entry's spec, and only when all of the
archive is valid moves the entries into the store. Any refusal is one line naming the member and
the reason, and leaves the store as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from .core import MANIFEST, CorruptEntry, Store, _temporary_name, sha256_file, spec_key

INDEX = "transferlab-archive.json"
KEY = re.compile(r"[0-9a-f]{32}")
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_MEMBER_BYTES = int(os.environ.get("TRANSFERLAB_ARCHIVE_MAX_MEMBER", 16 << 30))  # a file of an entry
MAX_INDEX_BYTES = 64 << 20


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


def import_archive(store: Store, archive: str | Path) -> dict[str, list[str]]:
    """Add an archive's entries to ``store``, all or none; returns the imported and skipped keys.

    Raises :class:`ArchiveError` (one line: the member and the reason) for anything but a valid
    archive, before any entry enters the store.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"no archive at {archive}")
    staging = store.root / "tmp" / _temporary_name("import")
    try:
        with _open(archive) as tar:
            members = _members(archive, tar)
            index = _index(archive, tar, members)
            _check_members(archive, index, members)
            staging.mkdir()
            for key, files in index.items():
                for name in [*files, MANIFEST]:
                    _copy_member(archive, tar, members[f"{key}/{name}"], staging / key / name)
        for key, files in index.items():
            _check_entry(archive, key, files, staging / key)
        done: dict[str, list[str]] = {"imported": [], "skipped": []}
        for key in index:
            if store.get(key) is not None:
                done["skipped"].append(key)
                continue
            dest = store.path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging / key, dest)
            store.verify(key)
            done["imported"].append(key)
        return done
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def _check_entry(archive: Path, key: str, files: dict[str, str], folder: Path) -> None:
    """The staged entry's checksums, its manifest's agreement with the index, and its key = hash of its spec."""
    for name, digest in files.items():
        if sha256_file(folder / name) != digest:
            raise _refuse(archive, f"member '{key}/{name}' does not match its checksum")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        spec, version, listed = manifest["spec"], manifest["version"], manifest["files"]
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise _refuse(archive, f"member '{key}/{MANIFEST}' is not a valid manifest ({e})") from None
    if listed != files or manifest.get("key") != key:
        raise _refuse(archive, f"member '{key}/{MANIFEST}' does not agree with the index")
    if spec_key(spec, version) != key:
        raise _refuse(archive, f"entry {key} is not the hash of its spec (a renamed or forged entry)")
