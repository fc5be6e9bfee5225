"""Small helpers shared by every layer: seeding, progress bars, timing, Markdown table cells."""

from __future__ import annotations

import random
import sys
import time
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
