"""Every chapter notebook: clean in git, parameters cell in step with its Config, runs on smoke."""

from __future__ import annotations

import importlib
import inspect
import math
import re

import nbformat
import papermill
import pytest

from transferlab.chapters.claims import VERDICTS, read_claims, read_record
from transferlab.pipeline.book import chapter_notebooks
from transferlab.pipeline.runner import chapter_module, chapter_of

from .conftest import ROOT, pages

NOTEBOOKS = chapter_notebooks(ROOT)
IDS = [nb.stem for nb in NOTEBOOKS]
PAGES = pages()  # chapters and pages


@pytest.mark.parametrize("notebook", PAGES, ids=[p.stem for p in PAGES])
def test_committed_clean(notebook):
    nb = nbformat.read(str(notebook), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{notebook.name} is committed with outputs: clear them before committing"
            )


@pytest.mark.parametrize("notebook", PAGES, ids=[p.stem for p in PAGES])
def test_parameters_cell_matches_config(notebook):
    config_cls, presets = chapter_of(notebook)
    cell = papermill.inspect_notebook(str(notebook))
    infos = config_cls.param_infos()
    assert list(cell) == list(infos), "the parameters cell and the Config list different names"
    for name, (_, default, _) in infos.items():
        # literals, or a plain expression such as list(range(200, 229))
        literal = eval(cell[name]["default"], {})
        assert config_cls.validate({name: literal})[name] == default, name
    assert set(presets) >= {"smoke", "default", "paper"}
    tagged = [
        c
        for c in nbformat.read(str(notebook), as_version=4).cells
        if "parameters" in c.metadata.get("tags", [])
    ]
    assert len(tagged) == 1


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_runs_on_smoke_and_records_claims(smoke_book, notebook):
    executed = smoke_book / "chapters" / notebook.name
    record = read_record(executed)
    assert record["claims"], f"{notebook.name} records no claims"
    criteria = chapter_module(notebook).CRITERIA
    for claim in read_claims(executed):
        assert claim.verdict in VERDICTS and claim.source and claim.estimates, claim
        for e in claim.estimates:
            assert criteria[e.criterion.name] == e.criterion, "a claim's criterion is one of CRITERIA"
            if e.verdict != "n/a":
                assert math.isfinite(e.value) and e.low <= e.value <= e.high, (claim.key, e)
    nb = nbformat.read(str(executed), as_version=4)
    assert nb.metadata["transferlab"]["preset"] == "smoke"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_every_chapter_has_exercises_with_folded_solutions_and_a_source(notebook):
    text = "\n".join(
        c.source for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "markdown"
    )
    exercises = text[text.index("## Exercises") :]
    assert exercises.count("dropdown") >= 1, "solutions must be folded (a dropdown)"
    assert "{cite" in text.split("\n\n", 2)[1], "the first lines must cite the source reproduced"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_every_chapter_shows_how_it_is_computed_from_the_library_source(notebook):
    """A folded "How it is computed" block shows the functions that define the experiment, included
    from the library by import path (``libsource``), so the page cannot drift from the code."""
    cells = [c.source for c in nbformat.read(str(notebook), as_version=4).cells if c.cell_type == "markdown"]
    blocks = [s for s in cells if "{dropdown} How it is computed" in s]
    assert len(blocks) == 1, "one folded 'How it is computed' block per chapter"
    targets = re.findall(r"```\{libsource\} (\S+)", blocks[0])
    assert targets, "the block includes library source"
    for target in targets:
        module, _, name = target.partition(":")
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
        assert inspect.getsource(obj).strip(), target
