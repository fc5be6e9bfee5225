"""Rank statistics shared by the influence estimators and the chapters."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest, rankdata


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two arrays (flattened, NaNs dropped pairwise)."""
    a, b = np.ravel(a).astype(float), np.ravel(b).astype(float)
    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < 3:
        return float("nan")
    ra, rb = rankdata(a[keep]), rankdata(b[keep])
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def spearman_brown(r: float, factor: float) -> float:
    """The rank correlation of two halves each ``factor`` times larger (Spearman–Brown prophecy)."""
    return factor * r / (1 + (factor - 1) * r)


def wilson(found: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``found`` / ``n``."""
    ci = binomtest(found, n).proportion_ci(level, method="wilson")
    return float(ci.low), float(ci.high)
