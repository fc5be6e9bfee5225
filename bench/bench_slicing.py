"""ReMoS benchmark: the ordinal ranking of every conv weight, vectorised vs a Python loop.

The published ReMoS artifact computes each weight's coverage and ranks in Python, weight by
weight, over all conv weights of the model. :func:`transferlab.methods.slicing.ordinal_scores`
does the same with a few sorts. Measured side by side on the conv layers of the chapter's teacher
architecture (cresnet-s), from the same coverage.

Usage: python bench/bench_slicing.py [--arch cresnet-s]
"""

from __future__ import annotations

import argparse

import torch

from transferlab.methods import slicing as sl
from transferlab.models import build_model, conv_layers
from transferlab.utils import timed


def _average_ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda k: values[k])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):  # a run of equal values shares the mean of its positions
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for pos in range(start, end + 1):
            ranks[order[pos]] = (start + end) / 2
        start = end + 1
    return ranks


def loop_scores(inputs) -> list[torch.Tensor]:
    """The artifact's way: every weight's coverage and magnitude in Python lists, one sort each over
    the whole model, then each weight's score."""
    cov, mag = [], []
    for weight, cov_in, cov_out in inputs:
        o, i, kh, kw = weight.shape
        for a in range(o):
            for b in range(i):
                for c in range(kh):
                    for d in range(kw):
                        cov.append(float(cov_out[a]) + float(cov_in[b]))
                        mag.append(abs(float(weight[a, b, c, d])))
    scores = [rc - rm for rc, rm in zip(_average_ranks(cov), _average_ranks(mag))]
    out, at = [], 0
    for weight, _, _ in inputs:
        out.append(torch.tensor(scores[at : at + weight.numel()], dtype=torch.float64).view_as(weight))
        at += weight.numel()
    return out


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
    weights = {str(k): w for k, (w, _, _) in enumerate(inputs)}
    coverage = {str(k): (cin, cout) for k, (_, cin, cout) in enumerate(inputs)}
    fast, t_fast = timed(lambda: list(sl.ordinal_scores(weights, coverage).values()))
    slow, t_slow = timed(lambda: loop_scores(inputs))
    print(f"{len(layers)} conv layers of {args.arch}, {n:,} weights")
    print(f"   Python loop, weight by weight {t_slow:8.3f} s")
    print(f"   vectorised (a few sorts)      {t_fast:8.3f} s   ({t_slow / t_fast:,.0f}×)")
    # float sums of the same two coverages in the same order: equal values tie the same way
    assert all(torch.allclose(a, b) for a, b in zip(fast, slow)), "the two rankings disagree"
    print("   the two give identical scores")


if __name__ == "__main__":
    main()
