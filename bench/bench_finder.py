"""Bias-finder benchmark: the probing paths of chapter 5, every figure a ratio measured here.

1. Probing several models with several overlays: each overlay drawn once per data set and reused
   for every model (what the chapter does) against drawing it again for every model.
2. The search: candidate overlays scored per second, on a sample of the source test set, against
   scoring each candidate on the whole test set.

Models are untrained compact ResNets of the chapter's architecture (the cost does not depend on
the weights). Usage: python bench/bench_finder.py [--size 24] [--models 9] [--images 1000]
"""

from __future__ import annotations

import argparse

import torch

from transferlab.methods import bias_finder as finder
from transferlab.models import build_model
from transferlab.train import predict
from transferlab.utils import timed
from transferlab.world import World, apply_overlay, parse_overlay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--models", type=int, default=9, help="models probed (the chapter: 9 per target)")
    parser.add_argument("--images", type=int, default=1000, help="target test images")
    args = parser.parse_args()
    world = World(cache=None, size=args.size)
    data = world.target("objects", "test").subset(torch.arange(args.images))
    overlays = [parse_overlay(t) for t in ("fence", "ball", "hat")]
    torch.manual_seed(0)
    models = [build_model("cresnet-s", len(data.classes)).eval() for _ in range(args.models)]
    print(
        f"{args.models} models × {len(overlays)} overlays on {len(data)} images of {args.size} px, "
        f"{torch.get_num_threads()} threads"
    )

    clean = [predict(m, data).argmax(-1) for m in models]  # both paths reuse each model's clean predictions

    def per_model():
        return [
            finder.output_shift(m, data, ov, clean_pred=c) for m, c in zip(models, clean) for ov in overlays
        ]

    def drawn_once():
        drawn = [apply_overlay(data, ov) for ov in overlays]
        return [finder.shift_between(m, data, d, clean_pred=c) for m, c in zip(models, clean) for d in drawn]

    again, t_again = timed(per_model)
    once, t_once = timed(drawn_once)
    assert all(a.tv == b.tv for a, b in zip(again, once))  # the same numbers either way
    print("\n1. probing")
    print(f"   overlay drawn for every model   {t_again:6.2f} s")
    print(f"   overlay drawn once, reused      {t_once:6.2f} s   ({t_again / t_once:.2f}× faster)")

    test = world.source("test")
    model = build_model("cresnet-s", len(test.classes)).eval()
    family = finder.candidates(("disc", "square"), ("yellow", "blue"), ("solid",), (0.3,), ("centre",))
    _, t_sample = timed(lambda: finder.search(model, test, family, n_images=600, progress=False))
    _, t_all = timed(lambda: finder.search(model, test, family, progress=False))
    print(f"\n2. search over {len(family)} candidates")
    print(f"   whole source test set ({len(test)})  {len(family) / t_all:6.1f} candidates/s")
    print(
        f"   sample of 600 images          {len(family) / t_sample:6.1f} candidates/s   "
        f"({t_all / t_sample:.2f}× faster)"
    )


if __name__ == "__main__":
    main()
