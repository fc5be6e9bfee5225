"""The store itself: keys, atomic entries, verified manifests, and an event log (locks: :mod:`.locks`)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from .. import __version__, utils
from . import kinds
from .locks import KeyLocks, process_alive

MANIFEST = "manifest.json"
KEY = re.compile(r"[0-9a-f]{32}")
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,199}")  # a plain name inside an entry (model@10...)
DIGEST = re.compile(r"[0-9a-f]{64}")
# when set: a file to which every process appends the imported entries it reads
IMPORTED_LOG = "TRANSFERLAB_IMPORTED_LOG"


class CorruptEntry(RuntimeError):
    """An entry's files do not match its manifest."""


class StoreNotWritable(OSError):
    """This process cannot write the store (read-only disk or permissions)."""


def canonical(obj: Any) -> str:
    """Deterministic JSON of a spec (sorted keys, tuples as lists)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if isinstance(obj, (Path,)):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot put {type(obj).__name__} in a store spec")


def spec_key(spec: Mapping[str, Any], version: str | None = None) -> str:
    """The key of a spec: sha256 of its canonical JSON and the library version (32 hex digits)."""
    payload = canonical({"spec": spec, "version": version or __version__})
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Entry:
    """A verified entry: its key, spec, info and files."""

    key: str
    path: Path
    spec: dict[str, Any]
    info: dict[str, Any]
    files: dict[str, str]
    origin: dict[str, Any] | None = None  # the archive it was imported from (name, sha256, time), if any

    @property
    def fingerprint(self) -> str:
        """A digest of the entry's files (their checksums): it changes when the entry is made again
        differently, so what was made from it can tell."""
        return hashlib.sha256(json.dumps(self.files, sort_keys=True).encode()).hexdigest()[:16]

    def tensors(self, name: str = "model") -> dict[str, torch.Tensor]:
        """A group of tensors saved under ``name`` (safetensors; nothing is unpickled)."""
        return load_file(str(self.path / f"{name}.safetensors"))

    def table(self, name: str) -> pd.DataFrame:
        """A table saved under ``name``."""
        return pd.read_json(io.StringIO((self.path / f"{name}.json").read_text()), orient="table")

    def blob(self, name: str) -> bytes:
        """A file saved as bytes under ``name`` (an executed notebook, ...)."""
        return (self.path / f"{name}.blob").read_bytes()


class Store:
    """A folder of entries: ``objects/<k[:2]>/<key>/``, plus ``locks/``, ``tmp/``, ``corrupt/``."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        for sub in ("objects", "locks", "tmp", "corrupt"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._verified: dict[str, Entry] = {}
        self.locks = KeyLocks(self.root / "locks")

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def __reduce__(self):  # pickles as its path (for Dask workers)
        return (Store, (str(self.root),))

    # -- reading ---------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key

    def keys(self) -> list[str]:
        """Keys of the entries' folders (not verified: a folder without a manifest is a damaged entry)."""
        return sorted(p.name for p in (self.root / "objects").glob("*/*") if p.is_dir())

    def verify(self, key: str) -> Entry:
        """The entry of ``key`` after checking its manifest (:func:`manifest_problem`) and every file
        against it; CorruptEntry, naming the key and the damage, if not."""
        path = self.path(key)
        try:
            manifest = json.loads((path / MANIFEST).read_bytes())
        except (OSError, ValueError) as e:  # a flipped bit may make it invalid UTF-8 or JSON
            raise CorruptEntry(f"{key}: unreadable manifest ({type(e).__name__})") from None
        problem = manifest_problem(manifest, key)
        if problem:
            raise CorruptEntry(f"{key}: {problem}")
        for name, digest in manifest["files"].items():
            f = path / name
            if not f.is_file() or f.is_symlink() or sha256_file(f) != digest:
                raise CorruptEntry(f"{key}: {name} is missing or does not match its checksum")
        origin = manifest.get("imported")
        return Entry(key, path, manifest["spec"], manifest["info"], manifest["files"], origin)

    def get(self, spec_or_key: Mapping[str, Any] | str) -> Entry | None:
        """The verified entry of a spec (or key), or None; a corrupt entry is moved aside first."""
        key = spec_or_key if isinstance(spec_or_key, str) else spec_key(spec_or_key)
        if key in self._verified and self.path(key).is_dir():
            return self._verified[key]
        manifest = self.path(key) / MANIFEST
        if not manifest.exists():
            # a folder without a manifest is not a valid entry; but a writer's rename may land
            # between the two looks (an entry appears whole, manifest included): look again
            if self.path(key).exists() and not manifest.exists():
                self.discard(key, "no manifest")
            return None
        try:
            entry = self.verify(key)
        except CorruptEntry as e:
            self.discard(key, str(e))
            return None
        self._verified[key] = entry
        if entry.origin is not None:
            _note_imported(entry)
        return entry

    def discard(self, key: str, why: str) -> None:
        """Move the entry of ``key`` aside (to ``corrupt/``), saying why; it counts as missing."""
        dest = self.root / "corrupt" / f"{key}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path(key), dest)
            warnings.warn(
                f"store entry {key} set aside ({why}); moved to {dest}, it will be made again", stacklevel=3
            )
        self._verified.pop(key, None)

    def check_writable(self) -> None:
        """Raise :class:`StoreNotWritable` (one line: what to do) unless this process can write here."""
        probe = self.root / "tmp" / _temporary_name("probe")
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as e:
            raise StoreNotWritable(
                f"the store at {self.root} is not writable ({e.strerror or type(e).__name__}): a run "
                "writes the models it makes there; fix its permissions, or set TRANSFERLAB_STORE to a "
                "writable folder (a copy: transferlab store export / import)"
            ) from None

    # -- writing ---------------------------------------------------------------------------
    def put(
        self,
        spec: Mapping[str, Any],
        *,
        tensors: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
        info: Mapping[str, Any] | None = None,
        blobs: Mapping[str, bytes] | None = None,
    ) -> Entry:
        """Write an entry atomically (temp folder, checksums, rename); keep an existing valid one."""
        key = spec_key(spec)
        tensors, tables, info = tensors or {}, tables or {}, info or {}
        tmp = self.root / "tmp" / _temporary_name(key)
        tmp.mkdir()
        try:
            for name, group in tensors.items():
                save_file(
                    {k: v.detach().cpu().contiguous() for k, v in group.items()},
                    str(tmp / f"{name}.safetensors"),
                )
            for name, frame in tables.items():
                (tmp / f"{name}.json").write_text(frame.to_json(orient="table", index=False))
            for name, data in (blobs or {}).items():
                (tmp / f"{name}.blob").write_bytes(data)
            files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
            manifest = {
                "key": key,
                "spec": json.loads(canonical(spec)),
                "version": __version__,
                "files": files,
                "info": json.loads(canonical(dict(info))),
                "created": time.time(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
            }
            problem = manifest_problem(manifest, key)
            if problem:  # what a reader would set aside is refused here, where the writer can be named
                raise ValueError(f"cannot store {key}: {problem}")
            write_manifest(tmp, manifest)
            _fsync_files(tmp)
            final = self.path(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            if self.get(key) is not None:
                return self._verified[key]  # someone else finished first: keep theirs
            try:
                os.rename(tmp, final)
            except OSError:
                if self.get(key) is None:
                    raise
                return self._verified[key]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._log("created", key)
        return self.get(key)

    def get_or_make(
        self, spec: Mapping[str, Any], make: Callable[[], Mapping[str, Any]], *, poll: float = 0.5
    ) -> Entry:
        """The entry of ``spec``; if missing, ``make()`` returns ``put``'s keyword arguments.

        Only one process makes a given entry at a time (a lock file per key); the others wait and
        read the result, saying once what they wait for. A lock is taken over when its owner died
        on this machine, its PID now names another process, its owner stopped renewing it for the
        lease (:func:`~transferlab.store.locks.lock_lease`), or it is garbage.
        """
        key = spec_key(spec)
        waited, said = time.monotonic(), False
        try:
            while True:
                entry = self.get(key)
                if entry is not None:
                    return entry
                with self.lock(key) as held:
                    if held:
                        entry = self.get(key)
                        return entry if entry is not None else self.put(spec, **make())
                if time.monotonic() - waited > WAIT_MESSAGE_AFTER:
                    line = f"waiting for store entry {key[:12]}: {self.locks.owner_text(key)}"
                    utils.report_line(f"waiting {key}", line)  # to the terminal watching this run
                    if not said:
                        said = True
                        print(f"transferlab: {line}", file=sys.stderr)
                time.sleep(poll)
        finally:
            if said:
                utils.report_line(f"waiting {key}", None)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        """Context manager yielding whether this process now holds ``key``'s lock (never blocks;
        :class:`~transferlab.store.locks.KeyLocks`)."""
        with self.locks.hold(key) as held:
            yield held

    def clean(self, max_age: float = 24 * 3600) -> list[Path]:
        """Remove temporary folders left by dead writers (their process is gone from this machine,
        or, from another host, they are older than ``max_age`` seconds); returns what was removed."""
        removed = []
        for folder in (self.root / "tmp").iterdir():
            if _writer_is_gone(folder.name, time.time() - folder.stat().st_mtime, max_age):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    def _log(self, event: str, key: str) -> None:
        record = {
            "event": event,
            "key": key,
            "time": time.time(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        append_line(self.root / "events.jsonl", json.dumps(record))

    def events(self) -> pd.DataFrame:
        """The log of entries created in this store (one row per creation)."""
        path = self.root / "events.jsonl"
        if not path.exists():
            return pd.DataFrame(columns=["event", "key", "time", "host", "pid"])
        return pd.read_json(path, lines=True)


WAIT_MESSAGE_AFTER = 10.0  # seconds of waiting on another process's lock before saying so


def manifest_problem(manifest: Any, key: str) -> str:
    """What is wrong with an entry's manifest ("" if nothing): its shape (spec, info and files as
    JSON objects; every file a plain name inside the entry with a sha256), its own checksum, the key
    (the hash of its spec and version), and what the entry's kind must hold (:mod:`.kinds`)."""
    if not isinstance(manifest, dict):
        return "its manifest is not a JSON object"
    spec, info, files, version = (manifest.get(k) for k in ("spec", "info", "files", "version"))
    if not (isinstance(spec, dict) and isinstance(info, dict) and isinstance(files, dict)):
        return "its manifest lacks a spec, info or file list"
    if not isinstance(version, str):
        return "its manifest names no library version"
    for name, digest in files.items():
        if not FILE_NAME.fullmatch(name) or name == MANIFEST:
            return f"its manifest lists {name!r}, not a file name inside the entry"
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            return f"its manifest has no sha256 for {name!r}"
    if "checksum" in manifest and manifest["checksum"] != manifest_checksum(manifest):
        return "its manifest does not match its own checksum (damaged)"
    if manifest.get("key") != key or spec_key(spec, version) != key:
        return "its manifest's spec does not hash to its key (damaged, renamed or forged)"
    kind = kinds.kind_of(spec)
    return kind.missing(files, info) if kind is not None else ""


def manifest_checksum(manifest: Mapping[str, Any]) -> str:
    """sha256 of a manifest's canonical JSON without its ``checksum`` (catches a flipped bit in
    what no file checksum covers: the info)."""
    return hashlib.sha256(
        canonical({k: v for k, v in manifest.items() if k != "checksum"}).encode()
    ).hexdigest()


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``folder``'s manifest with its checksum (replacing any)."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    (folder / MANIFEST).write_text(json.dumps({**body, "checksum": manifest_checksum(body)}, indent=1))


def _note_imported(entry: Entry) -> None:
    """Append an imported entry this process read to ``$TRANSFERLAB_IMPORTED_LOG`` (when set), so the
    run that started it can say on its page which models it did not make itself."""
    path = os.environ.get(IMPORTED_LOG)
    if not path:
        return
    with contextlib.suppress(OSError):  # the note is for the page; the run goes on without it
        append_line(path, json.dumps({"key": entry.key, "job": kinds.kind_name(entry.spec), **entry.origin}))


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a log file with a single ``write`` in append mode, so that lines written by
    several processes at once never interleave."""
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_imported(path: str | Path) -> list[dict[str, Any]]:
    """The imported entries noted in a log of :data:`IMPORTED_LOG`, one per key."""
    seen: dict[str, dict[str, Any]] = {}
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict) and isinstance(item.get("key"), str):
                    seen.setdefault(item["key"], item)
    return list(seen.values())


def _temporary_name(key: str) -> str:
    return f"{key}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _writer_is_gone(name: str, age: float, max_age: float) -> bool:
    parts = name.split("-")
    if len(parts) >= 4 and parts[-2].isdigit():
        host, pid = "-".join(parts[1:-2]), int(parts[-2])
        if host == socket.gethostname():
            return not process_alive(pid)
    return age > max_age


def _fsync_files(path: Path) -> None:
    for p in path.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())


def default_store() -> Store:
    """The store at ``$TRANSFERLAB_STORE``; else the checkout's ``.transferlab/store`` (the one
    ``make book`` fills) in this folder or one above it; else ``~/.cache/transferlab/store``."""
    return Store(default_store_path())


def default_store_path() -> Path:
    """Where :func:`default_store` is (see there)."""
    if os.environ.get("TRANSFERLAB_STORE"):
        return Path(os.environ["TRANSFERLAB_STORE"]).expanduser()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CHECKOUT_STORE).is_dir():
            return folder / CHECKOUT_STORE
    return Path.home() / ".cache" / "transferlab" / "store"


CHECKOUT_STORE = Path(".transferlab") / "store"  # a checkout's own store, which `make` uses
