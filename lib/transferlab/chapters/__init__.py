"""The book's chapters: one module per notebook, named after it (``notebooks/06_influences.ipynb``
is :mod:`transferlab.chapters.influences`), each satisfying :class:`.contract.Chapter`.

Besides the chapters: :mod:`.base` (world and model parameters, the shared source, transfer and
scratch jobs), :mod:`.claims` (the claims table every chapter ends with), :mod:`.plots` (one
figure style), :mod:`.spurious` (what chapters 3 and 4 share) and :mod:`.contract`.
"""
