"""The book's summary page, "What transfers?": every chapter's claims, read from its executed notebook.

Each chapter's last cell records its claims table in the executed notebook
(:func:`transferlab.chapters.claims.read_record`); this page collects those records, so what it shows is
what the chapters measured in the same build, never a copy made by hand.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import seaborn as sns

from ..utils import table_cell
from . import ledger, plots
from .claims import MARKS, VERDICTS, Claim, ClaimsTable, read_record, verdict_counts
from .ledger import chapter_files
from .params import ChapterConfig, param


@dataclasses.dataclass(frozen=True)
class Config(ChapterConfig):
    """Parameters of the summary page."""

    chapters: str = param(
        ".",
        "folder of the executed chapter notebooks, relative to this notebook's folder "
        "(the book build writes them next to it)",
    )


PRESETS: dict[str, dict] = {"smoke": {}, "default": {}, "paper": {}}


def title_of(notebook: str | Path) -> str:
    """A notebook's title: the first level-1 heading of its markdown."""
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return Path(notebook).stem


def collect(folder: str | Path) -> pd.DataFrame:
    """One row per claim of every chapter: chapter, title, doc, preset, overrides, key, verdict,
    whether it reuses another claim's series (registered chapters say so), and the claim itself (a
    :class:`~transferlab.chapters.claims.Claim`, read from the record)."""
    rows = []
    for path in chapter_files(folder):
        record = read_record(path)
        meta = nbformat.read(str(path), as_version=4).metadata.get("transferlab", {})
        reuses = (record.get("registration") or {}).get("reuses", {})
        for data in record["claims"]:
            claim = Claim.from_json(data)
            rows.append(
                {
                    "chapter": int(path.stem.split("_")[0]),
                    "title": title_of(path),
                    "doc": path.stem,
                    "preset": meta.get("preset", "?"),
                    "overrides": json.dumps(meta.get("overrides", {})),
                    "key": claim.key,
                    "verdict": claim.verdict,
                    "reuses": claim.key in reuses,  # another claim's per-replicate series: not independent
                    "claim": claim,
                }
            )
    return pd.DataFrame(rows)


def markdown_table(claims: pd.DataFrame) -> str:
    """The claims of every chapter as one MyST table, each row linking to its chapter (where the
    figures behind each number, and the discussion, are)."""
    lines = [
        "| Chapter | Claim | Source | Measured in this build [95 % interval] | Criterion | Verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in claims.itertuples():
        c: Claim = row.claim
        lines.append(
            f"| {{doc}}`{row.chapter} <{row.doc}>` ({c.key}) | {table_cell(c.claim)} | "
            f"{table_cell(c.source)} | {table_cell(c.measured_text())} | {table_cell(c.criterion_text())} | "
            f"{MARKS[c.verdict][1]} |"
        )
    return "\n".join(lines)


def by_chapter(claims: pd.DataFrame) -> pd.DataFrame:
    """Per chapter: claims checked and how many have each verdict."""
    counts = pd.crosstab([claims.chapter, claims.title, claims.doc], claims.verdict)
    counts = counts.reindex(columns=list(VERDICTS), fill_value=0)
    return counts.assign(claims=counts.sum(axis=1)).reset_index()


def counts_text(counts: pd.Series | dict) -> str:
    """``3 hold, 1 contradicted, 2 undecided`` (verdicts with none left out)."""
    words = {
        "holds": "hold",
        "contradicted": "contradicted",
        "undecided": "undecided",
        "n/a": "not applicable",
    }
    return ", ".join(f"{int(counts[v])} {words[v]}" for v in VERDICTS if int(counts[v])) or "none"


def chapter_list(claims: pd.DataFrame) -> str:
    """A markdown list: each chapter, linked, with its claims' verdicts counted."""
    return "\n".join(
        f"- {{doc}}`{r['title']} <{r['doc']}>`: {r['claims']} claims: {counts_text(r)}"
        for r in by_chapter(claims).to_dict("records")
    )


def findings_text(claims: pd.DataFrame) -> str:
    """What the table says, in numbers read from it."""
    n = len(claims)
    counts = verdict_counts(claims.verdict)
    presets = sorted(set(claims.preset))
    overridden = sorted({r.doc for r in claims.itertuples() if r.overrides not in ("{}", "")})
    text = (
        f"Of the {n} claims the chapters check in this build, {counts_text(counts)} "
        f"({len(set(claims.chapter))} chapters, preset {', '.join(f'`{p}`' for p in presets)})."
    )
    reusing = int(claims.reuses.sum()) if "reuses" in claims else 0
    if reusing:
        text += (
            f" {reusing} of them reuse another claim's per-replicate series (their registries say which), "
            f"so the build holds {n - reusing} independent pieces of evidence."
        )
    undecided = [c for c in claims.claim if c.verdict == "undecided"]
    decidable = [c for c in undecided if c.replicates_needed is not None]
    if undecided:
        text += (
            f" The {len(undecided)} undecided claims stay undecided in this build: replicates added on the "
            f"same seeds would not give an honest verdict. For {len(decidable)} of them the chapter's table "
            f"says how many replicates a new registration would need (80 % power for the criterion's "
            f"declared smallest effect, at the spread measured here); the others declare no smallest effect "
            f"yet, or have one replicate and no spread."
        )
    if len(presets) > 1:
        text += " The chapters ran on different presets, so their numbers are not of one scale."
    if overridden:
        text += f" Chapters run with overridden parameters: {', '.join(overridden)}."
    return text


def forest(claims: pd.DataFrame, clip: float = 6.0) -> pd.DataFrame:
    """One row per estimate, its interval as distances on the claim's side of its criterion in
    units of the interval's half-width (so that every criterion sits at 0 and an interval clear of
    0 on the right holds, on the left is contradicted), clipped to ± ``clip``."""
    rows = []
    for r in claims.itertuples():
        for e, verdict in zip(r.claim.estimates, r.claim.verdicts()):
            label = f"{r.chapter}.{r.claim.key}" + (f" {e.label}" if e.label else "")
            base = {"chapter": r.chapter, "title": r.title, "row": label, "verdict": verdict}
            if verdict == "n/a" or not (math.isfinite(e.low) and math.isfinite(e.high)):
                why = "not measured" if verdict == "n/a" else "one replicate: no interval"
                rows.append({**base, "low": np.nan, "high": np.nan, "value": np.nan, "why": why})
                continue
            lo, hi = e.criterion.oriented(e.low, e.high)
            half = (hi - lo) / 2
            scale = half if half > 0 else max(abs(lo), 1e-300) / clip
            d = e.criterion.distance(e.value)
            rows.append(
                {
                    **base,
                    "low": float(np.clip(lo / scale, -clip, clip)),
                    "high": float(np.clip(hi / scale, -clip, clip)),
                    "value": float(np.clip(d / scale, -clip, clip)),
                    "why": "",
                }
            )
    return pd.DataFrame(rows)


def forest_figure(claims: pd.DataFrame, clip: float = 6.0):
    """Every claim's 95 % interval against its criterion, one row per estimate, chapter by chapter,
    coloured by verdict."""
    plots.use_style()
    f = forest(claims, clip)
    f["y"] = np.arange(len(f))
    fig, ax = plt.subplots(figsize=(8.0, 0.19 * len(f) + 1.4))
    for r in f.itertuples():
        colour = plots.VERDICT_COLORS[r.verdict]
        if np.isnan(r.value):
            ax.text(0, r.y, r.why, color=colour, fontsize=7, ha="center", va="center")
            continue
        ax.hlines(r.y, r.low, r.high, color=colour, lw=2.2)
    sns.scatterplot(
        data=f.dropna(subset=["value"]),
        x="value",
        y="y",
        hue="verdict",
        hue_order=[v for v in VERDICTS if v in set(f.verdict)],
        palette=plots.VERDICT_COLORS,
        edgecolor="white",
        s=28,
        zorder=3,
        ax=ax,
    )
    ax.axvline(0, color="black", lw=1)
    for chapter, g in f.groupby("chapter"):
        ax.axhspan(
            g.y.min() - 0.5, g.y.max() + 0.5, color="#000000", alpha=0.04 if chapter % 2 else 0.0, lw=0
        )
    ax.set_yticks(f.y, f.row, fontsize=7)
    ax.set_ylim(len(f) - 0.5, -0.5)
    ax.set_xlim(-clip - 0.3, clip + 0.3)
    ax.grid(axis="y", visible=False)
    ax.set(
        xlabel="(measured − criterion) / half-width of the 95 % interval; right: the claim's side",
        ylabel=None,
    )
    ax.legend(title=None, loc="lower right", fontsize=8)
    ax.set_title(
        "Every claim's interval against its criterion (0): clear of 0 on the right holds", fontsize=10
    )
    return fig


def record(claims: pd.DataFrame) -> None:
    """Record the collected claims (keys prefixed by chapter) in this notebook, without showing them again."""
    table = ClaimsTable(
        "What transfers?",
        [dataclasses.replace(r.claim, key=f"{r.chapter}.{r.key}") for r in claims.itertuples()],
    )
    counts = verdict_counts(claims.verdict)
    table.record(
        {
            "chapters": sorted(set(int(c) for c in claims.chapter)),
            "claims": len(claims),
            **{v: int(counts[v]) for v in VERDICTS},
        },
        show=False,
    )


PROVENANCE = "provenance.json"  # written next to the executed chapters by the book build


def provenance_text(folder: str | Path) -> str:
    """Where and when this build ran (commit, machine, numeric path, date) and how its claims
    compare with the results ledger, from the ``provenance.json`` the book build writes next to the
    executed chapters (a page executed by hand has none, and says so)."""
    path = Path(folder) / PROVENANCE
    if not path.is_file():
        return "This page was executed outside a book build: no provenance and no ledger comparison."
    info = json.loads(path.read_text())
    b = info["build"]
    text = (
        f"This build: commit `{b['commit']}`{' with uncommitted changes' if b.get('uncommitted') else ''}, "
        f"on {b['cpu']} ({b['cores']} cores, numeric path `{b['numerics']}`), {b['date']}. "
    )
    recorded = info.get("ledger") or {"chapters": {}}
    if not recorded["chapters"]:
        return text + (
            "The results ledger (`results/ledger.json`) holds no chapter yet: `transferlab ledger update` "
            "writes it from a default build."
        )
    return text + ledger.diff_text(recorded, folder)
