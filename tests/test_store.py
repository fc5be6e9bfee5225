"""The store: keys, verified entries, corrupt files remade, archives, and killed runs resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time

import pandas as pd
import pytest
import torch

from transferlab.run import SourceJob, TransferJob, load_model, run_jobs
from transferlab.store import CorruptEntry, Store, export_archive, import_archive, spec_key
from transferlab.train import recipe
from transferlab.world import DataRef

from .conftest import ROOT


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
    keys = [src.put({"i": i}, tensors={"model": {"w": torch.full((3,), float(i))}}).key for i in range(3)]
    archive = export_archive(src, tmp_path / "models.tar.gz", keys[:2])
    dst = Store(tmp_path / "b")
    assert import_archive(dst, archive) == {"imported": keys[:2], "skipped": []}
    assert import_archive(dst, archive)["skipped"] == keys[:2]
    assert torch.equal(dst.get({"i": 1}).tensors()["w"], torch.ones(3))
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
    assert other.get({"i": 0}) is None
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
    store.put({"i": 1}, tensors={"model": {"w": torch.ones(2)}})
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
