"""The book's page "Your data": chapter 0's premise check run on a real image data set.

The page writes scikit-learn's handwritten digits in the real layouts (:mod:`transferlab.world.digits`)
next to the store, once, fits the chapter's target parameters to the parts that folder has (as
``transferlab run -p data_dir`` does), and runs the premise check on it: the same code path as any
chapter on a user's folder. Its result is the digits' own, whatever it is.
"""

from __future__ import annotations

import dataclasses
import importlib

import pandas as pd

from ..world import REAL_FOLDERS, digits_folder, parts_present
from . import world
from .contract import fit_to_folder, needed_parts, without_missing
from .params import ParameterError, param, resolve


@dataclasses.dataclass(frozen=True)
class Config(world.Config):
    """Chapter 0's parameters; an empty ``data_dir`` means the digits folder next to the store. The
    page is a demonstration on the reader's data, not chapter 0's registered run: three seeds."""

    seeds: tuple[int, ...] = param(
        (0, 1, 2), "seeds: each trains its own source model, its transfers and the scratch models", low=0
    )


PRESETS: dict[str, dict] = world.PRESETS


def prepare(config: Config) -> tuple[world.Config, dict]:
    """Chapter 0's config on the folder (``data_dir``, else the digits, written once), with the
    target parameters the page did not set fitted to the parts the folder has; and what it fitted."""
    folder = config.data_dir or str(digits_folder())
    params = {**config.as_dict(), "data_dir": folder}
    chosen = fit_to_folder(world, params, folder, explicit=set())
    return world.Config(**{**params, **chosen}), chosen


# the chapters, by notebook: the page says which of them run on the folder
CHAPTERS = {
    "00_world": "world",
    "01_linear": "linear",
    "02_backdoor": "backdoor",
    "03_cooccurrence": "cooccurrence",
    "04_gender_age": "gender_age",
    "05_wild": "wild",
    "06_influences": "influences",
    "07_stimuli": "stimuli",
    "08_inheritance": "inheritance",
    "09_robust": "robust",
}


def parts_table(folder: str) -> pd.DataFrame:
    """Per chapter: the folder parts it reads at its default preset once fitted to ``folder``,
    what it fitted, and whether it runs on ``folder`` (else the folders it lacks)."""
    present = set(parts_present(folder))
    rows = []
    for notebook, name in CHAPTERS.items():
        module = importlib.import_module(f"{__package__}.{name}")
        if not module.DATA_PARTS:
            rows.append({"chapter": notebook, "reads": "no data", "fitted": "", "on this folder": "runs"})
            continue
        params = resolve(module.Config, module.PRESETS, "default", {"data_dir": folder}, cross_checks=False)
        chosen = fit_to_folder(module, params, folder, explicit=set())
        needed = needed_parts(module, {**params, **chosen})
        lacks = [REAL_FOLDERS[p] + "/" for p in needed if p not in present]
        hints = without_missing(module, {**params, **chosen}, present)
        verdict = (
            "needs " + ", ".join(lacks) + (f" (or {' '.join(hints)})" if hints else "") if lacks else "runs"
        )
        if not lacks:
            try:  # the cross checks, which may read the folder (e.g. chapter 5's expected classes)
                resolve(module.Config, module.PRESETS, "default", {"data_dir": folder, **chosen})
            except ParameterError as e:
                verdict = f"needs other parameters: {e}"
        rows.append(
            {
                "chapter": notebook,
                "reads": ", ".join(REAL_FOLDERS[p] + "/" for p in needed),
                "fitted": "; ".join(
                    f"{k} = {', '.join(v) if isinstance(v, tuple) else v}" for k, v in chosen.items()
                ),
                "on this folder": verdict,
            }
        )
    return pd.DataFrame(rows).set_index("chapter")
