"""Chapter "Biases in the wild" (thesis §7.4, Figures 7.7–7.8, App. G.2).

No intervention plants these biases: the source has classes that *are* a pattern (a chain-link
fence, a tennis ball, a hat), so the clean source model learns the pattern as evidence for its
class. The chapter finds such biases the way the thesis does, by overlaying a feature on every
source test image and watching the predicted-class distribution move (:mod:`transferlab.methods.bias_finder`),
also searching a family of candidate overlays; then it overlays each bias on the target test
images and compares models transferred from the source (fixed-feature, full-network) with models
trained from scratch on the target. The models are the clean source and the transfer and scratch
models of chapter 0: with the same world and seeds they come from the store.

The package: :mod:`.config` (parameters, presets, protocol, criteria), :mod:`.measure` (the jobs, the
run and the bias finder's search), :mod:`.analysis` (skews and excesses), :mod:`.verdicts` (the claims),
:mod:`.figures` and :mod:`.text`. This module exposes the chapter contract and what the chapter's
page shows.
"""

from __future__ import annotations

from .analysis import excess, shift_table
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
    figure_examples,
    figure_ranking,
    figure_skew,
    figure_source_shift,
    figure_sweep,
    figure_target_distributions,
)
from .measure import run
from .text import summary_text, sweep_text
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
    "excess",
    "figure_examples",
    "figure_ranking",
    "figure_skew",
    "figure_source_shift",
    "figure_sweep",
    "figure_target_distributions",
    "shift_table",
    "summary_text",
    "sweep_text",
]
