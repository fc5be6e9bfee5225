"""The library's shape: its import graph has no cycle and follows the layer order the README documents
(engine ← methods ← chapters ← pipeline, and inside the engine utils ← store ← world ← models ←
train ← run); every chapter satisfies the chapter contract; data functions and job specs name data by
stable names, never module paths; the book cites the sources, never a working document."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from transferlab.chapters.contract import CHAPTER_NAMES, REGISTRY_NAMES, contract_errors, is_chapter
from transferlab.pipeline.book import REAL_DATA, SUMMARY
from transferlab.pipeline.house import (
    MAX_FUNCTION_LINES,
    MAX_MODULE_LINES,
    cycles,
    import_graph,
    layer_of,
    reaches_past_init,
    sizes,
    with_drawing,
)

from .conftest import ROOT, pages

LIB = ROOT / "lib" / "transferlab"


def test_the_import_graph_has_no_cycle_and_follows_the_layers():
    graph = import_graph(LIB)
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100  # the walk found the library
    assert cycles(graph) == []
    against = sorted(f"{a} → {b}" for a, bs in graph.items() for b in bs if layer_of(b) > layer_of(a))
    assert against == [], "imports against the layer order:\n" + "\n".join(against)
    past = sorted(f"{a} → {b}" for a, bs in graph.items() for b in bs if reaches_past_init(a, b))
    assert past == [], "imports past an engine package's __init__:\n" + "\n".join(past)


def test_the_layer_check_catches_an_import_against_the_order(tmp_path):
    lib = tmp_path / "transferlab"
    for rel, text in {
        "__init__.py": "",
        "world/__init__.py": "from ..chapters import thing\n",
        "chapters/__init__.py": "",
        "chapters/thing.py": "def f():\n    from ..world import x\n",
    }.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text(text)
    graph = import_graph(lib)
    assert graph["transferlab.world"] == {"transferlab.chapters.thing"}
    assert graph["transferlab.chapters.thing"] == {"transferlab.world"}  # lazy imports count
    assert cycles(graph) == [["transferlab.chapters.thing", "transferlab.world"]]
    assert layer_of("transferlab.chapters.thing") > layer_of("transferlab.world")
    assert reaches_past_init("transferlab.chapters.thing", "transferlab.world.overlays")
    assert not reaches_past_init("transferlab.world.synthetic", "transferlab.world.overlays")


@pytest.mark.parametrize("notebook", pages(), ids=lambda p: p.stem)
def test_every_notebook_module_is_named_after_it_and_keeps_the_contract(notebook):
    meta = json.loads(notebook.read_text())["metadata"]["transferlab"]["experiment"]
    stem = notebook.stem.split("_", 1)[1] if notebook.stem[:2].isdigit() else notebook.stem
    assert meta == f"transferlab.chapters.{stem}"
    module = importlib.import_module(meta)
    assert contract_errors(module) == []
    assert is_chapter(module) == (notebook.name not in (SUMMARY, REAL_DATA))
    source = notebook.read_text()
    assert f"from transferlab.chapters import {stem} as chapter" in source


def test_the_contract_names_what_a_chapter_lacks():
    import types

    from transferlab.chapters import linear

    broken = types.ModuleType("transferlab.chapters.broken")
    broken.Config, broken.PRESETS, broken.SOURCE = linear.Config, {"smoke": {}, "default": {}}, "thesis"
    errors = contract_errors(broken)
    assert any("PRESETS must name" in e for e in errors)
    assert any("lacks" in e and "PROTOCOL" in e and "run" in e for e in errors)


def _walk(spec):
    if isinstance(spec, dict):
        for k, v in spec.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(spec, (list, tuple)):
        for v in spec:
            yield from _walk(v)


def test_job_specs_name_data_by_registered_names_never_module_paths():
    from transferlab.chapters import backdoor, influences, inheritance, stimuli
    from transferlab.chapters.backdoor import jobs as backdoor_jobs
    from transferlab.chapters.influences import jobs as influences_jobs
    from transferlab.chapters.inheritance import jobs as inheritance_jobs
    from transferlab.chapters.params import resolve
    from transferlab.chapters.stimuli import jobs as stimuli_jobs
    from transferlab.world import data_functions

    def smoke(m):
        return m.Config(**resolve(m.Config, m.PRESETS, "smoke"))

    specs = [j.spec() for j in backdoor_jobs.plan(smoke(backdoor)).transfers.values()]
    specs += [j.spec() for j in influences_jobs.plan(smoke(influences)).runs]
    specs += [stimuli_jobs.foundation_job(smoke(stimuli)).spec()]
    cfg = smoke(inheritance)
    specs += [
        inheritance_jobs.student_job(cfg, inheritance_jobs.StudentKey("pets", k, m, 0, 10)).spec()
        for k in ("clean", ("badnets", "pets"), ("latent", "pets"))
        for m in ("delta", "remos", "retrain")
    ]
    names = {v for spec in specs for k, v in _walk(spec) if k == "fn"}
    assert names >= {
        "world.synthetic",
        "backdoor.triggered_source",
        "backdoor.debiased_target",
        "source.class_subset",
        "defects.badnets",
    }
    assert names <= set(data_functions())
    text = json.dumps(specs)
    assert "transferlab." not in text and ":" not in "".join(names)


def test_a_fresh_process_rebuilds_a_chapter_data_function_from_its_reference(tmp_path):
    """A Dask worker unpickles a job whose data a chapter module registered, without importing it."""
    import pickle

    from transferlab.chapters.base import class_subset_ref, world_ref
    from transferlab.world import World

    world = World(size=12, superclasses=4, fine=2, source_train=5, source_test=2, cache=None)
    ref = class_subset_ref(world_ref(world, "source"), (1, 3))
    blob = tmp_path / "ref.pkl"
    blob.write_bytes(pickle.dumps(ref))
    code = (
        "import pickle, sys; ref = pickle.loads(open(sys.argv[1], 'rb').read()); data = ref.load(); "
        "print(sorted(set(data.y.tolist())), len(data.classes), 'transferlab.chapters.base' in sys.modules)"
    )
    env = {**os.environ, "TRANSFERLAB_STORE": str(tmp_path / "store")}
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[0,", "1]", "2", "True"]


def test_no_page_cites_the_teams_working_document():
    files = [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("book/*.md"), ROOT / "README.md", *LIB.rglob("*.py")]
    assert [str(f) for f in files if "PROTOCOLS" in f.read_text()] == []


def test_the_executed_notebook_cache_sees_a_change_anywhere_in_the_library(tmp_path, monkeypatch):
    import shutil

    import transferlab
    from transferlab.pipeline import book

    copy = tmp_path / "transferlab"
    shutil.copytree(LIB, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(transferlab, "__file__", str(copy / "__init__.py"))
    fingerprints = []
    for edited in (
        None,
        copy / "world" / "toy.py",
        copy / "chapters" / "linear.py",
        copy / "run" / "jobs.py",
    ):
        if edited is not None:
            edited.write_text(edited.read_text() + "\n# an edit\n")
        book.library_fingerprint.cache_clear()
        fingerprints.append(book.library_fingerprint())
    book.library_fingerprint.cache_clear()
    assert len(set(fingerprints)) == len(fingerprints)


@pytest.mark.parametrize("script", sorted((ROOT / "bench").glob("bench_*.py")), ids=lambda p: p.stem)
def test_every_benchmark_imports_what_exists(script):
    """`make bench` is not part of the tests: at least every name a benchmark imports must exist."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_bench_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # its main() runs only as a script


def test_no_module_or_function_a_reader_cannot_hold():
    """A module past ~800 lines becomes a package (a chapter: config, jobs, analysis, verdicts,
    figures, text); a function past ~80 lines becomes named pieces."""
    modules, functions = sizes(LIB)
    assert len(modules) > 40 and len(functions) > 300  # the walk found the library
    big = {m: n for m, n in modules.items() if n > MAX_MODULE_LINES}
    long = {f: n for f, n in functions.items() if n > MAX_FUNCTION_LINES}
    assert big == {}, f"modules over {MAX_MODULE_LINES} lines: {big}"
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_size_check_catches_a_long_function(tmp_path):
    lib = tmp_path / "transferlab"
    lib.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (lib / "big.py").write_text(
        f"class A:\n    def f(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n"
    )
    modules, functions = sizes(lib)
    assert (
        functions["transferlab.big:A.f"] > MAX_FUNCTION_LINES
        and modules["transferlab.big"] > MAX_FUNCTION_LINES
    )


def test_a_chapter_package_exposes_the_contract_and_what_its_page_shows():
    """A chapter that outgrew one module is a package whose ``__init__`` exposes exactly the chapter
    contract and the names its notebook calls (``chapter.name``); its pieces stay inside."""
    packages = [p for p in pages() if (LIB / "chapters" / chapter_stem(p) / "__init__.py").exists()]
    assert len(packages) >= 6
    for notebook in packages:
        module = importlib.import_module(f"transferlab.chapters.{chapter_stem(notebook)}")
        called = set(re.findall(r"\bchapter\.(\w+)", notebook_code(notebook)))
        registered = set(REGISTRY_NAMES) if getattr(module, "REGISTRY", None) is not None else set()
        assert set(module.__all__) == set(CHAPTER_NAMES) | registered | called, notebook.name
        public = {n for n in vars(module) if not n.startswith("_")} - set(module.__all__)
        submodules = {n for n in public if inspect.ismodule(getattr(module, n))}
        assert public - submodules - {"annotations"} == set(), (
            notebook.name,
            public - submodules,
        )


def chapter_stem(notebook: Path) -> str:
    return notebook.stem.split("_", 1)[1] if notebook.stem[:2].isdigit() else notebook.stem


def notebook_code(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_the_drawing_of_the_wings_in_contributing_is_current():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert with_drawing(text, LIB) == text, (
        "the import graph changed: run `python -m transferlab.pipeline.house CONTRIBUTING.md`"
    )
    assert "flowchart" in text and "pipeline --> chapters" in text
