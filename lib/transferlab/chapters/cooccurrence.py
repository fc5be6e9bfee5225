"""Chapter "Co-occurrence bias" (thesis §7.3.1, Figure 7.5, Tables G.2–G.3): dogs with people.

Cats and dogs, with or without a person in the picture. The non-spurious source has no people at
all; in the spurious one a person appears with 80% of the dogs and 20% of the cats. Both source
models are transferred to a target of cats and dogs without any person, and every model is
scored on test images with and without people. See :mod:`transferlab.chapters.spurious` for the measures.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ..world import SCENE_GROUPS, SCENE_TABLES
from .base import ModelParams
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts
from .params import param
from .registry import Amendment, Registration, Registry, stamp
from .spurious import (
    EXCESS,
    MEASURED,
    OWN_SHIFT,
    PAPER_SPURIOUS,
    REPLICATE,
    SMOKE_SPURIOUS,
    SOURCE_TABLES,
    THRESHOLD,
    Results,
    SpuriousParams,
    Study,
    excess,
    excess_of,
    run,  # noqa: F401  (every chapter module has run(config) -> Results)
    source_claim,
    stage_table,
)

SOURCE = "thesis §7.3.1"
STUDY = Study(
    part="scenes",
    tables=SCENE_TABLES,
    groups=SCENE_GROUPS,
    attribute="person",
    present=True,
    names=("with people", "without people"),
    favoured="dog",
)
TARGET = "target"


@dataclasses.dataclass(frozen=True)
class Config(SpuriousParams):
    """Parameters of the co-occurrence chapter (model parameters first, then the tables' scale)."""

    STUDY: ClassVar = STUDY
    RECIPE_NAMES: ClassVar = {
        **ModelParams.RECIPE_NAMES,
        "thesis": {
            "source": "thesis-coco-source",
            "fixed": "thesis-coco-transfer",
            "full": "thesis-coco-transfer",
            "scratch": "thesis-coco-source",
        },
    }

    seeds: tuple[int, ...] = param(
        tuple(range(200, 218)),
        "seeds: each trains its own pair of source models and their transfers (the default: the "
        "registry's confirmatory seeds)",
        low=0,
    )

    def target_tables(self) -> tuple[str, ...]:
        return (TARGET,)


PROTOCOL = (
    """**Setup** (thesis §7.3.1, Tables G.2–G.3). A binary cat/dog task on scenes. Two source sets follow
the thesis' tables scaled by `scale`: *non-spurious* (no people) and *spurious* (people with most
dogs and few cats); the non-spurious table's "100" dogs are read as 1,000, the value the other
rows imply. A source model is trained on each (seed by seed, `seeds`), then transferred
fixed-feature and full-network to a people-free target of equal cats and dogs. Every model is
tested on `test_per_group` images per (class, with/without people) group.

"""
    + MEASURED
    + """

**Claims.**
- (a) The spurious source model says "dog" more often when a person is present, more than the
  non-spurious one (Fig. 7.5a).
- (b) After fixed-feature transfer to the people-free target the model still does (Fig. 7.5b).
- (c) Full-network transfer reduces but does not eliminate it: its excess shift stays above half
  the bias threshold and below the fixed-feature one (Fig. 7.5c)."""
)

CRITERIA = criteria(
    EXCESS,
    OWN_SHIFT,
    Criterion(
        "full-remains",
        "excess shift after full-network transfer",
        ">",
        THRESHOLD / 2,
        "'not eliminated': at least half the excess read as bias",
        effect=0.05,
    ),
    Criterion("full-reduces", "excess shift, fixed-feature − full-network", ">", 0.0, effect=0.025),
)

# Registered on 2026-12-03, before the confirmatory run, from a pilot of the default protocol on
# seeds 100-104 (the seeds 0-2 of earlier builds had been seen, so the confirmatory seeds are new).
REGISTRY = Registry(
    chapter="cooccurrence",
    frozen="2026-12-03",
    seeds=tuple(range(200, 218)),
    pilot_seeds=(100, 101, 102, 103, 104),
    pilot=(
        "Pilot (default protocol, seeds 100-104, 5 seeds): source excess shift 0.124 (sd 0.060) and "
        "the spurious source's own shift 0.119 (sd 0.049): (a) held; excess after fixed-feature "
        "transfer 0.097 (sd 0.071): (b) undecided; after full-network transfer 0.077 (sd 0.060), "
        "fixed − full 0.020 (sd 0.034): (c) undecided. Smallest effects of interest, declared with the "
        "registry: five points of excess shift beyond the five-point bias threshold, five points of own "
        "shift, five points beyond half the threshold after full-network transfer, and a reduction of "
        "2.5 points from fixed-feature to full-network. Planned n: 80 % power at one-sided 2.5 % for "
        "each criterion's smallest effect at the pilot's spread (statsmodels TTestPower): (a) 14, "
        "(b) 18, (c) 17; every seed trains both sources and their transfers, so the run uses the largest, "
        "18 seeds, for every claim."
    ),
    claims=(
        Registration(
            "a",
            '"a source model trained on the biased dataset is more likely to predict the image as '
            "\u201cdog\u201d than as \u201ccat\u201d in the presence of people, compared to a model "
            'trained on the unbiased source dataset"',
            SOURCE + ", Fig. 7.5a",
            ("excess-shift", "own-shift"),
            REPLICATE,
            planned_n=14,
            pilot_sd=0.0597,
        ),
        Registration(
            "b",
            '"even though the target dataset does not contain the above-mentioned co-occurrence bias, '
            'the transferred model is highly sensitive to the presence of people"',
            SOURCE + ", Fig. 7.5b",
            ("excess-shift",),
            REPLICATE,
            planned_n=18,
            pilot_sd=0.0707,
        ),
        Registration(
            "c",
            '"Full-network transfer learning helps reduce, but does not eliminate, transfer of this bias"',
            SOURCE + ", Fig. 7.5c",
            ("full-remains", "full-reduces"),
            REPLICATE,
            planned_n=17,
            pilot_sd=0.0341,
        ),
    ),
    criteria=CRITERIA,
)
FROZEN_DIGEST = "29bfff3c8ea6fca1"  # the registry's digest when it was frozen
AMENDMENTS: tuple[Amendment, ...] = ()

PAPER_NOTE = """Table G.3 of the thesis on real MS-COCO: ResNet-18 at 224 px, the tables at full size, 25 epochs,
the registry's 18 seeds. COCO's val2017 holds few cats with people, so the test groups are kept small enough
for it. Meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    scenes="MS-COCO: the sources with and without the dogs-with-people co-occurrence (Table G.3) and the target",
)


PRESETS: dict[str, dict] = {
    "smoke": {**SMOKE_SPURIOUS, "scale": 0.03},
    "default": {},
    "paper": {
        **PAPER_SPURIOUS,
        "source_epochs": 25,
        "full_epochs": 25,
        "test_per_group": 25,
    },
}


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of thesis §7.3.1, measured in this run."""
    ex = excess(results)
    fixed = excess_of(ex, "fixed").set_axis(ex[ex.stage == "fixed"].seed)
    full = excess_of(ex, "full").set_axis(ex[ex.stage == "full"].seed)
    return ClaimsTable(
        "cooccurrence",
        registration=stamp(results.config, REGISTRY),
        claims=[
            source_claim(
                results,
                "The spurious source model says 'dog' more often when a person is present",
                SOURCE + ", Fig. 7.5a",
            ),
            Claim(
                "b",
                "After fixed-feature transfer to a people-free target the model still does, more than "
                "the model from the non-spurious source",
                SOURCE + ", Fig. 7.5b",
                (Estimate.t(EXCESS, fixed, REPLICATE),),
            ),
            Claim(
                "c",
                "Full-network transfer reduces the bias but does not eliminate it",
                SOURCE + ", Fig. 7.5c",
                (
                    Estimate.t(CRITERIA["full-remains"], full, REPLICATE, "full"),
                    Estimate.t(CRITERIA["full-reduces"], fixed - full, REPLICATE, "fixed − full"),
                ),
            ),
        ],
    )


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    table = stage_table(results).set_index(["stage", "source"])
    ex = excess(results)

    def at(stage, column):
        return " / ".join(
            f"{table.loc[(stage, t), column]:{'+.1%' if column == 'shift' else '.1%'}}" for t in SOURCE_TABLES
        )

    return (
        f"A person in the picture moves the source models' answers towards 'dog' by {at('source', 'shift')} "
        f"(non-spurious / spurious source). After fixed-feature transfer to cats and dogs without people, "
        f"the excess of the spurious source's model over the non-spurious one's is "
        f"{excess_of(ex, 'fixed').mean():+.1%}; after full-network transfer, {excess_of(ex, 'full').mean():+.1%}. "
        f"Accuracy on the balanced test set: {at('source', 'accuracy')} (source models), "
        f"{at('fixed', 'accuracy')} (fixed-feature), {at('full', 'accuracy')} (full-network)."
    )


def figure_panels() -> list[tuple[str, str]]:
    """The panels of Figure 7.5: the source models, then fixed-feature and full-network transfer."""
    return [("source", ""), ("fixed", TARGET), ("full", TARGET)]
