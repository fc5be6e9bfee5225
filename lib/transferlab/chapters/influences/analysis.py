"""Chapter 6's views of the results, one per question: the pilot, the counterfactuals, the estimators
against the planted truth, convergence, copies and the most influenced images."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...methods import subset_influence as inf
from ...methods.stats import spearman
from ...world import planted_catalogue
from ..claims import t_interval
from .config import REMOVALS, SCRATCH
from .jobs import pilot_conditions, planted_images
from .results import GRADIENT, Results, class_influence, gradient_influence, planted_truth


def counterfactual_summary(results: Results) -> pd.DataFrame:
    """Target accuracy of each counterfactual source (the removal sets from all runs, the full
    source and the hand-picked one): mean, 95 % interval over the seeds and their number."""
    cf = results.counterfactuals
    cf = cf[cf.models == len(results.masks)]
    rows = []
    for (removal, k), g in cf.groupby(["removal", "k"], sort=False):
        mean, lo, hi, _ = t_interval(g.accuracy)
        rows.append({"removal": removal, "k": k, "accuracy": mean, "low": lo, "high": hi, "seeds": len(g)})
    return pd.DataFrame(rows)


def counterfactuals_by_models(results: Results) -> pd.DataFrame:
    """App. H.1.5 (Fig. H.1): the top-k positive and negative removals chosen from fewer runs,
    beside those chosen from all of them and the random ones: mean accuracy and its 95 % interval
    over the seeds, and how many of the removed classes the set shares with the all-runs set."""
    cf = results.counterfactuals
    m = len(results.masks)
    final = cf[cf.models == m].set_index(["removal", "k", "seed"]).removed
    rows = []
    for (removal, k, models), g in cf[cf.removal.isin(REMOVALS)].groupby(["removal", "k", "models"]):
        mean, lo, hi, _ = t_interval(g.accuracy)
        shared = [
            len(set(r.removed.split(", ")) & set(final[(removal, k, r.seed)].split(", ")))
            for r in g.itertuples()
        ]
        rows.append(
            {
                "removal": removal,
                "k": k,
                "models": models,
                "accuracy": mean,
                "low": lo,
                "high": hi,
                "classes shared with the all-runs set": float(np.mean(shared)),
            }
        )
    return pd.DataFrame(rows)


def debugging_summary(results: Results) -> pd.DataFrame:
    """Share of the failures fixed by removing their most negative influencer, against removing a
    random class (the control: retraining alone flips some examples), over every seed."""
    d = results.debugging
    if d.empty:
        return pd.DataFrame(columns=["failures", "fixed", "share fixed"])
    out = d.groupby("removal")[["failures", "fixed"]].sum()
    out["share fixed"] = out.fixed / out.failures.where(out.failures > 0)
    return out


def pilot_table(results: Results) -> pd.DataFrame:
    """Per pilot condition: accuracy on the images it concerns with the group in the source minus
    without it (the planted effect; its sign should match the truth's), with its 95 % t-interval
    over the pilot seeds; and the premise: full-source transfer minus training from scratch."""
    c = results.config
    full = np.stack([results.full_correct(s) for s in c.pilot_seeds])
    rows = []
    for cond in pilot_conditions(c):
        diff = full[:, cond.images].mean(1) - results.pilot[cond.name][:, cond.images].mean(1)
        mean, lo, hi, _ = t_interval(diff)
        rows.append(
            {
                "removed": cond.name,
                "classes": ", ".join(results.classes[i] for i in cond.removed),
                "measured on": f"{int(cond.images.sum())} test images",
                "planted sign": "+" if cond.sign > 0 else "−",
                "expected": cond.expected,
                "effect": mean,
                "low": lo,
                "high": hi,
            }
        )
    diff = full.mean(1) - results.pilot[SCRATCH].mean(1)
    mean, lo, hi, _ = t_interval(diff)
    rows.append(
        {
            "removed": "premise: transfer − scratch",
            "classes": "",
            "measured on": f"all {full.shape[1]} test images",
            "planted sign": "+",
            "expected": "transfer beats training from scratch on the target",
            "effect": mean,
            "low": lo,
            "high": hi,
        }
    )
    return pd.DataFrame(rows)


def top_classes(results: Results, n: int = 8, by_target_class: bool = False) -> pd.DataFrame:
    """The most positive and most negative source classes, overall or per target class."""
    infl = class_influence(results)
    groups = (
        [("all", np.arange(infl.shape[1]))]
        if not by_target_class
        else [
            (name, np.flatnonzero(results.target_labels == i))
            for i, name in enumerate(results.target_classes)
        ]
    )
    rows = []
    for name, cols in groups:
        score = np.nanmean(infl[:, cols], axis=1)
        order = np.argsort(-score, kind="stable")
        for sign, picks in (("positive", order[:n]), ("negative", order[::-1][:n])):
            rows += [
                {
                    "target class": name,
                    "sign": sign,
                    "rank": rank + 1,
                    "source class": results.classes[i],
                    "influence": score[i],
                }
                for rank, i in enumerate(picks)
            ]
    return pd.DataFrame(rows)


def _per_target_class(results: Results, infl: np.ndarray) -> np.ndarray:
    """(source classes, target classes): mean influence over each target class's test examples."""
    return np.stack(
        [np.nanmean(infl[:, results.target_labels == t], axis=1) for t in range(len(results.target_classes))],
        axis=1,
    )


def _relevant(results: Results, relation: str) -> dict[int, set[int]]:
    """Target class -> the source classes the world relates to it by ``relation`` ('helps': any
    kind of help; 'hurts')."""
    truth = planted_truth(results)
    if truth is None:
        return {}
    cls = truth[truth.target_index < 0]
    rel = cls[cls.relation.str.startswith(relation)]
    return {int(t): set(g.source_label.astype(int)) for t, g in rel.groupby("target_label")}


def _precisions(score: np.ndarray, relevant: dict[int, set[int]], perm: np.ndarray) -> np.ndarray:
    return np.array([inf.precision_at_k(score[perm, t], rel, len(rel)) for t, rel in relevant.items()])


def _against_truth(results: Results, infl: np.ndarray, relation: str):
    """(per-target-class scores, oriented so that the planted ``relation`` ranks first; target
    class -> its planted source classes; each such target class's chance level |relevant| / classes)."""
    relevant = _relevant(results, relation)
    score = (1 if relation == "helps" else -1) * _per_target_class(results, infl)
    chance = np.array([len(rel) / len(results.classes) for rel in relevant.values()])
    return score, relevant, chance


def truth_precisions(results: Results, infl: np.ndarray, relation: str = "helps") -> np.ndarray:
    """Per target class that has the planted ``relation``: R-precision of its most positive source
    classes (most negative for ``hurts``), i.e. precision at as many as it has (chance: about
    ``|relevant| / classes``, :func:`truth_precision`)."""
    score, relevant, _ = _against_truth(results, infl, relation)
    return _precisions(score, relevant, np.arange(len(results.classes)))


def truth_precision(
    results: Results, infl: np.ndarray, relation: str = "helps", *, permutations: int = 0, seed: int = 0
) -> tuple[float, float, float]:
    """(R-precision, chance, p-value) of each target class's most positive source classes (most
    negative for ``hurts``) against the planted relation, averaged over the target classes that
    have it. The p-value (NaN unless ``permutations``) is the share of random relabellings of the
    source classes that score at least as high."""
    score, relevant, chances = _against_truth(results, infl, relation)
    if not relevant:
        return float("nan"), float("nan"), float("nan")
    n = len(results.classes)
    observed = float(_precisions(score, relevant, np.arange(n)).mean())
    chance = float(chances.mean())
    if not permutations:
        return observed, chance, float("nan")
    rng = np.random.default_rng(seed)
    null = np.array([_precisions(score, relevant, rng.permutation(n)).mean() for _ in range(permutations)])
    return observed, chance, float((1 + (null >= observed).sum()) / (1 + permutations))


def truth_correlation(results: Results, infl: np.ndarray) -> float:
    """Rank correlation between the per-target-class influences and the planted signs (+1 helps,
    −1 hurts, 0 neither), over every (source class, target class) pair."""
    truth = np.zeros((len(results.classes), len(results.target_classes)))
    for relation, sign in (("helps", 1), ("hurts", -1)):
        for t, rel in _relevant(results, relation).items():
            truth[list(rel), t] = sign
    return spearman(_per_target_class(results, infl), truth) if truth.any() else float("nan")


def truth_scores(results: Results, permutations: int = 1000) -> pd.DataFrame:
    """Per estimator (all runs, all gradient models): R-precision against the planted helpers and
    against the planted harms, with the chance level and a permutation p-value, and the rank
    correlation with the planted signs."""
    rows = []
    for name, infl in results.all_estimates.items():
        corr = truth_correlation(results, infl)
        for relation in ("helps", "hurts"):
            precision, chance, p = truth_precision(results, infl, relation, permutations=permutations)
            rows.append(
                {
                    "estimator": name,
                    "relation": relation,
                    "precision": precision,
                    "chance": chance,
                    "p-value": p,
                    "rank correlation": corr,
                }
            )
    return pd.DataFrame(rows)


def aggregate_lds(results: Results, infl: np.ndarray, runs: np.ndarray | None = None) -> float:
    """The aggregate LDS of App. H.6: over the held-out runs (``runs``: their indices, all by
    default), the rank correlation between the mean target output the overall influences predict
    (the sum over the run's classes) and the actual one."""
    runs = np.arange(len(results.holdout_masks)) if runs is None else runs
    return inf.aggregate_lds(
        infl, results.holdout_masks[runs], results.holdout_outputs[results.config.output][runs]
    )


def model_grid(results: Results) -> tuple[int, ...]:
    m = len(results.masks)
    return tuple(sorted({g for g in (m // 8, m // 4, m // 2, m) if g >= 8} | {m}))


def lds_draws(results: Results, models: tuple[int, ...], draws: int, seed: int = 0) -> np.ndarray:
    """(draws, len(models)): the aggregate LDS of the difference of means from the first m runs,
    for each m. Each draw resamples both units that vary: the runs the estimator is fitted on (m of
    the first m, the draw's resample of all runs cut to its first m) and the held-out runs it is
    scored on."""
    rng = np.random.default_rng(seed)
    n, h = len(results.masks), len(results.holdout_masks)
    out = np.empty((draws, len(models)))
    for d in range(draws):
        runs, held = rng.integers(0, n, n), rng.integers(0, h, h)
        for j, m in enumerate(models):
            idx = runs[runs < m] if m < n else runs
            idx = idx if len(idx) >= 2 else rng.integers(0, m, m)
            w = inf.difference_of_means(results.masks[idx], results.y[idx])
            out[d, j] = aggregate_lds(results, w, held)
    return out


def convergence(results: Results, seed: int = 0) -> pd.DataFrame:
    """Against the number of models, per estimator: the bootstrap std of the overall influences
    (App. H.1.5, difference of means), the aggregate LDS and the per-example LDS on the held-out
    runs (App. H.6), R-precision against the planted helpers and the rank correlation with the
    planted signs. The gradient-based estimator counts its full-source models."""
    held = results.holdout_outputs[results.config.output]
    has_held = len(results.holdout_masks) > 2
    rows = []

    def row(n, name, w, **extra):
        return {
            "models": n,
            "estimator": name,
            **extra,
            "aggregate LDS": aggregate_lds(results, w) if has_held else np.nan,
            "LDS": inf.lds(w, results.holdout_masks, held) if has_held else np.nan,
            "R-precision": truth_precision(results, w)[0],
            "truth correlation": truth_correlation(results, w),
        }

    for n in model_grid(results):
        ms, ys = results.masks[:n], results.y[:n]
        for name, est in inf.ESTIMATORS.items():
            extra = {}
            if name == "difference of means":
                std = inf.bootstrap(
                    ms, ys.mean(1, keepdims=True), est, n=results.config.bootstrap, seed=seed
                )[0]
                extra["bootstrap std"] = float(np.nanmean(std))
            rows.append(row(n, name, est(ms, ys), **extra))
    for n in range(1, len(results.gradient_scores) + 1):
        rows.append(row(n, GRADIENT, gradient_influence(results, n)))
    return pd.DataFrame(rows)


def copy_recall(results: Results, kind: str = "leaks", k: int = 10) -> pd.DataFrame:
    """Example-level attribution against the planted copies (``leaks``: the copy should be among
    its test image's k most positive source images; ``misleads``: among its k most negative), by the
    gradient-based score, against the number of full-source models averaged: recall@k, the median
    rank and the chance level k/N."""
    truth = planted_truth(results)
    copies = truth[truth.relation == kind] if truth is not None else pd.DataFrame()
    rows = []
    n = len(results.source_labels)
    sign = 1 if kind == "leaks" else -1
    for models in range(1, len(results.gradient_scores) + 1):
        sc = sign * np.mean(results.gradient_scores[:models], axis=0)
        ranks = [
            int((sc[:, int(r.target_index)] > sc[int(r.source_index), int(r.target_index)]).sum()) + 1
            for _, r in copies.iterrows()
        ]
        if not ranks:
            continue
        rows.append(
            {
                "models": models,
                "copies": len(ranks),
                "found": int((np.array(ranks) <= k).sum()),
                f"recall@{k}": float(np.mean(np.array(ranks) <= k)),
                f"chance@{k}": k / n,
                "median rank": float(np.median(ranks)),
            }
        )
    return pd.DataFrame(rows)


def copy_recall_draws(results: Results, kind: str, draws: int, k: int = 10, seed: int = 0) -> np.ndarray:
    """Bootstrap draws of recall@k of the planted copies (:func:`copy_recall` with every gradient
    model): each draw resamples both units that vary, the gradient models averaged and the copies."""
    truth = planted_truth(results)
    copies = truth[truth.relation == kind] if truth is not None else pd.DataFrame()
    if copies.empty:
        return np.zeros(0)
    src, tgt = copies.source_index.astype(int).to_numpy(), copies.target_index.astype(int).to_numpy()
    sign = 1 if kind == "leaks" else -1
    scores = np.stack([s[:, tgt] for s in results.gradient_scores])  # (models, N, copies)
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for d in range(draws):
        sc = sign * scores[rng.integers(0, len(scores), len(scores))].mean(0)
        pick = rng.integers(0, len(tgt), len(tgt))
        ranks = (sc[:, pick] > sc[src[pick], pick]).sum(0) + 1
        out[d] = float(np.mean(ranks <= k))
    return out


def most_influenced(
    results: Results, source_class: int, n: int = 10, sign: int = 1, infl: np.ndarray | None = None
) -> np.ndarray:
    """The ``n`` target test images with the most positive (``sign`` −1: most negative)
    difference-of-means influence of ``source_class`` (Fig. 8.4/8.5; ``infl``: another estimate of
    the class influences, e.g. a bootstrap draw's, instead of all runs')."""
    infl = class_influence(results) if infl is None else infl
    score = sign * np.nan_to_num(infl[source_class], nan=-np.inf)
    return np.argsort(-score, kind="stable")[:n]


def subpopulation_draws(results: Results, r: pd.Series, draws: int, seed: int = 0) -> np.ndarray:
    """Bootstrap draws, over the runs, of the subpopulation helper's precision (its most influenced
    test images against the planted subpopulation; ``r`` is its row of :func:`influenced_images`):
    the runs are the unit that varies."""
    c = results.config
    planted = planted_images(c.world().get(c.target_part(), "test"), r.relation)
    s = results.classes.index(r["source class"])
    rng = np.random.default_rng(seed)
    n = len(results.masks)
    out = np.empty(draws)
    for d in range(draws):
        idx = rng.integers(0, n, n)
        infl = inf.difference_of_means(results.masks[idx], results.y[idx])
        out[d] = float(planted[most_influenced(results, s, int(planted.sum()), 1, infl)].mean())
    return out


def influenced_images(results: Results) -> pd.DataFrame:
    """Per source class with a planted relation: its most influenced target test images (most
    positive for a helper, most negative for a misleading class), as many as the images it is
    planted to affect, and the share of them that are those images, against their share of the test set."""
    c = results.config
    if not c.planted():
        return pd.DataFrame()
    test = c.world().get(c.target_part(), "test")
    truth = planted_truth(results)
    cls = truth[truth.target_index < 0].drop_duplicates("source_label")
    sticker = planted_catalogue().sticker
    rows = []
    for _, r in cls.iterrows():
        s = int(r.source_label)
        planted = planted_images(test, r.relation, [int(r.target_label)], [sticker[s]])
        top = most_influenced(results, s, int(planted.sum()), int(r.sign))
        rows.append(
            {
                "source class": r.source_class,
                "relation": r.relation,
                "planted images": int(planted.sum()),
                "top images on them": int(planted[top].sum()),
                "precision": float(planted[top].mean()),
                "share of the test set": float(planted.mean()),
            }
        )
    return pd.DataFrame(rows)
