"""Chapter "Which source classes matter?" (thesis ch. 8, App. H; the blog post "A data-based
perspective on transfer learning").

Many source models, each trained on a random half of the source classes and transferred to the
target; the influence of a source class on a target example is how much the target example's
output changes, on average, between the runs that had the class and the runs that did not
(:mod:`transferlab.methods.subset_influence`). Beside the thesis' estimator (difference of means)
and the linear datamodels (ridge, LASSO), a gradient-based one
(:mod:`transferlab.methods.gradient_influence`) scores every source image from a few models on the
whole source.

The default world is made for the question (:mod:`transferlab.world.influence`): every class
influence is planted and stated before any run (single helpers, redundant pairs, a subpopulation's
helper, misleading sticker classes, neutral classes, leaked and misleading near-copies). A pilot
measures each planted effect directly (full source against the source without those classes) and
the premise that transfer beats training from scratch; then the thesis' analyses run on it: top
classes, counterfactuals (top-k positive, top-k negative, random, and hand-picked: training on the
related classes only), a source class's most influenced target images, debugging failures,
leakage and misleading examples, and convergence with the number of models. The book's main world
stays available as a harder setting (``setting = "shapes"``), and real data through ``data_dir``.

The package: :mod:`.config` (parameters, presets, protocol, criteria), :mod:`.jobs` (the plan of
models), :mod:`.results` (the results and every influence estimate), :mod:`.measure` (the run),
:mod:`.analysis` (one view per question), :mod:`.verdicts` (the claims), :mod:`.figures` and
:mod:`.text`. This module exposes the chapter contract and what the chapter's page shows.
"""

from __future__ import annotations

from .analysis import (
    convergence,
    copy_recall,
    counterfactual_summary,
    counterfactuals_by_models,
    debugging_summary,
    influenced_images,
    pilot_table,
    top_classes,
    truth_scores,
)
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
    figure_class_images,
    figure_convergence,
    figure_copies,
    figure_counterfactuals,
    figure_influenced,
    figure_pilot,
    figure_top_classes,
    figure_world,
)
from .measure import run
from .results import truth_table
from .text import explorer, findings_text, summary_text, table
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
    "REGISTRY",
    "FROZEN_DIGEST",
    "AMENDMENTS",
    "run",
    "claims",
    "convergence",
    "copy_recall",
    "counterfactual_summary",
    "counterfactuals_by_models",
    "debugging_summary",
    "explorer",
    "figure_class_images",
    "figure_convergence",
    "figure_copies",
    "figure_counterfactuals",
    "figure_influenced",
    "figure_pilot",
    "figure_top_classes",
    "figure_world",
    "findings_text",
    "influenced_images",
    "pilot_table",
    "summary_text",
    "table",
    "top_classes",
    "truth_scores",
    "truth_table",
]
