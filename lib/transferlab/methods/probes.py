"""Linear probes of a model's features: is an attribute decodable, and is it still decodable once
another attribute's linear directions are removed?

Removal follows iterative nullspace projection (Ravfogel et al., ACL 2020): fit a linear classifier
of the attribute to remove, project the features onto the nullspace of its weight vector, and
repeat until the attribute is no longer linearly decodable. What is left of a second attribute
after that is what the features hold of it apart from the first: if a source model learned "old"
partly through "male", removing gender takes age information with it.
"""

from __future__ import annotations

import numpy as np

CHANCE_MARGIN = 0.05  # removal stops once the removed attribute's probe is within this of chance


def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def probe_accuracy(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    """Held-out accuracy of a logistic-regression probe of ``y`` fitted on ``train``."""
    return float(_classifier().fit(train, y_train).score(test, y_test))


def remove_attribute(
    train: np.ndarray,
    z_train: np.ndarray,
    test: np.ndarray,
    z_test: np.ndarray,
    max_directions: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Remove the linear directions that decode ``z`` (iterative nullspace projection), fitted on
    ``train``, from both sets, until a fresh probe of ``z`` on ``test`` is within
    :data:`CHANCE_MARGIN` of chance or ``max_directions`` are removed (None: as many as it takes,
    up to all but one of the features' dimensions).

    The features are standardised once (by ``train``); each step fits a linear classifier of ``z``
    and keeps the orthonormal complement of its weight vector, so the features returned have one
    coordinate fewer per direction removed (no near-empty directions a later probe could rescale
    back into information). Returns the reduced train and test features, the number of directions
    removed and the probe's held-out accuracy on ``z`` at the end."""
    from scipy.linalg import null_space
    from sklearn.linear_model import LogisticRegression

    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    a0, b0 = (train - mean) / std, (test - mean) / std
    chance = max(np.mean(z_test == v) for v in np.unique(z_test))
    basis = np.eye(train.shape[1])
    a, b = a0, b0
    removed = 0
    accuracy = probe_accuracy(a, z_train, b, z_test)
    limit = train.shape[1] - 1 if max_directions is None else min(max_directions, train.shape[1] - 1)
    while accuracy > chance + CHANCE_MARGIN and removed < limit:
        w = LogisticRegression(max_iter=2000).fit(a, z_train).coef_.reshape(1, -1)
        basis = basis @ null_space(w)
        a, b = a0 @ basis, b0 @ basis
        removed += 1
        accuracy = probe_accuracy(a, z_train, b, z_test)
    return a, b, removed, accuracy


def attribute_effects(score: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How much a score (e.g. a model's old − young logit) moves with binary attribute ``a`` and
    with ``b``, each averaged over the two values of the other: (effect of a, effect of b). On a
    set balanced over (a, b) this separates the two even where a training set tied them."""
    a, b = a.astype(bool), b.astype(bool)

    def effect(x: np.ndarray, other: np.ndarray) -> float:
        return float(
            np.mean([score[x & (other == v)].mean() - score[~x & (other == v)].mean() for v in (0, 1)])
        )

    return effect(a, b), effect(b, a)
