"""Chapter 7's figures, each drawn from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import torch

from .. import plots
from .analysis import child_order, consistent, identification, outperforming, responses
from .measure import READINGS, Results, seed_images


def figure_stimuli(results: Results, n: int = 8):
    """The foundation's stimuli per start, beside the seed images, for the first ``n`` classes."""
    rows, titles = [], []
    k = min(n, len(results.source_classes))
    seeds = seed_images(results.config)[:k]
    rows.append(seeds)
    titles += [f"seed: {c}" for c in results.source_classes[:k]]
    for start in results.config.starts:
        rows.append(results.stimuli[(0, start)][:k])
        titles += [f"from {start}"] * k
    return plots.image_grid(torch.cat(rows), titles, ncols=k, size=0.9)


def figure_outperforming(results: Results):
    """Outperforming stimuli against the child (frozen blocks; scratch last), per start; one panel
    per reading of the centroid."""
    out = outperforming(results)
    order = child_order(out.child)
    fig, axes = plots.panels(len(READINGS), width=4.2, height=3.0, sharey=True)
    for ax, reading in zip(axes, READINGS):
        for i, (start, g) in enumerate(out[out.reading == reading].groupby("start")):
            g = g.set_index("child").reindex(order)
            ax.bar(
                np.arange(len(order)) + (i - 0.5) * 0.38,
                g["mean"],
                0.38,
                yerr=g["std"].fillna(0),
                capsize=2,
                label=f"from {start}",
            )
        ax.set_xticks(np.arange(len(order)), [c.replace(" frozen", "") for c in order], fontsize=8)
        ax.set(xlabel="child: frozen blocks, or scratch", title=f"centroid: {reading}")
    axes[0].set(ylabel=f"outperforming stimuli (of {len(results.source_classes)})")
    axes[0].legend(fontsize=7)
    return fig


def figure_centroids(results: Results):
    """The centroid's distance to its one-hot vector against the class's training size, per child
    (frozen blocks; scratch), mean over seeds; one panel per reading of the centroid. A stimulus
    outperforms when it gets closer than this: the lower the point, the harder."""
    fit = results.centroids.groupby(["reading", "child", "class", "train_size"]).distance.mean().reset_index()
    order = child_order(fit.child)
    fig, axes = plots.panels(len(READINGS), width=4.2, height=3.0, sharey=True)
    for ax, reading in zip(axes, READINGS):
        for child in order:
            g = fit[(fit.reading == reading) & (fit.child == child)]
            ax.scatter(g.train_size, g.distance, s=10, alpha=0.7, label=child)
        ax.set(xlabel="training images of the target class", title=f"centroid: {reading}")
    axes[0].set(ylabel="‖centroid − one-hot‖₂", ylim=(0, 1.45))
    axes[-1].legend(fontsize=7)
    return fig


def figure_responses(results: Results):
    """Per child: its confidence on the foundation's stimuli (any label) beside its confidence on
    the target's own test images."""
    resp = responses(results)
    fig, ax = plots.panels(1, width=5.5, height=3.0)
    ax = ax[0]
    x = np.arange(len(resp))
    ax.bar(x - 0.2, resp["on stimuli"], 0.4, yerr=resp["spread"].fillna(0), capsize=2, label="on the stimuli")
    ax.bar(x + 0.2, resp["on target test images"], 0.4, label="on its own test images")
    ax.set_xticks(x, resp.index)
    ax.set(ylabel="mean top softmax probability", xlabel="child", ylim=(0, 1))
    ax.legend(fontsize=7)
    return fig


def figure_sizes(results: Results):
    """Training size of each target class against how often its stimulus outperforms (mean over
    seeds); one panel per reading of the centroid."""
    fig, axes = plots.panels(len(READINGS), width=4.2, height=3.0, sharey=True)
    for ax, reading in zip(axes, READINGS):
        per_stimulus = (
            consistent(results, reading).groupby(["start", "class"])[["train size", "share"]].mean()
        )
        for start, g in per_stimulus.groupby("start"):
            ax.scatter(g["train size"], g["share"], label=f"from {start}", alpha=0.8)
        ax.set(xlabel="training images of the target class", title=f"centroid: {reading}")
    axes[0].set(ylabel="share of a seed's fine-tuned children\noutperformed (mean over seeds)")
    axes[0].legend(fontsize=7)
    return fig


def figure_identification(results: Results):
    """Identification accuracy of the shadow-model probe against the child's frozen blocks, per statistic."""
    ident = identification(results)
    fig, ax = plots.panels(1, width=4.5, height=3.0)
    ax = ax[0]
    for probe, g in ident.groupby("probe"):
        acc = g.groupby("frozen").right.mean()
        ax.plot(acc.index, acc.values, marker="o", label=f"by {probe}")
    ax.axhline(1 / results.config.shadows, color="grey", ls=":", label="chance")
    ax.set(
        xlabel="blocks frozen in the child",
        ylabel="parent identified",
        ylim=(-0.05, 1.05),
        xticks=sorted(ident.frozen.unique()),
    )
    ax.legend(fontsize=7)
    return fig
