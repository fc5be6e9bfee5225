"""Run a chapter notebook with papermill: preset + overrides, validated before any cell executes.

A chapter notebook names its module in its metadata (``metadata.transferlab.experiment``, e.g.
``"transferlab.chapters.linear"``); the module satisfies the contract of
:mod:`transferlab.chapters.contract`: its ``Config`` declares the parameters and ``PRESETS`` the
named presets, and a chapter adds its protocol, data parts and paper note to the page.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import re
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat

from .. import utils
from ..chapters import ledger
from ..chapters.contract import contract_errors, fit_to_folder, is_chapter, needed_parts, without_missing
from ..chapters.params import UNATTENDED, ChapterConfig, ParameterError, resolve
from ..store import IMPORTED_LOG, Store, default_store_path, lock_lease, read_imported
from ..world import DataError, check_data_dir, parts_present
from . import pages

KERNEL = "python3"
# The kernel's own log is not the reader's concern (a cell's error comes back with its cell): without
# this every run printed a transport warning, and a finished or interrupted one a logged
# KeyboardInterrupt or a socket traceback from the kernel's shutdown.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]
CHAPTER_MODULE = re.compile(r"transferlab\.chapters(\.[a-z_][a-z0-9_]*)+")


class NotebookFailed(RuntimeError):
    """A chapter notebook raised an error; the message names the cell and where the output is."""


def chapter_of(notebook: str | Path) -> tuple[type[ChapterConfig], dict[str, dict[str, Any]]]:
    """The (Config class, PRESETS) of the experiment module a chapter notebook declares."""
    module = chapter_module(notebook)
    return module.Config, module.PRESETS


def chapter_module(notebook: str | Path) -> ModuleType:
    """The experiment module a chapter notebook declares in its metadata."""
    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}; chapters are in notebooks/*.ipynb")
    try:
        nb = nbformat.read(str(path), as_version=4)
        name = nb.metadata.get("transferlab", {}).get("experiment")
    except (
        ValueError,
        UnicodeDecodeError,
        AttributeError,
        KeyError,
        TypeError,
        nbformat.ValidationError,
    ) as e:
        raise ParameterError(
            f"{path} is not a Jupyter notebook ({type(e).__name__}); chapters are notebooks/*.ipynb"
        ) from None
    if not name:
        raise ParameterError(
            f"{path} declares no experiment module: add "
            '"transferlab": {"experiment": "transferlab.chapters.<module>"} to its metadata'
        )
    if not isinstance(name, str) or not CHAPTER_MODULE.fullmatch(name) or not _is_module(name):
        # checked before anything is imported: a notebook's metadata must not run arbitrary modules
        raise ParameterError(
            f"{path} declares the experiment module {name!r}, which is not a module of transferlab.chapters "
            "(e.g. 'transferlab.chapters.linear')"
        )
    module = importlib.import_module(name)
    errors = contract_errors(module)
    if errors:
        raise ParameterError(
            f"{name} (declared by {path}) does not satisfy the chapter contract "
            "(transferlab.chapters.contract): " + "; ".join(errors)
        )
    return module


def _is_module(name: str) -> bool:
    """Whether ``name`` is an importable module (found, not imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def parse_overrides(config_cls: type[ChapterConfig], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn command-line ``-p name value`` pairs into typed, validated values."""
    return {name: config_cls.parse_value(name, text) for name, text in pairs}


def run_notebook(
    notebook: str | Path,
    output: str | Path,
    *,
    preset: str = "default",
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    cwd: str | Path | None = None,
) -> Path:
    """Execute ``notebook`` into ``output`` with a preset and overrides; return the output path.

    Parameters are validated first (ParameterError, nothing executed). A failing cell raises
    NotebookFailed naming the cell; the partially executed notebook is kept at ``output``.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    module = chapter_module(notebook)
    overrides = dict(overrides or {})
    params = resolve(module.Config, module.PRESETS, preset, overrides, cross_checks=False)
    chosen: dict[str, Any] = {}
    if params.get("data_dir") and is_chapter(module):  # the folder first: the cross checks may read it
        chosen = fit_to_folder(module, params, params["data_dir"], set(overrides))
        if chosen:
            print(f"{Path(notebook).name}: {chosen_text(chosen, params['data_dir'])}", file=sys.stderr)
        check_folder(module, {**params, **chosen})
    try:
        params = resolve(module.Config, module.PRESETS, preset, {**overrides, **chosen})
    except DataError as e:  # a cross check read a part of the folder that is malformed
        raise ParameterError(f"parameter 'data_dir': {e}") from None
    output = Path(output)
    store = _check_surroundings(notebook, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    _kernel_uses_this_python()
    imported = output.parent / f".{output.name}.imported"  # the imported entries the run reads
    imported.unlink(missing_ok=True)
    # what ran and where, taken before the kernel starts (the ledger records it with the claims)
    ran = {"provenance": ledger.provenance(Path(notebook).resolve().parent)}
    held = len(store.keys())  # entries the store held before: the run's "made" is what it added
    started = time.perf_counter()
    try:
        # the kernel inherits these: live-only cells show nothing; the store is the one this command
        # would use (the kernel runs in the output's folder, where it would look for another); and
        # its bars report to our terminal
        pinned = {UNATTENDED: "1", "TRANSFERLAB_STORE": str(store.root), IMPORTED_LOG: str(imported)}
        with utils.environment(**pinned), live_progress(progress), _quiet("papermill"):
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters={k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                kernel_name=KERNEL,
                progress_bar=progress,
                cwd=str(cwd or output.parent),
                report_mode=False,
                kernel_manager_class=_quiet_kernel_manager(),
                extra_arguments=QUIET_KERNEL,
            )
    except PapermillExecutionError as e:
        cells = nbformat.read(str(notebook), as_version=4).cells
        number = next((i + 1 for i, c in enumerate(cells) if c.source == e.source), "?")
        source = textwrap.indent(textwrap.shorten(" ".join(e.source.split()), 300), "    ")
        raise NotebookFailed(
            f"{Path(notebook).name} failed in its cell {number} (executed as [{e.exec_count}]):\n"
            f"{source}\n  {e.ename}: {e.evalue}\n"
            f"The partially executed notebook, with the full traceback, is at {output}"
        ) from None
    except DeadKernelError:
        raise NotebookFailed(
            f"{Path(notebook).name}: the kernel died in its cell {_running_cell(notebook, output)} (killed, or "
            f"out of memory). The partially executed notebook is at {output}; run the same command again "
            "to resume: every model that finished is in the store"
        ) from None
    ran["seconds"] = round(time.perf_counter() - started, 1)
    ran["made"] = len(store.keys()) - held
    _mark_run(notebook, module, output, preset, overrides, params, chosen, read_imported(imported), ran)
    imported.unlink(missing_ok=True)
    return output


def _check_surroundings(notebook: str | Path, output: Path) -> Store:
    """What a run needs beyond its parameters, checked before the kernel starts: an output that is
    not the chapter itself, a valid lock lease setting, and a store it can write (returned)."""
    if output.resolve() == Path(notebook).resolve():
        raise ParameterError(
            f"the output {output} is the chapter notebook itself: name another file (-o), the chapter "
            "stays as it is"
        )
    lock_lease()  # a bad $TRANSFERLAB_LOCK_LEASE is said here, not in a cell
    store = Store(default_store_path())
    store.check_writable()
    return store


@contextlib.contextmanager
def live_progress(enabled: bool = True, every: float = 1.0) -> Iterator[None]:
    """While the block runs, show on this terminal (below papermill's cell counter) the progress
    bars of the processes it starts: the notebook's kernel reports each bar's line (models done of
    the total, elapsed, remaining; the epochs of a model trained in the kernel) to a file, read
    here every ``every`` seconds."""
    if not enabled:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="transferlab-progress-") as tmp:
        path = Path(tmp) / "bars.json"
        stop = threading.Event()
        watcher = threading.Thread(target=_show_bars, args=(path, stop, every), daemon=True)
        with utils.environment(**{utils.PROGRESS_FILE: str(path)}):
            watcher.start()
            try:
                yield
            finally:
                stop.set()
                watcher.join()


def _show_bars(path: Path, stop: threading.Event, every: float) -> None:
    from tqdm.std import tqdm

    status = tqdm(total=0, position=1, leave=False, bar_format="{desc}", file=sys.stderr, dynamic_ncols=True)
    shown = ""
    while not stop.wait(every):
        bars = sorted(utils.read_progress(path).values(), key=lambda b: -b["time"])
        line = "  ".join(b["line"] for b in bars[:2])  # the two most recently drawn: models, and epochs
        if line != shown:
            status.set_description_str(line)
            shown = line
    status.close()


def check_folder(module: ModuleType, params: Mapping[str, Any]) -> None:
    """Check before any compute that ``data_dir`` holds every part the chapter reads with these
    parameters; ParameterError naming the missing folder, what needs it and how to do without it."""
    needed = needed_parts(module, params)
    try:
        check_data_dir(params["data_dir"], needed, why=needed)
    except DataError as e:
        hints = without_missing(module, params, parts_present(params["data_dir"]))
        tail = f"\nOr run without it: {' '.join(hints)}" if hints else ""
        raise ParameterError(f"parameter 'data_dir': {e}{tail}") from None


def chosen_text(chosen: Mapping[str, Any], root: str) -> str:
    """One sentence naming what a run chose by itself to fit a data folder."""
    values = ", ".join(
        f"{k} = {', '.join(map(str, v)) if isinstance(v, (tuple, list)) else v}" for k, v in chosen.items()
    )
    return f"fitted to the parts {root} has: {values} (set them with -p to choose otherwise)"


def _running_cell(notebook: str | Path, output: Path) -> str:
    """The number of the last cell papermill started (from the partial output), or '?'."""
    try:
        cells = nbformat.read(str(output), as_version=4).cells
        started = [c for c in cells if c.get("metadata", {}).get("papermill", {}).get("start_time")]
        ours = nbformat.read(str(notebook), as_version=4).cells
        return str(next(i + 1 for i, c in enumerate(ours) if c.source == started[-1].source))
    except (OSError, IndexError, StopIteration, ValueError):
        return "?"


def _mark_run(
    notebook: str | Path,
    module: ModuleType,
    output: Path,
    preset: str,
    overrides: Mapping[str, Any],
    values: Mapping[str, Any],
    chosen: Mapping[str, Any] | None = None,
    imported: list[dict[str, Any]] = (),
    ran: Mapping[str, Any] | None = None,
) -> None:
    """Record the preset and overrides in the executed notebook and show only the values used;
    add the generated page parts (how to rerun it, its parameters, real data, the paper preset).

    papermill keeps the notebook's own ``parameters`` cell (the defaults) and adds an
    ``injected-parameters`` cell below it; the book shows the injected one only.
    """
    nb = nbformat.read(str(output), as_version=4)
    chapter = is_chapter(module)  # the summary page is a page, not a chapter: no protocol or data of its own
    if chapter:
        tagged = {"tags": [pages.GENERATED_TAG]}
        title = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
        fitted = (
            [
                nbformat.v4.new_markdown_cell(
                    f"**This run {chosen_text(chosen, values['data_dir'])}.**", metadata=tagged
                )
            ]
            if chosen
            else []
        )
        nb.cells[title + 1 : title + 1] = [
            nbformat.v4.new_markdown_cell(
                pages.rerun_markdown(notebook, module, preset, {**overrides, **(chosen or {})}, values),
                metadata=tagged,
            ),
            *fitted,
            nbformat.v4.new_markdown_cell(pages.protocol_markdown(module), metadata=tagged),
        ]
        nb.cells.append(
            nbformat.v4.new_markdown_cell(pages.data_markdown(notebook, module, values), metadata=tagged)
        )
        if imported:
            nb.cells[title + 2 : title + 2] = [
                nbformat.v4.new_markdown_cell(pages.imported_markdown(imported), metadata=tagged)
            ]
    # interactive widgets need a live kernel: their saved state would only make the static book
    # fetch widget scripts from a CDN, so it is dropped (the cells that show widgets hide their output)
    nb.metadata.pop("widgets", None)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if injected and not chapter:
        injected[0].metadata.setdefault("tags", []).append("remove-cell")
    if injected:
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if "parameters" in tags and "remove-cell" not in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
        injected[0].source = injected[0].source.replace(
            "# Parameters",
            f"# Parameters of this run: preset {preset!r}"
            + (f", overrides {', '.join(overrides)}" if overrides else ""),
            1,
        )
    nb.metadata.setdefault("transferlab", {}).update(
        {
            "preset": preset,
            "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
            **(ran or {}),  # provenance at the start of the run, its wall time in seconds, entries made
        }
    )
    nbformat.write(nb, str(output))


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only critical messages of ``logger`` while the block runs: papermill's warnings repeat what
    was checked before the kernel started, and its errors come back as the exceptions this module
    turns into one-line messages."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


@functools.cache
def _quiet_kernel_manager() -> type:
    """A kernel manager that talks to the kernel over local sockets (IPC: files only this user can
    open, not TCP ports any local process can reach), where the platform has them."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class LocalKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc" if os.name == "posix" else "tcp"

    return LocalKernelManager


def _kernel_uses_this_python() -> None:
    # The python3 kernelspec runs "python" from PATH; make that the interpreter running us, so a
    # `make` that calls .venv/bin/transferlab without activating the venv gets the same packages.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [bindir]:
        os.environ["PATH"] = bindir + os.pathsep + path
