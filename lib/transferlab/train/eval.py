"""Evaluation helpers: logits, accuracy overall, per class and per group, predicted-class distribution,
accuracy under a PGD adversary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..models import GroupedCompactResNet, Net
from ..world import TensorData
from .adversary import Adversary, adversarial_batch
from .device import Speed, pick_device


@torch.no_grad()
def predict(
    model: Net | GroupedCompactResNet, data: TensorData, *, batch_size: int = 512, speed: Speed | None = None
) -> torch.Tensor:
    """Logits (N, K) of ``model`` on ``data`` in eval mode; (G, N, K) for a grouped model."""
    speed = speed or Speed(pick_device())
    model = speed.model(model).eval()
    grouped = isinstance(model, GroupedCompactResNet)
    out = []
    for x, _ in data.batches(batch_size, shuffle=False):
        if grouped:
            x = x[None].expand(model.groups, *x.shape)
        with speed.autocast():
            out.append(model(speed.inputs(x)).float().cpu())
    return torch.cat(out, dim=1 if grouped else 0)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities from logits."""
    return torch.softmax(logits.float(), dim=-1)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy."""
    return float((logits.argmax(-1) == labels).float().mean())


def per_class_accuracy(
    logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> np.ndarray:
    """Accuracy of each class (NaN for a class with no examples)."""
    k = num_classes or logits.shape[-1]
    correct = (logits.argmax(-1) == labels).float()
    hits = torch.zeros(k).index_add_(0, labels, correct)
    counts = torch.bincount(labels, minlength=k).float()
    return (hits / counts).numpy()


def mean_per_class_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean of the per-class accuracies (the thesis' metric for imbalanced targets)."""
    return float(np.nanmean(per_class_accuracy(logits, labels)))


def per_group_accuracy(logits: torch.Tensor, labels: torch.Tensor, **groups) -> pd.DataFrame:
    """Accuracy and count per combination of the given per-example group arrays (e.g. gender=...)."""
    frame = pd.DataFrame({k: np.asarray(v) for k, v in groups.items()})
    frame["correct"] = (logits.argmax(-1) == labels).numpy()
    out = frame.groupby(list(groups), observed=True).correct.agg(["mean", "size"])
    return out.rename(columns={"mean": "accuracy", "size": "count"}).reset_index()


def predicted_distribution(logits: torch.Tensor, num_classes: int | None = None) -> np.ndarray:
    """Fraction of examples predicted as each class."""
    k = num_classes or logits.shape[-1]
    return (torch.bincount(logits.argmax(-1), minlength=k).float() / len(logits)).numpy()


def attack_success_rate(
    clean_logits: torch.Tensor, triggered_logits: torch.Tensor, labels: torch.Tensor
) -> float:
    """ASR = P[C(T(x)) ≠ y | C(x) = y]: the share of correctly classified inputs that the trigger
    makes misclassified (thesis §7.2). NaN when no input is classified correctly."""
    ok = clean_logits.argmax(-1) == labels
    if not ok.any():
        return float("nan")
    return float((triggered_logits.argmax(-1)[ok] != labels[ok]).float().mean())


def robust_accuracy(
    model: Net,
    data: TensorData,
    adversary: Adversary,
    *,
    batch_size: int = 256,
    seed: int = 0,
    speed: Speed | None = None,
) -> float:
    """Accuracy of ``model`` on the PGD examples of ``data`` within the ``adversary``'s ball (the
    attack maximises the model's loss on the true label, from a seeded random start)."""
    speed = speed or Speed(pick_device())
    model = speed.model(model).eval()
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    for x, y in data.batches(batch_size, shuffle=False):
        x, y = speed.inputs(x), y.to(speed.device)
        adv = adversarial_batch(
            model, x, y, adversary, mean=data.mean, std=data.std, autocast=speed.autocast, generator=generator
        )
        with torch.no_grad(), speed.autocast():
            correct += int((model(adv).float().argmax(-1) == y).sum())
    return correct / max(len(data), 1)
