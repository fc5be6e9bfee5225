"""Chapter "Gender–age bias" (thesis §7.3.2, Figures 7.6 and G.6, Tables G.4–G.6).

Faces, young or old. The non-spurious source has as many young and old men as women; the spurious
one over-represents old men and young women (4:1). Both source models are transferred to three
targets in which gender says nothing about age (only women; 80% women; 50/50), fixed-feature and
full-network, and every model is scored per (age, gender) group. See :mod:`transferlab.chapters.spurious`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ..params import distinct, param
from ..world import FACE_GROUPS, FACE_TABLES
from .base import ModelParams
from .claims import Claim, ClaimsTable, Estimate, criteria
from .contract import data_parts
from .spurious import (
    EXCESS,
    MEASURED,
    OWN_SHIFT,
    REPLICATE,
    Results,
    SpuriousParams,
    Study,
    excess,
    excess_of,
    run,  # noqa: F401  (every chapter module has run(config) -> Results)
    source_claim,
    stage_table,
)

SOURCE = "thesis §7.3.2"
STUDY = Study(
    part="faces",
    tables=FACE_TABLES,
    groups=FACE_GROUPS,
    attribute="gender",
    present="male",
    names=("male", "female"),
    favoured="old",
)
TARGETS = ("only-women", "80-women", "50-50")


@dataclasses.dataclass(frozen=True)
class Config(SpuriousParams):
    """Parameters of the gender–age chapter (model parameters first, then the tables and targets)."""

    full_epochs: int = param(
        6,
        "epochs of full-network transfer to a target (the targets here are as large as "
        "the source: 6 epochs over them is 40% of the source's training)",
        low=1,
        high=1000,
    )
    scale: float = param(
        0.1,
        "multiplies every count of the thesis' sampling tables (1: the thesis' sizes)",
        low=0.001,
        high=10.0,
    )
    targets: tuple[str, ...] = param(TARGETS, "target tables (Table G.5)", choices=TARGETS)

    STUDY: ClassVar = STUDY
    RECIPE_NAMES: ClassVar = {
        **ModelParams.RECIPE_NAMES,
        "thesis": {role: "thesis-celeba" for role in ("source", "fixed", "full", "scratch")},
    }

    def __post_init__(self) -> None:
        distinct("targets", self.targets)
        super().__post_init__()

    def target_tables(self) -> tuple[str, ...]:
        return self.targets


PROTOCOL = (
    """**Setup** (thesis §7.3.2, Tables G.4–G.6). A young/old task on faces whose age and gender are drawn
as visible features. Two source sets follow the thesis' tables scaled by `scale`: *non-spurious*
(the four age × gender groups equal) and *spurious* (old men and young women four times as many as
young men and old women). A source model is trained on each (seed by seed, `seeds`), then
transferred fixed-feature and full-network to each target of `targets`: only women, 80 % women,
and 50/50. Every model is tested on `test_per_group` images per (age, gender) group.

"""
    + MEASURED
    + """
Here the favoured class is "old" for men and "young" for women.

**Claims.**
- (a) The spurious source model predicts "old" for men and "young" for women more than the
  non-spurious one (Fig. 7.6a).
- (b) The bias persists after transfer to every target, even the 50/50 one, checked for each mode
  (b-fixed: Fig. 7.6b–c, G.6b–d; b-full: Fig. G.6e–g)."""
)

CRITERIA = criteria(EXCESS, OWN_SHIFT)

PAPER_NOTE = """Table G.6 of the thesis on real CelebA: ResNet-18 at 224 px, the tables at full size, 20 epochs,
1,000 test faces per group, five seeds. Meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    faces="CelebA: the gender–age correlated source and the only-women, 80/20 and 50/50 targets (Table G.6)",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        "image_size": 16,
        "arch": "cresnet-xs",
        "source_epochs": 3,
        "full_epochs": 2,
        "scale": 0.006,
        "test_per_group": 20,
        "targets": ["only-women", "50-50"],
        "seeds": [0, 1],
    },
    "default": {},
    "paper": {
        "image_size": 224,
        "arch": "resnet18",
        "recipes": "thesis",
        "source_epochs": 20,
        "full_epochs": 20,
        "scale": 1.0,
        "test_per_group": 1000,
        "seeds": [0, 1, 2, 3, 4],
    },
}


def claims(results: Results) -> ClaimsTable:
    """Claims (a) and (b) of thesis §7.3.2, measured in this run; (b) split by transfer mode."""
    c = results.config
    ex = excess(results)
    out = [
        source_claim(
            results,
            "The spurious source model predicts 'old' for men and 'young' for women more",
            SOURCE + ", Fig. 7.6a",
        )
    ]
    for mode, fig in (("fixed", "Fig. 7.6b–c, G.6b–d"), ("full", "Fig. G.6e–g")):
        out.append(
            Claim(
                f"b-{mode}",
                f"The bias persists after {'fixed-feature' if mode == 'fixed' else 'full-network'} "
                f"transfer to every target, even the 50/50 one",
                f"{SOURCE}, {fig}",
                tuple(
                    Estimate.t(EXCESS, excess_of(ex, mode, target), REPLICATE, target) for target in c.targets
                ),
            )
        )
    return ClaimsTable("gender_age", out)


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    c = results.config
    table = stage_table(results).set_index(["stage", "target", "source"])
    ex = excess(results)
    parts = ", ".join(
        f"{t}: {excess_of(ex, 'fixed', t).mean():+.1%} fixed / {excess_of(ex, 'full', t).mean():+.1%} full"
        for t in c.targets
    )
    return (
        f"Being a man moves the spurious source model's answers towards 'old' by "
        f"{table.loc[('source', '', 'spurious'), 'shift']:+.1%} (the non-spurious source model's: "
        f"{table.loc[('source', '', 'non-spurious'), 'shift']:+.1%}), at source accuracies of "
        f"{table.loc[('source', '', 'spurious'), 'accuracy']:.1%} and "
        f"{table.loc[('source', '', 'non-spurious'), 'accuracy']:.1%} on balanced test faces. "
        f"The excess of the spurious source's models after transfer, per target: {parts}."
    )


def figure_panels(config: Config, mode: str) -> list[tuple[str, str]]:
    """The panels of Figure G.6 for one transfer mode: the source models, then each target."""
    return [("source", "")] + [(mode, t) for t in config.targets]
