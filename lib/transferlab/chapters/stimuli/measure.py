"""Chapter 7's run: the foundation's strong stimuli (inputs optimised by gradient ascent on its
class scores), every child's answers to them, and the centroids they are compared with."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from ...run import load_model, run_jobs
from ...train import pick_device, predict
from ...world import TensorData
from .config import SCRATCH, STARTS, Config
from .jobs import plan_jobs


def stimuli(
    model,
    classes: int,
    *,
    start: str = "noise",
    seeds: torch.Tensor | None = None,
    steps: int = 60,
    step_size: float = 0.02,
    radius: float = 0.25,
    size: int = 16,
    mean: float = 0.5,
    std: float = 0.25,
    generator_seed: int = 0,
) -> torch.Tensor:
    """One strong stimulus per class 0..classes-1 of ``model`` (all optimised at once): ``steps``
    signed-gradient ascent steps on the class's logit in pixel space, kept in [0, 1]; from uniform
    noise (``start="noise"``) or from ``seeds`` (one image per class, uint8 or [0, 1]) within an
    L∞ ball of ``radius``. Returns uint8 images (classes, 3, size, size)."""
    device = pick_device()
    model = model.to(device).eval()
    if start == "noise":
        g = torch.Generator().manual_seed(generator_seed)
        x0 = torch.rand(classes, 3, size, size, generator=g)
    elif start == "seed":
        if seeds is None or len(seeds) != classes:
            raise ValueError(f"start='seed' needs one seed image per class ({classes})")
        x0 = seeds.float() / 255 if seeds.dtype == torch.uint8 else seeds.float()
    else:
        raise ValueError(f"unknown start {start!r}; choose one of {STARTS}")
    x0 = x0.to(device)
    x = x0.clone().requires_grad_(True)
    target = torch.arange(classes, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    for _ in range(steps):
        score = model((x - mean) / std).gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, x)
        with torch.no_grad():
            x += step_size * grad.sign()
            if start == "seed":
                x.copy_(torch.max(torch.min(x, x0 + radius), x0 - radius))
            x.clamp_(0, 1)
    return (x.detach() * 255).round().to(torch.uint8).cpu()


def seed_images(config: Config, shadow: int = 0) -> torch.Tensor:
    """The first source test image of each of a candidate's K classes (candidate 0: the foundation)."""
    test = config.world().source("test")
    return torch.stack([test.x[int((test.y == i).nonzero()[0])] for i in config.shadow_classes(shadow)])


def softmax_of(model, x: torch.Tensor, classes: tuple[str, ...]) -> np.ndarray:
    data = TensorData(x, torch.zeros(len(x), dtype=torch.long), classes=classes)
    return torch.softmax(predict(model, data), 1).numpy()


# The two readings of the poster's "centroid" of target class i, declared before any run: the mean
# of the child's softmax over class i's training images (the poster's wording, "the centroid of
# that target class's training outputs"), and the child's softmax on class i's mean training image.
READINGS = ("mean output", "mean image")


def distance_column(reading: str) -> str:
    return f"centroid distance ({reading})"


def outperforming_column(reading: str) -> str:
    return f"outperforming ({reading})"


def centroid_distances(model, train: TensorData) -> dict[str, np.ndarray]:
    """Per reading of :data:`READINGS` and target class i: ‖centroid of class i − e_i‖₂."""
    k = len(train.classes)
    y = train.y.numpy()
    eye = np.eye(k)
    p = torch.softmax(predict(model, train), 1).numpy()
    mean_images = torch.stack([train.x[train.y == i].float().mean(0) for i in range(k)])
    q = softmax_of(model, mean_images.round().to(torch.uint8), train.classes)
    return {
        "mean output": np.array([np.linalg.norm(p[y == i].mean(0) - eye[i]) for i in range(k)]),
        "mean image": np.linalg.norm(q - eye, axis=1),
    }


def evaluate(probs: np.ndarray, centroids: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per stimulus i: its distance to e_i, each reading's centroid distance and whether
    the stimulus outperforms it, the predicted label and its probability (the child's confidence)."""
    k = probs.shape[1]
    n = len(probs)
    d = np.linalg.norm(probs - np.eye(k)[:n], axis=1)
    frame = pd.DataFrame({"class": np.arange(n), "distance": d})
    for reading, centroid in centroids.items():
        frame[distance_column(reading)] = centroid[:n]
        frame[outperforming_column(reading)] = d < centroid[:n]
    return frame.assign(predicted=probs.argmax(1), confidence=probs.max(1))


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    source_classes: tuple[str, ...]  # the foundation's K classes
    target_classes: tuple[str, ...]
    train_sizes: np.ndarray  # training images per target class
    stimuli: dict[tuple[int, str], torch.Tensor]  # (shadow, start) -> uint8 (K, 3, H, W)
    table: pd.DataFrame  # shadow (of the stimuli), parent, kind, frozen, seed, start, class, distance, ...
    accuracy: pd.DataFrame  # kind, parent, frozen, seed, child, accuracy, confidence (on the target test set)
    # per reading, child (the foundation's and scratch), seed and target class: the centroid's distance
    # to the class's one-hot vector (what a stimulus must beat), with the class's training size
    centroids: pd.DataFrame  # child, seed, class, reading, distance, train_size

    def main(self) -> pd.DataFrame:
        """The poster's experiment: the foundation's stimuli on its own children and on scratch."""
        t = self.table
        return t[(t.shadow == 0) & ((t.parent == 0) | (t.kind == "scratch"))]


def _child_label(kind: str, frozen: int) -> str:
    return "scratch" if kind == "scratch" else f"{frozen} frozen"


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch) the foundations and children, make the stimuli, show them to every child."""
    world = config.world()
    jobs = plan_jobs(config)
    entries = dict(zip(jobs, run_jobs(list(jobs.values()), progress=progress)))
    train, test = world.target(config.target, "train"), world.target(config.target, "test")
    made = {}
    for shadow in range(config.shadows):
        foundation = load_model(entries[("foundation", shadow)])
        seeds = seed_images(config, shadow)
        for start in config.starts:
            made[(shadow, start)] = stimuli(
                foundation,
                config.k(),
                start=start,
                seeds=seeds,
                steps=config.steps,
                step_size=config.step_size,
                radius=config.radius,
                size=config.image_size,
                generator_seed=shadow,
            )
    rows, acc, fits = [], [], []
    for key, entry in entries.items():
        if key[0] == "foundation":
            continue
        kind = key[0]
        parent, frozen, seed = (key[1], key[2], key[3]) if kind == "child" else (-1, SCRATCH, key[1])
        model = load_model(entry)
        probs = torch.softmax(predict(model, test), 1)
        acc.append(
            {
                "kind": kind,
                "parent": parent,
                "frozen": frozen,
                "seed": seed,
                "child": _child_label(kind, frozen),
                "accuracy": float((probs.argmax(1) == test.y).float().mean()),
                "confidence": float(probs.max(1).values.mean()),
            }
        )
        centroid = centroid_distances(model, train)
        if parent <= 0:
            fits += [
                {"child": _child_label(kind, frozen), "seed": seed, "class": i, "reading": r, "distance": d}
                for r, ds in centroid.items()
                for i, d in enumerate(ds)
            ]
        for (shadow, start), x in made.items():
            if kind == "scratch" and shadow != 0:
                continue
            ev = evaluate(softmax_of(model, x, train.classes), centroid)
            rows.append(
                ev.assign(
                    shadow=shadow,
                    parent=parent,
                    kind=kind,
                    frozen=frozen,
                    seed=seed,
                    start=start,
                    child=_child_label(kind, frozen),
                )
            )
    sizes = np.bincount(train.y.numpy(), minlength=len(train.classes))
    names = world.source("test").classes
    return Results(
        config,
        tuple(names[i] for i in config.shadow_classes(0)),
        tuple(train.classes),
        sizes,
        made,
        pd.concat(rows, ignore_index=True),
        pd.DataFrame(acc),
        pd.DataFrame(fits).assign(train_size=lambda d: sizes[d["class"].to_numpy()]),
    )
