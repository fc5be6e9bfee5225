"""The claims table every chapter ends with: claim, source, value measured in this run, holds or not.

A chapter's last cell calls :meth:`ClaimsTable.record`, which shows the table and stores it, with
the chapter's key numbers, in the executed notebook under a mimetype of its own. Tests and the
book's summary page read it back with :func:`read_record`; nothing is copied by hand.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd

RECORD_MIMETYPE = "application/vnd.transferlab.record+json"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a source, the number that tests it in this run, and whether it holds."""

    key: str
    claim: str
    source: str
    measured: float
    spread: float | None
    holds: bool
    criterion: str
    unit: str = ""

    @classmethod
    def from_samples(
        cls,
        key: str,
        claim: str,
        source: str,
        samples: Iterable[float],
        holds: bool,
        criterion: str,
        unit: str = "",
    ) -> Claim:
        """A claim whose measured value is the mean of per-seed samples, spread their std."""
        arr = np.asarray(list(samples), dtype=float)
        spread = float(arr.std(ddof=1)) if arr.size > 1 else None
        return cls(key, claim, source, float(arr.mean()), spread, bool(holds), criterion, unit)

    def measured_text(self) -> str:
        """The measured value with its spread, e.g. ``0.412 ± 0.031``."""
        value = _fmt(self.measured)
        if self.spread is not None and math.isfinite(self.spread):
            value += f" ± {_fmt(self.spread)}"
        return f"{value} {self.unit}".strip()


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


class ClaimsTable:
    """The claims of one chapter, shown as a table and recorded in the executed notebook."""

    def __init__(self, chapter: str, claims: Iterable[Claim]):
        self.chapter = chapter
        self.claims = list(claims)
        keys = [c.key for c in self.claims]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate claim keys in {chapter}: {keys}")

    def frame(self) -> pd.DataFrame:
        """One row per claim: key, claim, source, measured (with spread), criterion, holds."""
        return pd.DataFrame(
            [
                {
                    "key": c.key,
                    "claim": c.claim,
                    "source": c.source,
                    "measured": c.measured_text(),
                    "criterion": c.criterion,
                    "holds": "yes" if c.holds else "no",
                }
                for c in self.claims
            ]
        )

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>" for h in ("", "Claim", "Source", "Measured in this run", "Criterion", "Holds")
        )
        rows = []
        for c in self.claims:
            mark = (
                '<span class="tl-holds">&#10003; yes</span>'
                if c.holds
                else '<span class="tl-fails">&#10007; no</span>'
            )
            cells = (c.key, c.claim, c.source, c.measured_text(), c.criterion)
            rows.append(
                "<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in cells) + f"<td>{mark}</td></tr>"
            )
        return (
            f'<table class="tl-claims"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )

    def to_json(self, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The record stored in the notebook: chapter, claims and key metrics."""
        return {
            "chapter": self.chapter,
            "claims": _jsonable([dataclasses.asdict(c) for c in self.claims]),
            "metrics": _jsonable(dict(metrics or {})),
        }

    def record(self, metrics: Mapping[str, Any] | None = None, show: bool = True) -> None:
        """Show the table (unless ``show`` is false) and store it, plus ``metrics``, in the
        notebook's output."""
        from IPython.display import display

        shown = {"text/html": self._repr_html_(), "text/plain": self.frame().to_string(index=False)}
        display({**(shown if show else {}), RECORD_MIMETYPE: self.to_json(metrics)}, raw=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN: a value not measured in this run is stored as null
    return obj


def read_record(notebook: str | Path) -> dict[str, Any]:
    """The record a chapter's last cell stored in an executed notebook."""
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RECORD_MIMETYPE in data:
                rec = data[RECORD_MIMETYPE]
                return json.loads(rec) if isinstance(rec, str) else dict(rec)
    raise LookupError(f"{notebook} holds no claims record: was it executed to the end?")
