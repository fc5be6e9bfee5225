"""The book's summary page, "What transfers?": every chapter's claims, read from its executed notebook.

Each chapter's last cell records its claims table in the executed notebook
(:func:`transferlab.chapters.claims.read_record`); this page collects those records, so what it shows is
what the chapters measured in the same build, never a copy made by hand.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pandas as pd

from ..params import ChapterConfig, param
from ..utils import table_cell
from . import plots
from .claims import Claim, ClaimsTable, read_record


@dataclasses.dataclass(frozen=True)
class Config(ChapterConfig):
    """Parameters of the summary page."""

    chapters: str = param(
        ".",
        "folder of the executed chapter notebooks, relative to this notebook's folder "
        "(the book build writes them next to it)",
    )


PRESETS: dict[str, dict] = {"smoke": {}, "default": {}, "paper": {}}


def chapter_files(folder: str | Path) -> list[Path]:
    """The executed chapter notebooks in ``folder``, in chapter order."""
    files = sorted(Path(folder).glob("[0-9]*.ipynb"))
    if not files:
        raise FileNotFoundError(
            f"no executed chapter notebooks in {Path(folder).resolve()}: "
            "build the book (`make book`) or run the chapters into that folder first"
        )
    return files


def title_of(notebook: str | Path) -> str:
    """A notebook's title: the first level-1 heading of its markdown."""
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return Path(notebook).stem


def collect(folder: str | Path) -> pd.DataFrame:
    """One row per claim of every chapter: chapter, title, doc, preset, and the claim's record."""
    rows = []
    for path in chapter_files(folder):
        record = read_record(path)
        meta = nbformat.read(str(path), as_version=4).metadata.get("transferlab", {})
        for claim in record["claims"]:
            rows.append(
                {
                    "chapter": int(path.stem.split("_")[0]),
                    "title": title_of(path),
                    "doc": path.stem,
                    "preset": meta.get("preset", "?"),
                    "overrides": json.dumps(meta.get("overrides", {})),
                    **claim,
                }
            )
    return pd.DataFrame(rows)


def _claim(row: pd.Series) -> Claim:
    """A recorded claim back as a :class:`Claim` (a value not measured, stored as null, is NaN)."""
    fields = {f.name for f in dataclasses.fields(Claim)}
    values = {k: v for k, v in row.items() if k in fields}
    values["measured"] = float("nan") if values["measured"] is None else float(values["measured"])
    values["spread"] = None if pd.isna(values["spread"]) else float(values["spread"])
    return Claim(**values)


def markdown_table(claims: pd.DataFrame) -> str:
    """The claims of every chapter as one MyST table, each row linking to its chapter (where the
    criterion each claim is held to is given next to it)."""
    lines = [
        "| Chapter | Claim | Source | Measured in this build | Holds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for _, row in claims.iterrows():
        c = _claim(row)
        mark = "✓ yes" if c.holds else "✗ no"
        lines.append(
            f"| {{doc}}`{row.chapter} <{row.doc}>` ({c.key}) | {table_cell(c.claim)} | "
            f"{table_cell(c.source)} | {table_cell(c.measured_text())} | {mark} |"
        )
    return "\n".join(lines)


def by_chapter(claims: pd.DataFrame) -> pd.DataFrame:
    """Claims checked and claims that hold, per chapter."""
    return (
        claims.groupby(["chapter", "title", "doc"], sort=True)
        .agg(claims=("holds", "size"), hold=("holds", "sum"))
        .reset_index()
    )


def chapter_list(claims: pd.DataFrame) -> str:
    """A markdown list: each chapter, linked, with how many of its claims hold."""
    return "\n".join(
        f"- {{doc}}`{r.title} <{r.doc}>`: {r.hold} of {r.claims} claims hold"
        for r in by_chapter(claims).itertuples()
    )


def findings_text(claims: pd.DataFrame) -> str:
    """What the table says, in numbers read from it."""
    n, hold = len(claims), int(claims.holds.sum())
    presets = sorted(set(claims.preset))
    overridden = sorted({r.doc for r in claims.itertuples() if r.overrides not in ("{}", "")})
    text = (
        f"Of the {n} claims the chapters check in this build, {hold} hold and {n - hold} do not "
        f"({len(set(claims.chapter))} chapters, preset {', '.join(f'`{p}`' for p in presets)})."
    )
    if len(presets) > 1:
        text += " The chapters ran on different presets, so their numbers are not of one scale."
    if overridden:
        text += f" Chapters run with overridden parameters: {', '.join(overridden)}."
    return text


def overview_figure(claims: pd.DataFrame):
    """Every claim as a square, one row per chapter: green where it holds in this build, red where not."""
    plots.use_style()
    chapters = by_chapter(claims)
    width = max(chapters.claims.max(), 1)
    fig, ax = plt.subplots(figsize=(min(2.2 + 0.9 * width, 11), 0.55 * len(chapters) + 1.0))
    for y, ch in enumerate(chapters.itertuples()):
        own = claims[claims.chapter == ch.chapter].reset_index(drop=True)
        for x, row in own.iterrows():
            colour = plots.HOLDS if row.holds else plots.FAILS
            ax.add_patch(plt.Rectangle((x + 0.06, -y - 0.44), 0.88, 0.88, color=colour))
            label = row.key.replace("-", "\n")
            ax.text(
                x + 0.5,
                -y,
                label,
                ha="center",
                va="center",
                color="white",
                weight="bold",
                fontsize=9 if len(row.key) <= 4 else 7,
            )
        ax.text(width + 0.2, -y, f"{ch.hold}/{ch.claims}", va="center", fontsize=9)
    ax.set_yticks([-y for y in range(len(chapters))], [_short(c.title) for c in chapters.itertuples()])
    ax.grid(False)
    ax.set_xlim(0, width + 1.0)
    ax.set_ylim(-len(chapters) + 0.4, 0.6)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title("Each claim of the sources, checked in this build: green holds, red does not", fontsize=10)
    return fig


def _short(title: str, n: int = 40) -> str:
    title = title.split(":")[0]
    return title if len(title) <= n else title[: n - 1] + "…"


def record(claims: pd.DataFrame) -> None:
    """Record the collected claims (keys prefixed by chapter) in this notebook, without showing them again."""
    table = ClaimsTable(
        "What transfers?",
        [dataclasses.replace(_claim(r), key=f"{r.chapter}.{r.key}") for _, r in claims.iterrows()],
    )
    table.record(
        {
            "chapters": sorted(set(int(c) for c in claims.chapter)),
            "claims": len(claims),
            "hold": int(claims.holds.sum()),
        },
        show=False,
    )
