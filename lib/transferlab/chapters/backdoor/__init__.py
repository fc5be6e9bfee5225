"""Chapter "Backdoor bias transfer" (thesis §7.2, Figures 7.1–7.4, App. G.1.4–G.1.7).

A yellow square is added to a fraction of the images of the source's dog superclass, labels
unchanged. The source model learns the square as evidence for "dog". Is the bias passed on to
models transferred from it to targets that never contain the square? The attack success rate
ASR = P[C(T(x)) ≠ y | C(x) = y] is measured on the source (non-dog test images) and, after
transfer, on every target, for clean and backdoored sources, fixed-feature and full-network
transfer, over seeds; then the sweeps of the thesis: trigger frequency, weight decay, a de-biased
target (the square added uniformly across target classes), scratch baselines, architectures.

The package: :mod:`.config` (parameters, presets, protocol, criteria), :mod:`.data` (the trigger and
the registered data functions), :mod:`.jobs` (the plan of models), :mod:`.measure` (the run),
:mod:`.analysis` (one view per claim), :mod:`.verdicts` (the claims), :mod:`.figures` and
:mod:`.text`. This module exposes the chapter contract and what the chapter's page shows.
"""

from __future__ import annotations

from .analysis import main_table, regime_table
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
    figure_debias,
    figure_examples,
    figure_frequency,
    figure_main,
    figure_regime,
    figure_scratch_and_archs,
    figure_weight_decay,
)
from .measure import run
from .text import regime_text, summary_text
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
    "figure_debias",
    "figure_examples",
    "figure_frequency",
    "figure_main",
    "figure_regime",
    "figure_scratch_and_archs",
    "figure_weight_decay",
    "main_table",
    "regime_table",
    "regime_text",
    "summary_text",
]
