"""The results ledger: every chapter's claims as its default build measured them, committed to the
repository (``results/ledger.json``), so that a verdict's drift between commits or machines can be
seen.

A build is compared with the ledger claim by claim (:func:`changes`): verdicts that changed, and
how far each estimate moved and how its interval's width changed, in half-widths. ``transferlab
ledger update`` writes the ledger from a built book; ``make book`` prints the comparison; the
summary page shows the build's provenance (commit, machine, numeric path, date) and the changes.
Each chapter's entry keeps its own provenance: a ledger updated from a build of a few chapters
keeps the others' entries.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from ..train import cpu_model, numerics
from ..utils import markdown_table
from .claims import Claim, jsonable, read_record

LEDGER = Path("results") / "ledger.json"  # relative to the repository's root
VERSION = 1


def chapter_files(folder: str | Path) -> list[Path]:
    """The executed chapter notebooks in ``folder``, in chapter order."""
    files = sorted(Path(folder).glob("[0-9]*.ipynb"))
    if not files:
        raise FileNotFoundError(
            f"no executed chapter notebooks in {Path(folder).resolve()}: "
            "build the book (`make book`) or run the chapters into that folder first"
        )
    return files


def provenance(root: str | Path) -> dict[str, Any]:
    """Where and when a build ran: the commit (and whether the checkout had uncommitted changes),
    the machine (CPU, cores, numeric path) and the date."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
        "uncommitted": bool(git("status", "--porcelain", "--untracked-files=no")),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "numerics": numerics(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def chapter_entry(notebook: str | Path) -> dict[str, Any]:
    """One executed chapter's ledger entry: its preset, overrides and registration (the registry's
    digest, and whether the run was the confirmatory one), the provenance the runner took when the
    run started and its wall time (absent from notebooks run before the runner recorded them), and
    per claim its verdict and every estimate's value, interval, replicate count and verdict within
    the claim. ``made``: the store entries the run added (0: every model came from the store)."""
    meta = nbformat.read(str(notebook), as_version=4).metadata.get("transferlab", {})
    record = read_record(notebook)
    claims = [Claim.from_json(c) for c in record["claims"]]
    return {
        "preset": meta.get("preset", "?"),
        "overrides": meta.get("overrides", {}),
        "registration": record.get("registration"),  # the registry's digest, and whether confirmatory
        **{k: meta[k] for k in ("provenance", "seconds", "made") if k in meta},
        "claims": [
            {
                "key": c.key,
                "verdict": c.verdict,
                "estimates": [
                    {"label": e.label, "value": e.value, "low": e.low, "high": e.high, "n": e.n, "verdict": v}
                    for e, v in zip(c.estimates, c.verdicts())
                ],
            }
            for c in claims
        ],
    }


def snapshot(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Every executed chapter of ``folder``, by notebook stem."""
    return {nb.stem: chapter_entry(nb) for nb in chapter_files(folder)}


class LedgerError(ValueError):
    """A results ledger that cannot be read: the message says how to restore it."""


def load(path: str | Path) -> dict[str, Any]:
    """The ledger at ``path`` (no file: an empty ledger). A file that is not one says so and how to
    make it again."""
    path = Path(path)
    if not path.is_file():
        return {"version": VERSION, "chapters": {}}
    try:
        ledger = json.loads(path.read_text())
        if ledger.get("version") != VERSION or not isinstance(ledger.get("chapters"), dict):
            raise ValueError(f"not a version-{VERSION} ledger")
    except (ValueError, AttributeError) as e:
        raise LedgerError(
            f"{path} is not a results ledger ({e}); restore it with `git checkout {path}` or write it "
            "anew from a built book with `transferlab ledger update`"
        ) from None
    return ledger


def update(path: str | Path, snap: dict[str, dict[str, Any]], prov: dict[str, Any]) -> dict[str, Any]:
    """Write ``snap``'s chapters into the ledger at ``path`` (the other chapters' entries are kept)
    with the provenance each run recorded when it started, or ``prov`` (this checkout now) for a
    notebook that has none; return the ledger."""
    ledger = load(path)
    for name, entry in snap.items():
        ledger["chapters"][name] = {**entry, "provenance": entry.get("provenance") or prov}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(jsonable(ledger), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return ledger


def changes(ledger: dict[str, Any], snap: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Per estimate of every chapter in both, on the same preset: the ledger's and the build's
    claim verdict, the estimate's shift in half-widths and its interval's width against the
    ledger's (``width ratio``); a chapter or claim missing from either is a row of its own."""
    rows = []
    for name, entry in snap.items():
        old = ledger["chapters"].get(name)
        if old is None or old.get("preset") != entry["preset"]:
            why = "not in the ledger" if old is None else f"ledger preset {old.get('preset')!r}"
            rows.append({"chapter": name, "claim": "", "note": why})
            continue
        digests = [(e.get("registration") or {}).get("digest") for e in (old, entry)]
        if digests[0] != digests[1]:
            rows.append({"chapter": name, "claim": "", "note": f"registry {digests[0]} → {digests[1]}"})
        before = {c["key"]: c for c in old["claims"]}
        for claim in entry["claims"]:
            was = before.pop(claim["key"], None)
            if was is None:
                rows.append({"chapter": name, "claim": claim["key"], "note": "new claim"})
                continue
            for e, w in zip(claim["estimates"], was["estimates"]):
                rows.append(
                    {
                        "chapter": name,
                        "claim": claim["key"],
                        "estimate": e["label"],
                        "ledger": was["verdict"],
                        "build": claim["verdict"],
                        "shift / half-width": _ratio(abs(_num(e["value"]) - _num(w["value"])), _half(w)),
                        "width ratio": _ratio(_half(e), _half(w)),
                        "note": "",
                    }
                )
        rows += [{"chapter": name, "claim": k, "note": "gone from the build"} for k in before]
    return pd.DataFrame(rows)


def report(table: pd.DataFrame) -> str:
    """The comparison in words: verdicts that changed, the median shift and width ratio, and what
    could not be compared."""
    if table.empty:
        return "No chapter to compare with the results ledger."
    compared = table[table.note == ""] if "ledger" in table else table.iloc[:0]
    claims = compared.drop_duplicates(["chapter", "claim"])
    changed = [
        f"{r.chapter} ({r.claim}) {r.ledger} → {r.build}" for r in claims.itertuples() if r.ledger != r.build
    ]
    text = f"Against the results ledger: {len(claims)} claims compared, {len(changed)} verdicts changed"
    parts = [text + (": " + "; ".join(changed) if changed else "") + "."]
    if len(compared):
        parts.append(
            f"Estimates moved by a median {compared['shift / half-width'].median():.2f} half-widths "
            f"(largest {compared['shift / half-width'].max():.2f}); intervals are "
            f"{compared['width ratio'].median():.2f} times as wide as the ledger's (median)."
        )
    other = [
        f"{r.chapter}{f' ({r.claim})' if r.claim else ''}: {r.note}" for r in table.itertuples() if r.note
    ]
    if other:
        parts.append("Not compared: " + "; ".join(other) + ".")
    return " ".join(parts)


def diff_text(ledger: dict[str, Any], folder: str | Path) -> str:
    """The executed chapters of ``folder`` compared with ``ledger``, in words (:func:`report`)."""
    return report(changes(ledger, snapshot(folder)))


def _minutes(secs: float) -> str:
    return f"{round(secs) // 60} min {round(secs) % 60} s"


def timings(ledger: dict[str, Any]) -> str:
    """The ledger's run times as a markdown table (the README's): per chapter its wall time, the
    store entries the run made (models, data, measurements; 0: all from the store), whether it was
    the registered confirmatory run, and the commit, machine and date that measured it; then the
    chapters' total, with how many commits and machines it spans (a sum over separate runs is not
    one build's time: the table says so)."""
    rows = []
    for name, e in sorted(ledger["chapters"].items()):
        p, reg = e.get("provenance") or {}, e.get("registration") or {}
        secs = e.get("seconds")
        wall = "not recorded" if secs is None else _minutes(secs)
        run = "confirmatory" if reg.get("confirmatory") else "not confirmatory" if reg else "unregistered"
        machine = f"{p.get('cpu', '?')}, {p.get('cores', '?')} cores, {p.get('numerics', '?')} numerics"
        rows.append(
            [
                name,
                wall,
                e.get("made", "not recorded"),
                run,
                p.get("commit", "?"),
                machine,
                str(p.get("date", "?"))[:10],
            ]
        )
    entries = ledger["chapters"].values()
    recorded = [e["seconds"] for e in entries if e.get("seconds") is not None]
    if recorded:
        commits = {(e.get("provenance") or {}).get("commit") for e in entries}
        machines = {row[5] for row in rows}
        missing = len(entries) - len(recorded)
        rows.append(
            [
                "**total**",
                _minutes(sum(recorded)),
                sum(e.get("made", 0) or 0 for e in entries),
                f"{len(commits)} commit(s), {len(machines)} machine(s)"
                + (f"; {missing} chapter(s) not recorded" if missing else ""),
                "",
                "",
                "",
            ]
        )
    return markdown_table(["chapter", "wall time", "entries made", "run", "commit", "machine", "date"], rows)


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def _half(e: dict[str, Any]) -> float:
    return (_num(e["high"]) - _num(e["low"])) / 2


def _ratio(a: float, b: float) -> float:
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan
