"""The stability check: the same chapters under two numeric settings, claim by claim.

A decided verdict must not depend on the machine's floating point: the fast path (channels-last,
bfloat16 autocast where the CPU or GPU has it, worker processes, grouped models) and the plain
path (float32, one model at a time; ``TRANSFERLAB_NUMERICS=plain``) train different trajectories
of the same models. :func:`execute_under` runs every chapter under one setting into a folder (with
a store of its own, since the store does not key models by numeric path), :func:`compare` sets
the claims of two such folders side by side: per estimate both verdicts, and the shift of the
measured value as a fraction of the interval's half-width.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd

from .. import utils
from ..chapters.claims import read_claims
from ..chapters.ledger import chapter_files
from ..store import Store
from ..train import NUMERICS
from .book import execute_chapters

DECIDED = ("holds", "contradicted")
SETTINGS = ("fast", "plain")  # the machine's own fast path against the plain float32 reference


def execute_under(
    root: Path,
    out: Path,
    numerics: str,
    preset: str,
    store: Store,
    progress: bool = True,
    only: Collection[int] | None = None,
) -> Path:
    """Every chapter of ``root`` executed on ``preset`` under ``numerics`` into ``out/chapters``,
    every model from and into ``store`` (the kernels' store too: give each setting its own, since
    the store does not key models by numeric path)."""
    if numerics not in NUMERICS:
        raise ValueError(f"numerics must be one of {NUMERICS}, got {numerics!r}")
    with utils.environment(TRANSFERLAB_NUMERICS=numerics, TRANSFERLAB_STORE=str(store.root)):
        execute_chapters(root, out, preset, progress, store=store, only=only)
    return out / "chapters"


def compare(first: Path, second: Path) -> pd.DataFrame:
    """One row per estimate of every claim in both folders of executed chapters: verdicts (of the
    estimate and of its claim) under each setting, and ``shift``, the difference of the measured
    values over the mean half-width of the two intervals (NaN where one is not finite)."""
    rows = []
    for nb in chapter_files(first):
        other = second / nb.name
        if not other.is_file():
            raise FileNotFoundError(f"{other} is missing: execute every chapter under both settings")
        b_claims = {c.key: c for c in read_claims(other)}
        for a in read_claims(nb):
            b = b_claims.get(a.key)
            if b is None:
                raise LookupError(f"{nb.name}: claim {a.key!r} is recorded under one setting only")
            for ea, eb, va, vb in zip(a.estimates, b.estimates, a.verdicts(), b.verdicts()):
                half = ((ea.high - ea.low) + (eb.high - eb.low)) / 4
                shift = abs(ea.value - eb.value) / half if math.isfinite(half) and half > 0 else math.nan
                rows.append(
                    {
                        "chapter": nb.stem,
                        "claim": a.key,
                        "estimate": ea.label,
                        "claim first": a.verdict,
                        "claim second": b.verdict,
                        "first": va,
                        "second": vb,
                        "value first": ea.value,
                        "value second": eb.value,
                        "shift / half-width": shift,
                    }
                )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> dict[str, float]:
    """Claim-level counts: claims, verdicts that agree, decided verdicts that turn into the opposite
    one, decided verdicts that become undecided (or back); and the median and largest shift."""
    claims = table.drop_duplicates(["chapter", "claim"])
    a, b = claims["claim first"], claims["claim second"]
    decided_either = a.isin(DECIDED) | b.isin(DECIDED)
    return {
        "claims": len(claims),
        "agree": int((a == b).sum()),
        "opposite": int((a.isin(DECIDED) & b.isin(DECIDED) & (a != b)).sum()),
        "decided vs undecided": int((decided_either & (a != b) & ~(a.isin(DECIDED) & b.isin(DECIDED))).sum()),
        "median shift": float(table["shift / half-width"].median()),
        "largest shift": float(table["shift / half-width"].max()),
    }


def report(table: pd.DataFrame, first: str, second: str) -> str:
    """The comparison in words, then every claim whose verdict differs."""
    s = summary(table)
    lines = [
        f"{s['claims']} claims under {first} and {second}: {s['agree']} verdicts agree; "
        f"{s['opposite']} decided verdicts turn into the opposite one; {s['decided vs undecided']} are "
        f"decided under one setting and undecided under the other.",
        f"Shift of the measured values, in half-widths of their 95 % intervals: median "
        f"{s['median shift']:.2f}, largest {s['largest shift']:.2f}.",
    ]
    differ = table[table["claim first"] != table["claim second"]].drop_duplicates(["chapter", "claim"])
    for r in differ.to_dict("records"):
        lines.append(
            f"  {r['chapter']} ({r['claim']}): {r['claim first']} under {first}, {r['claim second']} under {second}"
        )
    return "\n".join(lines)


def check(
    root: Path,
    out: Path,
    preset: str,
    stores: Mapping[str, Store],
    progress: bool = True,
    only: Collection[int] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Execute every chapter (or those numbered in ``only``) under both numeric settings (into
    ``out/fast`` and ``out/plain``, each with its own store of ``stores``) and compare them; the
    table is also written to ``out/stability.csv``."""
    if set(stores) != set(SETTINGS) or len({s.root for s in stores.values()}) != len(SETTINGS):
        raise ValueError(f"give each numeric setting {SETTINGS} a store of its own")
    for n in SETTINGS:  # a chapter left out this time must not be compared from an earlier check
        for old in (out / n / "chapters").glob("[0-9]*.ipynb"):
            old.unlink()
    folders = {n: execute_under(root, out / n, n, preset, stores[n], progress, only) for n in SETTINGS}
    table = compare(folders["fast"], folders["plain"])
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "stability.csv", index=False)
    return table, report(table, "fast", "plain")
