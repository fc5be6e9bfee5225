"""Small helpers shared by every layer: seeding, progress bars, timing, Markdown table cells."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) torch; return a NumPy generator for this seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    return np.random.default_rng(seed)


# Where progress bars also report their line, when set: a file that a process watching this one
# (`transferlab run` watching its notebook's kernel) reads to show the bars on its own terminal.
PROGRESS_FILE = "TRANSFERLAB_PROGRESS"


def progress(iterable, desc: str, enabled: bool = True, **kwargs):
    """A text progress bar on stderr (plain text, so it shows in terminals, notebooks and logs),
    also reported to ``$TRANSFERLAB_PROGRESS`` when that is set (:func:`read_progress`)."""
    from tqdm.std import tqdm

    cls = _reporting_bar() if os.environ.get(PROGRESS_FILE) else tqdm
    return cls(iterable, desc=desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True, **kwargs)


@functools.cache
def _reporting_bar():
    from tqdm.std import tqdm

    class ReportingBar(tqdm):
        """A tqdm bar that also writes its line to the progress file each time it redraws."""

        def display(self, msg=None, pos=None):
            shown = super().display(msg, pos)
            report_line(self.desc, str(self))
            return shown

        def close(self):
            super().close()
            if not getattr(self, "disable", True):  # a disabled bar never drew, and has no desc
                report_line(self.desc, None)

    return ReportingBar


def report_line(desc: str, line: str | None) -> None:
    """Set (or, with None, remove) one line (a bar's, or a waiting process's) in the progress file,
    when ``$TRANSFERLAB_PROGRESS`` is set; never fails the work."""
    path = os.environ.get(PROGRESS_FILE)
    if not path:
        return
    try:
        bars = read_progress(path)
        if line is None:
            bars.pop(desc, None)
        else:
            bars[desc] = {"line": line, "time": time.time()}
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(bars, f)
        os.replace(tmp, path)
    except OSError:
        pass


def read_progress(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The bars reported to a progress file: description → {"line", "time"} ({} if none yet)."""
    try:
        with open(path) as f:
            bars = json.load(f)
    except (OSError, ValueError):
        return {}
    return bars if isinstance(bars, dict) else {}


def timed(fn):
    """Call ``fn()``; return (its result, seconds it took)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def table_cell(text: Any) -> str:
    """Text safe inside one cell of a Markdown table (pipes escaped, one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: a header of ``columns``, then one line per row, every cell made safe
    (:func:`table_cell`)."""
    lines = [list(columns), ["---"] * len(columns), *map(list, rows)]
    return "\n".join("| " + " | ".join(table_cell(x) for x in line) + " |" for line in lines)


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables set for this process, and the kernels and workers it starts, until
    the block ends (then each is restored, or removed if it was not set)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
