"""A real image data set end to end: scikit-learn's handwritten digits written in the real layouts
(transferlab.world.digits), chapters run on it with `data_dir`, and folders missing a part refused
before any compute, with what to do."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from transferlab.chapters import backdoor, wild
from transferlab.chapters import world as tour
from transferlab.chapters.claims import read_claims, read_record
from transferlab.chapters.contract import fit_to_folder, needed_parts
from transferlab.chapters.params import ParameterError, resolve
from transferlab.pipeline.runner import check_folder, run_notebook
from transferlab.world import RealWorld, parts_present, write_digits_folder

from .conftest import ROOT


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits_folder(tmp_path_factory.mktemp("digits"))


def test_the_digits_are_written_in_the_layouts_the_adapters_read(digits):
    assert parts_present(digits) == ("source", "objects", "pets")
    world = RealWorld(digits, size=16, cache=None)
    source = world.source("train")
    assert source.classes == ("zero", "one", "two", "three", "four", "five")
    assert set(source.superclasses) == {"dog", "other"}
    objects, pets = world.target("objects", "test"), world.target("pets", "test")
    assert objects.classes == ("six", "seven", "eight", "nine")  # CIFAR's label order
    assert set(pets.classes) == set(objects.classes)  # the same digits (an image folder sorts by name)
    assert len(world.summary()) == 3 and source.x.float().std() > 20  # real strokes, not blank images


def test_parameters_are_fitted_to_the_parts_the_folder_has(digits):
    params = resolve(backdoor.Config, backdoor.PRESETS, "default", {"data_dir": str(digits)})
    # default targets (objects, flowers, pets): flowers is not there; nobody set them, so they are fitted
    assert fit_to_folder(backdoor, params, str(digits), set()) == {"targets": ("objects", "pets")}
    # a target the user named is never changed: the check refuses it with what to do instead
    explicit = {**params, "targets": ("objects", "flowers"), "sweep_target": "objects"}
    assert fit_to_folder(backdoor, explicit, str(digits), {"targets"}) == {}
    with pytest.raises(ParameterError, match=r"(?s)no flowers102/.*'targets'.*-p targets objects"):
        check_folder(backdoor, explicit)


def test_a_folder_missing_a_part_is_refused_before_any_cell_runs(digits, tmp_path):
    pets_only = tmp_path / "pets-only"
    shutil.copytree(digits / "imagenet", pets_only / "imagenet")
    shutil.copytree(digits / "pets", pets_only / "pets")
    params = resolve(backdoor.Config, backdoor.PRESETS, "default", {"data_dir": str(pets_only)})
    # both the list of targets and the sweep's single target follow the folder
    assert fit_to_folder(backdoor, params, str(pets_only), set()) == {
        "targets": ("pets",),
        "sweep_target": "pets",
    }
    assert set(needed_parts(backdoor, {**params, "targets": ("pets",), "sweep_target": "pets"})) == {
        "source",
        "pets",
    }
    out = tmp_path / "out.ipynb"
    with pytest.raises(ParameterError, match=r"(?s)no cifar10/.*Or run without it: -p targets pets"):
        run_notebook(
            ROOT / "notebooks" / "02_backdoor.ipynb",
            out,
            preset="smoke",
            overrides={"data_dir": str(pets_only), "targets": ("objects", "pets")},
            progress=False,
        )
    assert not out.exists()  # refused before papermill started
    no_source = tmp_path / "no-source"
    shutil.copytree(digits / "pets", no_source / "pets")
    params = resolve(wild.Config, wild.PRESETS, "default", {"data_dir": str(no_source)}, cross_checks=False)
    with pytest.raises(ParameterError, match=r"(?s)no imagenet/.*the 'source' part"):
        check_folder(wild, {**params, **fit_to_folder(wild, params, str(no_source), set())})


@pytest.mark.notebook
@pytest.mark.timeout(900)
def test_chapters_0_and_2_run_on_the_digits(digits, tmp_path):
    """The premise check and the backdoor chapter on real images, end to end (smoke preset)."""

    def run(name: str):
        return run_notebook(
            ROOT / "notebooks" / name,
            tmp_path / name,
            preset="smoke",
            overrides={"data_dir": str(digits)},
            progress=False,
        )

    out = run("00_world.ipynb")
    claims = {c.key for c in read_claims(out)}
    assert claims == {
        f"{t}-{m}" for t in ("objects", "pets") for m in ("fixed", "full")
    }  # fitted: no flowers
    nb = nbformat.read(str(out), as_version=4)
    text = "\n".join(
        o.get("text", "") + "".join(str(o.get("data", {}).get(k, "")) for k in ("text/html", "text/markdown"))
        for c in nb.cells
        for o in c.get("outputs", [])
    )
    assert "zero, one, two" in text and "Not shown" in text  # the folder's classes; synthetic-only parts said
    assert any("fitted to the parts" in c.source for c in nb.cells if c.cell_type == "markdown")
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]

    out = run("02_backdoor.ipynb")
    record = read_record(out)
    assert record["metrics"]["seeds"] == len(backdoor.PRESETS["smoke"]["seeds"])
    a = {c.key: c for c in read_claims(out)}["a"]
    assert [e.label for e in a.estimates] == ["objects", "pets"]
    assert all(e.verdict != "n/a" for e in a.estimates)  # measured on the digits
    assert tour.Config(data_dir=str(digits)).data_dir  # the tour takes a data folder


def test_a_single_target_is_fitted_only_when_the_folder_leaves_one_choice(digits, tmp_path):
    from transferlab.chapters import stimuli

    params = resolve(
        stimuli.Config, stimuli.PRESETS, "default", {"data_dir": str(digits)}, cross_checks=False
    )
    assert params["target"] == "flowers"  # (its cross checks read the target: they come after the folder's)
    assert fit_to_folder(stimuli, params, str(digits), set()) == {}  # objects or pets: the user's choice
    with pytest.raises(ParameterError, match=r"(?s)no flowers102/.*-p target <one of objects, pets>"):
        check_folder(stimuli, params)
    one = tmp_path / "one-target"
    shutil.copytree(digits / "imagenet", one / "imagenet")
    shutil.copytree(digits / "pets", one / "pets")
    assert fit_to_folder(stimuli, params, str(one), set()) == {"target": "pets"}


@pytest.mark.timeout(600)
def test_chapter_6_on_the_digits_draws_no_empty_panel(digits, tmp_path, monkeypatch):
    """On real data there is no planted truth: the truth panel and the leaks figure are left out
    with a sentence, and no panel is drawn empty (no legend warning in the page)."""
    import warnings

    from transferlab.chapters import influences

    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "store"))
    params = resolve(influences.Config, influences.PRESETS, "smoke", {"data_dir": str(digits)})
    results = influences.run(influences.Config(**params), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = influences.figure_convergence(results)
    assert len(fig.axes) == 2  # bootstrap std and LDS; no precision against a truth that does not exist
    assert (
        influences.figure_copies(results, "leaks") is None and influences.figure_influenced(results) is None
    )
    verdicts = {c.key: c.verdict for c in influences.claims(results).claims}
    assert "n/a" in verdicts.values()  # the truth claims are not applicable, never "contradicted"


def test_the_page_knows_every_chapter():
    from transferlab.chapters import real_data
    from transferlab.pipeline.book import chapter_notebooks

    assert list(real_data.CHAPTERS) == [nb.stem for nb in chapter_notebooks(ROOT)]
    for stem, module in real_data.CHAPTERS.items():
        assert stem.split("_", 1)[1] == module
