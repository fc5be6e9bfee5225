"""ReMoS benchmark: the ordinal ranking of every conv weight, vectorised vs a Python loop.

The published ReMoS artifact computes each weight's coverage and ranks in Python, weight by
weight. :func:`transferlab.methods.slicing.ordinal_scores` does one argsort per layer. Measured side by
side on the conv layers of the chapter's teacher architecture (cresnet-s), from the same coverage.

Usage: python bench/bench_slicing.py [--arch cresnet-s]
"""

from __future__ import annotations

import argparse

import torch

from transferlab.methods import slicing as sl
from transferlab.models import build_model, conv_layers
from transferlab.utils import timed


def loop_scores(weight: torch.Tensor, cov_in: torch.Tensor, cov_out: torch.Tensor) -> torch.Tensor:
    """The artifact's way: weight coverage and both ranks, one weight at a time."""
    o, i, kh, kw = weight.shape
    cov, mag = [], []
    for a in range(o):
        for b in range(i):
            for c in range(kh):
                for d in range(kw):
                    cov.append(float(cov_out[a] + cov_in[b]))
                    mag.append(abs(float(weight[a, b, c, d])))
    order_cov = sorted(range(len(cov)), key=lambda k: cov[k])
    order_mag = sorted(range(len(mag)), key=lambda k: mag[k])
    rank_cov, rank_mag = [0] * len(cov), [0] * len(mag)
    for pos, k in enumerate(order_cov):
        rank_cov[k] = pos
    for pos, k in enumerate(order_mag):
        rank_mag[k] = pos
    return torch.tensor([rc - rm for rc, rm in zip(rank_cov, rank_mag)]).view_as(weight)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="cresnet-s")
    args = parser.parse_args()
    torch.manual_seed(0)
    layers = conv_layers(build_model(args.arch, 10).blocks)
    inputs = [
        (conv.weight.detach(), torch.rand(conv.in_channels), torch.rand(conv.out_channels))
        for _, conv in layers
    ]
    n = sum(w.numel() for w, _, _ in inputs)
    fast, t_fast = timed(lambda: [sl.ordinal_scores(*x) for x in inputs])
    slow, t_slow = timed(lambda: [loop_scores(*x) for x in inputs])
    print(f"{len(layers)} conv layers of {args.arch}, {n:,} weights")
    print(f"   Python loop, weight by weight {t_slow:8.3f} s")
    print(f"   vectorised (argsort per layer) {t_fast:8.3f} s   ({t_slow / t_fast:,.0f}×)")
    # both rank with stable sorts over the same flattened order, so ties fall the same way
    assert all(torch.equal(a, b) for a, b in zip(fast, slow)), "the two rankings disagree"
    print("   the two give identical scores")


if __name__ == "__main__":
    main()
