"""Chapter "Co-occurrence bias" (thesis §7.3.1, Figure 7.5, Tables G.2–G.3): dogs with people.

Cats and dogs, with or without a person in the picture. The non-spurious source has no people at
all; in the spurious one a person appears with 80% of the dogs and 20% of the cats. Both source
models are transferred to a target of cats and dogs without any person, and every model is
scored on test images with and without people. See :mod:`transferlab.spurious` for the measures.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from .claims import Claim, ClaimsTable
from .common import ModelParams
from .spurious import (SOURCE_TABLES, Results, SpuriousParams, Study, excess, excess_of, figure_examples,
                       figure_excess, figure_gaps, figure_tables, gaps, plan, run, shifts, stage_table)
from .world import SCENE_GROUPS, SCENE_TABLES

SOURCE = "thesis §7.3.1"
STUDY = Study(part="scenes", tables=SCENE_TABLES, groups=SCENE_GROUPS, attribute="person", present=True,
              names=("with people", "without people"), favoured="dog")
TARGET = "target"
THRESHOLD = 0.05  # an excess shift counts as bias from this size (5 points more "dog" with a person)


@dataclasses.dataclass(frozen=True)
class Config(SpuriousParams):
    """Parameters of the co-occurrence chapter (model parameters first, then the tables' scale)."""

    STUDY: ClassVar = STUDY
    RECIPE_NAMES: ClassVar = {**ModelParams.RECIPE_NAMES,
                              "thesis": {"source": "thesis-coco-source", "fixed": "thesis-coco-transfer",
                                         "full": "thesis-coco-transfer", "scratch": "thesis-coco-source"}}

    def target_tables(self) -> tuple[str, ...]:
        return (TARGET,)


PRESETS: dict[str, dict] = {
    "smoke": {"image_size": 16, "arch": "cresnet-xs", "source_epochs": 3, "full_epochs": 2, "scale": 0.03,
              "test_per_group": 20, "seeds": [0, 1]},
    "default": {},
    # Table G.3 on real MS-COCO (add -p data_dir /path/to/data with coco/ in it): ResNet-18 at 224 px,
    # the thesis' tables at full size. COCO's val2017 holds few cats with people: the test groups
    # are kept small enough for it.
    "paper": {"image_size": 224, "arch": "resnet18", "recipes": "thesis", "source_epochs": 25, "full_epochs": 25,
              "scale": 1.0, "test_per_group": 25, "seeds": [0, 1, 2, 3, 4]},
}

__all__ = ["Config", "PRESETS", "Results", "plan", "run", "claims", "gaps", "shifts", "excess", "stage_table",
           "figure_examples", "figure_tables", "figure_gaps", "figure_excess", "summary_text", "figure_panels"]


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of PROTOCOLS §3, measured in this run."""
    ex = excess(results)
    src, fixed, full = (excess_of(ex, s) for s in ("source", "fixed", "full"))
    s = shifts(results)
    own = s[(s.stage == "source") & (s.source == SOURCE_TABLES[1])]["shift"]
    t = f"{THRESHOLD:g}"
    return ClaimsTable("cooccurrence", [
        Claim.from_samples(
            "a", "The spurious source model says 'dog' more often when a person is present",
            SOURCE + ", Fig. 7.5a", src,
            holds=bool(src.mean() > THRESHOLD and own.mean() > 0),
            criterion=f"excess shift to 'dog' with a person (spurious − non-spurious source, per seed) > {t}; "
                      f"the spurious model's own shift {own.mean():+.3f} > 0"),
        Claim.from_samples(
            "b", "After fixed-feature transfer to a people-free target the model still does, more than "
                 "the model from the non-spurious source", SOURCE + ", Fig. 7.5b", fixed,
            holds=bool(fixed.mean() > THRESHOLD),
            criterion=f"excess shift after fixed-feature transfer > {t}"),
        Claim.from_samples(
            "c", "Full-network transfer reduces the bias but does not eliminate it", SOURCE + ", Fig. 7.5c",
            full, holds=bool(THRESHOLD / 2 < full.mean() < fixed.mean()),
            criterion=f"excess shift after full-network transfer between {THRESHOLD / 2:g} and the fixed-feature "
                      f"one ({fixed.mean():+.3f})"),
    ])


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    table = stage_table(results).set_index(["stage", "source"])
    ex = excess(results)

    def sh(stage, source):
        return table.loc[(stage, source), "shift"]

    return (f"A person in the picture moves the spurious source model's answers towards 'dog' by "
            f"{sh('source', 'spurious'):+.1%} (the non-spurious source model's: {sh('source', 'non-spurious'):+.1%}). "
            f"After fixed-feature transfer to cats and dogs without people, the excess of the spurious "
            f"source's model over the non-spurious one's is {excess_of(ex, 'fixed').mean():+.1%}; after "
            f"full-network transfer, {excess_of(ex, 'full').mean():+.1%}. Target accuracy: "
            f"{table.loc[('fixed', 'non-spurious'), 'accuracy']:.1%} / {table.loc[('fixed', 'spurious'), 'accuracy']:.1%} "
            f"(fixed, non-spurious / spurious source), {table.loc[('full', 'non-spurious'), 'accuracy']:.1%} / "
            f"{table.loc[('full', 'spurious'), 'accuracy']:.1%} (full).")


def figure_panels() -> list[tuple[str, str]]:
    """The panels of Figure 7.5: the source models, then fixed-feature and full-network transfer."""
    return [("source", ""), ("fixed", TARGET), ("full", TARGET)]
