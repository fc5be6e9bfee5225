"""A gradient-based estimator of source influence through transfer, in the manner of TRAK
(Park et al., 2023), written for this book's models.

For one source model with backbone parameters θ, every example gets a feature: the gradient of
its output function f = log p_y − log(1 − p_y) (the log-odds of its true class) with respect to
θ, randomly projected to ``dim`` numbers. Source training examples use the source model's head,
target examples the transferred model's head on the same backbone, so both live in one θ-space.
The score of source example z on target example t is

    τ(z, t) = φ_t · (Φᵀ Φ + λ I)⁻¹ · φ_z · (1 − p_z)

with Φ the source examples' features: a one-step Newton estimate of how much up-weighting z in
source training moves f(t) through the shared backbone (the target head held fixed; exact in
that sense for fixed-feature transfer, a first-order view of full-network transfer). Scores are
averaged over models; a class's influence is the sum over its examples.

Unlike the mask-based estimators of :mod:`transferlab.methods.subset_influence`, one trained model already
gives a full (examples × targets) matrix, with no retraining on subsets; its quality is measured
against the same ground truth and held-out runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from ..models import Net
from ..world import TensorData


def _log_odds(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p_y − log(1 − p_y) from the logits, stable for confident predictions."""
    true = logits.gather(-1, y[..., None]).squeeze(-1)
    classes = torch.arange(logits.shape[-1], device=logits.device)
    others = logits.masked_fill(classes == y[..., None], -torch.inf)
    return true - torch.logsumexp(others, dim=-1)


def projection(n_params: int, dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A (n_params, dim) Gaussian random projection scaled by 1/√dim, the same for a seed."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n_params, dim, generator=g) / dim**0.5).to(device)


class _Output(torch.nn.Module):
    """A backbone's features through a given head (the source head or a transferred one)."""

    def __init__(self, backbone: Net, head: torch.nn.Linear):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.features(x))


def features(
    backbone: Net, head: torch.nn.Linear, data: TensorData, proj: torch.Tensor, *, batch_size: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """(projected gradients (N, dim), true-class probabilities (N,)) of ``data`` through
    ``backbone``'s blocks and ``head``."""
    net = _Output(backbone, head).eval()
    params = {f"backbone.blocks.{k}": v.detach() for k, v in backbone.blocks.named_parameters()}
    n = sum(p.numel() for p in params.values())
    if proj.shape[0] != n:
        raise ValueError(f"projection has {proj.shape[0]} rows for {n} backbone parameters")

    def output(p, x, y):
        return _log_odds(functional_call(net, p, (x[None],)), y[None]).squeeze(0)

    per_example = vmap(grad(output), in_dims=(None, 0, 0))
    device = proj.device
    feats, probs = [], []
    for x, y in data.batches(batch_size, shuffle=False):
        x, y = x.to(device), y.to(device)
        g = per_example({k: v.to(device) for k, v in params.items()}, x, y)
        flat = torch.cat([g[k].reshape(len(x), -1) for k in params], dim=1)
        feats.append((flat.detach() @ proj).cpu())
        with torch.no_grad():
            probs.append(torch.softmax(net.to(device)(x), -1).gather(1, y[:, None]).squeeze(1).cpu())
    return torch.cat(feats), torch.cat(probs)


def scores(
    source_model: Net,
    transfer_model: Net,
    source: TensorData,
    target: TensorData,
    *,
    dim: int = 512,
    ridge: float = 1e-2,
    seed: int = 0,
) -> np.ndarray:
    """(source examples, target examples) TRAK scores of one source model and its transfer."""
    n_params = sum(p.numel() for p in source_model.blocks.parameters())
    proj = projection(n_params, dim, seed)
    phi_s, p_s = features(source_model, source_model.head, source, proj)
    phi_t, _ = features(source_model, transfer_model.head, target, proj)
    kernel = phi_s.T.double() @ phi_s.double()
    kernel += ridge * kernel.diagonal().mean() * torch.eye(dim, dtype=torch.float64)
    solved = torch.linalg.solve(kernel, phi_t.T.double())  # (dim, T)
    return ((phi_s.double() @ solved) * (1 - p_s.double())[:, None]).numpy()


def ensemble(
    pairs: Sequence[tuple[Net, Net]], source: TensorData, target: TensorData, **kwargs
) -> np.ndarray:
    """Mean of :func:`scores` over (source model, transfer model) pairs, each with its own projection."""
    seed = kwargs.pop("seed", 0)
    total = None
    for i, (s, t) in enumerate(pairs):
        sc = scores(s, t, source, target, seed=seed + i, **kwargs)
        total = sc if total is None else total + sc
    if total is None:
        raise ValueError("ensemble needs at least one (source model, transfer model) pair")
    return total / len(pairs)


def by_class(example_scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(classes, targets): the sum of the example scores of each source class."""
    out = np.zeros((n_classes, example_scores.shape[1]))
    np.add.at(out, np.asarray(labels), example_scores)
    return out
