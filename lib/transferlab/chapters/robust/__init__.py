"""Chapter "Robust sources" (thesis ch. 2, §2.1–2.4, App. B): do adversarially robust source models
transfer better?

Source models are trained with adversarial training (thesis Eq. 2.1: each batch replaced by its
PGD examples within an L2 or L∞ ball of radius ε) at several ε, 0 being standard training, and
transferred to every target, fixed-feature and full-network. The fair comparison of the thesis'
footnote: the best ε per target and mode is chosen on selection seeds, and only that ε is compared
with the standard source on separate evaluation seeds, each seed training its own sources. Beside
it, §2.4's analyses: source accuracy against transfer accuracy across ε and across architectures
of several widths at one fixed ε (Fig. 2.5, Table 2.2, Fig. 2.6), and the best ε per target
(§2.4.3).

The package: :mod:`.config` (parameters, presets, protocol, criteria), :mod:`.jobs` (sources,
robustness and transfers of every stage), :mod:`.measure` (the run), :mod:`.analysis` (one view per
claim), :mod:`.verdicts` (the claims), :mod:`.figures` and :mod:`.text`. The data functions it
introduced (rescaled and stylized images) are in :mod:`transferlab.world.texture`. This module
exposes the chapter contract and what the chapter's page shows.
"""

from __future__ import annotations

from .analysis import gain_table, granularity_table, source_table, texture_table, width_table
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
    figure_accuracy_transfer,
    figure_gains,
    figure_granularity,
    figure_selection,
    figure_stylized,
)
from .measure import run
from .text import summary_text
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
    "figure_accuracy_transfer",
    "figure_gains",
    "figure_granularity",
    "figure_selection",
    "figure_stylized",
    "gain_table",
    "granularity_table",
    "source_table",
    "summary_text",
    "texture_table",
    "width_table",
]
