"""What a user types and sees: repeated or oversized list values, malformed notebooks and module
names, an output that would overwrite its chapter, a closed pipe, a read-only store, and a quiet
terminal (no kernel transport warning, no logged interrupt, one line on Ctrl-C)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from transferlab.pipeline import cli

from .conftest import ROOT

WORLD = ROOT / "notebooks" / "00_world.ipynb"
LINEAR = ROOT / "notebooks" / "01_linear.ipynb"


def _refused(capsys, *argv: str, words: str, code: int = 2) -> None:
    assert cli.main(list(argv)) == code
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_list_value_named_twice_is_refused(capsys):
    _refused(
        capsys, "run", str(WORLD), "-p", "targets", "objects,objects", words="lists 'objects' more than once"
    )
    _refused(capsys, "run", str(LINEAR), "-p", "seeds", "[3, 4, 3]", words="lists 3 more than once")


def test_an_integer_too_large_for_a_float_is_refused(capsys):
    _refused(
        capsys,
        "run",
        str(LINEAR),
        "-p",
        "weight_decays",
        "[0, 1" + "0" * 400 + "]",
        words="must be a finite number",
    )


def _notebook(path: Path, metadata) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["transferlab"] = {"experiment": metadata}
    nbformat.write(nb, str(path))
    return path


@pytest.mark.parametrize("module", ["this", "transferlab.chapters.nope", 123, "transferlab.chapters..x"])
def test_a_notebook_naming_a_module_outside_the_chapters_is_refused_without_importing_it(
    tmp_path, capsys, module
):
    modules = set(sys.modules)
    _refused(
        capsys,
        "run",
        str(_notebook(tmp_path / "n.ipynb", module)),
        words="not a module of transferlab.chapters",
    )
    assert "this" not in set(sys.modules) - modules  # `import this` would print the Zen of Python


def test_a_notebook_of_an_empty_object_is_refused(tmp_path, capsys):
    empty = tmp_path / "empty.ipynb"
    empty.write_text("{}")
    _refused(capsys, "run", str(empty), words="is not a Jupyter notebook")


def test_an_output_that_is_the_chapter_itself_is_refused_and_the_chapter_kept(tmp_path, capsys):
    chapter = shutil.copy(LINEAR, tmp_path / "01_linear.ipynb")
    before = Path(chapter).read_bytes()
    _refused(
        capsys,
        "run",
        str(chapter),
        "--preset",
        "smoke",
        "-o",
        str(chapter),
        words="is the chapter notebook itself",
    )
    assert Path(chapter).read_bytes() == before


def test_a_store_that_cannot_be_written_is_said_before_the_kernel_starts(tmp_path, capsys, monkeypatch):
    real = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.name.startswith("probe-"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, *args, **kwargs)

    monkeypatch.setenv("TRANSFERLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setattr(Path, "mkdir", read_only)
    out = tmp_path / "out.ipynb"
    _refused(
        capsys,
        "run",
        str(LINEAR),
        "--preset",
        "smoke",
        "-o",
        str(out),
        words="is not writable (Read-only file system)",
        code=1,
    )
    assert not out.exists()


def test_a_listing_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path, monkeypatch, capsys):
    from transferlab.store import Store

    store = Store(tmp_path)
    for i in range(3):
        store.put({"kind": "executed notebook", "i": i}, blobs={"notebook": b"{}"})
    read, write = os.pipe()
    os.close(read)  # `store ls | head -1`: the reader is gone before the listing is written
    with open(write, "w") as pipe:
        monkeypatch.setattr(sys, "stdout", pipe)  # the command's standard output is the pipe
        code = cli.main(["store", "ls", "--store", str(tmp_path)])
        monkeypatch.undo()
    assert code == 141 and capsys.readouterr().err == ""


def _tiny(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# tiny"), nbformat.v4.new_code_cell(source)]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["transferlab"] = {"experiment": "transferlab.chapters.linear"}
    nbformat.write(nb, str(path))
    return path


def _interactive() -> None:
    """In the child before exec: Ctrl-C as a terminal delivers it. A process that ignores SIGINT
    passes that on through exec (a library in the test process may have set it), and Python then
    never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _transferlab(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "transferlab.pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interactive,
        **kwargs,
    )


@pytest.mark.timeout(180)
def test_a_run_says_only_what_the_user_needs_and_ctrl_c_is_one_line(tmp_path):
    env = {**os.environ, "TRANSFERLAB_STORE": str(tmp_path / "store")}
    done = _transferlab(
        "run",
        str(_tiny(tmp_path / "ok.ipynb", "x = 1")),
        "--no-progress",
        "-o",
        str(tmp_path / "ok-out.ipynb"),
        env=env,
    )
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    for noise in ("without encryption", "KeyboardInterrupt", "Traceback", "WARNING", "ERROR"):
        assert noise not in err, err
    started = tmp_path / "started"
    slow = _tiny(
        tmp_path / "slow.ipynb", f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(120)"
    )
    run = _transferlab(
        "run",
        str(slow),
        "--no-progress",
        "-o",
        str(tmp_path / "slow-out.ipynb"),
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started.exists()
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group, kernel included
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130 and err.count("\n") == 1 and "interrupted" in err, err
