"""Chapter 6's results and the class influences read from them: every estimator, the removal sets,
the world's planted truth and the failures the debugging removes."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
import torch

from ...methods import gradient_influence as gradient
from ...methods import subset_influence as inf
from ...train import predict
from ...world import TensorData
from .config import Config
from .jobs import full_seeds, truth_of


def example_outputs(model, data: TensorData) -> dict[str, np.ndarray]:
    """Per example: softmax of the true class, correctness, margin (true logit − largest other)."""
    logits = predict(model, data)
    y = data.y
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other[torch.arange(len(y)), y] = -torch.inf
    return {
        "softmax": torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1).numpy(),
        "correct": (logits.argmax(1) == y).float().numpy(),
        "margin": (true - other.max(1).values).numpy(),
    }


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    classes: tuple[str, ...]  # source classes
    target_classes: tuple[str, ...]
    target_labels: np.ndarray  # (T,) true class of each target test example
    masks: np.ndarray  # (m, C)
    outputs: dict[str, np.ndarray]  # output name -> (m, T)
    holdout_masks: np.ndarray
    holdout_outputs: dict[str, np.ndarray]
    source_labels: np.ndarray  # (N,) class of each source training example
    gradient_scores: tuple[np.ndarray, ...]  # per gradient model: (N, T) example scores
    full_outputs: dict[str, np.ndarray]  # output name -> (full seeds, T), the full-source models
    pilot: dict[str, np.ndarray]  # pilot condition (or scratch) -> (pilot seeds, T) correctness
    counterfactuals: pd.DataFrame  # removal, k, seed, accuracy, removed
    debugging: pd.DataFrame  # seed, removal, removed, failures, fixed, accuracy

    @property
    def y(self) -> np.ndarray:
        return self.outputs[self.config.output]

    @functools.cached_property
    def all_estimates(self) -> dict[str, np.ndarray]:
        """Every estimator's influences from all runs and all gradient models (fitted once: the
        datamodels' cross-validation is the costly part)."""
        return estimates(self)

    def full_correct(self, seed: int) -> np.ndarray:
        """Correctness per target test example of the full-source model of ``seed``."""
        return self.full_outputs["correct"][full_seeds(self.config).index(seed)]


def class_influence(results: Results, estimator: inf.Estimator = inf.difference_of_means) -> np.ndarray:
    """(source classes, target examples) influence estimates of the chosen output."""
    return estimator(results.masks, results.y)


def overall(infl: np.ndarray) -> np.ndarray:
    """The overall influence of each source class: its mean over the target test set (thesis § 8.2)."""
    return np.nanmean(infl, axis=1)


def gradient_influence(results: Results, models: int | None = None) -> np.ndarray:
    """(source classes, target examples): the gradient-based example scores of the first ``models``
    full-source models (all by default), averaged and summed over each class's examples."""
    chosen = results.gradient_scores[: models or len(results.gradient_scores)]
    return gradient.by_class(np.mean(chosen, axis=0), results.source_labels, len(results.classes))


GRADIENT = "gradient (TRAK-style)"


def estimates(results: Results, models: int | None = None) -> dict[str, np.ndarray]:
    """Every estimator's (classes, targets) influences: the mask-based ones from the first
    ``models`` runs, the gradient-based one from the first ``models`` full-source models."""
    ms, ys = results.masks[:models], results.y[:models]
    out = {name: est(ms, ys) for name, est in inf.ESTIMATORS.items()}
    out[GRADIENT] = gradient_influence(results, models)
    return out


def removal_sets(results: Results, k: int, seed: int = 0, models: int | None = None) -> dict[str, list[int]]:
    """The k source classes each counterfactual removes: the most positive and the most negative
    by overall influence (difference of means from the first ``models`` runs, all by default), and
    k random ones (a new draw per seed and k)."""
    infl = inf.difference_of_means(results.masks[:models], results.y[:models])
    order = np.argsort(-overall(infl), kind="stable")
    rng = np.random.default_rng(1000 + seed + k)
    return {
        "most positive": order[:k].tolist(),
        "most negative": order[::-1][:k].tolist(),
        "random": sorted(rng.choice(len(order), k, replace=False).tolist()),
    }


def planted_truth(results: Results) -> pd.DataFrame | None:
    """The world's planted relations to the target (None on real data)."""
    return truth_of(results.config)


def truth_table(config: Config) -> pd.DataFrame:
    """The planted class-level relations, each with its sign and expected size (stated before any
    run), one row per source class and the target classes it relates to."""
    truth = truth_of(config)
    if truth is None:
        return pd.DataFrame()
    cls = truth[truth.target_index < 0]
    return (
        cls.groupby(["source_class", "relation", "sign", "expected"], sort=False)
        .target_class.agg(", ".join)
        .reset_index()
        .rename(columns={"target_class": "target classes"})
    )


def related_classes(results: Results) -> list[int]:
    """Source classes the world says help a target class (any kind of help)."""
    truth = planted_truth(results)
    if truth is None:
        return []
    return sorted(set(truth[truth.relation.str.startswith("helps")].source_label.astype(int)))


def failures(results: Results, seed: int | None = None) -> pd.DataFrame:
    """Target test examples the full-source model of ``seed`` (the first counterfactual seed by
    default) gets wrong, each with its most negative influencer (difference of means)."""
    seed = results.config.counterfactual_seeds[0] if seed is None else seed
    wrong = np.flatnonzero(results.full_correct(seed) == 0)
    worst = (
        np.nanargmin(np.nan_to_num(class_influence(results), nan=np.inf)[:, wrong], axis=0)
        if len(wrong)
        else []
    )
    return pd.DataFrame({"example": wrong, "worst": np.asarray(worst, dtype=int)})


def debug_choice(results: Results) -> tuple[list[int], list[int]]:
    """The ``debug_classes`` classes most often a failure's most negative influencer (over the
    full-source models of the extra seeds), and one random other class per each (the control)."""
    c = results.config
    worst = pd.concat([failures(results, s).worst for s in c.extras()])
    chosen = worst.value_counts().index[: c.debug_classes].tolist()
    rng = np.random.default_rng(c.world_seed + 77)
    others = [i for i in range(len(results.classes)) if i not in chosen]
    controls = rng.choice(others, len(chosen), replace=False).tolist() if len(others) >= len(chosen) else []
    return chosen, controls
