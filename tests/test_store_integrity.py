"""Store integrity, round two: entries that hold what their kind needs, manifests that rot, archives
that pass every checksum but are still wrong, concurrent and interrupted imports, and provenance."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tarfile

import pytest
import torch

from transferlab.pipeline import cli
from transferlab.run import SourceJob, run_jobs
from transferlab.store import (
    ArchiveError,
    CorruptEntry,
    SettingError,
    Store,
    declare_kind,
    export_archive,
    import_archive,
    spec_key,
)
from transferlab.store.core import MANIFEST, _temporary_name, manifest_checksum, write_manifest
from transferlab.train import recipe
from transferlab.world import DataRef

declare_kind("test-weights", files=("model.safetensors",), info=("arch",))


def _put(store: Store, i: int = 0, weights: torch.Tensor | None = None):
    w = torch.ones(4) if weights is None else weights
    return store.put({"job": "test-weights", "i": i}, tensors={"model": {"w": w}}, info={"arch": "toy"})


def _rewrite(entry_path, change) -> None:
    """Edit an entry's manifest as a damaged disk or an attacker would (its checksum not updated)."""
    manifest = json.loads((entry_path / MANIFEST).read_text())
    (entry_path / MANIFEST).write_text(json.dumps(change(manifest)))


def _archive_of(tmp_path, entries: dict[str, dict], payloads: dict[str, bytes], name="a.tar.gz"):
    """An archive of manifests as given (key → manifest) and member payloads (path → bytes)."""
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        members = {f"{k}/{MANIFEST}": json.dumps(m).encode() for k, m in entries.items()} | payloads
        index = {"entries": [{"key": k, "spec": m["spec"], "files": m["files"]} for k, m in entries.items()]}
        members["transferlab-archive.json"] = json.dumps(index).encode()
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(spec: dict, files: dict, info: dict) -> dict:
    from transferlab import __version__

    return {"key": spec_key(spec), "spec": spec, "version": __version__, "files": files, "info": info}


# -- 1. an entry must hold what its kind needs ------------------------------------------------------


def test_an_archive_of_a_model_entry_without_weights_is_refused(tmp_path):
    job = SourceJob(
        "cresnet-xs",
        DataRef.of("world.toy", num_classes=2, n_per_class=4, size=8),
        recipe("synthetic-source"),
    )
    spec = json.loads(json.dumps(job.spec()))
    manifest = _manifest(spec, {}, {"arch": "cresnet-xs", "num_classes": 2})
    archive = _archive_of(tmp_path, {manifest["key"]: manifest}, {})
    store = Store(tmp_path / "s")
    with pytest.raises(ArchiveError, match="'source' entry without model.safetensors"):
        import_archive(store, archive)
    assert store.keys() == []


def test_a_local_entry_missing_what_its_kind_needs_is_set_aside_and_remade(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(ValueError, match="without model.safetensors"):  # a writer cannot make one
        store.put({"job": "test-weights", "i": 9}, info={"arch": "toy"})
    entry = _put(store)
    (entry.path / "model.safetensors").unlink()
    _rewrite(entry.path, lambda m: {**m, "files": {}, "checksum": manifest_checksum({**m, "files": {}})})
    with pytest.warns(UserWarning, match="without model.safetensors"):
        assert Store(tmp_path).get(entry.key) is None
    remade = Store(tmp_path).get_or_make(
        entry.spec, lambda: {"tensors": {"model": {"w": torch.ones(4)}}, "info": {"arch": "toy"}}
    )
    assert remade.key == entry.key and torch.equal(remade.tensors()["w"], torch.ones(4))


def test_the_command_line_refuses_an_entry_of_a_kind_the_library_does_not_make(tmp_path, capsys):
    src = Store(tmp_path / "a")
    odd = src.put({"job": "no-such-kind", "i": 1}, blobs={"payload": b"x"})
    archive = export_archive(src, tmp_path / "odd.tar.gz")
    dst = Store(tmp_path / "b")
    assert cli.main(["store", "import", str(archive), "--store", str(dst.root)]) == 1
    err = capsys.readouterr().err
    assert "a kind this library does not make ('no-such-kind'" in err and dst.keys() == []
    # from Python, a kind no module of this process declared is left to the process that reads it
    assert import_archive(dst, archive)["imported"] == [odd.key]


# -- 2. an archive bomb ---------------------------------------------------------------------------


def test_an_archive_larger_than_the_limit_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    src = Store(tmp_path / "a")
    _put(src, weights=torch.zeros(1 << 20))  # 4 MB of zeros: a few kB compressed
    archive = export_archive(src, tmp_path / "bomb.tar.gz")
    assert archive.stat().st_size < 100_000
    dst = Store(tmp_path / "b")
    monkeypatch.setenv("TRANSFERLAB_ARCHIVE_MAX_BYTES", str(1 << 20))
    with pytest.raises(ArchiveError, match="over the limit of 1048576"):
        import_archive(dst, archive)
    assert dst.keys() == [] and list((dst.root / "tmp").iterdir()) == []
    monkeypatch.setenv("TRANSFERLAB_ARCHIVE_MAX_BYTES", "lots")
    with pytest.raises(SettingError, match="TRANSFERLAB_ARCHIVE_MAX_BYTES='lots'"):
        import_archive(dst, archive)
    monkeypatch.delenv("TRANSFERLAB_ARCHIVE_MAX_BYTES")
    assert len(import_archive(dst, archive)["imported"]) == 1  # the default limit is gigabytes


# -- 3. provenance of imported entries --------------------------------------------------------------


def test_an_imported_entry_names_its_archive_in_the_store_and_on_the_page(tmp_path, monkeypatch, capsys):
    from transferlab.pipeline import pages
    from transferlab.store import read_imported
    from transferlab.store.core import IMPORTED_LOG

    src = Store(tmp_path / "a")
    made_here = _put(src, 0)
    archive = export_archive(src, tmp_path / "models.tar.gz")
    dst = Store(tmp_path / "b")
    import_archive(dst, archive)
    _put(dst, 1)  # made here: no origin
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    entry = Store(dst.root).get(made_here.key)
    assert entry.origin["sha256"] == digest and entry.origin["archive"] == "models.tar.gz"
    assert cli.main(["store", "ls", "--store", str(dst.root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = {line.split()[0]: "imported from models.tar.gz" in line for line in lines}
    assert shown == {made_here.key: True, _put(dst, 1).key: False}
    # what a run reads of it is noted (in any of its processes), and its page says so
    log = tmp_path / "imported.log"
    monkeypatch.setenv(IMPORTED_LOG, str(log))
    reader = Store(dst.root)
    reader.get(made_here.key), reader.get({"job": "test-weights", "i": 1})
    noted = read_imported(log)
    assert [n["key"] for n in noted] == [made_here.key] and noted[0]["sha256"] == digest
    text = pages.imported_markdown(noted)
    assert "1 store entries imported" in text and digest[:16] in text and "test-weights" in text


# -- 4, 5. manifests that rot or escape ---------------------------------------------------------------


def _flip_a_bit(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x80  # a high bit: invalid UTF-8 in a JSON text
    path.write_bytes(bytes(data))


DAMAGE = {
    "bit flip": lambda e: _flip_a_bit(e.path / MANIFEST),
    "empty object": lambda e: (e.path / MANIFEST).write_text("{}"),
    "a list": lambda e: (e.path / MANIFEST).write_text("[]"),
    "no file list": lambda e: _rewrite(e.path, lambda m: {k: v for k, v in m.items() if k != "files"}),
    "info changed": lambda e: _rewrite(e.path, lambda m: {**m, "info": {"arch": "other"}}),
    "escaping file name": lambda e: _rewrite(
        e.path, lambda m: {**m, "files": {**m["files"], "../../../etc/passwd": "0" * 64}}
    ),
    "payload bit flip": lambda e: _flip_a_bit(e.path / "model.safetensors"),
    "missing payload": lambda e: (e.path / "model.safetensors").unlink(),
}


def test_store_verify_sets_aside_exactly_the_damaged_entries_and_a_rerun_remakes_them(tmp_path, capsys):
    store = Store(tmp_path)
    entries = {name: _put(store, i) for i, name in enumerate(["sound", *DAMAGE])}
    for name, damage in DAMAGE.items():
        damage(entries[name])
    half = store.root / "objects" / "ff" / ("f" * 32)  # a half-written entry: a folder, no manifest
    half.mkdir(parents=True)
    assert cli.main(["store", "verify", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"1 of {len(DAMAGE) + 2} entries verified; {len(DAMAGE) + 1} damaged" in out
    for name in DAMAGE:
        assert entries[name].key in out, name  # each damaged entry is named
    assert half.name in out and store.keys() == [entries["sound"].key]
    assert len(list((tmp_path / "corrupt").iterdir())) == len(DAMAGE) + 1
    with pytest.raises(CorruptEntry, match="not a valid entry"):
        export_archive(Store(tmp_path), tmp_path / "x.tar.gz", [entries["escaping file name"].key])
    fresh = Store(tmp_path)
    for i, name in enumerate(["sound", *DAMAGE]):
        again = fresh.get_or_make(
            {"job": "test-weights", "i": i},
            lambda: {"tensors": {"model": {"w": torch.ones(4)}}, "info": {"arch": "toy"}},
        )
        assert again.key == entries[name].key and again.info == {"arch": "toy"}


def test_a_chapter_job_runs_again_after_its_manifest_rots(tmp_path):
    store = Store(tmp_path)
    job = SourceJob(
        "cresnet-xs",
        DataRef.of("world.toy", num_classes=2, n_per_class=8, size=8),
        recipe("synthetic-source", epochs=1, peak_epoch=0.5),
    )
    first = run_jobs([job], store, progress=False)[0]
    _flip_a_bit(first.path / MANIFEST)
    with pytest.warns(UserWarning, match="unreadable manifest"):
        again = run_jobs([job], Store(tmp_path), progress=False)[0]
    assert again.key == first.key and again.info["arch"] == "cresnet-xs"


# -- 6. concurrent and interrupted imports ------------------------------------------------------------


def _import(store_root: str, archive: str, results) -> None:
    done = import_archive(Store(store_root), archive)
    results.put((len(done["imported"]), len(done["skipped"])))


def test_concurrent_imports_of_one_archive_all_succeed_and_leftovers_are_cleaned(tmp_path):
    src = Store(tmp_path / "a")
    keys = [_put(src, i, torch.randn(50_000)).key for i in range(6)]
    archive = export_archive(src, tmp_path / "m.tar.gz")
    dst = Store(tmp_path / "b")
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    left = dst.root / "tmp" / _temporary_name("import").replace(str(os.getpid()), str(dead))
    (left / keys[0]).mkdir(parents=True)
    (left / keys[0] / "model.safetensors").write_bytes(b"half")  # an import killed mid-way
    ctx = multiprocessing.get_context("fork")  # three processes at once, without starting three interpreters
    results = ctx.Queue()
    procs = [ctx.Process(target=_import, args=(str(dst.root), str(archive), results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    counts = [results.get(timeout=5) for _ in procs]
    assert sum(c[0] for c in counts) == len(keys) and all(sum(c) == len(keys) for c in counts)
    assert sorted(dst.keys()) == sorted(keys) and all(Store(dst.root).get(k) for k in keys)
    assert not left.exists() and list((dst.root / "tmp").iterdir()) == []


def test_store_check_sets_aside_an_imported_model_whose_weights_are_not_what_it_records(tmp_path, capsys):
    """The key hashes the spec, not the weights: an archive can carry other weights under a valid
    key. `store check` measures each imported model on the test data its spec names."""
    data = DataRef.of("world.toy", num_classes=3, n_per_class=40, size=16)
    test = DataRef.of("world.toy", num_classes=3, n_per_class=40, size=16, seed=1)
    jobs = [
        SourceJob(
            "cresnet-xs", data, recipe("synthetic-scratch", epochs=e, peak_epoch=min(e, 2)), eval_data=test
        )
        for e in (30, 1)  # learns the task (~0.95); barely trained (~chance)
    ]
    src = Store(tmp_path / "a")
    good, other = run_jobs(jobs, src, progress=False)
    assert good.info["test_accuracy"] - other.info["test_accuracy"] > 0.1, "the two models must differ"
    # the sender swaps the weights of `good` for those of `other` and writes a manifest that fits
    swapped = good.path / "model.safetensors"
    swapped.write_bytes((other.path / "model.safetensors").read_bytes())
    manifest = json.loads((good.path / MANIFEST).read_text())
    manifest["files"]["model.safetensors"] = hashlib.sha256(swapped.read_bytes()).hexdigest()
    write_manifest(good.path, manifest)
    archive = export_archive(Store(src.root), tmp_path / "m.tar.gz")
    dst = Store(tmp_path / "b")
    assert len(import_archive(dst, archive)["imported"]) == 2  # every checksum holds
    assert cli.main(["store", "check", "--store", str(dst.root)]) == 0
    out = capsys.readouterr().out
    assert f"{good.key} measured test accuracy" in out and f"{other.key} matches" in out
    assert "checked 2 models; 1 set aside" in out
    assert Store(dst.root).get(good.key) is None and Store(dst.root).get(other.key) is not None
