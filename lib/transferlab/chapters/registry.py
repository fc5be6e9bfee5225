"""A chapter's claims registry: what its confirmatory run will test, fixed before that run.

For every claim: the source's statement in its own terms and where it is made, the criteria (the
chapter's ``CRITERIA``, each with its margin and smallest effect of interest), the replicate unit,
the planned number of replicates with the pilot spread it was computed from, the confirmatory
seeds, and the pilot seeds (disjoint from them). The registry is data in the chapter's code and
has a digest (:meth:`Registry.digest`, a hash of everything above). The chapter also keeps its
**amendments log**: the digest it was frozen with, then one :class:`Amendment` per change (what
changed, why, whether results had been seen, the digest after it). A test fails while the
registry's digest differs from the log's last one: a change is not made silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..utils import markdown_table
from .claims import Criterion


@dataclasses.dataclass(frozen=True)
class Registration:
    """One claim as registered: the source's statement, how it is tested, on what and how often."""

    key: str
    statement: str  # the source's claim in its own terms
    source: str  # the source and section that make it
    criteria: tuple[str, ...]  # names in the chapter's CRITERIA, one per estimate kind
    replicate: str  # the unit that varies between replicates
    planned_n: int  # replicates of the confirmatory run
    pilot_sd: float  # the pilot's spread of the per-replicate values planned_n was computed from (NaN: none)
    scope: str = ""  # "for this source model" where a claim rests on one draw of a model
    reuses: str = ""  # the claim whose per-replicate series this one reuses (not independent evidence)


@dataclasses.dataclass(frozen=True)
class Amendment:
    """A change to a frozen registry: when, what, why, whether results had been seen."""

    date: str
    what: str
    why: str
    results_seen: bool
    digest: str  # the registry's digest after the change


@dataclasses.dataclass(frozen=True)
class Registry:
    """A chapter's registry: its claims, criteria, confirmatory and pilot seeds, frozen on a date."""

    chapter: str
    frozen: str  # the date it was frozen (ISO)
    seeds: tuple[int, ...]  # the confirmatory seeds
    pilot_seeds: tuple[int, ...]
    pilot: str  # what the pilot found, in words (the chapter shows it with the registry)
    claims: tuple[Registration, ...]
    criteria: Mapping[str, Criterion]
    seeds_parameter: str = "seeds"  # the chapter's parameter that holds the confirmatory seeds
    # claims whose replicates the design fixes (held-out runs, planted copies, target classes), not
    # the confirmatory seeds: their planned_n is that count
    design_units: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shared = set(self.seeds) & set(self.pilot_seeds)
        if shared:
            raise ValueError(f"{self.chapter}: pilot and confirmatory seeds overlap: {sorted(shared)}")
        unknown = {n for r in self.claims for n in r.criteria} - set(self.criteria)
        if unknown:
            raise ValueError(f"{self.chapter}: registrations name unknown criteria {sorted(unknown)}")
        short = [
            r.key for r in self.claims if r.key not in self.design_units and r.planned_n > len(self.seeds)
        ]
        if short:
            raise ValueError(
                f"{self.chapter}: claims {short} plan more replicates than the confirmatory seeds"
            )

    def digest(self) -> str:
        """A hash of everything registered (claims, criteria with margins and effects, seeds, the
        pilot's record)."""
        data = {
            "chapter": self.chapter,
            "frozen": self.frozen,
            "seeds": list(self.seeds),
            "pilot_seeds": list(self.pilot_seeds),
            "pilot": self.pilot,
            "claims": [dataclasses.asdict(r) for r in self.claims],
            "criteria": {k: dataclasses.asdict(c) for k, c in sorted(self.criteria.items())},
        }
        if self.design_units:  # absent from the registries frozen before it existed
            data["design_units"] = list(self.design_units)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def registration(self, key: str) -> Registration:
        """The registration of claim ``key``."""
        for r in self.claims:
            if r.key == key:
                return r
        raise KeyError(f"{self.chapter}: no claim {key!r} is registered")

    def table(self) -> pd.DataFrame:
        """One row per registered claim, as the book shows it under the Protocol."""
        return pd.DataFrame(
            [
                {
                    "claim": r.key,
                    "the source's statement": r.statement,
                    "source": r.source,
                    "criteria": ", ".join(r.criteria),  # their text is in the criteria table above
                    "smallest effect": "; ".join(_effect(self.criteria[n]) for n in r.criteria),
                    "replicate": r.replicate,
                    "planned n (pilot sd)": "not tested"
                    if r.planned_n == 0
                    else f"{r.planned_n} ("
                    + ("no pilot spread" if math.isnan(r.pilot_sd) else f"{r.pilot_sd:.3g}")
                    + ")",
                    "notes": "; ".join(
                        x for x in (r.scope, f"reuses ({r.reuses})'s series" if r.reuses else "") if x
                    ),
                }
                for r in self.claims
            ]
        )


def _effect(c: Criterion) -> str:
    return "not declared" if c.effect is None else f"{c.effect:g}"


def amendment_errors(registry: Registry, frozen_digest: str, amendments: tuple[Amendment, ...]) -> list[str]:
    """What is wrong with a chapter's registry against its log: a digest that matches neither the
    frozen one nor the last amendment's means the registry changed without an amendment."""
    expected = amendments[-1].digest if amendments else frozen_digest
    actual = registry.digest()
    if actual == expected:
        return []
    return [
        f"{registry.chapter}: the registry changed (digest {actual}, the log says {expected}). Record an "
        f"Amendment(date, what changed, why, results_seen, digest={actual!r}) in the chapter's AMENDMENTS."
    ]


def registry_markdown(registry: Registry, amendments: tuple[Amendment, ...]) -> str:
    """The registry and its amendments as the book shows them under the Protocol."""
    table = registry.table()
    lines = [
        f"**Registry** (frozen {registry.frozen}, digest `{registry.digest()}`): confirmatory seeds "
        f"{', '.join(map(str, registry.seeds))}; pilot seeds {', '.join(map(str, registry.pilot_seeds))}. "
        f"{registry.pilot}",
        "",
        markdown_table(table.columns, table.values.tolist()),
        "",
    ]
    if amendments:
        lines += ["**Amendments**", ""]
        lines += [
            f"- {a.date}: {a.what} Why: {a.why} ({'after' if a.results_seen else 'before'} results were seen)"
            for a in amendments
        ]
    else:
        lines.append("**Amendments**: none since it was frozen.")
    return "\n".join(lines)


def stamp(config: Any, registry: Registry) -> dict[str, Any]:
    """What a claims table records of the registry: its digest, whether this run is the
    confirmatory run (the registry's confirmatory seeds; a run on other seeds is not), which claims
    reuse another's per-replicate series, and which rest on one draw of a model (their scope)."""
    return {
        "digest": registry.digest(),
        "frozen": registry.frozen,
        "confirmatory": tuple(getattr(config, registry.seeds_parameter, ())) == registry.seeds,
        "reuses": {r.key: r.reuses for r in registry.claims if r.reuses},
        "scope": {r.key: r.scope for r in registry.claims if r.scope},
    }
