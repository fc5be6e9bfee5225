"""Store locks, round two: a stopped holder cannot remove its successor's lock, takeovers are atomic,
skewed clocks, folders and FIFOs in the lock's place, a checked lease, and a waiting line on the
terminal."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from transferlab import utils
from transferlab.store import SettingError, Store, lock_lease, locks, spec_key

from .conftest import ROOT


def _lock_file(store: Store, spec) -> os.PathLike:
    return store.root / "locks" / f"{spec_key(spec)}.lock"


def test_a_holder_that_stopped_past_its_lease_does_not_remove_its_successors_lock(tmp_path):
    store = Store(tmp_path)
    path = _lock_file(store, {"x": 1})
    with store.lock(spec_key({"x": 1})) as held:
        assert held
        # meanwhile (this holder stopped, its lease ran out) another process took the lock over
        successor = {
            "host": socket.gethostname(),
            "pid": os.getppid(),
            "time": time.time(),
            "token": "theirs",
        }
        os.unlink(path)
        path.write_text(json.dumps(successor))
    assert json.loads(path.read_text())["token"] == "theirs"  # still there: not this holder's to remove
    with store.lock(spec_key({"x": 1})) as third:
        assert not third  # a third process waits for the successor instead of making it too


def test_a_taker_that_judged_an_old_lock_stale_does_not_remove_the_new_owners_lock(tmp_path):
    """The takeover race, step by step: B judges the dead owner's lock stale; A takes it over and
    holds a new lock; only then does B act on its judgement. B must find that the lock it would
    remove is not the one it judged (before: it unlinked A's live lock, and made the entry too)."""
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    store = Store(tmp_path)
    key = spec_key({"x": 0})
    path = _lock_file(store, {"x": 0})
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead, "time": 0}))
    b = locks.KeyLocks(store.root / "locks")
    judged = locks._identity(path)
    assert b.stale(path, 120.0, judged) == "held by a process that died"
    with store.lock(key) as first:  # A: finds the stale lock and takes it over ...
        assert not first
    with store.lock(key) as held:  # ... and holds its own on the next try
        assert held
        assert not locks._remove_if(path, lambda now: now == judged)  # B acts on its old judgement
        assert path.exists() and locks._identity(path)[2] is not None  # A's lock, token and all
        with Store(tmp_path).lock(key) as other:
            assert not other


def _racer(root: str, folder: str, start: float) -> None:
    while time.time() < start:  # every racer sees the stale lock at the same moment
        time.sleep(0.0005)

    def make():
        open(os.path.join(folder, str(os.getpid())), "w").close()
        time.sleep(0.3)
        return {"info": {"by": os.getpid()}}

    Store(root).get_or_make({"x": "race"}, make, poll=0.005)


@pytest.mark.timeout(120)
def test_a_stale_lock_is_taken_over_by_exactly_one_of_many_racers(tmp_path):
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    ctx = multiprocessing.get_context("fork")
    for round_ in range(4):
        root, makers = tmp_path / f"s{round_}", tmp_path / f"m{round_}"
        makers.mkdir()
        store = Store(root)
        _lock_file(store, {"x": "race"}).write_text(
            json.dumps({"host": socket.gethostname(), "pid": dead, "time": 0})
        )
        start = time.time() + 0.3
        procs = [ctx.Process(target=_racer, args=(str(root), str(makers), start)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 4
        assert len(list(makers.iterdir())) == 1, f"round {round_}: {len(list(makers.iterdir()))} makers"


@pytest.mark.timeout(60)
def test_a_foreign_lock_dated_in_the_future_is_taken_over_once_it_stops_changing(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "LOCK_LEASE", 1.5)
    store = Store(tmp_path)
    path = _lock_file(store, {"x": 2})
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": time.time() + 86400, "token": "t"}))
    ahead = time.time() + 86400  # its host's clock runs a day ahead
    os.utime(path, (ahead, ahead))
    started = time.monotonic()
    entry = store.get_or_make({"x": 2}, lambda: {"info": {"ok": 1}}, poll=0.1)
    assert entry.info == {"ok": 1} and 1.4 < time.monotonic() - started < 20


@pytest.mark.timeout(60)
@pytest.mark.parametrize("what", ["folder", "fifo"])
def test_a_lock_path_that_is_not_a_file_is_taken_over_with_a_warning(tmp_path, what):
    store = Store(tmp_path)
    path = _lock_file(store, {"x": 3})
    if what == "folder":
        path.mkdir()
        (path / "inside").write_text("x")
    else:
        os.mkfifo(path)
    with pytest.warns(UserWarning, match="not a regular file"):
        entry = store.get_or_make({"x": 3}, lambda: {"info": {"ok": 1}}, poll=0.05)
    assert entry.info == {"ok": 1} and not path.exists()


@pytest.mark.parametrize("value", ["abc", "0", "nan", "-5", "inf", "1e9"])
def test_a_lock_lease_that_is_not_a_sensible_number_is_refused_in_one_line(value, monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFERLAB_LOCK_LEASE", value)
    with pytest.raises(SettingError, match="TRANSFERLAB_LOCK_LEASE") as err:
        lock_lease()
    assert "\n" not in str(err.value)
    with pytest.raises(SettingError):
        Store(tmp_path).get_or_make({"x": 4}, lambda: {"info": {}})
    assert Store(tmp_path).get({"x": 4}) is None  # nothing was made without a lock


def test_a_bad_lock_lease_stops_a_run_before_its_kernel_starts(tmp_path, monkeypatch, capsys):
    from transferlab.pipeline import cli

    monkeypatch.setenv("TRANSFERLAB_LOCK_LEASE", "abc")
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path))
    out = tmp_path / "o.ipynb"
    assert cli.main(["run", str(ROOT / "notebooks" / "01_linear.ipynb"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TRANSFERLAB_LOCK_LEASE='abc'" in err and not out.exists()


def test_an_empty_lease_setting_is_the_default(monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_LOCK_LEASE", " ")
    assert lock_lease() == locks.DEFAULT_LEASE


HOLDER = """
import sys, time
from transferlab.store import Store
with Store({root!r}).lock({key!r}) as held:
    print(held, flush=True)
    time.sleep(30)
"""


@pytest.mark.timeout(60)
def test_a_process_waiting_for_a_lock_says_so_where_the_terminal_shows_progress(
    tmp_path, monkeypatch, capsys
):
    from transferlab.store import core

    key = spec_key({"x": 5})
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(tmp_path), key=key)], stdout=subprocess.PIPE, text=True
    )
    bars = tmp_path / "bars.json"
    monkeypatch.setenv(utils.PROGRESS_FILE, str(bars))
    monkeypatch.setattr(core, "WAIT_MESSAGE_AFTER", 0.1)
    try:
        assert holder.stdout.readline().strip() == "True"
        waiter = threading.Thread(
            target=Store(tmp_path).get_or_make, args=({"x": 5}, lambda: {"info": {}}), kwargs={"poll": 0.1}
        )
        waiter.start()
        deadline, seen = time.monotonic() + 30, []
        while not seen and time.monotonic() < deadline:
            seen = [b["line"] for b in utils.read_progress(bars).values()]
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()  # reaped: a zombie's PID still answers
        holder.stdout.close()
    waiter.join(30)
    assert seen, "no waiting line was reported"
    assert (
        f"waiting for store entry {key[:12]}" in seen[0]
        and f"pid {holder.pid}" in seen[0]
        and "lease ends in" in seen[0]
    )
    assert Store(tmp_path).get({"x": 5}) is not None  # made once the holder died
    assert utils.read_progress(bars) == {}  # the line goes when the wait ends
    assert "waiting for store entry" in capsys.readouterr().err
