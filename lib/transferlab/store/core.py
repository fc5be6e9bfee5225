"""The store itself: keys, atomic entries, verification, locks, and an event log."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from .. import __version__

MANIFEST = "manifest.json"


class CorruptEntry(RuntimeError):
    """An entry's files do not match its manifest."""


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

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def __reduce__(self):  # pickles as its path (for Dask workers)
        return (Store, (str(self.root),))

    # -- reading ---------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key

    def keys(self) -> list[str]:
        """Keys of the entries with a manifest (not verified)."""
        return sorted(p.parent.name for p in (self.root / "objects").glob(f"*/*/{MANIFEST}"))

    def verify(self, key: str) -> Entry:
        """The entry of ``key`` after checking every file against the manifest; CorruptEntry if not."""
        path = self.path(key)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CorruptEntry(f"{key}: unreadable manifest ({e})") from None
        for name, digest in manifest["files"].items():
            f = path / name
            if not f.is_file() or sha256_file(f) != digest:
                raise CorruptEntry(f"{key}: {name} is missing or does not match its checksum")
        return Entry(key, path, manifest["spec"], manifest.get("info", {}), manifest["files"])

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
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
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
        on this machine, its PID now names another process, its owner stopped renewing it for
        ``LOCK_LEASE`` seconds (any host), or it cannot be read.
        """
        key = spec_key(spec)
        waited, said = time.monotonic(), False
        while True:
            entry = self.get(key)
            if entry is not None:
                return entry
            with self.lock(key) as held:
                if held:
                    entry = self.get(key)
                    return entry if entry is not None else self.put(spec, **make())
            if not said and time.monotonic() - waited > WAIT_MESSAGE_AFTER:
                said = True
                print(
                    f"transferlab: waiting for store entry {key}: {self._lock_owner_text(key)}",
                    file=sys.stderr,
                )
            time.sleep(poll)

    @contextlib.contextmanager
    def lock(self, key: str):
        """Context manager yielding whether this process now holds ``key``'s lock (never blocks).

        A held lock's file is touched every second by a heartbeat thread, so that others can tell
        a live owner on any host from a dead one."""
        lock = self._lock_path(key)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            why = self._stale(lock)
            if why:
                if "unreadable" in why:
                    warnings.warn(f"store lock {lock} is {why}: treated as stale and removed", stacklevel=3)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock)
            yield False
            return
        with os.fdopen(fd, "w") as f:
            json.dump(_owner(), f)
        _heartbeat.hold(lock)
        try:
            yield True
        finally:
            _heartbeat.release(lock)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)

    @staticmethod
    def _stale(lock: Path) -> str:
        """Why the lock file is stale ("" if it is live or gone)."""
        try:
            age = time.time() - lock.stat().st_mtime
            owner = json.loads(lock.read_bytes())
            if not isinstance(owner, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as e:
            # a lock being created has no content for an instant: only an old one is garbage
            return f"unreadable ({type(e).__name__})" if age > UNREADABLE_GRACE else ""
        if age > LOCK_LEASE:
            return f"not renewed for {age:.0f} s (lease {LOCK_LEASE:g} s)"
        if owner.get("host") != socket.gethostname():
            return ""
        try:
            pid = int(owner["pid"])
        except (KeyError, TypeError, ValueError):
            return ""
        if not _alive(pid):
            return "held by a process that died"
        start = owner.get("start")
        if start is not None and _process_start(pid) not in (None, start):
            return "held by a PID that now names another process"
        return ""

    def _lock_path(self, key: str) -> Path:
        return self.root / "locks" / f"{key}.lock"

    def _lock_owner_text(self, key: str) -> str:
        try:
            owner = json.loads(self._lock_path(key).read_bytes())
            since = time.strftime("%H:%M:%S", time.localtime(owner["time"]))
            who = f"another process (pid {owner['pid']} on {owner['host']}, since {since})"
        except (OSError, ValueError, KeyError, TypeError):
            who = "another process"
        return (
            f"{who} is making it; this run goes on when it is done, or takes over if that process "
            f"dies or stops renewing its lock for {LOCK_LEASE:g} s"
        )

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
        line = (
            json.dumps(
                {
                    "event": event,
                    "key": key,
                    "time": time.time(),
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                }
            )
            + "\n"
        )
        fd = os.open(self.root / "events.jsonl", os.O_CREAT | os.O_APPEND | os.O_WRONLY)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def events(self) -> pd.DataFrame:
        """The log of entries created in this store (one row per creation)."""
        path = self.root / "events.jsonl"
        if not path.exists():
            return pd.DataFrame(columns=["event", "key", "time", "host", "pid"])
        return pd.read_json(path, lines=True)


LOCK_LEASE = float(os.environ.get("TRANSFERLAB_LOCK_LEASE", "120"))  # seconds a lock lives without renewal
UNREADABLE_GRACE = 5.0  # seconds a lock file may be unreadable (being written) before it is garbage
WAIT_MESSAGE_AFTER = 10.0  # seconds of waiting on another process's lock before saying so


def _alive(pid: int) -> bool:
    """Whether a process of this machine with this PID exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot, Linux), so a reused PID is told apart; None elsewhere."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start": _process_start(os.getpid()),
        "time": time.time(),
    }


class _Heartbeat:
    """Touches the lock files this process holds, every second or ``LOCK_LEASE / 4`` (one thread per process)."""

    def __init__(self) -> None:
        self._held: set[Path] = set()
        self._guard = threading.Lock()
        self._pid: int | None = None

    def hold(self, lock: Path) -> None:
        with self._guard:
            self._held.add(lock)
            if self._pid != os.getpid():  # first lock of this process (a forked worker starts its own)
                self._pid = os.getpid()
                threading.Thread(target=self._beat, name="transferlab-lock-heartbeat", daemon=True).start()

    def release(self, lock: Path) -> None:
        with self._guard:
            self._held.discard(lock)

    def forget(self) -> None:
        """In a forked child: the parent's locks and thread are not its own (and the guard may
        have been held by the parent's thread at the fork)."""
        self._held, self._guard, self._pid = set(), threading.Lock(), None

    def _beat(self) -> None:
        while True:
            time.sleep(min(1.0, LOCK_LEASE / 4))  # cheap: a few utime calls
            with self._guard:
                held = list(self._held)
            for lock in held:
                with contextlib.suppress(OSError):
                    os.utime(lock)


_heartbeat = _Heartbeat()
os.register_at_fork(after_in_child=_heartbeat.forget)


def _temporary_name(key: str) -> str:
    return f"{key}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _writer_is_gone(name: str, age: float, max_age: float) -> bool:
    parts = name.split("-")
    if len(parts) >= 4 and parts[-2].isdigit():
        host, pid = "-".join(parts[1:-2]), int(parts[-2])
        if host == socket.gethostname():
            return not _alive(pid)
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
