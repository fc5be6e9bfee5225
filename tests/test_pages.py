"""The generated parts of a chapter page (rerun command, parameter table, real data, paper preset),
the executed-notebook cache of the book build, and worker-process training."""

from __future__ import annotations

import json
import os
import shlex
import shutil

import nbformat
import pytest
import torch

from transferlab.chapters import backdoor, linear
from transferlab.pipeline import book, cli, pages
from transferlab.pipeline.book import SUMMARY, execute_chapters
from transferlab.pipeline.runner import parse_overrides
from transferlab.run import SourceJob, load_model, run_jobs
from transferlab.run.executors import ProcessExecutor, local_workers
from transferlab.store import Store
from transferlab.train import recipe
from transferlab.world import DataRef

from .conftest import ROOT


def test_rerun_command_parses_back_to_the_same_parameters():
    overrides = {
        "seeds": (0, 3),
        "trigger_position": "top-left",
        "trigger_colour": (0, 0, 255),
        "weight_decays": (0.0005, 0.05),
        "data_dir": "",
    }
    command = pages.rerun_command("notebooks/02_backdoor.ipynb", "smoke", overrides)
    args = cli._parser().parse_args(shlex.split(command)[1:])
    assert (args.notebook.name, args.preset) == ("02_backdoor.ipynb", "smoke")
    assert parse_overrides(backdoor.Config, [tuple(p) for p in args.param]) == overrides


def test_parameter_table_lists_every_parameter_and_marks_changed_ones():
    values = {"steps": 123}
    table = pages.parameter_table(linear.Config, linear.PRESETS, values).splitlines()
    names = [row.split("|")[1].strip().strip("`") for row in table[2:]]
    assert names == list(linear.Config.param_infos())
    steps = next(row for row in table if row.startswith("| `steps`"))
    assert "**`123`**" in steps and "`2000`" in steps and "SGD steps" in steps
    assert "**" not in next(row for row in table if row.startswith("| `lr`"))


@pytest.mark.parametrize("module", [backdoor, linear])
def test_data_section_names_the_folders_and_the_paper_preset(module):
    text = pages.data_markdown("notebooks/x.ipynb", module, {})
    assert "## Run it on your data" in text and "## The `paper` preset" in text
    for name in module.PRESETS["paper"]:
        assert f"| `{name}` |" in text
    if getattr(module, "DATA_PARTS", None):
        assert "DATA/imagenet/" in text and "-p data_dir /path/to/DATA" in text


@pytest.mark.notebook
def test_book_build_reuses_an_executed_notebook_until_something_changes(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    for name in ("01_linear.ipynb", SUMMARY):
        shutil.copy(ROOT / "notebooks" / name, root / "notebooks" / name)
    store, out = Store(tmp_path / "store"), tmp_path / "book"
    first = execute_chapters(root, out, "smoke", progress=False, store=store)
    summary = (out / "chapters" / SUMMARY).read_bytes()

    def no_run(*args, **kwargs):
        raise AssertionError("executed although nothing changed")

    monkeypatch.setattr(book, "run_notebook", no_run)
    (out / "chapters").rename(tmp_path / "old")
    assert execute_chapters(root, out, "smoke", progress=False, store=store) == first
    assert (out / "chapters" / SUMMARY).read_bytes() == summary
    nb = nbformat.read(str(root / "notebooks" / "01_linear.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("An edit."))
    nbformat.write(nb, str(root / "notebooks" / "01_linear.ipynb"))
    with pytest.raises(AssertionError, match="nothing changed"):
        execute_chapters(root, out, "smoke", progress=False, store=store)
    with pytest.raises(AssertionError, match="nothing changed"):  # --rerun executes anyway
        execute_chapters(root, out, "smoke", progress=False, store=store, rerun=True)


def _toy_jobs(n):
    r = recipe("synthetic-source", epochs=1, peak_epoch=0.5, batch_size=16, lr=0.05)
    return [
        SourceJob("cresnet-xs", DataRef.of("world.toy", num_classes=3, n_per_class=8 + i, size=12), r, seed=i)
        for i in range(n)
    ]


def test_worker_processes_train_the_same_models_as_this_process(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_WORKERS", "2")
    jobs = _toy_jobs(3)
    pooled = run_jobs(jobs, Store(tmp_path / "p"), progress=False, group_size=1)
    monkeypatch.setenv("TRANSFERLAB_WORKERS", "1")
    alone = run_jobs(jobs, Store(tmp_path / "a"), progress=False, group_size=1)
    pids = {json.loads((e.path / "manifest.json").read_text())["pid"] for e in pooled}
    assert os.getpid() not in pids  # trained by the workers
    for p, a in zip(pooled, alone):
        for name, w in load_model(p).state_dict().items():
            if w.dtype.is_floating_point:
                torch.testing.assert_close(
                    w, load_model(a).state_dict()[name], atol=2e-3, rtol=2e-3, msg=name
                )


def _die(_):
    os._exit(3)


def test_a_dead_worker_process_gives_a_clear_error(monkeypatch):
    with pytest.raises(RuntimeError, match="worker process died.*run the same call again"):
        ProcessExecutor(2).map(_die, [1, 2], progress=False)
    assert ProcessExecutor(2).map(abs, [-1, -2], progress=False) == [1, 2]  # a fresh pool after it
    monkeypatch.setenv("TRANSFERLAB_WORKERS", "two")
    with pytest.raises(ValueError, match="TRANSFERLAB_WORKERS"):
        local_workers()
