"""World benchmark: generation speed of the synthetic world, every figure a ratio measured here.

1. Vectorised generation (all images of a part drawn family by family in tensor operations)
   against drawing the same images one at a time, in images/s.
2. Reading a generated part back from the store against generating it (cold).
3. The size of every part of the default world.

Usage: python bench/bench_world.py [--size 24] [--naive 400]
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from transferlab.store import Store
from transferlab.utils import timed
from transferlab.world import TARGETS, World
from transferlab.world.catalogue import render_catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--naive", type=int, default=400, help="images drawn one at a time")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    world = World(cache=None, size=args.size)
    source, cold = timed(lambda: world.source("train"))
    n = len(source)
    print(f"default world at {args.size} px, {torch.get_num_threads()} threads")
    print(f"\n1. generation: source training set, {n} images")
    cat = world.source_classes()
    labels = source.y[torch.randperm(n, generator=torch.Generator().manual_seed(0))[: args.naive]]
    g = torch.Generator().manual_seed(0)
    _, naive = timed(
        lambda: [render_catalogue(cat, labels[i : i + 1], args.size, g) for i in range(len(labels))]
    )
    _, batched = timed(lambda: render_catalogue(cat, labels, args.size, g))
    rows = [
        ("one image at a time", args.naive / naive),
        (f"vectorised, {args.naive} at once", args.naive / batched),
        (f"vectorised, whole part ({n})", n / cold),
    ]
    base = rows[0][1]
    print(f"   {'path':32s} {'images/s':>10s} {'× one at a time':>16s}")
    for label, rate in rows:
        print(f"   {label:32s} {rate:10.0f} {rate / base:15.1f}×")

    print("\n2. cache: the same part read back from the store")
    with tempfile.TemporaryDirectory() as root:
        cached = World(cache=Store(root), size=args.size)
        _, first = timed(lambda: cached.source("train"))
        again = World(cache=Store(root), size=args.size)
        data, warm = timed(lambda: again.source("train"))
        assert torch.equal(data.x, source.x)
    print(
        f"   generate + write {first:6.2f} s   read {warm:6.3f} s   ({first / warm:.0f}× faster warm; "
        f"cold without store {cold:.2f} s)"
    )

    print("\n3. parts of the default world")
    print(f"   {'part':10s} {'classes':>8s} {'train':>8s} {'test':>8s} {'MB':>8s}")
    for part in ("source", *TARGETS):
        tr, te = world.get(part, "train"), world.get(part, "test")
        mb = (tr.x.numel() + te.x.numel()) / 2**20
        print(f"   {part:10s} {tr.num_classes:8d} {len(tr):8d} {len(te):8d} {mb:8.1f}")


if __name__ == "__main__":
    main()
