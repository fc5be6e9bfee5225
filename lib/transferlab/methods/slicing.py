"""Ways to train a student from a teacher, the ReMoS paper's and its baselines (the ReMoS paper, §5).

Every method takes the teacher, the student's data and a recipe, and returns a trained student:

- ``finetune``: the teacher with a new head, every weight trained.
- ``retrain``: a fresh model of the same architecture trained from scratch.
- ``magprune``: the lowest-magnitude ``prune_ratio`` of every conv layer's weights set to zero and
  kept there (masked) while the rest fine-tunes.
- ``delta`` (Li et al., 2019): fine-tuning plus a penalty pulling the student's block outputs
  towards the teacher's, channel by channel, weighted by an attention: how much the teacher's loss
  on the student task grows when the channel is switched off.
- ``delta-r``: the same penalty while training from scratch (a fix-before-transfer method: the
  teacher's weights are never copied).
- ``renofeation`` (Chin et al., 2021): from scratch, a plain feature-map penalty towards the
  teacher, dropout on the block outputs, and stochastic weight averaging over the last epochs.
- ``remos`` (Zhang et al., 2022): relevant model slicing. Neuron (channel) coverage frequency of
  the teacher's conv layers over the student's training data (a channel is covered on an image
  when its min-max-scaled mean activation exceeds ``threshold``); a kernel weight's coverage is
  the sum of the coverage of the input and output channels it connects; its ordinal score is
  ``rank(coverage) − rank(|w|)`` over every conv weight of the model (the paper's §4.2: "inside the
  whole model weight set"; its artifact sorts all conv weights together), ties sharing their
  average rank (every tap of a kernel has its channel pair's coverage: one rank, not one by
  position); the ``ratio`` of weights with the lowest scores is set to zero, once, as the
  artifact does (``weight *= mask``; batch norm untouched, the head replaced), and then every
  weight fine-tunes. ``scope="layer"`` ranks and cuts within each layer instead (the book's
  first version, kept to show the difference).

The ranking is vectorised (a few sorts), where the published artifact loops in Python over every
weight.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping

import torch
from torch.nn import functional as F

from ..models import BLOCK_NAMES, Net, build_model, conv_layers
from ..train import Recipe, fit, pick_device, recalibrate_batchnorm, transfer
from ..world import TensorData
from .defects import minmax_channels

METHODS = ("finetune", "retrain", "magprune", "delta", "delta-r", "renofeation", "remos")
DELTA_METHODS = ("delta", "delta-r")  # the methods regularised by the teacher's channel attention


# ---------------------------------------------------------------------------------------------
# ReMoS


@torch.no_grad()
def coverage_frequency(
    model: Net, data: TensorData, *, threshold: float = 0.5, batch_size: int = 256
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per conv layer of the blocks: (coverage frequency of its input channels, of its output
    channels) over ``data``. A channel is covered on an image when its spatial mean activation,
    min-max scaled over the layer's channels for that image, exceeds ``threshold``."""
    device = pick_device()
    model = model.to(device).eval()
    layers = conv_layers(model.blocks)
    sums = {name: [0.0, 0.0] for name, _ in layers}
    seen: dict[str, list[torch.Tensor]] = {}

    def covered(t: torch.Tensor) -> torch.Tensor:
        return (minmax_channels(t.mean((2, 3))) > threshold).float().sum(0)

    def hook(name):
        def fn(_m, inputs, out):
            seen[name] = [covered(inputs[0]), covered(out)]

        return fn

    handles = [m.register_forward_hook(hook(name)) for name, m in layers]
    n = 0
    try:
        for x, _ in data.batches(batch_size, shuffle=False, device=device):
            model(x)
            n += len(x)
            for name, (cin, cout) in seen.items():
                sums[name][0] = sums[name][0] + cin
                sums[name][1] = sums[name][1] + cout
    finally:
        for h in handles:
            h.remove()
    return {name: (cin.cpu() / n, cout.cpu() / n) for name, (cin, cout) in sums.items()}


SLICING_SCOPES = ("model", "layer")


def _rank(v: torch.Tensor) -> torch.Tensor:
    """0-based position of each value in the ascending order (ties by position), same shape."""
    flat = v.flatten()
    ranks = torch.empty_like(flat, dtype=torch.long)
    ranks[torch.argsort(flat, stable=True)] = torch.arange(len(flat))
    return ranks.view_as(v)


def average_rank(v: torch.Tensor) -> torch.Tensor:
    """0-based rank of each value in the ascending order, tied values sharing the mean of their
    positions (float64, same shape)."""
    _, inverse, counts = torch.unique(v.flatten(), return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    return (first.double() + (counts.double() - 1) / 2)[inverse].view_as(v)


def _by_scope(tensors: Mapping[str, torch.Tensor], fn, scope: str) -> dict[str, torch.Tensor]:
    """``fn`` (a flat tensor to a flat tensor of the same length) applied to each layer's values
    alone (``scope="layer"``) or to all layers' values together (``"model"``), shaped back per layer."""
    if scope not in SLICING_SCOPES:
        raise ValueError(f"unknown slicing scope {scope!r}; one of {', '.join(SLICING_SCOPES)}")
    if scope == "layer":
        return {n: fn(t.flatten()).view(t.shape) for n, t in tensors.items()}
    names = list(tensors)
    out = fn(torch.cat([tensors[n].flatten() for n in names]))
    return {
        n: part.view(tensors[n].shape)
        for n, part in zip(names, out.split([tensors[n].numel() for n in names]))
    }


def ordinal_scores(
    weights: Mapping[str, torch.Tensor],
    coverage: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    scope: str = "model",
) -> dict[str, torch.Tensor]:
    """ReMoS' ordinal score of every weight of each conv kernel (out, in, kh, kw) of ``weights``:
    average rank of its coverage (its input plus its output channel's coverage frequency, from
    ``coverage``) minus average rank of its magnitude, both over every weight of the model
    (``scope="model"``, the paper's) or within its layer (``"layer"``)."""
    cov = {  # in float64: a tie is a tie of the two frequencies' exact sum
        name: (
            coverage[name][1].double()[:, None, None, None] + coverage[name][0].double()[None, :, None, None]
        ).expand(w.shape)
        for name, w in weights.items()
    }
    magnitude = {name: w.detach().abs().double() for name, w in weights.items()}
    cov_rank = _by_scope(cov, average_rank, scope)
    magnitude_rank = _by_scope(magnitude, average_rank, scope)
    return {name: cov_rank[name] - magnitude_rank[name] for name in weights}


def lowest(scores: Mapping[str, torch.Tensor], ratio: float, scope: str = "model") -> dict[str, torch.Tensor]:
    """True for the ``ratio`` of weights with the lowest scores, over the model or within each layer
    (``scope``); equal scores are taken in order of position."""
    return _by_scope(scores, lambda v: _rank(v) < int(round(ratio * v.numel())), scope)


def remos_slice(
    teacher: Net, data: TensorData, *, ratio: float, threshold: float = 0.5, scope: str = "model"
) -> tuple[Net, dict[str, float]]:
    """ReMoS' slice: the teacher with the conv weights least relevant to the student's task zeroed.

    A weight's ordinal score is the rank of its coverage (how often the student's data activates the
    channels it connects) minus the rank of its magnitude; the lowest scores are zeroed.

    Parameters
    ----------
    teacher
        The pre-trained model (left unchanged).
    data
        The student's training data, on which coverage is measured.
    ratio
        The share of weights to zero, in [0, 1).
    threshold
        A channel is covered by an input when its activation exceeds this share of its range.
    scope
        Rank over the whole ``"model"`` or within each ``"layer"``.

    Returns
    -------
    tuple
        The sliced copy, and the share of weights zeroed in each conv layer.
    """
    if not 0 <= ratio < 1:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    coverage = coverage_frequency(teacher, data, threshold=threshold)
    model = copy.deepcopy(teacher).cpu()
    convs = dict(conv_layers(model.blocks))
    if any(conv.groups != 1 for conv in convs.values()):
        raise ValueError("ReMoS slicing needs ungrouped convolutions")
    weights = {name: conv.weight.detach() for name, conv in convs.items()}
    masks = lowest(ordinal_scores(weights, coverage, scope), ratio, scope)
    with torch.no_grad():
        for name, mask in masks.items():
            convs[name].weight[mask] = 0.0
    return model, {name: float(mask.float().mean()) for name, mask in masks.items()}


# ---------------------------------------------------------------------------------------------
# magnitude pruning


def magnitude_masks(model: Net, ratio: float) -> dict[str, torch.Tensor]:
    """Per conv layer: True for the weights kept (all but the lowest-magnitude ``ratio``)."""
    magnitude = {name: conv.weight.detach().abs() for name, conv in conv_layers(model.blocks)}
    return {name: ~cut for name, cut in lowest(magnitude, ratio, scope="layer").items()}


def _apply_masks(model: Net, masks: dict[str, torch.Tensor]) -> None:
    convs = dict(conv_layers(model.blocks))
    with torch.no_grad():
        for name, mask in masks.items():
            convs[name].weight.mul_(mask.to(convs[name].weight.device))


# ---------------------------------------------------------------------------------------------
# feature-map regularisers (DELTA, DELTA-R, Renofeation)


def block_outputs(model: Net, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every block, in one pass."""
    outs = []
    for name in BLOCK_NAMES:
        x = model.blocks[name](x)
        outs.append(x)
    return outs


def channel_attention(
    teacher: Net, data: TensorData, *, batch_size: int = 256, seed: int = 0, recipe: Recipe | None = None
) -> list[torch.Tensor]:
    """DELTA's attention per channel of each block output: the rise of the teacher's loss on the
    student task (a linear head fitted on the teacher's features) when the channel is switched
    off, softmax-normalised over the block's channels."""
    device = pick_device()
    head_recipe = recipe or Recipe(epochs=30, lr=0.1, peak_epoch=5, batch_size=128)
    probe = transfer(teacher, data, head_recipe, mode="fixed", seed=seed).to(device).eval()
    g = torch.Generator().manual_seed(seed)
    x, y = next(data.batches(min(batch_size, len(data)), g, device=device))
    with torch.no_grad():
        return _attention(probe, x, y)


def _attention(probe: Net, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    device = x.device
    outs = block_outputs(probe, x)
    attention = []
    for b, out in enumerate(outs):

        def loss_from(h, b=b):
            for name in BLOCK_NAMES[b + 1 :]:
                h = probe.blocks[name](h)
            return F.cross_entropy(probe.head(probe.pool(h)), y)

        base = loss_from(out)
        rises = torch.stack(
            [
                loss_from(out.index_fill(1, torch.tensor([c], device=device), 0.0)) - base
                for c in range(out.shape[1])
            ]
        )
        # softmax over the channels of the (scaled) loss rises, times the channel count: mean weight 1
        attention.append(
            torch.softmax(rises.clamp(min=0) / (rises.abs().max() + 1e-8) * out.shape[1], 0).cpu()
            * out.shape[1]
        )
    return attention


class BlockTap:
    """Forward hooks on a student's blocks that keep every block's output of its latest training
    forward (after dropout on it, with ``dropout``: Renofeation's student trains with dropout on its
    features), so a feature-map penalty reads the very forward its classification loss used instead
    of running the student twice. :meth:`remove` takes the hooks off."""

    def __init__(self, model: Net, dropout: float = 0.0):
        self.dropout, self.outputs = dropout, {}
        self.handles = [
            model.blocks[name].register_forward_hook(self._hook(i)) for i, name in enumerate(BLOCK_NAMES)
        ]

    def _hook(self, i: int):
        def fn(module, _inputs, out):
            if not module.training:
                return None
            if self.dropout:
                out = F.dropout(out, self.dropout, training=True)
            self.outputs[i] = out
            return out

        return fn

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def feature_penalty(
    teacher: Net,
    weight: float,
    tap: BlockTap,
    attention: list[torch.Tensor] | None = None,
    blocks: tuple[int, ...] = (1, 2, 3, 4),
):
    """A regulariser for :func:`transferlab.train.fit`: ``weight`` × the mean over ``blocks`` of the
    (attention-weighted) squared distance between the student's block outputs (from ``tap``, on
    the student) and the teacher's."""
    teacher = copy.deepcopy(teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss(model: Net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ref = block_outputs(teacher.to(x.device), x)
        mine = tap.outputs
        total = 0.0
        for b in blocks:
            d = (mine[b] - ref[b]).pow(2).mean((2, 3))  # (N, channels)
            w = attention[b].to(x.device) if attention is not None else 1.0
            total = total + (d * w).sum(1).mean() / d.shape[1]
        return weight * total / len(blocks)

    return loss


def _then(first: Callable[[Net], None], second: Callable[[Net], None]) -> Callable[[Net], None]:
    def both(model: Net) -> None:
        first(model)
        second(model)

    return both


class _SWA:
    """Stochastic weight averaging over the steps after ``start`` (a fraction of training)."""

    def __init__(self, start: float, total_steps: int):
        self.start, self.step, self.n, self.avg = int(start * total_steps), 0, 0, None

    def __call__(self, model: Net) -> None:
        self.step += 1
        if self.step <= self.start:
            return
        state = {
            k: v.detach().clone().float() for k, v in model.state_dict().items() if v.is_floating_point()
        }
        if self.avg is None:
            self.avg, self.n = state, 1
        else:
            self.n += 1
            for k, v in state.items():
                self.avg[k] += (v - self.avg[k]) / self.n

    def finish(self, model: Net, data: TensorData) -> None:
        if self.avg is not None:
            model.load_state_dict({**model.state_dict(), **self.avg})
            recalibrate_batchnorm(model, data)


# ---------------------------------------------------------------------------------------------
# the methods


def train_student(
    method: str,
    teacher: Net,
    arch: str,
    data: TensorData,
    recipe: Recipe,
    *,
    seed: int = 0,
    ratio: float = 0.1,
    threshold: float = 0.5,
    scope: str = "model",
    prune_ratio: float = 0.5,
    delta_weight: float = 0.1,
    renofeation_weight: float = 0.1,
    dropout: float = 0.1,
    swa_start: float = 0.75,
    scratch_recipe: Recipe | None = None,
    attention: list[torch.Tensor] | None = None,
    on_step: Callable[[Net], None] | None = None,
) -> Net:
    """A student of ``teacher`` (of architecture ``arch``) on ``data`` by ``method`` (one of
    :data:`METHODS`); ``recipe`` trains the methods that start from the teacher, ``scratch_recipe``
    (default: ``recipe``) those that start from a fresh model. ``attention``: DELTA's channel
    attention of this teacher and data, if already computed (:func:`channel_attention`);
    ``on_step(model)`` runs after each optimiser step, after the method's own (e.g. snapshots)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    device = pick_device()
    torch.manual_seed(seed)
    scratch_recipe = scratch_recipe or recipe
    if method in ("retrain", "delta-r", "renofeation"):
        model = build_model(arch, data.num_classes)
        r = scratch_recipe
    else:
        model = copy.deepcopy(teacher).cpu()
        if method == "remos":
            model, _ = remos_slice(model, data, ratio=ratio, threshold=threshold, scope=scope)
        model.reset_head(data.num_classes)
        r = recipe
    model = model.to(device)
    regularizer, after_step, swa, tap = None, None, None, None
    if method == "magprune":
        masks = magnitude_masks(model, prune_ratio)
        _apply_masks(model, masks)
        after_step = functools.partial(_apply_masks, masks=masks)
    elif method in DELTA_METHODS:
        attention = attention if attention is not None else channel_attention(teacher, data)
        tap = BlockTap(model)
        regularizer = feature_penalty(teacher, delta_weight, tap, attention)
    elif method == "renofeation":
        tap = BlockTap(model, dropout)
        regularizer = feature_penalty(teacher, renofeation_weight, tap)
        steps = r.steps(len(data))
        swa = after_step = _SWA(swa_start, steps)
    if on_step is not None:
        after_step = on_step if after_step is None else _then(after_step, on_step)
    try:
        fit(model, data, r, seed=seed, regularizer=regularizer, after_step=after_step)
    finally:
        if tap is not None:
            tap.remove()
    if swa is not None:
        swa.finish(model, data)
    return model.eval()
