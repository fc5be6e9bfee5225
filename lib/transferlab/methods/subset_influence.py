"""Estimators of the influence of source classes (or examples) on target predictions (thesis ch. 8).

The data are the results of many transfers: ``masks`` (m, C), which of C source classes (or
examples) the source model of each of m runs was trained on, and ``outputs`` (m, T), a number per
target example and run (the softmax of its true class, its correctness or its margin). Every
estimator returns an (C, T) array: the influence of each source unit on each target example.

- :func:`difference_of_means`: the thesis' estimator,
  Infl[C → t] = E[f(t; S) | C ∈ S] − E[f(t; S) | C ∉ S].
- :func:`datamodel`: a linear datamodel f(t; S) ≈ w_t · 1_S + b_t, fitted by ridge or LASSO with the
  regularisation chosen by cross-validation.

And the means to judge them: :func:`bootstrap` (spread over resampled runs), :func:`halves`
(rank correlation between estimates from two disjoint halves of the runs), :func:`lds` (the linear
datamodeling score: rank correlation between predicted and actual outputs on held-out runs) and
:func:`aggregate_lds` (the same for the mean output over the targets),
:func:`precision_at_k` against known relations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .stats import spearman

Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def random_masks(n_runs: int, n_units: int, alpha: float = 0.5, seed: int = 0) -> np.ndarray:
    """(n_runs, n_units) booleans: each run keeps a random ``alpha`` fraction of the units (exactly
    round(alpha · n_units) of them), independently per run."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = round(alpha * n_units)
    if not 0 < k < n_units:
        raise ValueError(f"alpha {alpha} of {n_units} units keeps {k}: every unit must be both in and out")
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_runs, n_units)), axis=1)
    masks = np.zeros((n_runs, n_units), dtype=bool)
    np.put_along_axis(masks, order[:, :k], True, axis=1)
    return masks


def _check(masks: np.ndarray, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    masks, outputs = np.asarray(masks, dtype=bool), np.asarray(outputs, dtype=float)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if masks.ndim != 2 or len(masks) != len(outputs):
        raise ValueError(
            f"masks (runs, units) and outputs (runs, targets) must have as many runs: "
            f"{masks.shape} vs {outputs.shape}"
        )
    return masks, outputs


def difference_of_means(masks: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The thesis' estimator (§8.2): mean output over runs that include the unit minus over runs that
    do not.

    Parameters
    ----------
    masks
        (runs, units) booleans: which units (source classes) each run trained on.
    outputs
        (runs, targets): each run's output on each target example (e.g. the softmax of its class).

    Returns
    -------
    numpy.ndarray
        (units, targets) influences; NaN where a unit is in every run or in none.
    """
    masks, outputs = _check(masks, outputs)
    m = masks.astype(float)
    n_in = m.sum(0)[:, None]
    total = outputs.sum(0)[None, :]
    s_in = m.T @ outputs
    n_out = len(masks) - n_in
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = s_in / n_in - (total - s_in) / n_out
    # explicitly: total − s_in of a unit in every run is 0 only up to rounding (then ±inf, not NaN)
    return np.where((n_in > 0) & (n_out > 0), diff, np.nan)


class Lasso:
    """LASSO for many targets at once: minimises, per target column,
    1/(2n) ‖y − X w − b‖² + alpha ‖w‖₁ (scikit-learn's objective) by FISTA on the centred data,
    all columns in one matrix product per step, until no weight moves by more than ``tol`` (relative
    to the largest weight) or ``max_iter`` steps; ``warm_start``: the weights to start from (e.g.
    the fit of the next larger penalty, as along a regularisation path)."""

    def __init__(
        self, alpha: float, max_iter: int = 2_000, tol: float = 1e-4, warm_start: np.ndarray | None = None
    ):
        self.alpha, self.max_iter, self.tol, self.warm_start = alpha, max_iter, tol, warm_start

    def fit(self, x: np.ndarray, y: np.ndarray) -> Lasso:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        y2 = y.reshape(len(y), -1)
        xm, ym = x.mean(0), y2.mean(0)
        xc, yc = x - xm, y2 - ym
        n = len(x)
        gram, xty = xc.T @ xc / n, xc.T @ yc / n
        step = 1.0 / max(np.linalg.eigvalsh(gram)[-1], 1e-12)
        w = (
            np.zeros((x.shape[1], y2.shape[1]))
            if self.warm_start is None
            else np.asarray(self.warm_start, dtype=float).reshape(y2.shape[1], x.shape[1]).T.copy()
        )
        z, t = w.copy(), 1.0
        for _ in range(self.max_iter):
            g = z - step * (gram @ z - xty)
            w_new = np.sign(g) * np.maximum(np.abs(g) - step * self.alpha, 0.0)
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            z = w_new + (t - 1) / t_new * (w_new - w)
            moved = np.abs(w_new - w).max()
            w, t = w_new, t_new
            if moved <= self.tol * max(np.abs(w).max(), 1e-12):
                break
        self.coef_ = w.T if y.ndim == 2 else w[:, 0]
        self.intercept_ = ym - xm @ w if y.ndim == 2 else float(ym[0] - xm @ w[:, 0])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float) @ np.atleast_2d(self.coef_).T + self.intercept_


def datamodel(
    masks: np.ndarray,
    outputs: np.ndarray,
    kind: str = "ridge",
    *,
    alphas: Sequence[float] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """A linear datamodel per target, outputs ≈ masks @ weights + intercept.

    Parameters
    ----------
    masks
        (runs, units) booleans: which units each run trained on.
    outputs
        (runs, targets): each run's output on each target example.
    kind
        ``"ridge"`` or ``"lasso"`` (:class:`Lasso`, every target at once).
    alphas
        Regularisation strengths to choose from (default: a log grid suited to ``kind``); one is
        chosen for all targets.
    folds
        Folds of the cross-validation that chooses it.
    seed
        Seeds the folds.

    Returns
    -------
    tuple
        weights (units, targets), intercept (targets,), the chosen alpha.
    """
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    masks, outputs = _check(masks, outputs)
    if kind not in ("ridge", "lasso"):
        raise ValueError(f"unknown datamodel {kind!r}; choose 'ridge' or 'lasso'")
    x = masks.astype(float)
    if alphas is None:
        alphas = np.logspace(-1, 3, 9) if kind == "ridge" else np.logspace(-5, -1, 9)
    alphas = np.asarray(alphas, dtype=float)
    folds = min(folds, len(x))
    errors = np.zeros(len(alphas))
    order = np.argsort(alphas)[::-1]  # strongest penalty first: each LASSO fit starts from the last

    def path(xs, ys):
        models, warm = {}, None
        for i in order:
            models[i] = (
                Ridge(alpha=alphas[i]) if kind == "ridge" else Lasso(alphas[i], warm_start=warm)
            ).fit(xs, ys)
            warm = models[i].coef_
        return models

    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        for i, fit in path(x[train], outputs[train]).items():
            errors[i] += ((fit.predict(x[test]).reshape(len(test), -1) - outputs[test]) ** 2).mean()
    best = int(np.argmin(errors))
    fit = path(x, outputs)[best] if kind == "lasso" else Ridge(alpha=alphas[best]).fit(x, outputs)
    best = float(alphas[best])
    return np.atleast_2d(fit.coef_).T.copy(), np.atleast_1d(fit.intercept_).copy(), best


def ridge(masks: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The ridge datamodel's weights, as an :data:`Estimator`."""
    return datamodel(masks, outputs, "ridge")[0]


def lasso(masks: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The LASSO datamodel's weights, as an :data:`Estimator`."""
    return datamodel(masks, outputs, "lasso")[0]


ESTIMATORS: dict[str, Estimator] = {
    "difference of means": difference_of_means,
    "ridge": ridge,
    "lasso": lasso,
}


def bootstrap(
    masks: np.ndarray,
    outputs: np.ndarray,
    estimator: Estimator = difference_of_means,
    *,
    n: int = 100,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample the runs ``n`` times: (std, lower, upper) of each estimate, the bounds of the
    central ``level`` percentile interval."""
    masks, outputs = _check(masks, outputs)
    rng = np.random.default_rng(seed)
    draws = np.stack(
        [
            estimator(masks[idx], outputs[idx])
            for idx in (rng.integers(0, len(masks), len(masks)) for _ in range(n))
        ]
    )
    q = (1 - level) / 2
    quantile = np.nanquantile if np.isnan(draws).any() else np.quantile  # the NaN-aware one is slow
    return np.nanstd(draws, axis=0, ddof=1), quantile(draws, q, axis=0), quantile(draws, 1 - q, axis=0)


def halves(
    masks: np.ndarray, outputs: np.ndarray, estimator: Estimator = difference_of_means, *, seed: int = 0
) -> float:
    """Rank correlation between the estimates from two disjoint random halves of the runs: how far
    the estimate has converged (1: the halves agree on every ranking)."""
    masks, outputs = _check(masks, outputs)
    order = np.random.default_rng(seed).permutation(len(masks))
    a, b = order[: len(order) // 2], order[len(order) // 2 :]
    return spearman(estimator(masks[a], outputs[a]), estimator(masks[b], outputs[b]))


def lds(weights: np.ndarray, masks: np.ndarray, outputs: np.ndarray) -> float:
    """Linear datamodeling score: for each target, the rank correlation over held-out runs between
    the outputs the estimate predicts (sum of the included units' influences) and the actual ones,
    averaged over targets."""
    masks, outputs = _check(masks, outputs)
    pred = masks.astype(float) @ np.nan_to_num(weights)
    scores = [spearman(pred[:, t], outputs[:, t]) for t in range(outputs.shape[1])]
    return float(np.nanmean(scores)) if not np.all(np.isnan(scores)) else float("nan")


def aggregate_lds(weights: np.ndarray, masks: np.ndarray, outputs: np.ndarray) -> float:
    """The aggregate LDS (thesis App. H.6): over held-out runs, the rank correlation between the mean
    output over the targets that the overall influences (each unit's mean over the targets) predict,
    the sum over the run's units, and the actual mean output."""
    masks, outputs = _check(masks, outputs)
    pred = masks.astype(float) @ np.nan_to_num(np.nanmean(weights, axis=1))
    return spearman(pred, outputs.mean(1))


def precision_at_k(scores: np.ndarray, relevant: set[int], k: int) -> float:
    """Share of the ``k`` highest-scoring units that are in ``relevant``."""
    top = np.argsort(-np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf), kind="stable")[:k]
    return float(np.isin(top, list(relevant)).mean()) if k else float("nan")
