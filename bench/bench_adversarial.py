"""Adversarial training benchmark: what robustness costs, as ratios measured side by side in one run.

The same source (chapter 9's default world and architecture) trained for a few epochs with
standard training, FGSM with a random start (one attack step, the chapter's default), the same
for four models grouped into one module (per model: `fit` can train them so; the engine trains
adversarial jobs alone, having measured no gain in its workers), and PGD-3, each in this process on
the fast path. Reported: seconds per epoch, the ratio to standard
training (the attack adds `steps` forward-backward passes per batch, so the ideal is steps + 1),
the throughput as a fraction of the matmul peak measured here (counting the attack's passes),
and the robust accuracy each buys at the training radius (10-step PGD on the source test set).

Usage: python bench/bench_adversarial.py [--epochs 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_roofline import matmul_peak, train_flops_per_image  # noqa: E402 (this folder)

from transferlab.chapters import robust
from transferlab.models import GroupedCompactResNet, build_model
from transferlab.train import Adversary, Speed, accuracy, fit, predict, robust_accuracy
from transferlab.utils import timed

GROUP = 4  # members of the grouped run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    config = robust.Config()
    world = config.world(cache=None)
    train, test = world.source("train"), world.source("test")
    test = test.subset(torch.arange(min(len(test), 400)))
    base = config.source_recipe().replace(epochs=args.epochs, peak_epoch=min(2.0, args.epochs / 4))
    eps = config.radius(config.width_eps)  # the thesis ε = 3, scaled to the image size
    speed = Speed(torch.device("cpu"))
    peak = matmul_peak(torch.float32)
    per_image = train_flops_per_image(config.arch, config.image_size)
    rows = []
    fgsm = Adversary(config.norm, eps, 1)
    for name, adversary, group in (
        ("standard", None, 1),
        ("FGSM + random start (1 step)", fgsm, 1),
        (f"FGSM, {GROUP} grouped (per model)", fgsm, GROUP),
        ("PGD-3", Adversary(config.norm, eps, 3), 1),
    ):
        torch.manual_seed(0)
        members = [build_model(config.arch, train.num_classes) for _ in range(group)]
        model = members[0] if group == 1 else GroupedCompactResNet.from_models(members)
        r = base.replace(adversary=adversary)
        data, seeds = (train, 0) if group == 1 else ([train] * group, list(range(group)))
        _, seconds = timed(lambda m=model, r=r, d=data, s=seeds: fit(m, d, r, seed=s, speed=speed))
        seconds /= group  # per model
        model = model if group == 1 else model.split()[0]
        passes = 1 + (adversary.steps if adversary else 0)  # forward-backward passes per batch
        flops = per_image * len(train) * args.epochs * passes
        rows.append(
            {
                "training": name,
                "s/epoch": seconds / args.epochs,
                "passes": passes,
                "peak": flops / seconds / peak,
                "clean": accuracy(predict(model, test), test.y),
                "robust": robust_accuracy(model, test, Adversary(config.norm, eps, 10)),
            }
        )
    base_s = rows[0]["s/epoch"]
    print(
        f"{config.arch}, {len(train)} images of {config.image_size} px, {args.epochs} epochs, L2 ε = {eps:g}"
    )
    print(
        f"{'training':32} {'s/epoch':>8} {'× std':>6} {'ideal':>6} {'% peak':>7} {'clean':>6} {'robust':>7}"
    )
    for r in rows:
        print(
            f"{r['training']:32} {r['s/epoch']:8.1f} {r['s/epoch'] / base_s:6.2f} {r['passes']:6d} "
            f"{100 * r['peak']:6.1f}% {r['clean']:6.3f} {r['robust']:7.3f}"
        )


if __name__ == "__main__":
    main()
