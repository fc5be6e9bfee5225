"""Chapter 5's parameters, presets, protocol and criteria: what a run is asked to do."""

from __future__ import annotations

import dataclasses

from ...methods import bias_finder
from ...world import (
    POSITIONS,
    TARGETS,
    parse_overlay,
)
from ..base import PAPER_WORLD, SMOKE_WORLD, WorldParams
from ..claims import Criterion, criteria
from ..contract import data_parts
from ..params import ParameterError, distinct, param

SOURCE = "thesis §7.4"
KINDS = ("fixed", "full", "scratch")
KIND_NAMES = {"fixed": "fixed-feature", "full": "full-network", "scratch": "scratch"}
GAIN = 0.1  # an overlay skews the source model when its class gains this share of the predictions
EXCESS = 0.05  # a transferred model's skew counts when it exceeds the scratch models' by this much


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter (the world and source model parameters come first)."""

    overlays: tuple[str, ...] = param(
        ("fence", "ball", "hat"),
        "the overlays studied, in text form (transferlab.world.parse_overlay, e.g. 'ball:scale=0.3')",
    )
    expected: tuple[str, ...] = param(
        ("fence", "tennis ball", "hat"),
        "the source class each overlay is expected to favour, in the same order; an empty name for none "
        "(e.g. fence,,hat; ,, for none of three)",
        repeats=True,
    )
    search_images: int = param(
        600,
        "source test images the search over candidate overlays uses (0: no search)",
        low=0,
        high=1_000_000,
    )
    search_shapes: tuple[str, ...] = param(
        ("disc", "square", "triangle", "ring", "cross", "star"), "shapes of the candidate patches"
    )
    search_colours: tuple[str, ...] = param(
        tuple(bias_finder.COLOURS), "colours of the candidate patches", choices=tuple(bias_finder.COLOURS)
    )
    search_scales: tuple[float, ...] = param(
        (0.3, 0.5), "sizes of the candidate patches (1 = the image's half side)", low=0.05, high=1.0
    )
    search_positions: tuple[str, ...] = param(
        ("centre", "bottom-right"), "places of the candidate patches", choices=POSITIONS
    )
    follow: int = param(
        2,
        "candidates of the search also followed through transfer: the best-ranked ones "
        "that favour a class no studied or followed overlay favours",
        low=0,
        high=20,
    )
    targets: tuple[str, ...] = param(TARGETS, "target tasks", choices=TARGETS)
    seeds: tuple[int, ...] = param(
        (0, 1, 2), "seeds of each transfer and scratch model (chapter 0's: shared)", low=0
    )
    sweep_target: str = param(
        "objects", "target of the full-network sweeps over epochs and weight decay", choices=TARGETS
    )
    sweep_epochs: tuple[int, ...] = param(
        (3, 10, 30), "full-network epochs of the sweep (at the recipe's weight decay)", low=1, high=1000
    )
    sweep_weight_decays: tuple[float, ...] = param(
        (5e-4, 5e-3, 5e-2), "full-network weight decays of the sweep (at `full_epochs`)", low=0.0, high=1.0
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("seeds", self.seeds)
        distinct("sweep_epochs", self.sweep_epochs)
        distinct("sweep_weight_decays", self.sweep_weight_decays)
        if self.sweep_target not in self.targets:
            raise ParameterError(
                f"'sweep_target' {self.sweep_target!r} must be one of 'targets' {self.targets}"
            )
        if not self.targets or not self.overlays:
            raise ParameterError("parameters 'targets' and 'overlays' need at least one entry each")
        if len(self.expected) != len(self.overlays):
            raise ParameterError(
                f"'expected' needs one class per overlay ({len(self.overlays)}), got {len(self.expected)}; "
                f"an empty name means none (on the command line: -p expected {',' * (len(self.overlays) - 1)} "
                "for no class at all, or e.g. fence,,hat)"
            )
        for text in self.overlays:
            try:
                parse_overlay(text)
            except (ValueError, TypeError) as e:
                raise ParameterError(f"parameter 'overlays': cannot read {text!r}: {e}") from None
        try:
            self.candidates()
        except ValueError as e:
            raise ParameterError(f"a search parameter: {e}") from None
        names = self.source_classes()
        missing = [e for e in self.expected if e and e not in names]
        if missing:
            raise ParameterError(
                f"'expected' names {missing}, which are not source classes (e.g. {', '.join(names[:5])}, ...); "
                f"an empty name means none (-p expected {',' * (len(self.overlays) - 1)} for none at all)"
            )

    def source_classes(self) -> tuple[str, ...]:
        """The source task's class names (on real data from the folder's class list, no image read)."""
        return self.world(cache=None).source_class_names()

    def candidates(self) -> list:
        """The family of candidate overlays of the search."""
        return bias_finder.candidates(
            self.search_shapes,
            self.search_colours,
            scales=self.search_scales,
            positions=self.search_positions,
        )


PROTOCOL = """**Setup** (thesis §7.4, App. G.2). The bias finder overlays a feature on every source test image and
measures how the source model's predicted-class distribution shifts; the studied overlays
(`overlays`: a fence, a tennis ball, a hat) are source classes of their own, and a search ranks
candidate patches (`search_shapes`, `search_colours`, `search_scales`, `search_positions`) by the
shift they cause. The studied overlays are then put on the test images of each target (`targets`)
and the shift of transferred models (fixed-feature, full-network; per seed, `seeds`) is compared
with that of models trained from scratch on the target. On `sweep_target`, full-network models
are also trained for each of `sweep_epochs` and each of `sweep_weight_decays` (the thesis removes
the tennis-ball bias by full-network fine-tuning, and weight decay removes a backdoor in chapter
2): where does the skew go?

The world draws the tennis ball as its own markings (yellow-green felt with white curved seams) on
a silhouette of any generic shape, as the fence is a grid over any object and the hat its own
shape. The thesis' overlay is a yellow disc; in this world a disc is one of the objects target's
shapes and the flowers have yellow-centred discs, so a yellow disc draws the predictions of models
that never saw the source as much as those of transferred ones, and the comparison with scratch
models would cancel the effect it measures.

**Measured**, class-matched. For each target and overlay, the *favoured class* is the target class
whose share of predictions the overlay raises most in the fixed-feature models, chosen on the
other seeds' models (so that a seed's own noise does not pick it). A model's *skew* is the share
of predictions that class gains under the overlay; a transferred model's *excess* is its skew
minus the skew of the scratch model of its seed on the same class.

**Claims.** The replicate of (b) and (c) is a seed of the transfers and scratch models; the
source model is the one draw every chapter shares, so these intervals do not hold its variance.
The interval of (a) is over the source test images, the source model held fixed.
- (a) Each overlay skews the source model towards its class: the overlay's own source class gains
  a share of the predictions (Fig. 7.7b, 7.8b, G.7).
- (b), per overlay: fixed-feature transferred models skew under it, scratch models much less: the
  fixed-feature excess, mean over targets (Fig. 7.7d, 7.8d).
- (c) Full-network transfer removes the skew for some biases (thesis: tennis ball) but not for
  others (fence): among the overlays whose skew (b) is not contradicted, the one with the smallest
  full-network mean transfers fixed-feature and its full-network skew is below the margin; that of
  the one with the largest full-network mean is above it."""

CRITERIA = criteria(
    Criterion(
        "source-skew",
        "share of predictions the expected class gains",
        ">",
        GAIN,
        "a tenth of all predictions moved to one class is a skew no class balance explains",
    ),
    Criterion(
        "skew-transfers",
        "skew(transferred) − skew(scratch), class-matched",
        ">",
        EXCESS,
        "five points of predictions more than a model that never saw the source",
    ),
    Criterion("skew-removed", "skew(full-network) − skew(scratch), class-matched", "<", EXCESS),
)

PAPER_NOTE = """The thesis' setting: ResNet-18 on 64 px images with its recipes and 16 epochs, a search over
5,000 images, the three strongest overlays followed through transfer, five seeds. On real data
(`-p data_dir`) name the classes the overlays should favour in `expected`. Meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source task; name the classes each overlay should favour in `expected` (e.g. the "
    "chain-link fence, tennis ball and cowboy hat classes of an ImageNet subset)",
    objects="a target the bias is followed into",
    flowers="a target",
    pets="a target",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        **SMOKE_WORLD,
        "search_images": 60,
        "search_shapes": ["disc", "star"],
        "search_colours": ["yellow", "blue"],
        "search_scales": [0.4],
        "search_positions": ["centre"],
        "follow": 1,
        "targets": ["objects", "pets"],
        "seeds": [0, 1],
    },
    "default": {},
    "paper": {
        **PAPER_WORLD,
        "search_images": 5000,
        "follow": 3,
        "seeds": [0, 1, 2, 3, 4],
    },
}
