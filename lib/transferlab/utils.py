"""Small helpers shared by every layer: seeding, progress bars, timing, Markdown table cells."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) torch; return a NumPy generator for this seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    return np.random.default_rng(seed)


def progress(iterable, desc: str, enabled: bool = True, **kwargs):
    """A text progress bar on stderr (plain text, so it shows in terminals, notebooks and logs)."""
    from tqdm.std import tqdm

    return tqdm(iterable, desc=desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True, **kwargs)


def timed(fn):
    """Call ``fn()``; return (its result, seconds it took)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def table_cell(text: Any) -> str:
    """Text safe inside one cell of a Markdown table (pipes escaped, one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


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
