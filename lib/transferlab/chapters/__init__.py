"""The book's chapters: one module per notebook, named after it (``notebooks/01_linear.ipynb`` is
:mod:`transferlab.chapters.linear`), or a package where a chapter outgrew one module
(:mod:`transferlab.chapters.influences`: config, jobs, measure, analysis, verdicts, figures, text),
each satisfying :class:`.contract.Chapter`.

Besides the chapters, their kit: :mod:`.params` (declaring and validating parameters), :mod:`.base`
(world and model parameters, the shared source, transfer and scratch jobs), :mod:`.claims` (the
claims table every chapter ends with), :mod:`.registry` (claims registered before their run),
:mod:`.ledger` (the committed results ledger), :mod:`.plots`
(one figure style), :mod:`.spurious` (what chapters 3 and 4 share) and :mod:`.contract`.
"""
