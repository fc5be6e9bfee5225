"""Chapter "Defect inheritance and ReMoS" (the ReMoS paper, §3–§5, and its artifact).

A teacher (the world's clean source model, shared with chapter 0) and two backdoored copies of it
(BadNets as the artifact plants it: the teacher trained on the student's data with a patch on a
fifth of it relabelled to class 0; latent: triggered inputs pulled towards the penultimate features
of a class only the student task has) pass their defects to students trained on a target by seven
methods (:mod:`transferlab.methods.slicing`), those from the teacher with the artifact's
fine-tuning recipe. Each defect's malicious set is made from the teacher alone, on the student's
test images (:mod:`transferlab.methods.defects`); DIR is the share of the student's correct
answers that the malicious version turns wrong (for the backdoors: into the target class 0). The
recovery curve follows fine-tuning and ReMoS over longer budgets (snapshots of one run).

Teachers, DELTA's channel attentions, malicious sets and students are jobs of the engine
(:class:`TeacherJob`, :class:`AttentionJob`, :class:`MaliciousJob`, :class:`StudentJob`): made once
by :func:`~transferlab.run.run_jobs`, in worker processes or on Dask like every other model, and
kept in the store (a student's key holds its teacher's whole description, so a changed teacher
recipe retrains its students).

The package: :mod:`.config` (parameters, presets, protocol, criteria), :mod:`.jobs` (teachers,
students, attention maps and malicious sets as jobs of the engine, and the plan), :mod:`.measure`
(the run), :mod:`.analysis` (the summary and the front), :mod:`.verdicts` (the claims),
:mod:`.figures` and :mod:`.text`. This module exposes the chapter contract and what the chapter's
page shows.
"""

from __future__ import annotations

from .analysis import summary
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
from .figures import figure_curve, figure_excluded, figure_recovery, figure_scatter, figure_weight_changes
from .measure import run
from .text import findings_text, recovery_text, summary_text
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
    "figure_curve",
    "figure_excluded",
    "figure_recovery",
    "figure_scatter",
    "figure_weight_changes",
    "findings_text",
    "recovery_text",
    "summary",
    "summary_text",
]
