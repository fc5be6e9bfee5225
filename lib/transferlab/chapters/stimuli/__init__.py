"""Chapter "Strong stimuli" (the poster "Characterizing the decision space of fine-tuned models
through strong stimuli").

A foundation model is trained on the first K source classes; children are fine-tuned from it on
a K-class target with imbalanced class sizes (the flowers target, Flowers-102's role), with the
first 1..5 blocks frozen, beside children trained from scratch. A **strong stimulus** of source
class i is an input optimised by gradient ascent on the foundation's score of class i (from
noise, or from a source image of the class within an L∞ ball), a stereotypical input of the class
as the foundation sees it. Each stimulus is shown to each child and compared with the child's own
picture of target class i (same index): the distance between the child's softmax on the stimulus
and the one-hot vector of class i, against the same distance for the centroid of class i. A
stimulus **outperforms** when it is closer. The centroid is read two ways, both declared before
any run: the mean of the child's softmax over class i's training images (the poster's wording),
and the child's softmax on class i's mean training image. The target has more flower kinds than
the world's other chapters use (`flower_classes`), so that the children do not fit every class
and a centroid is not simply the one-hot vector.

Beyond the poster, its proposed probe: stimuli of several candidate ("shadow") foundations are
shown to a child, and the candidate whose stimuli fit the child best is taken for its parent;
measured as identification accuracy over children of every candidate.

The package: :mod:`.config` (parameters, presets, protocol, criteria, registry), :mod:`.jobs` (the
foundation and its children), :mod:`.measure` (the stimuli, the children's answers, the centroids),
:mod:`.analysis` (the poster's tables), :mod:`.verdicts` (the claims), :mod:`.figures` and
:mod:`.text`. This module exposes the chapter contract and what the chapter's page shows.
"""

from __future__ import annotations

from .analysis import consistent, identification, mode_table, outperforming, responses
from .config import (
    AMENDMENTS,
    CRITERIA,
    DATA_PARTS,
    FROZEN_DIGEST,
    PAPER_NOTE,
    PRESETS,
    PROTOCOL,
    REGISTRY,
    SOURCE,
    Config,
)
from .figures import (
    figure_centroids,
    figure_identification,
    figure_outperforming,
    figure_responses,
    figure_sizes,
    figure_stimuli,
)
from .measure import READINGS, run
from .text import findings_text, summary_text
from .verdicts import claims

# the chapter contract (transferlab.chapters.contract.CHAPTER_NAMES), then what the page shows
__all__ = [
    "Config",
    "PRESETS",
    "SOURCE",
    "PROTOCOL",
    "CRITERIA",
    "PAPER_NOTE",
    "DATA_PARTS",
    "run",
    "claims",
    "REGISTRY",
    "FROZEN_DIGEST",
    "AMENDMENTS",
    "READINGS",
    "consistent",
    "figure_centroids",
    "figure_identification",
    "figure_outperforming",
    "figure_responses",
    "figure_sizes",
    "figure_stimuli",
    "findings_text",
    "identification",
    "mode_table",
    "outperforming",
    "responses",
    "summary_text",
]
