"""One maker per store entry: a lock file per key, renewed by its owner, taken over when stale.

A lock is a small JSON file (host, PID, process start, a token of its own) created with
``O_EXCL``. Its owner's heartbeat touches it every second, so another process on any host can tell
a live owner from a dead one. A stale lock (its owner died on this machine, its PID now names
another process, it was not renewed for the lease, or it is garbage: unreadable, a folder, a FIFO)
is taken over atomically: the taker renames it to a name of its own, checks that what it moved is
the lock it judged stale, and only then removes it; every other taker finds nothing to rename.
Releasing works the same way with the owner's token, so a process that stopped past its lease never
removes its successor's lock.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import stat
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LEASE_ENV = "TRANSFERLAB_LOCK_LEASE"
DEFAULT_LEASE = 120.0
LEASE_RANGE = (1.0, 7 * 24 * 3600.0)  # a lease under a second outruns the heartbeat
LOCK_LEASE: float | None = None  # set to override $TRANSFERLAB_LOCK_LEASE in this process (tests)
UNREADABLE_GRACE = 5.0  # seconds a lock file may be unreadable (being written) before it is garbage
TURN_GRACE = 10.0  # seconds after which a takeover turn left by a taker that died is removed


class SettingError(RuntimeError):
    """An environment setting of the store that is not a valid value."""


def lock_lease() -> float:
    """Seconds a lock lives without renewal: ``$TRANSFERLAB_LOCK_LEASE`` (default 120), checked."""
    if LOCK_LEASE is not None:
        return LOCK_LEASE
    text = os.environ.get(LEASE_ENV, "").strip()
    if not text:
        return DEFAULT_LEASE
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    low, high = LEASE_RANGE
    if not low <= value <= high:  # NaN fails too
        raise SettingError(
            f"{LEASE_ENV}={text!r} is not a number of seconds from {low:g} to {high:g} (how long a store "
            f"lock lives without renewal; default {DEFAULT_LEASE:g}): set it to one, or unset it"
        )
    return value


class KeyLocks:
    """The lock files of a store's keys, in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder
        # (inode, mtime) of each foreign lock as first seen, and when (this process's clock): a lock
        # that does not change while watched for a lease is stale whatever the clocks say
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.lock"

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """Yield whether this process now holds ``key``'s lock (never blocks); a stale lock found
        in the way is taken over for the next try."""
        lease = lock_lease()
        lock = self.path(key)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            self._take_over_if_stale(lock, lease)
            yield False
            return
        token = uuid.uuid4().hex
        with os.fdopen(fd, "w") as f:
            json.dump({**_owner(), "token": token}, f)
        self._seen.pop(lock, None)
        _heartbeat.hold(lock, lease)
        try:
            yield True
        finally:
            _heartbeat.release(lock)
            _remove_if(lock, lambda found: found[2] == token)

    def _take_over_if_stale(self, lock: Path, lease: float) -> None:
        found = _identity(lock)
        why = self.stale(lock, lease, found)
        if not why:
            return
        if why.startswith("garbage"):
            warnings.warn(f"store lock {lock} is {why}: treated as stale and removed", stacklevel=4)
        # one taker at a time: a taker that moved a live lock aside (a racer's fresh lock that
        # replaced the stale one) could not put it back if a third racer created one meanwhile
        with _takeover_turn(lock) as mine:
            if mine and _identity(lock) == found:
                _remove_if(lock, lambda now: now == found)

    def stale(self, lock: Path, lease: float, found: tuple | None = None) -> str:
        """Why the lock file is stale ("" if it is live or gone)."""
        found = found or _identity(lock)
        if found is None:
            return ""
        ino, mtime_ns, _, owner = found
        if owner is _NOT_A_FILE:
            return "garbage (not a regular file)"
        age = time.time() - mtime_ns / 1e9
        first = self._seen.setdefault(lock, ((ino, mtime_ns), time.monotonic()))
        if first[0] != (ino, mtime_ns):  # renewed, or another lock: watch it from now
            self._seen[lock] = first = ((ino, mtime_ns), time.monotonic())
        watched = time.monotonic() - first[1]
        if owner is None:  # a lock being created has no content for an instant
            return "garbage (unreadable)" if max(age, watched) > UNREADABLE_GRACE else ""
        if owner.get("host") != socket.gethostname():  # another clock: only what this process saw counts
            if watched > lease:
                return f"not renewed while watched for {watched:.0f} s (lease {lease:g} s)"
            return ""
        if age > lease:
            return f"not renewed for {age:.0f} s (lease {lease:g} s)"
        try:
            pid = int(owner["pid"])
        except (KeyError, TypeError, ValueError):
            return ""
        if not process_alive(pid):
            return "held by a process that died"
        start = owner.get("start")
        if start is not None and _process_start(pid) not in (None, start):
            return "held by a PID that now names another process"
        return ""

    def owner_text(self, key: str) -> str:
        """Who holds ``key``'s lock and what happens next, in one sentence."""
        found = _identity(self.path(key))
        owner = found[3] if found else None
        lease = lock_lease()
        try:
            since = time.strftime("%H:%M:%S", time.localtime(owner["time"]))
            left = max(0.0, lease - (time.time() - found[1] / 1e9))
            who = (
                f"held by pid {owner['pid']} on {owner['host']} since {since}, "
                f"lease ends in {left:.0f} s unless renewed"
            )
        except (KeyError, TypeError, ValueError):
            who = "held by another process"
        return (
            f"{who}; this run goes on when it is done, or takes over if that process dies or stops "
            f"renewing its lock for {lease:g} s"
        )


_NOT_A_FILE = object()


def _identity(lock: Path) -> tuple[int, int, str | None, Any] | None:
    """(inode, mtime in ns, token, owner) of a lock file; owner is None when unreadable and
    ``_NOT_A_FILE`` for a folder, FIFO, link or device (never opened: a FIFO would block); None if gone."""
    try:
        st = os.lstat(lock)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return (st.st_ino, st.st_mtime_ns, None, _NOT_A_FILE)
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            owner = json.loads(f.read(1 << 16))
        if not isinstance(owner, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return (st.st_ino, st.st_mtime_ns, None, None)
    token = owner.get("token")
    return (st.st_ino, st.st_mtime_ns, token if isinstance(token, str) else None, owner)


@contextlib.contextmanager
def _takeover_turn(lock: Path) -> Iterator[bool]:
    """Whether this process has the turn to take over ``lock`` (never blocks): a sibling file made
    with ``O_EXCL``, so racers that all judged the same lock stale remove it one at a time; a turn
    left by a taker that died is removed after :data:`TURN_GRACE` seconds."""
    turn = lock.with_name(f"{lock.name}.turn")
    try:
        os.close(os.open(turn, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(turn).st_mtime > TURN_GRACE:
                os.unlink(turn)
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(turn)


def _remove_if(lock: Path, expected) -> bool:
    """Remove ``lock`` only if ``expected(its identity)`` holds, atomically against other takers:
    it is first renamed to a name of this call's own; a lock that is not the expected one is put
    back (unless a new lock took its place meanwhile)."""
    aside = lock.with_name(f"{lock.name}.{uuid.uuid4().hex[:12]}.aside")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return False
    except OSError:  # cannot move it (permissions): leave it
        return False
    found = _identity(aside)
    ours = found is not None and expected(found)
    if not ours:
        with contextlib.suppress(OSError):
            os.rename(aside, lock) if found is None or found[3] is _NOT_A_FILE else os.link(aside, lock)
    with contextlib.suppress(FileNotFoundError):
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        elif aside.exists() or aside.is_symlink():
            os.unlink(aside)
    return ours


def process_alive(pid: int) -> bool:
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
    """Touches the lock files this process holds, every second or a quarter lease (one thread per process)."""

    def __init__(self) -> None:
        self._held: dict[Path, float] = {}
        self._guard = threading.Lock()
        self._pid: int | None = None

    def hold(self, lock: Path, lease: float) -> None:
        with self._guard:
            self._held[lock] = lease
            if self._pid != os.getpid():  # first lock of this process (a forked worker starts its own)
                self._pid = os.getpid()
                threading.Thread(target=self._beat, name="transferlab-lock-heartbeat", daemon=True).start()

    def release(self, lock: Path) -> None:
        with self._guard:
            self._held.pop(lock, None)

    def forget(self) -> None:
        """In a forked child: the parent's locks and thread are not its own (and the guard may
        have been held by the parent's thread at the fork)."""
        self._held, self._guard, self._pid = {}, threading.Lock(), None

    def _beat(self) -> None:
        while True:
            with self._guard:
                held = dict(self._held)
            time.sleep(min([1.0, *(lease / 4 for lease in held.values())]))  # cheap: a few utime calls
            for lock in held:
                with contextlib.suppress(OSError):
                    os.utime(lock)


_heartbeat = _Heartbeat()
os.register_at_fork(after_in_child=_heartbeat.forget)
