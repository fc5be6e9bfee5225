"""Defects of a teacher model that its students may inherit (the ReMoS paper, §3–§5).

Each defect turns clean student images into a **malicious set** using the teacher alone:

- :func:`penultimate_attack`: adversarial examples that push the teacher's penultimate features
  away from the clean ones (target-agnostic), by projected sign-gradient ascent under an L∞ budget.
- :func:`coverage_fuzz`: fuzzing guided by neuron coverage, as the paper's artifact does it: the
  same ascent on the activations of a few neurons (channels) that a strategy picks at every step
  (DeepXplore: uncovered ones; DLFuzz: the most covered; DLFuzz-RR: most covered, rarest covered
  and high-weight ones in turn) from what the criterion counts as covered (``nc``: above the
  activation threshold; ``tknc``: in the layer's top k; ``snac``: above the highest activation
  seen on the student's training data).
- backdoors planted in the teacher: :func:`badnets` (a patch on a fraction of the training
  images, relabelled to one class) and the latent backdoor of :func:`latent_loss` (triggered
  inputs are pulled, in the penultimate layer, towards a class the teacher does not have but a
  student will, so the backdoor survives the replacement of the head).

And :func:`inheritance_rate`: DIR, among the test images a student classifies correctly, the
share whose malicious version it gets wrong (or, for a targeted backdoor, sends to the target).

No maintained library implements these attacks for this book's models and channel-level
coverage (torchattacks and ART attack the logits, not the penultimate layer or coverage), so
they are written here, each a few lines of projected gradient ascent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..models import Net, conv_layers
from ..train import Adversary, ascend, pick_device, predict
from ..world import DataRef, Square, TensorData, apply_overlay, data_function

CRITERIA = ("nc", "tknc", "snac")
STRATEGIES = ("deepxplore", "dlfuzz", "dlfuzz-rr")  # how coverage-guided fuzzing picks its neurons


def _pgd(
    model: Net,
    data: TensorData,
    setup: Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]],
    *,
    eps: float,
    steps: int,
    step_size: float,
    batch_size: int = 256,
    seed: int = 0,
    random_start: bool = True,
) -> torch.Tensor:
    """uint8 images maximising an objective by sign-gradient steps within an L∞ ball of ``eps``
    (pixel units) and [0, 1], from a random point of the ball (seeded; at the clean image itself a
    distance objective has no gradient) or, without ``random_start``, from the clean image.
    ``setup(clean batch)`` (normalised) is called once per batch and returns the objective of the
    normalised perturbed batch (one value per image), called once per step."""
    device = pick_device()
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    out = []
    g = torch.Generator().manual_seed(seed)
    ball = Adversary("linf", eps, steps)
    for start in range(0, len(data), batch_size):
        x0 = data.x[start : start + batch_size].float().to(device) / 255
        with torch.no_grad():
            objective = setup((x0 - data.mean) / data.std)
        x = ascend(
            lambda z, f=objective: f((z - data.mean) / data.std),
            x0,
            ball,
            step_size=step_size,
            random_start=random_start,
            generator=g,
        )
        out.append((x * 255).round().to(torch.uint8).cpu())
    return torch.cat(out)


def penultimate_attack(
    teacher: Net, data: TensorData, *, eps: float = 8 / 255, steps: int = 10, step_size: float = 2 / 255
) -> TensorData:
    """``data`` with every image replaced by its penultimate-layer-guided adversarial example."""

    def setup(clean):
        ref = teacher.features(clean)
        return lambda x: (teacher.features(x) - ref).pow(2).sum(1)

    return data.replace(x=_pgd(teacher, data, setup, eps=eps, steps=steps, step_size=step_size))


def channel_activations(model: Net, x: torch.Tensor, with_logits: bool = False):
    """The spatial mean of every conv layer's output channels: a list of (N, channels); with
    ``with_logits``, (that list, the logits) from the same forward pass."""
    acts: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: acts.append(out.mean((2, 3))))
        for _, m in conv_layers(model.blocks)
    ]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return (acts, logits) if with_logits else acts


def minmax_channels(a: torch.Tensor) -> torch.Tensor:
    """Channel activations (N, channels) min-max scaled over each image's channels, into [0, 1]:
    the scale neuron coverage compares with its threshold."""
    lo, hi = a.min(1, keepdim=True).values, a.max(1, keepdim=True).values
    return (a - lo) / (hi - lo + 1e-8)


@torch.no_grad()
def activation_profile(model: Net, data: TensorData, *, k: int = 2, batch_size: int = 256) -> dict[str, Any]:
    """What the coverage criteria need from the student's training data: per conv layer, the
    highest channel activation seen (SNAC's upper bound), and the top-``k`` size of TKNC."""
    model = model.to(pick_device()).eval()
    highs = None
    for x, _ in data.batches(batch_size, shuffle=False, device=pick_device()):
        acts = [a.max(0).values for a in channel_activations(model, x)]
        highs = acts if highs is None else [torch.max(h, a) for h, a in zip(highs, acts)]
    return {"high": highs, "k": k}


def _covered(
    acts: list[torch.Tensor], criterion: str, profile: dict[str, Any], threshold: float
) -> torch.Tensor:
    """Which neurons (channels of every conv layer, concatenated) ``criterion`` counts as covered by
    each image: (N, neurons) bool. ``nc``: min-max scaled activation above ``threshold``; ``tknc``:
    among its layer's top k; ``snac``: above the highest activation seen on the training data."""
    masks = []
    for layer, a in enumerate(acts):
        if criterion == "nc":
            masks.append(minmax_channels(a) > threshold)
        elif criterion == "tknc":
            top = a.topk(min(profile["k"], a.shape[1]), dim=1).indices
            masks.append(torch.zeros_like(a, dtype=torch.bool).scatter(1, top, True))
        else:
            masks.append(a > profile["high"][layer].to(a.device))
    return torch.cat(masks, 1)


def _high_weight_neurons(model: Net, portion: float = 0.1) -> torch.Tensor:
    """The neurons (output channels, as :func:`_covered` orders them) whose kernels have the largest
    mean weight, the top ``portion`` (DLFuzz's third strategy; the artifact's ``weight_portion``)."""
    means = torch.cat([m.weight.detach().mean((1, 2, 3)) for _, m in conv_layers(model.blocks)])
    return means.topk(max(1, int(portion * len(means)))).indices


def _select(strategy: str, step: int, counts: torch.Tensor, k: int, high: torch.Tensor, g: torch.Generator):
    """Per image, the (at most) ``k`` neurons the fuzzing strategy ascends on at ``step``, as a
    (N, neurons) bool mask, from how often each neuron has been covered so far (``counts``)."""
    noise = torch.rand(counts.shape, generator=g).to(counts.device)  # breaks ties at random
    rule = {"deepxplore": "uncovered", "dlfuzz": "most"}.get(strategy)
    if rule is None:  # dlfuzz-rr: most covered, rarest covered, high-weight neurons, in turn
        rule = ("most", "rarest", "weight")[step % 3]
    if rule == "uncovered":  # DeepXplore: random neurons not yet covered
        score = torch.where(counts == 0, noise, torch.full_like(noise, -1.0))
    elif rule == "most":
        score = counts + noise
    elif rule == "rarest":
        score = -counts + noise
    else:
        score = torch.full_like(noise, -1.0)
        score[:, high.to(counts.device)] = noise[:, high.to(counts.device)]
    top = score.topk(min(k, score.shape[1]), dim=1)
    return torch.zeros_like(counts, dtype=torch.bool).scatter(1, top.indices, top.values >= 0)


def coverage_fuzz(
    teacher: Net,
    data: TensorData,
    criterion: str,
    profile: dict[str, Any],
    *,
    strategy: str = "dlfuzz",
    neurons: int = 20,
    threshold: float = 0.5,
    eps: float = 8 / 255,
    steps: int = 10,
    step_size: float = 2 / 255,
    seed: int = 0,
) -> TensorData:
    """Coverage-guided fuzzing as the ReMoS artifact does it (``DNNtest/eval_nc.py``): from the clean
    image, sign-gradient ascent on the mean activation of ``neurons`` neurons (conv channels) that
    ``strategy`` picks at every step from the coverage ``criterion`` counts over the steps so far:
    ``deepxplore``, random uncovered neurons; ``dlfuzz``, the most covered; ``dlfuzz-rr``, in turn
    the most covered, the rarest covered and random high-weight ones."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown coverage criterion {criterion!r}; one of {', '.join(CRITERIA)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown fuzzing strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    high = _high_weight_neurons(teacher)
    g = torch.Generator().manual_seed(seed)

    def setup(clean):
        state = {"step": 0, "counts": None}

        def objective(x):
            acts = channel_activations(teacher, x)
            with torch.no_grad():
                covered = _covered([a.detach() for a in acts], criterion, profile, threshold).long()
                state["counts"] = covered if state["counts"] is None else state["counts"] + covered
                chosen = _select(strategy, state["step"], state["counts"], neurons, high, g)
            state["step"] += 1
            values = torch.cat(acts, 1)
            return (values * chosen).sum(1) / chosen.sum(1).clamp(min=1)

        return objective

    fuzzed = _pgd(
        teacher, data, setup, eps=eps, steps=steps, step_size=step_size, seed=seed, random_start=False
    )
    return data.replace(x=fuzzed)


def trigger(size: int = 3, colour: tuple[int, int, int] = (255, 0, 255)) -> Square:
    """The patch of the backdoors (magenta by default, unlike chapter 2's yellow)."""
    return Square(size, "bottom-right", tuple(colour))


@data_function("defects.badnets")
def badnets(base: DataRef, fraction: float, label: int, trigger_size: int) -> TensorData:
    """A training set (``base``) with the trigger on ``fraction`` of the images outside class
    ``label``, all of them relabelled to ``label`` (BadNets; the ReMoS artifact poisons the
    student's own training set, a fifth of it, towards its class 0)."""
    data = base.load()
    if not 0 <= label < data.num_classes:
        raise ValueError(f"poison label {label} is not a class of the data (0–{data.num_classes - 1})")
    others = [c for i, c in enumerate(data.classes) if i != label]
    poisoned = apply_overlay(
        data, trigger(trigger_size), fraction=fraction, classes=others, seed=11, column="poisoned"
    )
    y = poisoned.y.clone()
    y[torch.as_tensor(poisoned.attrs["poisoned"].to_numpy().copy())] = label
    return poisoned.replace(y=y)


def triggered(data: TensorData, trigger_size: int) -> TensorData:
    """Every image of ``data`` with the backdoor trigger."""
    return apply_overlay(data, trigger(trigger_size), seed=12, column="trigger")


def latent_loss(target_features: torch.Tensor, trigger_size: int, weight: float = 1.0):
    """A regulariser for :func:`transferlab.train.fit` that plants a latent backdoor: the triggered
    version of each batch image should have the penultimate features ``target_features`` (the mean
    features of a class the teacher does not know); ``weight`` × their mean squared difference."""
    patch = trigger(trigger_size)
    # the same patch in normalised units, painted on the (normalised) training batch
    normalised = Square(patch.size, patch.position, tuple((c / 255 - 0.5) / 0.25 for c in patch.colour))
    g = torch.Generator()

    def loss(model: Net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        xt = normalised(x.cpu(), g).to(x.device)
        return weight * (model.features(xt) - target_features.to(x.device)).pow(2).mean()

    return loss


def defect_rate(
    clean_pred: torch.Tensor, malicious_pred: torch.Tensor, labels: torch.Tensor, target: int | None = None
) -> float:
    """DIR from predicted classes: among the clean images predicted correctly (and, for a targeted
    defect, not of class ``target``), the share whose malicious version is predicted wrong (or as
    ``target``)."""
    ok = clean_pred == labels
    if target is not None:
        ok &= labels != target
    if not ok.any():
        return float("nan")
    hit = (malicious_pred[ok] == target) if target is not None else (malicious_pred[ok] != labels[ok])
    return float(hit.float().mean())


@torch.no_grad()
def inheritance_rate(
    student: Net, clean: TensorData, malicious: TensorData, target: int | None = None
) -> float:
    """DIR of ``student`` (:func:`defect_rate` of its predictions on the clean and the malicious set)."""
    return defect_rate(
        predict(student, clean).argmax(1), predict(student, malicious).argmax(1), clean.y, target
    )
