"""The papermill runner and the command line: validation before work, clear failures, reruns."""

from __future__ import annotations

import json

import nbformat
import pytest

from transferlab.chapters import claims
from transferlab.chapters.params import ParameterError
from transferlab.pipeline import cli
from transferlab.pipeline.runner import NotebookFailed, chapter_of, run_notebook

from .conftest import ROOT

LINEAR = ROOT / "notebooks" / "01_linear.ipynb"


def _notebook(path, *sources, experiment="transferlab.chapters.linear"):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if experiment:
        nb.metadata["transferlab"] = {"experiment": experiment}
    nbformat.write(nb, str(path))
    return path


def test_bad_parameters_fail_before_anything_runs(tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(ParameterError, match="unknown parameter 'stepz'"):
        run_notebook(LINEAR, out, preset="smoke", overrides={"stepz": 3})
    with pytest.raises(ParameterError, match="'n_target' = 1 is not allowed"):
        run_notebook(LINEAR, out, preset="smoke", overrides={"n_target": 1})
    assert not out.exists()


def test_failing_cell_is_named_and_the_partial_notebook_kept(tmp_path):
    nb = _notebook(tmp_path / "bad.ipynb", "x = 1", "y = x + 1\nraise ValueError('broken on purpose')")
    out = tmp_path / "out" / "bad.ipynb"
    with pytest.raises(NotebookFailed) as e:
        run_notebook(nb, out, preset="smoke", progress=False)
    msg = str(e.value)
    assert "bad.ipynb failed in its cell 2 (executed as [3])" in msg
    assert "raise ValueError('broken on purpose')" in msg
    assert "ValueError: broken on purpose" in msg
    assert str(out) in msg and out.exists()


def test_notebook_without_experiment_metadata(tmp_path):
    nb = _notebook(tmp_path / "plain.ipynb", "1", experiment=None)
    with pytest.raises(ParameterError, match="declares no experiment module"):
        chapter_of(nb)


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    assert cli.main(["run", str(LINEAR), "-p", "steps", "many"]) == 2
    assert "parameter 'steps' must be an int, got 'many'" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "missing.ipynb")]) == 1
    assert "no notebook at" in capsys.readouterr().err
    assert cli.main(["params", str(LINEAR)]) == 0
    assert "weight_decays" in capsys.readouterr().out


def test_rerun_with_parameters_changes_the_numbers(tmp_path):
    base = tmp_path / "base.ipynb"
    other = tmp_path / "other.ipynb"
    assert cli.main(["run", str(LINEAR), "--preset", "smoke", "-o", str(base), "--no-progress"]) == 0
    assert (
        cli.main(
            [
                "run",
                str(LINEAR),
                "--preset",
                "smoke",
                "-o",
                str(other),
                "--no-progress",
                "-p",
                "trigger_strength",
                "8",
                "-p",
                "seeds",
                "[5, 6, 7]",
            ]
        )
        == 0
    )
    rec_base, rec_other = claims.read_record(base), claims.read_record(other)
    assert rec_other["metrics"]["seeds"] == 3 and rec_base["metrics"]["seeds"] == 2
    gap = lambda rec: next(c for c in rec["claims"] if c["key"] == "c")["estimates"][0]["value"]  # noqa: E731
    assert gap(rec_base) != gap(rec_other)
    meta = nbformat.read(str(other), as_version=4).metadata["transferlab"]
    assert meta["preset"] == "smoke"
    assert meta["overrides"] == {"trigger_strength": 8.0, "seeds": [5, 6, 7]}
    # what ran, taken before the kernel started, and how long it took: the ledger records both
    assert meta["provenance"]["commit"] and meta["provenance"]["cpu"] and meta["seconds"] > 0
    # the store entries the run added (not the store's size): chapter 1 is closed-form and adds none
    assert meta["made"] == 0
    json.dumps(meta)


def test_bad_input_is_refused_in_one_line_before_a_kernel_starts(tmp_path, capsys, monkeypatch):
    assert cli.main(["run", str(ROOT / "README.md")]) == 2
    err = capsys.readouterr().err
    assert "is not a Jupyter notebook" in err and "Traceback" not in err
    backdoor = ROOT / "notebooks" / "02_backdoor.ipynb"
    out = tmp_path / "out.ipynb"
    for folder, words in ((tmp_path / "nope", "does not exist"), (tmp_path, "has no imagenet/")):
        assert (
            cli.main(
                ["run", str(backdoor), "--preset", "smoke", "-p", "data_dir", str(folder), "-o", str(out)]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert "parameter 'data_dir'" in err and words in err and not out.exists()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_notebook", interrupted)
    assert cli.main(["run", str(LINEAR), "--preset", "smoke"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "resume" in err and "Traceback" not in err


def test_a_dying_kernel_is_named_with_its_cell_and_how_to_resume(tmp_path):
    nb = _notebook(
        tmp_path / "dies.ipynb", "x = 1", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    out = tmp_path / "out" / "dies.ipynb"
    with pytest.raises(NotebookFailed) as e:
        run_notebook(nb, out, preset="smoke", progress=False)
    msg = str(e.value)
    assert "the kernel died in its cell 2" in msg and "resume" in msg and str(out) in msg


def test_live_progress_shows_on_this_terminal_the_bars_of_the_processes_it_starts(capfd):
    """`transferlab run` shows the kernel's bars (models done, elapsed, remaining), not only the cell counter."""
    import os
    import subprocess
    import sys

    from transferlab import utils
    from transferlab.pipeline.runner import live_progress

    child = (
        "import time\nfrom transferlab import utils\n"
        "for _ in utils.progress(range(6), 'models, wave 1 of 1'): time.sleep(0.4)"
    )
    with live_progress(True, every=0.1):
        subprocess.run(
            [sys.executable, "-c", child], check=True, stderr=subprocess.DEVNULL
        )  # its own bar hidden
    shown = capfd.readouterr().err
    assert "models, wave 1 of 1" in shown and "/6 [" in shown  # the child's bar, drawn by the watcher
    assert utils.PROGRESS_FILE not in os.environ  # only for the block's processes


def test_the_kernel_uses_the_store_of_the_command_wherever_the_output_goes(tmp_path, monkeypatch):
    """A kernel runs in its output's folder; `-o /elsewhere` must not make it look for another store."""
    import os

    import papermill

    from transferlab.store import default_store_path

    monkeypatch.delenv("TRANSFERLAB_STORE", raising=False)
    monkeypatch.chdir(ROOT)
    seen = {}

    def execute(src, out, **kwargs):
        seen["store"], seen["cwd"] = os.environ.get("TRANSFERLAB_STORE"), kwargs["cwd"]
        nbformat.write(nbformat.read(src, as_version=4), out)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    run_notebook(ROOT / "notebooks" / "01_linear.ipynb", tmp_path / "elsewhere" / "out.ipynb", progress=False)
    assert seen["cwd"] == str(tmp_path / "elsewhere")
    assert seen["store"] == str(default_store_path().resolve())
    assert "TRANSFERLAB_STORE" not in os.environ  # only for the kernel


def test_a_disabled_bar_closes_quietly_where_bars_are_reported(tmp_path, monkeypatch):
    """Workers train with their bars off while the command watches a progress file: closing such a
    bar (tqdm closes it again when it is collected) must neither fail nor report a line."""
    from transferlab import utils

    monkeypatch.setenv(utils.PROGRESS_FILE, str(tmp_path / "bars.json"))
    bar = utils.progress(range(3), "quiet", enabled=False)
    assert list(bar) == [0, 1, 2]
    bar.close()
    shown = utils.progress(range(2), "shown")
    list(shown)
    assert "quiet" not in utils.read_progress(tmp_path / "bars.json")
