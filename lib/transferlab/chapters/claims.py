"""The claims table every chapter ends with: each claim of a source, the quantity that tests it
with a 95 % interval over independent replicates, the criterion it is held to, and a
verdict.

- A :class:`Criterion` is data in the chapter's code (``CRITERIA``): what is measured per
  replicate, the side (``>``, ``<``, or ``within`` ± a margin), the margin, and why that margin.
  The book shows it in the chapter's Protocol section and next to the claim.
- An :class:`Estimate` is one tested quantity: its per-replicate values, their mean and a 95 %
  interval (Student's *t* on the per-replicate values, which are paired differences where the
  design pairs; or an interval the chapter computed otherwise, e.g. a bootstrap, with its method).
- A :class:`Claim` holds one or more estimates (e.g. one per target, when the source claims it
  for every target). Its verdict: **holds** when every estimate's interval lies on the claim's
  side of its criterion (an intersection–union test: each at one-sided 2.5 %, the claim too);
  **contradicted** when an estimate lies on the other side after Holm's adjustment over the
  claim's estimates (one-sided 2.5 % for the claim, however many estimates it has; it wins over
  n/a); **n/a** when a quantity cannot be measured in this run (no planted truth on real data);
  **undecided** otherwise.
- A criterion may declare the **smallest effect of interest** (how far beyond the margin the
  quantity must be for the claim to matter); the power statement of an undecided claim then says
  how many replicates a new registration would need to decide such an effect with 80 % power
  (:class:`statsmodels.stats.power.TTestPower`), never a projection from the observed mean.

A chapter's last cell calls :meth:`ClaimsTable.record`, which shows the table and stores it in
the executed notebook under a mimetype of its own; tests and the summary page read it back with
:func:`read_record`.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

RECORD_MIMETYPE = "application/vnd.transferlab.record+json"
LEVEL = 0.95  # every interval of the book
ALPHA = (1 - LEVEL) / 2  # the one-sided error of a verdict: an interval's side, or Holm's over a claim
POWER = 0.8  # the power a planned replicate count aims at, for the declared smallest effect
VERDICTS = ("holds", "contradicted", "undecided", "n/a")
SIDES = (">", "<", "within")
MAX_REPLICATES = 1000  # beyond this a claim is called undecidable at its measured spread
INTERVAL_NOTE = (
    "Intervals are 95 % intervals over independent replicates: Student's t on the per-replicate "
    "values (paired differences where the design pairs two conditions by seed) unless the "
    "claims table names another method under the numbers. Holds: every estimate's whole interval is on "
    "the claim's side of its criterion; contradicted: an estimate is on the other side at one-sided 2.5 % "
    "after Holm's adjustment over the claim's estimates; n/a: a quantity cannot be measured in this run; "
    "undecided: otherwise."
)


@dataclasses.dataclass(frozen=True)
class Criterion:
    """What a claim is held to, fixed before the run: ``quantity`` (per replicate) ``side`` ``margin``.

    ``side`` is ``">"`` or ``"<"`` (the quantity lies above / below ``margin``) or ``"within"``
    (``|quantity| < margin``). ``why`` says in one sentence why this margin where it is a judgement call.
    """

    name: str
    quantity: str
    side: str
    margin: float
    why: str = ""
    effect: float | None = None  # smallest effect of interest: how far beyond the margin matters

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"criterion {self.name!r}: side must be one of {SIDES}, got {self.side!r}")
        if self.side == "within" and not self.margin > 0:
            raise ValueError(f"criterion {self.name!r}: 'within' needs a margin above 0")
        if self.effect is not None and not (math.isfinite(self.effect) and self.effect > 0):
            raise ValueError(
                f"criterion {self.name!r}: the smallest effect must be above 0, got {self.effect}"
            )
        if self.side == "within" and self.effect is not None and self.effect >= self.margin:
            raise ValueError(f"criterion {self.name!r}: a 'within' effect must be below the margin")

    def text(self) -> str:
        """The criterion as the book writes it, e.g. ``ASR gap > 0.05`` or ``|Δ accuracy| < 0.03``."""
        if self.side == "within":
            return f"|{self.quantity}| < {_fmt(self.margin)}"
        return f"{self.quantity} {self.side} {_fmt(self.margin)}"

    def verdict(self, low: float, high: float) -> str:
        """The verdict of an interval [low, high] against this criterion."""
        if math.isnan(low) or math.isnan(high):
            return "n/a"
        m = self.margin
        if self.side == ">":
            return "holds" if low > m else "contradicted" if high < m else "undecided"
        if self.side == "<":
            return "holds" if high < m else "contradicted" if low > m else "undecided"
        if -m < low and high < m:
            return "holds"
        return "contradicted" if low > m or high < -m else "undecided"

    def distance(self, value: float) -> float:
        """How far ``value`` lies on the claim's side of the criterion (negative: the other side)."""
        if self.side == ">":
            return value - self.margin
        if self.side == "<":
            return self.margin - value
        return self.margin - abs(value)

    def oriented(self, low: float, high: float) -> tuple[float, float]:
        """The interval as distances on the claim's side (for the summary's forest plot)."""
        if self.side == ">":
            return low - self.margin, high - self.margin
        if self.side == "<":
            return self.margin - high, self.margin - low
        far = max(abs(low), abs(high))
        near = 0.0 if low <= 0 <= high else min(abs(low), abs(high))
        return self.margin - far, self.margin - near

    def p_other_side(self, mean: float, se: float, df: int) -> float:
        """One-sided p-value of "the quantity lies on the other side of the margin" for a mean with
        standard error ``se`` and ``df`` degrees of freedom (Student's t): small when the data
        contradict the claim. For ``within``, the smaller of the two sides' p-values."""
        m = self.margin
        if se == 0:
            return 0.0 if self.distance(mean) < 0 else 1.0
        if self.side == ">":
            return float(sps.t.cdf((mean - m) / se, df))
        if self.side == "<":
            return float(sps.t.sf((mean - m) / se, df))
        return float(min(sps.t.sf((mean - m) / se, df), sps.t.cdf((mean + m) / se, df)))

    def replicates_needed(self, sd: float) -> int | None:
        """Replicates a registration needs to decide a true quantity lying the smallest effect of
        interest beyond the margin with 80 % power at one-sided 2.5 %, at spread ``sd`` (a one-sample
        t-test, :meth:`statsmodels.stats.power.TTestPower.solve_power`; for ``within``, the side
        nearer the true value). ``None``: no effect declared, no spread, or more than
        ``MAX_REPLICATES``."""
        if self.effect is None or not (sd is not None and math.isfinite(sd)):
            return None
        power, size = TTestPower(), self.effect / sd if sd > 0 else math.inf
        # where two replicates suffice the solver does not converge, and at an effect of many
        # thousand standard deviations (a numerical identity) the power itself is not finite
        if size > 1e3 or power.power(effect_size=size, nobs=2, alpha=ALPHA, alternative="larger") >= POWER:
            return 2
        n = power.solve_power(effect_size=size, alpha=ALPHA, power=POWER, alternative="larger")
        if not math.isfinite(n) or n > MAX_REPLICATES:
            return None
        return math.ceil(float(n))


def criteria(*items: Criterion) -> dict[str, Criterion]:
    """A chapter's ``CRITERIA``: its criteria by name (names unique)."""
    out = {c.name: c for c in items}
    if len(out) != len(items):
        raise ValueError(f"duplicate criterion names: {[c.name for c in items]}")
    return out


def t_interval(samples: Iterable[float]) -> tuple[float, float, float, float | None]:
    """Mean, 95 % t-interval and std of per-replicate values (an infinite interval for one value)."""
    arr = np.asarray([float(s) for s in samples], dtype=float)
    if arr.size == 0 or not np.isfinite(arr).all():
        return math.nan, math.nan, math.nan, None
    mean = float(arr.mean())
    if arr.size == 1:
        return mean, -math.inf, math.inf, None
    sd = float(arr.std(ddof=1))
    half = _t_quantile(arr.size - 1) * sd / math.sqrt(arr.size)
    return mean, mean - half, mean + half, sd


@functools.lru_cache(maxsize=256)
def _t_quantile(df: int) -> float:
    """Student's t quantile of the book's intervals at ``df`` degrees of freedom (scipy's is slow
    to call, and the calibration tests call it tens of thousands of times)."""
    return float(sps.t.ppf(0.5 + LEVEL / 2, df))


@dataclasses.dataclass(frozen=True)
class Estimate:
    """One tested quantity of a claim: value and 95 % interval over ``n`` replicates, against its criterion."""

    criterion: Criterion
    value: float
    low: float
    high: float
    n: int
    replicates: str  # what one replicate is, e.g. "seed (source and transfers)"
    label: str = ""  # which part of the claim, e.g. a target's name ("" when the claim has one)
    samples: tuple[float, ...] = ()
    sd: float | None = None
    method: str = "t"  # how the interval was computed: "t" (Student's t over the samples) or named
    missing: str = ""  # why the quantity is not measured in this run (then the verdict is n/a)

    @classmethod
    def t(cls, criterion: Criterion, samples: Iterable[float], replicates: str, label: str = "") -> Estimate:
        """The mean of per-replicate values with its t-interval.

        Parameters
        ----------
        criterion
            The claim's criterion (one of the chapter's ``CRITERIA``): side and margin.
        samples
            One value per replicate (e.g. a per-seed difference).
        replicates
            What one replicate is, as the claims table says it.
        label
            What this estimate is of, where a claim has several (a target, a mode).
        """
        values = tuple(float(s) for s in samples)
        mean, low, high, sd = t_interval(values)
        return cls(criterion, mean, low, high, len(values), replicates, label, values, sd)

    @classmethod
    def interval(
        cls,
        criterion: Criterion,
        value: float,
        low: float,
        high: float,
        n: int,
        replicates: str,
        method: str,
        label: str = "",
    ) -> Estimate:
        """A value with an interval the chapter computed otherwise (``method`` names how)."""
        return cls(criterion, float(value), float(low), float(high), n, replicates, label, method=method)

    @classmethod
    def not_measured(cls, criterion: Criterion, why: str, label: str = "") -> Estimate:
        """A quantity this run cannot measure (the claim's verdict is n/a); ``why`` says so."""
        return cls(criterion, math.nan, math.nan, math.nan, 0, "", label, method="", missing=why)

    @property
    def verdict(self) -> str:
        if self.missing or math.isnan(self.value):
            return "n/a"
        return self.criterion.verdict(self.low, self.high)

    @property
    def p_other_side(self) -> float | None:
        """One-sided p-value of "the quantity lies on the other side of the criterion" (``None``:
        not measured). From the samples for a t-interval. For an interval computed otherwise (a
        t-interval over images, Wilson, a bootstrap) the standard error is read back from the half of
        the 95 % interval that faces the margin, as a t-interval with ``n − 1`` degrees of freedom
        would give it: exact for a t-interval, an approximation for the others, and consistent with
        the interval's own verdict (p < 2.5 % exactly when it lies wholly on the other side)."""
        if self.verdict == "n/a":
            return None
        if self.method == "t" and self.n >= 2 and self.sd is not None:
            return self.criterion.p_other_side(self.value, self.sd / math.sqrt(self.n), self.n - 1)
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return 1.0
        df = max(self.n - 1, 1)
        below = self.value < self.criterion.margin if self.criterion.side != "<" else False
        if self.criterion.side == "within":
            below = self.value < 0
        half = (self.high - self.value) if below else (self.value - self.low)
        return self.criterion.p_other_side(self.value, max(half, 0.0) / _t_quantile(df), df)

    @property
    def replicates_needed(self) -> int | None:
        """The replicates a new registration would need for this t-estimate: the declared smallest
        effect with 80 % power at the spread measured here (``None``: not a t-estimate, no spread,
        or no effect declared). Never a projection from the observed mean."""
        if self.method != "t" or self.sd is None:
            return None
        return self.criterion.replicates_needed(self.sd)

    def text(self) -> str:
        """``label: value [low, high]``."""
        if self.verdict == "n/a":
            why = f" ({self.missing})" if self.missing else ""
            return f"{self.label + ': ' if self.label else ''}not measured{why}"
        interval = f"[{_fmt(self.low)}, {_fmt(self.high)}]"
        return f"{self.label + ': ' if self.label else ''}{_fmt(self.value)} {interval}"


def combine(verdicts: Iterable[str]) -> str:
    """The verdict of a claim from its estimates' (already adjusted for multiplicity): one
    contradicted → contradicted (even beside an n/a); one not measured → n/a; all hold → holds."""
    vs = list(verdicts)
    if "contradicted" in vs:
        return "contradicted"
    if not vs or "n/a" in vs:
        return "n/a"
    return "holds" if all(v == "holds" for v in vs) else "undecided"


def contradicted(p_values: Iterable[float]) -> list[bool]:
    """Which of a claim's estimates contradict it: Holm's step-down over their one-sided p-values
    (:func:`statsmodels.stats.multitest.multipletests`), the claim's error at one-sided 2.5 %."""
    ps = list(p_values)
    if not ps:
        return []
    return [bool(r) for r in multipletests(ps, alpha=ALPHA, method="holm")[0]]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a source and the estimates that decide it in this run."""

    key: str
    claim: str
    source: str
    estimates: tuple[Estimate, ...]
    note: str = ""  # context the reader needs beside the numbers (e.g. the scratch baseline)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimates", tuple(self.estimates))

    def verdicts(self) -> list[str]:
        """Each estimate's verdict within the claim: "contradicted" only where Holm's adjustment over
        the claim's measured estimates keeps it (else an interval on the other side is undecided)."""
        return list(self._verdicts)

    @functools.cached_property
    def _verdicts(self) -> tuple[str, ...]:
        raw = [e.verdict for e in self.estimates]
        if "contradicted" not in raw:  # Holm rejects only p-values below 2.5 %: none to adjust
            return tuple(raw)
        measured = [i for i, v in enumerate(raw) if v != "n/a"]
        kept = contradicted(self.estimates[i].p_other_side for i in measured)
        out = ["undecided" if v == "contradicted" else v for v in raw]
        for i, k in zip(measured, kept):
            if k:
                out[i] = "contradicted"
        return tuple(out)

    @property
    def verdict(self) -> str:
        return combine(self.verdicts())

    @property
    def replicates_needed(self) -> int | None:
        """For an undecided claim: the replicates a new registration would need to decide its
        undecided estimates (each at its declared smallest effect, 80 % power, this run's spread);
        ``None`` where the claim is decided or some estimate has no such count."""
        if self.verdict != "undecided":
            return None
        needs = [e.replicates_needed for e, v in zip(self.estimates, self.verdicts()) if v == "undecided"]
        return None if not needs or None in needs else max(needs)

    def measured_text(self) -> str:
        """Every estimate, ``value [95 % interval]``, separated by semicolons."""
        return "; ".join(e.text() for e in self.estimates)

    def criterion_text(self) -> str:
        """The criteria of the claim's estimates (each once)."""
        seen: dict[str, None] = {}
        for e in self.estimates:
            seen.setdefault(e.criterion.text(), None)
        return "; ".join(seen)

    def power_text(self) -> str:
        """For an undecided claim: what a new registration would need (it stays undecided here)."""
        if self.verdict != "undecided":
            return ""
        n = self.replicates_needed
        have = max((e.n for e in self.estimates), default=0)
        if n is not None:
            return (
                f"Undecided at this run's {have} replicates; a new registration would need about {n} "
                "(80 % power for the declared smallest effect, at this run's spread)."
            )
        if any(e.criterion.effect is None for e in self.estimates):
            return f"Undecided at this run's {have} replicates (no smallest effect declared: no count projected)."
        return f"Undecided at this run's {have} replicates; more than {MAX_REPLICATES} would be needed."

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["verdict"] = self.verdict
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Claim:
        """A claim back from its record (a value not measured, stored as null, is NaN)."""
        estimates = []
        for e in d["estimates"]:
            e = dict(e)
            e["criterion"] = Criterion(**e["criterion"])
            for f in ("value", "low", "high"):
                e[f] = _number(e[f], f)
            e["samples"] = tuple(_number(s, "value") for s in e.get("samples", ()))
            estimates.append(Estimate(**e))
        return cls(d["key"], d["claim"], d["source"], tuple(estimates), d.get("note", ""))


def _number(x: Any, field: str) -> float:
    if x is None:
        return {"low": -math.inf, "high": math.inf}.get(field, math.nan)
    return float(x)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x == 0 or not math.isfinite(x):
        return {math.inf: "∞", -math.inf: "−∞"}.get(x, f"{x:g}")
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


MARKS = {  # per verdict: the claims table's CSS class and the mark shown (here and on the summary page)
    "holds": ("tl-holds", "✓ holds"),
    "contradicted": ("tl-fails", "✗ contradicted"),
    "undecided": ("tl-undecided", "? undecided"),
    "n/a": ("tl-na", "– n/a"),
}


def verdict_counts(verdicts: Iterable[str]) -> dict[str, int]:
    """How many of ``verdicts`` are each verdict (every verdict named, 0 where none)."""
    vs = list(verdicts)
    return {v: vs.count(v) for v in VERDICTS}


class ClaimsTable:
    """The claims of one chapter, shown as a table and recorded in the executed notebook."""

    def __init__(self, chapter: str, claims: Iterable[Claim], registration: Mapping[str, Any] | None = None):
        self.chapter = chapter
        self.claims = list(claims)
        self.registration = dict(registration) if registration else None  # registry.stamp(...)
        keys = [c.key for c in self.claims]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate claim keys in {chapter}: {keys}")

    def counts(self) -> dict[str, int]:
        """How many claims have each verdict."""
        return verdict_counts(c.verdict for c in self.claims)

    def frame(self) -> pd.DataFrame:
        """One row per claim: key, claim, source, measured (with intervals), criterion, verdict."""
        return pd.DataFrame(
            [
                {
                    "key": c.key,
                    "claim": c.claim,
                    "source": c.source,
                    "measured [95% interval]": c.measured_text(),
                    "criterion": c.criterion_text(),
                    "verdict": c.verdict,
                }
                for c in self.claims
            ]
        )

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>"
            for h in ("", "Claim", "Source", "Measured in this run [95 % interval]", "Criterion", "Verdict")
        )
        rows = []
        for c in self.claims:
            css, mark = MARKS[c.verdict]
            replicates = sorted(
                {
                    f"{e.n} × {e.replicates}" + ("" if e.method == "t" else f", {e.method}")
                    for e in c.estimates
                    if e.n
                }
            )
            measured = "<br>".join(html.escape(e.text()) for e in c.estimates)
            if replicates:
                measured += f"<br><small>replicates: {html.escape('; '.join(replicates))}</small>"
            extra = " ".join(x for x in (self.dependence_text(c.key), c.note, c.power_text()) if x)
            claim = html.escape(c.claim) + (f"<br><small>{html.escape(extra)}</small>" if extra else "")
            cells = (
                html.escape(c.key),
                claim,
                html.escape(c.source),
                measured,
                html.escape(c.criterion_text()),
            )
            rows.append(
                "<tr>"
                + "".join(f"<td>{x}</td>" for x in cells)
                + f'<td><span class="{css}">{mark}</span></td></tr>'
            )
        counts = ", ".join(f"{n} {v}" for v, n in self.counts().items() if n)
        return (
            f'<table class="tl-claims"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"<p><small>{html.escape(counts)}. {html.escape(self.registration_text())} "
            f"{html.escape(INTERVAL_NOTE)}</small></p>"
        )

    def dependence_text(self, key: str) -> str:
        """What a registered claim's evidence rests on, where it is not independent: another claim's
        per-replicate series, or one draw of a model."""
        r = self.registration or {}
        parts = []
        if key in r.get("reuses", {}):
            parts.append(
                f"Reuses claim ({r['reuses'][key]})'s per-replicate series: not independent evidence."
            )
        if key in r.get("scope", {}):
            parts.append(f"{r['scope'][key][:1].upper()}{r['scope'][key][1:]}.")
        return " ".join(parts)

    def registration_text(self) -> str:
        """Whether these claims are registered, and whether this run is their confirmatory run."""
        r = self.registration
        if not r:
            return "These claims are not yet registered before the run that decides them."
        which = (
            "this run is the confirmatory run (the registry's seeds)"
            if r["confirmatory"]
            else "this run is not the confirmatory run (other seeds or preset): its verdicts are exploratory"
        )
        return f"Claims registered {r['frozen']} (registry {r['digest']}); {which}."

    def to_json(self, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The record stored in the notebook: chapter, claims (with verdicts) and key metrics."""
        return {
            "chapter": self.chapter,
            "claims": jsonable([c.to_json() for c in self.claims]),
            "metrics": jsonable(dict(metrics or {})),
            "registration": self.registration,
        }

    def record(self, metrics: Mapping[str, Any] | None = None, show: bool = True) -> None:
        """Show the table (unless ``show`` is false) and store it, plus ``metrics``, in the
        notebook's output."""
        from IPython.display import display

        shown = {"text/html": self._repr_html_(), "text/plain": self.frame().to_string(index=False)}
        display({**(shown if show else {}), RECORD_MIMETYPE: self.to_json(metrics)}, raw=True)


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON can hold it: mappings with string keys, lists, Python numbers, and no NaN or
    infinity (stored as null; :meth:`Claim.from_json` reads them back)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN or ∞: stored as null (read back by Claim.from_json)
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


def read_claims(notebook: str | Path) -> list[Claim]:
    """The claims of an executed chapter notebook."""
    return [Claim.from_json(c) for c in read_record(notebook)["claims"]]
