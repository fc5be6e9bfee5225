"""The library's shape: its import graph has no cycle and follows the layer order the README documents
(engine ← methods ← chapters ← pipeline, and inside the engine params/utils ← store ← world ← models ←
train ← run); every chapter satisfies the chapter contract; data functions and job specs name data by
stable names, never module paths; the book cites the sources, never a working document."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transferlab.chapters.contract import contract_errors, is_chapter
from transferlab.pipeline.book import REAL_DATA, SUMMARY, chapter_notebooks

from .conftest import ROOT

LIB = ROOT / "lib" / "transferlab"
# Each module belongs to the first layer whose prefix names it; a module may import its own layer
# and the layers before it, never one after.
LAYERS = [
    ("leaves", ("transferlab", "transferlab.utils", "transferlab.params")),
    ("store", ("transferlab.store",)),
    ("world", ("transferlab.world",)),
    ("models", ("transferlab.models",)),
    ("train", ("transferlab.train",)),
    ("run", ("transferlab.run",)),
    ("methods", ("transferlab.methods",)),
    ("chapters", ("transferlab.chapters",)),
    ("pipeline", ("transferlab.pipeline",)),
]


def module_name(path: Path, lib: Path) -> str:
    parts = path.relative_to(lib.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(lib: Path) -> dict[str, set[str]]:
    """Module → the library modules it imports (at any depth of the file, lazy imports included)."""
    modules = {module_name(p, lib): p for p in lib.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [
                    f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def layer_of(module: str) -> int:
    best = max(
        (
            (i, len(p))
            for i, (_, prefixes) in enumerate(LAYERS)
            for p in prefixes
            if module == p or module.startswith(p + ".")
        ),
        key=lambda x: x[1],
    )
    return best[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle_and_follows_the_layers():
    graph = import_graph(LIB)
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100  # the walk found the library
    assert cycles(graph) == []
    against = sorted(f"{a} → {b}" for a, bs in graph.items() for b in bs if layer_of(b) > layer_of(a))
    assert against == [], "imports against the layer order:\n" + "\n".join(against)
    past = sorted(f"{a} → {b}" for a, bs in graph.items() for b in bs if reaches_past_init(a, b))
    assert past == [], "imports past an engine package's __init__:\n" + "\n".join(past)


ENGINE_PACKAGES = (
    "transferlab.store",
    "transferlab.world",
    "transferlab.models",
    "transferlab.train",
    "transferlab.run",
)


def reaches_past_init(importer: str, imported: str) -> bool:
    """An import of an engine package's inner module from outside that package (its API is its __init__)."""
    return any(
        imported.startswith(p + ".") and not (importer == p or importer.startswith(p + "."))
        for p in ENGINE_PACKAGES
    )


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


@pytest.mark.parametrize(
    "notebook",
    [*chapter_notebooks(ROOT), ROOT / "notebooks" / SUMMARY, ROOT / "notebooks" / REAL_DATA],
    ids=lambda p: p.stem,
)
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
    from transferlab.params import resolve
    from transferlab.world import data_functions

    def smoke(m):
        return m.Config(**resolve(m.Config, m.PRESETS, "smoke"))

    specs = [j.spec() for j in backdoor.plan(smoke(backdoor)).transfers.values()]
    specs += [j.spec() for j in influences.plan(smoke(influences)).runs]
    specs += [stimuli.foundation_job(smoke(stimuli)).spec()]
    cfg = smoke(inheritance)
    specs += [
        inheritance.student_job(cfg, inheritance.StudentKey("pets", k, m, 0, 10)).spec()
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
