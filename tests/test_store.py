"""The store: keys, verified entries, corrupt files remade, archives, and killed runs resumed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from transferlab.run import Job, SourceJob, TransferJob, load_model, made, run_jobs, waves
from transferlab.store import (
    ArchiveError,
    CorruptEntry,
    Store,
    declare_kind,
    export_archive,
    import_archive,
    spec_key,
)
from transferlab.train import recipe
from transferlab.world import DataRef

from .conftest import ROOT

declare_kind("test-model", files=("model.safetensors",))  # the entries these tests move between stores


def _model_spec(i: int) -> dict:
    return {"job": "test-model", "i": i}


def test_keys_depend_on_spec_and_version():
    assert spec_key({"a": 1, "b": [1, 2]}) == spec_key({"b": (1, 2), "a": 1})
    assert spec_key({"a": 1}) != spec_key({"a": 2})
    assert spec_key({"a": 1}, version="1") != spec_key({"a": 1}, version="2")


def test_put_get_roundtrip(tmp_path):
    store = Store(tmp_path)
    frame = pd.DataFrame({"seed": [0, 1], "acc": [0.5, 0.75]})
    entry = store.put(
        {"x": 1}, tensors={"model": {"w": torch.arange(4.0)}}, tables={"res": frame}, info={"note": "hi"}
    )
    again = Store(tmp_path).get({"x": 1})
    assert again.key == entry.key and again.info == {"note": "hi"}
    assert torch.equal(again.tensors()["w"], torch.arange(4.0))
    pd.testing.assert_frame_equal(again.table("res"), frame)
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_corrupt_entries_are_moved_aside_and_remade(tmp_path, damage):
    store = Store(tmp_path)
    entry = store.put({"x": 1}, tensors={"model": {"w": torch.ones(1000)}})
    target = entry.path / ("manifest.json" if damage == "manifest" else "model.safetensors")
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json")
    fresh = Store(tmp_path)
    with pytest.warns(UserWarning, match="corrupt"):
        assert fresh.get({"x": 1}) is None
    assert len(list((tmp_path / "corrupt").iterdir())) == 1  # kept for inspection, not deleted
    made = fresh.get_or_make({"x": 1}, lambda: {"tensors": {"model": {"w": torch.zeros(3)}}})
    assert torch.equal(made.tensors()["w"], torch.zeros(3))


def test_archive_export_import_and_tampering(tmp_path):
    src = Store(tmp_path / "a")
    keys = [
        src.put(_model_spec(i), tensors={"model": {"w": torch.full((3,), float(i))}}).key for i in range(3)
    ]
    archive = export_archive(src, tmp_path / "models.tar.gz", keys[:2])
    dst = Store(tmp_path / "b")
    assert import_archive(dst, archive) == {"imported": keys[:2], "skipped": []}
    assert import_archive(dst, archive)["skipped"] == keys[:2]
    assert torch.equal(dst.get(_model_spec(1)).tensors()["w"], torch.ones(3))
    # an archive whose file was altered after export is refused, and nothing of it is imported
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as tin, tarfile.open(bad, "w:gz") as tout:
        for member in tin.getmembers():
            data = tin.extractfile(member).read()
            if member.name == f"{keys[0]}/model.safetensors":
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            import io

            tout.addfile(member, io.BytesIO(data))
    other = Store(tmp_path / "c")
    with pytest.raises(CorruptEntry, match="does not match its checksum"):
        import_archive(other, bad)
    assert other.get(_model_spec(0)) is None
    with pytest.raises(FileNotFoundError):
        import_archive(other, tmp_path / "nope.tar.gz")


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    store = Store(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    key = spec_key({"x": 1})
    (tmp_path / "locks" / f"{key}.lock").write_text(
        json.dumps({"host": os.uname().nodename, "pid": int(dead), "time": 0})
    )
    entry = store.get_or_make({"x": 1}, lambda: {"info": {"ok": True}}, poll=0.05)
    assert entry.info == {"ok": True}


def _jobs(n: int, epochs: int = 2):
    data = DataRef.of("world.toy", num_classes=4, n_per_class=40, size=16, seed=0)
    r = recipe("synthetic-source", epochs=epochs, peak_epoch=1, batch_size=32)
    return [SourceJob("cresnet-xs", data, r, seed=s) for s in range(n)]


RUNNER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.test_store import _jobs
    from transferlab.run import run_jobs
    from transferlab.store import Store
    run_jobs(_jobs({n}, {epochs}), Store({store!r}), progress=False, group_size={group})
""")


def _wait_for_events(store: Store, count: int, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if len(store.events()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} entries made in {timeout} s")


@pytest.mark.parametrize("group", [1, 2])
def test_a_killed_run_resumes_without_losing_or_repeating_work(tmp_path, group):
    store = Store(tmp_path / "store")
    n = 6
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUNNER.format(root=str(ROOT), n=n, epochs=3, store=str(store.root), group=group),
        ]
    )
    try:
        _wait_for_events(store, 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finished = set(store.events().key)
    assert 2 <= len(finished) < n, "the run was not killed mid-way"
    assert all(store.get(k) is not None for k in finished)
    entries = run_jobs(_jobs(n, 3), store, progress=False, group_size=group)  # resume here
    assert all(e is not None for e in entries)
    counts = store.events().groupby("key").size()
    assert len(counts) == n and (counts == 1).all(), "a model was trained twice"


@pytest.mark.timeout(300)
def test_dask_cluster_with_a_worker_killed_mid_run(tmp_path):
    from transferlab.run.executors import DaskExecutor

    store = Store(tmp_path / "store")
    jobs = _jobs(8, 3)
    ex = DaskExecutor(n_workers=2, threads_per_worker=1, retries=3)
    try:
        result: dict = {}
        thread = threading.Thread(
            target=lambda: result.update(entries=run_jobs(jobs, store, executor=ex, progress=False))
        )
        thread.start()
        _wait_for_events(store, 1)
        busy = [w for w, tasks in ex.client.processing().items() if tasks]
        pids = ex.client.run(os.getpid, workers=busy[:1])
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        thread.join(timeout=240)
        assert not thread.is_alive()
    finally:
        ex.close()
    assert all(e is not None for e in result["entries"])
    counts = store.events().groupby("key").size()
    assert len(counts) == len(jobs) and (counts == 1).all(), "a model finished more than once"


def test_transfer_jobs_reuse_the_stored_source(tmp_path):
    store = Store(tmp_path)
    source = _jobs(1)[0]
    target = DataRef.of("world.toy", num_classes=3, n_per_class=20, size=16, seed=4)
    test = DataRef.of("world.toy", num_classes=3, n_per_class=20, size=16, seed=5)
    jobs = [
        TransferJob(source, target, recipe("synthetic-fixed", epochs=3, peak_epoch=1), mode, eval_data=test)
        for mode in ("fixed", "full")
    ]
    first = run_jobs(jobs, store, progress=False)
    assert len(store.events()) == 3  # one source, two transfers
    assert run_jobs(jobs, store, progress=False)[0].key == first[0].key
    assert len(store.events()) == 3
    model = load_model(first[0])
    assert model.num_classes == 3 and 0 <= first[0].info["test_accuracy"] <= 1


def test_grouped_training_keeps_models_of_different_heads_apart(tmp_path):
    """Source jobs of one architecture and recipe but different class counts or image sizes are
    trained in separate groups (one grouped module needs one head size and one input size)."""
    r = recipe("synthetic-source", epochs=1, peak_epoch=0.5, batch_size=32)
    datas = [
        DataRef.of("world.toy", num_classes=k, n_per_class=10, size=size)
        for k, size in ((3, 16), (4, 16), (3, 12), (3, 16))
    ]
    jobs = [SourceJob("cresnet-xs", d, r, seed=i) for i, d in enumerate(datas)]
    entries = run_jobs(jobs, Store(tmp_path), progress=False, group_size=8)
    assert [load_model(e).num_classes for e in entries] == [3, 4, 3, 3]


def test_store_command_line(tmp_path, capsys):
    from transferlab.pipeline import cli

    store = Store(tmp_path / "s")
    store.put(_model_spec(1), tensors={"model": {"w": torch.ones(2)}})
    assert cli.main(["store", "verify", "--store", str(store.root)]) == 0
    assert "1 of 1 entries verified" in capsys.readouterr().out
    assert cli.main(["store", "export", str(tmp_path / "a.tar.gz"), "--store", str(store.root)]) == 0
    assert cli.main(["store", "import", str(tmp_path / "a.tar.gz"), "--store", str(tmp_path / "t")]) == 0
    assert "imported 1 entries" in capsys.readouterr().out
    assert cli.main(["store", "import", "--store", str(tmp_path / "t")]) == 1
    assert "needs the archive's path" in capsys.readouterr().err


def test_a_stored_model_does_not_depend_on_grouping(tmp_path):
    """Data sets of different lengths are not grouped: a grouped step walks every member's data at
    once, so a shorter set would get more passes than its recipe says. Grouped or alone, the
    store holds the same model for the same job."""
    from transferlab.train import PLAIN, Speed

    r = recipe("synthetic-source", epochs=1, peak_epoch=0.5, batch_size=16, lr=0.05, augment=False)
    jobs = [
        SourceJob("cresnet-xs", DataRef.of("world.toy", num_classes=2, n_per_class=n, size=12), r, seed=0)
        for n in (8, 24)
    ]
    plain = Speed(torch.device("cpu"), **PLAIN)
    grouped = run_jobs(jobs, Store(tmp_path / "g"), progress=False, group_size=8, speed=plain)
    alone = run_jobs(jobs, Store(tmp_path / "a"), progress=False, group_size=1, speed=plain)
    for g, a in zip(grouped, alone):
        for name, w in g.tensors("model").items():
            if w.dtype.is_floating_point:
                torch.testing.assert_close(w, a.tensors("model")[name], atol=2e-3, rtol=2e-3, msg=name)


def test_default_store_is_the_checkouts_own_inside_a_checkout(tmp_path, monkeypatch):
    """`transferlab run` inside a checkout uses the store `make book` filled, not a second one."""
    from transferlab.store import default_store

    monkeypatch.delenv("TRANSFERLAB_STORE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "repo" / ".transferlab" / "store").mkdir(parents=True)
    (tmp_path / "repo" / "runs").mkdir()
    monkeypatch.chdir(tmp_path / "repo" / "runs")
    assert default_store().root == (tmp_path / "repo" / ".transferlab" / "store").resolve()
    monkeypatch.chdir(tmp_path)
    assert default_store().root == (tmp_path / "home" / ".cache" / "transferlab" / "store").resolve()
    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "mine"))
    assert default_store().root == (tmp_path / "mine").resolve()


@dataclasses.dataclass(frozen=True)
class _Sum(Job):
    """A job that adds its own number to the totals of the jobs it requires (a cheap stand-in for a model)."""

    name: str
    value: float
    needs: tuple[Job, ...] = ()

    def spec(self):
        return {"job": "sum", "name": self.name, "value": self.value, "needs": [n.spec() for n in self.needs]}

    def requires(self):
        return self.needs

    def make(self, store, speed):
        total = self.value + sum(made(n, store, speed).info["total"] for n in self.needs)
        return {"info": {"total": total}}


def test_any_job_goes_through_the_engine_after_what_it_requires(tmp_path):
    base = _Sum("base", 1.0)
    mid = _Sum("mid", 2.0, (base,))
    top, other = _Sum("top", 4.0, (mid, base)), _Sum("other", 8.0)
    plan = waves([top, other])
    assert plan == [[base], [mid], [other, top]]  # required first; in the last wave, the free jobs lead
    store = Store(tmp_path)
    entries = run_jobs([top, other, top], store, progress=False)
    assert [e.info["total"] for e in entries] == [1 + 2 + 1 + 4, 8, 8]
    created = store.events().key.tolist()
    assert len(created) == len(set(created)) == 4  # each made once, the repeated job too
    with pytest.raises(ValueError, match="require each other"):

        @dataclasses.dataclass(frozen=True)
        class Loop(_Sum):
            def requires(self):
                return (self,)

        waves([Loop("loop", 0.0)])


# -- archives are untrusted input ------------------------------------------------------------------


def _tar(path, members):
    """A .tar.gz of (name, bytes or a TarInfo type) members, written as given (no checks)."""
    import io

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data in (tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE):  # a link or device
                info.type, info.linkname = data, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def _index(*entries):
    return json.dumps({"entries": [{"key": k, "spec": {}, "files": f} for k, f in entries]}).encode()


def _attack_cases(good_key, tmp_path):
    payload = b"x" * 1000
    digest = __import__("hashlib").sha256(payload).hexdigest()
    forged = {
        "key": "0" * 32,
        "spec": {"job": "test-model", "i": 7},
        "version": "0.1.0",
        "files": {},
        "info": {},
    }
    return {
        # a key used as a path: writes outside the store, or moves its objects/ folder away
        "traversal key": (
            [("../../objects/ab/" + good_key, {"payload": digest})],
            [(f"../../objects/ab/{good_key}/payload", payload)],
            "not a store key",
        ),
        "key naming a folder": ([("../../objects", {})], [], "not a store key"),
        # an entry whose key is not the hash of its spec, with an empty file list
        "forged key": (
            [("0" * 32, {})],
            [("0" * 32 + "/manifest.json", json.dumps(forged).encode())],
            "does not hash to its key",
        ),
        # a member the entry's manifest does not list
        "unlisted member": (
            [(good_key, {})],
            [(f"{good_key}/manifest.json", b"{}"), (f"{good_key}/big.bin", payload)],
            "not listed",
        ),
        "symlink": (
            [(good_key, {"model.safetensors": digest})],
            [(f"{good_key}/model.safetensors", tarfile.SYMTYPE), (f"{good_key}/manifest.json", b"{}")],
            "not a regular file",
        ),
        "hard link": (
            [(good_key, {"model.safetensors": digest})],
            [(f"{good_key}/model.safetensors", tarfile.LNKTYPE), (f"{good_key}/manifest.json", b"{}")],
            "not a regular file",
        ),
        "device": (
            [(good_key, {"model.safetensors": digest})],
            [(f"{good_key}/model.safetensors", tarfile.CHRTYPE), (f"{good_key}/manifest.json", b"{}")],
            "not a regular file",
        ),
        "file name with a path": ([(good_key, {"../../x": digest})], [], "not an entry's file"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "traversal key",
        "key naming a folder",
        "forged key",
        "unlisted member",
        "symlink",
        "hard link",
        "device",
        "file name with a path",
    ],
)
def test_a_malicious_archive_is_refused_and_changes_nothing(tmp_path, case):
    home = tmp_path / "home"
    store = Store(home / "a" / "store")
    good = store.put(_model_spec(1), tensors={"model": {"w": torch.ones(3)}})
    entries, members, message = _attack_cases(good.key, tmp_path)[case]
    archive = _tar(
        tmp_path / "evil.tar.gz",
        [(name, data) for name, data in members] + [("transferlab-archive.json", _index(*entries))],
    )
    before = _snapshot(home)
    with pytest.raises(ArchiveError, match=message) as err:
        import_archive(store, archive)
    assert "\n" not in str(err.value) and "nothing was imported" in str(err.value)
    assert _snapshot(home) == before  # nothing written anywhere, staging removed
    assert store.keys() == [good.key] and store.get(good.key) is not None


def test_random_bytes_and_a_truncated_archive_are_refused_in_one_line(tmp_path):
    store = Store(tmp_path / "s")
    noise = tmp_path / "noise.tar.gz"
    noise.write_bytes(os.urandom(4096))
    with pytest.raises(ArchiveError, match="not a readable .tar.gz archive"):
        import_archive(store, noise)
    src = Store(tmp_path / "a")
    key = src.put(_model_spec(2), tensors={"model": {"w": torch.randn(2000)}}).key
    whole = export_archive(src, tmp_path / "whole.tar.gz", [key]).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ArchiveError, match="truncated or damaged|could not be read|not a readable"):
        import_archive(store, cut)
    assert store.keys() == []
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "transferlab.pipeline.cli",
            "store",
            "import",
            str(noise),
            "--store",
            str(store.root),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


# -- locks that cannot hang, workers that cannot outlive their parent ------------------------------


def _lock(store: Store, spec, owner: bytes, age: float = 0.0):
    path = store.root / "locks" / f"{spec_key(spec)}.lock"
    path.write_bytes(owner)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.mark.timeout(60)
def test_a_garbage_lock_is_taken_over_with_a_warning(tmp_path):
    store = Store(tmp_path)
    _lock(store, {"x": 2}, os.urandom(64) + b"\xff\xfe", age=30)
    with pytest.warns(UserWarning, match="unreadable"):
        entry = store.get_or_make({"x": 2}, lambda: {"info": {"ok": 1}}, poll=0.05)
    assert entry.info == {"ok": 1}


@pytest.mark.timeout(60)
def test_a_lock_of_another_host_expires_without_renewal_and_a_reused_pid_is_not_its_owner(
    tmp_path, monkeypatch, capsys
):
    from transferlab.store import core, locks

    monkeypatch.setattr(locks, "LOCK_LEASE", 2.0)
    monkeypatch.setattr(core, "WAIT_MESSAGE_AFTER", 0.2)
    store = Store(tmp_path)
    remote = json.dumps({"host": "elsewhere", "pid": 1, "start": "1", "time": time.time()}).encode()
    path = _lock(store, {"x": 3}, remote)
    start = time.monotonic()
    entry = store.get_or_make({"x": 3}, lambda: {"info": {"ok": 1}}, poll=0.1)
    assert (
        entry.info == {"ok": 1} and 1.5 < time.monotonic() - start < 30
    )  # waited for the lease, not forever
    assert "pid 1 on elsewhere" in capsys.readouterr().err  # and said what it waited for
    assert not path.exists()
    reused = json.dumps({"host": os.uname().nodename, "pid": os.getpid(), "start": "not-my-start", "time": 0})
    _lock(store, {"x": 4}, reused.encode())
    assert store.get_or_make({"x": 4}, lambda: {"info": {"ok": 2}}, poll=0.05).info == {"ok": 2}


def test_a_held_lock_is_renewed_while_its_owner_works(tmp_path, monkeypatch):
    from transferlab.store import locks

    monkeypatch.setattr(locks, "LOCK_LEASE", 0.4)
    store = Store(tmp_path)
    path = store.root / "locks" / f"{spec_key({'x': 5})}.lock"

    def slow():
        os.utime(path, (0, 0))  # as if written long ago: only the heartbeat makes it fresh again
        time.sleep(1.0)
        return {"info": {"age": time.time() - path.stat().st_mtime}}

    assert store.get_or_make({"x": 5}, slow).info["age"] < 0.4


WORKERS = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from transferlab.run.executors import ProcessExecutor
    def work(i, folder):
        open(os.path.join(folder, str(os.getpid())), "w").close()
        time.sleep(120)
    ProcessExecutor(2).map(work, [0, 1, 2, 3], {folder!r}, progress=False)
""")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_worker_processes_exit_when_their_parent_dies(tmp_path, how):
    proc = subprocess.Popen([sys.executable, "-c", WORKERS.format(root=str(ROOT), folder=str(tmp_path))])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.name) for p in tmp_path.iterdir()]
    assert len(workers) == 2
    proc.send_signal(how)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in _state(w)]
    assert alive == [], "workers outlived their parent"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_the_store_cleans_temporary_folders_of_dead_writers(tmp_path):
    store = Store(tmp_path)
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    host = os.uname().nodename
    gone = store.root / "tmp" / f"{'a' * 32}-{host}-{dead}-0123abcd"
    mine = store.root / "tmp" / f"{'b' * 32}-{host}-{os.getpid()}-0123abcd"
    for folder in (gone, mine):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    assert store.clean() == [gone] and mine.exists() and not gone.exists()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "transferlab.pipeline.cli",
            "store",
            "verify",
            "--store",
            str(tmp_path / "mistyped"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "no store at" in out.stderr and not (tmp_path / "mistyped").exists()


def test_a_transfer_of_a_source_made_again_differently_is_made_again(tmp_path):
    store = Store(tmp_path)
    data = DataRef.of("world.toy", num_classes=3, n_per_class=10, size=12, seed=0)
    source = SourceJob("cresnet-xs", data, recipe("synthetic-source", epochs=1, peak_epoch=0.5))
    job = TransferJob(
        source,
        DataRef.of("world.toy", num_classes=2, n_per_class=10, size=12, seed=1),
        recipe("synthetic-fixed", epochs=4, peak_epoch=1),
    )
    first = run_jobs([job], store, progress=False)[0]
    assert run_jobs([job], store, progress=False)[0].key == first.key and len(store.events()) == 2  # kept
    # the source is made again with other weights (another machine, a repaired store)
    old = store.get(source.spec())
    weights = {k: v + 0.01 if v.is_floating_point() else v for k, v in old.tensors("model").items()}
    with pytest.warns(UserWarning, match="set aside"):
        store.discard(old.key, "test: remade")
    store.put(source.spec(), tensors={"model": weights}, info=old.info)
    with pytest.warns(UserWarning, match="earlier version"):
        again = run_jobs([job], store, progress=False)[0]
    assert store.events().key.tolist().count(again.key) == 2  # the transfer was trained again
    assert again.info["inputs"] == {old.key: store.get(source.spec()).fingerprint}


@pytest.mark.timeout(60)
def test_a_process_forked_while_the_heartbeat_holds_its_guard_can_still_lock(tmp_path):
    from transferlab.store import locks

    store = Store(tmp_path)
    with locks._heartbeat._guard:  # as if the heartbeat thread were copying its list at the fork
        pid = os.fork()
        if pid == 0:  # the child: a worker process taking its first lock
            try:
                store.get_or_make({"x": 6}, lambda: {"info": {}}, poll=0.05)
            finally:
                os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and store.get({"x": 6}) is not None


def test_runs_long_enough_to_be_compiled_are_not_grouped(tmp_path, monkeypatch):
    """On the CPU a long run trains alone, compiled (grouped, cresnet-s ran slower); short runs of
    one architecture and data shape still train as one grouped module."""
    from transferlab.run import jobs as jobs_module
    from transferlab.train import Speed, device

    monkeypatch.setenv("TRANSFERLAB_WORKERS", "1")
    monkeypatch.setattr(device, "COMPILE_MIN_STEPS", 4)
    monkeypatch.setattr(device, "compiled", lambda module: module)  # what is compiled does not matter here
    chunks = []
    train_chunk = jobs_module._train_chunk
    monkeypatch.setattr(
        jobs_module, "_train_chunk", lambda chunk, *a: (chunks.append(chunk), train_chunk(chunk, *a))[1]
    )
    data = DataRef.of("world.toy", num_classes=2, n_per_class=16, size=12)  # 2 steps per epoch
    short, long = (recipe("synthetic-source", epochs=e, peak_epoch=1, batch_size=16) for e in (1, 2))
    jobs = [SourceJob("cresnet-xs", data, r, seed=s) for r in (short, long) for s in (0, 1)]
    speed = Speed(torch.device("cpu"), compile=True)
    assert [speed.compiles_in_workers(j.recipe.steps(32)) for j in jobs] == [False, False, True, True]
    entries = run_jobs(jobs, Store(tmp_path), progress=False, group_size=8, speed=speed)
    assert chunks == [jobs[:2]] and all(e is not None for e in entries)


def test_an_entry_that_lands_while_a_reader_looks_is_not_set_aside(tmp_path, monkeypatch):
    """A reader that finds no manifest and then the entry's folder has raced a writer's rename (the
    folder appears whole): it must not take the fresh entry for a broken one (a real race between
    two workers caching one data set set aside a valid entry)."""
    writer, reader = Store(tmp_path), Store(tmp_path)
    spec = {"job": "race"}
    manifest = writer.path(spec_key(spec)) / "manifest.json"
    original = Path.exists
    landed = []

    def exists(path):
        seen = original(path)
        if path == manifest and not landed:  # the writer's rename lands right after the first look
            landed.append("writing")
            monkeypatch.setattr(Path, "exists", original)
            landed.append(writer.put(spec, info={"n": 1}))
            monkeypatch.setattr(Path, "exists", exists)
        return seen

    monkeypatch.setattr(Path, "exists", exists)
    assert reader.get(spec) is None  # not there when it looked
    monkeypatch.undo()
    assert len(landed) == 2 and not list((tmp_path / "corrupt").iterdir())  # nothing set aside
    assert reader.get(spec).info["n"] == 1
