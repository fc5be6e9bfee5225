"""One training loop for every setting: source, scratch, full-network, partial and fixed-feature.

- ``fit`` trains a :class:`~transferlab.models.Net` (or a grouped model holding G nets, each on its
  own data) with SGD + momentum, the triangular learning rate of a :class:`Recipe`, weight decay,
  and the device's fast path (channels-last, bfloat16 autocast where the CPU or GPU has it).
- ``transfer`` adapts a source model to a target: a new head, then ``fixed`` (backbone frozen),
  ``full`` (everything trains) or ``partial`` (first k blocks frozen). Batch-norm statistics are
  not frozen in any of them (thesis App. G.1.2): in the cached fixed-feature path they are
  re-estimated on the target once, then the backbone's features are computed once and only the
  head trains on them, instead of running the frozen backbone again every epoch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .. import utils
from ..models import GroupedCompactResNet, Net
from ..world import TensorData
from .adversary import adversarial_batch
from .device import Speed, pick_device
from .recipes import Recipe

MODES = ("fixed", "full", "partial")
DATA_SECTION = "transferlab.data"
"""The profiler's name for making a training batch (shuffling, normalising, augmenting)."""


def _sgd(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """SGD over the trainable parameters; with ``recipe.head_lr_scale`` ≠ 1 the head's are a group of
    their own whose learning rate is that multiple of the rest's (``scale`` in each group)."""
    head = getattr(model, "head", None)
    own = {id(p) for p in head.parameters()} if head is not None and recipe.head_lr_scale != 1 else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in own], "scale": 1.0}]
    if own:
        groups.append({"params": [p for p in trainable if id(p) in own], "scale": recipe.head_lr_scale})
    return torch.optim.SGD(
        [g for g in groups if g["params"]], lr=0.0, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )


def _grouped_batches(
    datas: Sequence[TensorData],
    batch_size: int,
    steps: int,
    generators: Sequence[torch.Generator],
    augment: bool,
):
    """``steps`` batches of (G, B, C, H, W): each model walks its own shuffled data, wrapping around."""
    iters = [None] * len(datas)
    for _ in range(steps):
        xs, ys = [], []
        with torch.profiler.record_function(DATA_SECTION):
            for g, d in enumerate(datas):
                try:
                    x, y = next(iters[g])
                except (StopIteration, TypeError):
                    iters[g] = d.batches(batch_size, generators[g], augment=augment)
                    x, y = next(iters[g])
                while len(y) < batch_size:  # a short tail: start the next pass to keep batches equal
                    iters[g] = d.batches(batch_size, generators[g], augment=augment)
                    x2, y2 = next(iters[g])
                    x, y = torch.cat([x, x2])[:batch_size], torch.cat([y, y2])[:batch_size]
                xs.append(x)
                ys.append(y)
            batch = torch.stack(xs), torch.stack(ys)
        yield batch


def fit(
    model: Net | GroupedCompactResNet,
    data: TensorData | Sequence[TensorData],
    recipe: Recipe,
    *,
    seed: int | Sequence[int] = 0,
    speed: Speed | None = None,
    progress: bool = False,
    desc: str = "train",
    regularizer: Callable[[Net, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    after_step: Callable[[Net], None] | None = None,
) -> list[float] | list[list[float]]:
    """Train ``model`` in place on ``data`` with ``recipe``; return the mean loss of each epoch.

    A grouped model takes one :class:`TensorData` (and one seed) per member, and the losses come
    back per member: ``losses[g][epoch]``. For a single model, ``regularizer(model, x, y)`` adds a
    term to each batch's loss (e.g. a feature-map penalty towards a teacher) and ``after_step(model)``
    runs after each optimiser step (e.g. re-applying pruning masks, averaging weights).
    """
    speed = speed or Speed(pick_device())
    grouped = isinstance(model, GroupedCompactResNet)
    datas = list(data) if grouped else [data]
    seeds = list(seed) if isinstance(seed, Sequence) else [seed + g for g in range(len(datas))]
    if grouped:
        _check_group(
            model, datas, seeds, recipe, single_only=regularizer is not None or after_step is not None
        )
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    n = max(len(d) for d in datas)
    batch, steps_per_epoch = min(recipe.batch_size, n), recipe.steps_per_epoch(n)
    model = speed.model(model)
    model.train()
    total_steps = recipe.steps(n)
    # a regulariser may read the forward's intermediate outputs through hooks (a feature-map
    # penalty), which a compiled graph need not run: such runs stay eager
    # (and adversarial training switches the model to eval mode for each attack)
    eager = regularizer is not None or recipe.adversary is not None
    forward = model if eager else speed.training_forward(model, total_steps)
    opt = _sgd(model, recipe)
    losses, step = [], 0
    for epoch in utils.progress(range(recipe.passes(n)), desc, progress, unit="epoch"):
        total = torch.zeros(len(datas))
        in_epoch = min(steps_per_epoch, total_steps - epoch * steps_per_epoch)  # the last may be cut short
        for x, y in _grouped_batches(datas, batch, in_epoch, generators, recipe.augment):
            for group in opt.param_groups:
                group["lr"] = recipe.lr_at(step, steps_per_epoch) * group["scale"]
            x, y = speed.inputs(x if grouped else x[0]), y.to(speed.device)
            if recipe.adversary is not None:
                x = adversarial_batch(
                    model,
                    x,
                    y if grouped else y[0],
                    recipe.adversary,
                    mean=datas[0].mean,
                    std=datas[0].std,
                    autocast=speed.autocast,
                    generator=generators[0],
                )
            with speed.autocast():
                logits = forward(x).float()
            if not grouped:
                logits = logits[None]
            member_losses = _member_losses(logits, y, recipe)
            loss = member_losses.sum()
            if regularizer is not None:
                with speed.autocast():
                    loss = loss + regularizer(model, x, y[0]).float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step(model)
            total += member_losses.detach().cpu()
            step += 1
        losses.append((total / in_epoch).tolist())
    per_member = [list(epochs) for epochs in zip(*losses)]
    return per_member if grouped else per_member[0]


def _check_group(
    model: GroupedCompactResNet, datas: list[TensorData], seeds: list[int], recipe: Recipe, single_only: bool
) -> None:
    """Refuse what a grouped model cannot train: a regulariser or a per-step hook (``single_only``),
    an adversary over data sets normalised differently, or a data set or seed count unlike its groups."""
    if single_only:
        raise ValueError("regularizer and after_step are for a single model, not a grouped one")
    if recipe.adversary is not None and len({(d.mean, d.std) for d in datas}) > 1:
        raise ValueError(
            "a grouped model's adversary attacks in pixel units: its data sets need one normalisation"
        )
    if not (len(datas) == len(seeds) == model.groups):
        raise ValueError(
            f"a grouped model of {model.groups} needs {model.groups} data sets and seeds, "
            f"got {len(datas)} and {len(seeds)}"
        )


def _member_losses(logits: torch.Tensor, y: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """Each member's mean loss, (G,) from (G, N, classes) logits: their sum gives each member
    exactly its own gradient."""
    return torch.stack(
        [F.cross_entropy(logits[g], y[g], label_smoothing=recipe.label_smoothing) for g in range(len(logits))]
    )


class Snapshots:
    """An ``after_step`` for :func:`fit` that keeps a copy of the model's weights after each of
    ``steps`` optimiser steps (``self.states[step]``): with a constant learning rate, the model a
    run of that many steps would have made (a recovery curve from one run)."""

    def __init__(self, steps: Sequence[int]):
        self.wanted, self.step = set(steps), 0
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, model: Net) -> None:
        self.step += 1
        if self.step in self.wanted:
            self.states[self.step] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, data: TensorData, *, batch_size: int = 256, speed: Speed | None = None
) -> None:
    """Re-estimate every batch-norm layer's running statistics on ``data`` (a cumulative average)."""
    speed = speed or Speed(pick_device())
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x, _ in data.batches(batch_size, shuffle=False):
        with speed.autocast():
            model(speed.inputs(x))
    for m, mom in zip(norms, saved):
        m.momentum = mom
    model.eval()


@torch.no_grad()
def extract_features(
    model: Net, data: TensorData, *, batch_size: int = 512, speed: Speed | None = None
) -> torch.Tensor:
    """Penultimate-layer features of every example of ``data`` (model in eval mode), float32 on CPU."""
    speed = speed or Speed(pick_device())
    model.eval()
    out = []
    for x, _ in data.batches(batch_size, shuffle=False):
        with speed.autocast():
            out.append(model.features(speed.inputs(x)).float().cpu())
    return torch.cat(out)


def train_heads(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    recipe: Recipe,
    *,
    seed: int = 0,
    device: torch.device | None = None,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train linear heads on fixed features with the recipe's SGD schedule.

    ``features`` is (N, F) for one head or (M, N, F) for M heads trained at once (each on its own
    features, same labels). Returns (weight, bias): (K, F), (K,) or (M, K, F), (M, K).
    """
    if recipe.iterations is not None:
        raise ValueError(
            "train_heads trains for the recipe's epochs; a recipe counted in iterations is for fit"
        )
    device = device or pick_device()
    single = features.ndim == 2
    feats = (features[None] if single else features).to(device)
    m, n, f = feats.shape
    gen = torch.Generator().manual_seed(seed)
    if init is None:
        bound = 1 / math.sqrt(f)  # nn.Linear's default initialisation
        w = (torch.rand(m, num_classes, f, generator=gen) * 2 - 1) * bound
        b = (torch.rand(m, num_classes, generator=gen) * 2 - 1) * bound
    else:
        w, b = (t[None] if single else t for t in init)
    w, b = (t.detach().clone().to(device).requires_grad_() for t in (w, b))
    opt = torch.optim.SGD([w, b], lr=0.0, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    labels = labels.to(device)
    batch, steps_per_epoch = min(recipe.batch_size, n), recipe.steps_per_epoch(n)
    step = 0
    for _ in range(recipe.epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            for group in opt.param_groups:
                group["lr"] = recipe.lr_at(step, steps_per_epoch)
            logits = torch.einsum("mnf,mkf->mnk", feats[:, idx], w) + b[:, None]
            loss = (
                F.cross_entropy(
                    logits.reshape(-1, num_classes),
                    labels[idx].repeat(m),
                    label_smoothing=recipe.label_smoothing,
                )
                * m
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    w, b = w.detach().cpu(), b.detach().cpu()
    return (w[0], b[0]) if single else (w, b)


def transfer(
    source: Net,
    data: TensorData,
    recipe: Recipe,
    *,
    mode: str = "fixed",
    frozen_blocks: int | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    cache_features: bool = True,
    speed: Speed | None = None,
    progress: bool = False,
) -> Net:
    """A copy of ``source`` adapted to ``data``: new head, then fixed, full or partial fine-tuning.

    With ``cache_features`` (default), fixed-feature transfer trains the head on features computed
    once (after re-estimating batch-norm statistics on the target), which is equivalent to
    re-running the frozen backbone in eval mode every epoch, without augmentation.

    Parameters
    ----------
    source
        The pre-trained model (left unchanged).
    data
        The target's training set.
    recipe
        Epochs, learning rate, batch size, weight decay and augmentation of the fine-tuning.
    mode
        ``"fixed"`` (fixed-feature: the backbone's 5 blocks frozen), ``"full"`` (full-network:
        nothing frozen) or ``"partial"`` (the first ``frozen_blocks`` frozen).
    frozen_blocks
        With ``mode="partial"``: how many blocks stay as the source left them.
    num_classes
        Classes of the new head (default: ``data``'s).
    seed
        Seeds the new head and the batch order.
    cache_features
        Train a fixed-feature head on features computed once.
    speed
        The device and numeric path (default: the fastest this machine has).
    progress
        Show a progress bar over the epochs.

    Returns
    -------
    Net
        The transferred model.
    """
    if mode not in MODES:
        raise ValueError(f"unknown transfer mode {mode!r}; one of {', '.join(MODES)}")
    k = {"fixed": 5, "full": 0}.get(mode, frozen_blocks)
    if k is None or not 0 <= k <= 5:
        raise ValueError(f"partial transfer needs frozen_blocks in 0..5, got {frozen_blocks}")
    speed = speed or Speed(pick_device())
    model = copy.deepcopy(source).to(speed.device)
    torch.manual_seed(seed)
    model.reset_head(num_classes or data.num_classes)
    if k == 5 and cache_features:
        recalibrate_batchnorm(model, data, speed=speed)
        feats = extract_features(model, data, speed=speed)
        w, b = train_heads(
            feats,
            data.y,
            model.num_classes,
            recipe,
            seed=seed,
            device=speed.device,
            init=(model.head.weight.detach().cpu(), model.head.bias.detach().cpu()),
        )
        with torch.no_grad():
            model.head.weight.copy_(w)
            model.head.bias.copy_(b)
        return model.eval()
    model.freeze(k)
    fit(model, data, recipe, seed=seed, speed=speed, progress=progress, desc=f"transfer ({mode})")
    model.freeze(0)
    return model.eval()
