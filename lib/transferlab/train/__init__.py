"""Training and transfer: recipes, in-memory data, the one training loop, evaluation helpers."""

from .adversary import NORMS, Adversary, adversarial_batch, ascend
from .device import NUMERICS, PLAIN, Speed, bf16_is_fast, cpu_model, numerics, pick_device
from .eval import (
    accuracy,
    attack_success_rate,
    mean_per_class_accuracy,
    per_class_accuracy,
    per_group_accuracy,
    predict,
    predicted_distribution,
    robust_accuracy,
    softmax,
)
from .loop import MODES, Snapshots, extract_features, fit, recalibrate_batchnorm, train_heads, transfer
from .recipes import RECIPES, Recipe, recipe

__all__ = [
    "NORMS",
    "Adversary",
    "adversarial_batch",
    "ascend",
    "robust_accuracy",
    "NUMERICS",
    "PLAIN",
    "Snapshots",
    "Speed",
    "numerics",
    "bf16_is_fast",
    "cpu_model",
    "pick_device",
    "accuracy",
    "attack_success_rate",
    "mean_per_class_accuracy",
    "per_class_accuracy",
    "per_group_accuracy",
    "predict",
    "predicted_distribution",
    "softmax",
    "MODES",
    "extract_features",
    "fit",
    "recalibrate_batchnorm",
    "train_heads",
    "transfer",
    "RECIPES",
    "Recipe",
    "recipe",
]
