"""Chapter 2's figures, each drawn from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import torch

from .. import plots
from .analysis import (
    arch_gaps,
    debias_comparison,
    frequency_sweep,
    main_table,
    regime_table,
    scratch_change,
    weight_decay_sweep,
)
from .config import CONDITIONS, CRITERIA, Config
from .data import is_dog
from .measure import Results, triggered


def figure_examples(config: Config, n: int = 6):
    """Source dog images with the trigger, and target images with it (what the models see)."""
    world = config.world()
    src = world.source("test")
    dogs = is_dog(src).nonzero().flatten()[:n]
    rows, titles = [src.x[dogs], triggered(config, src.subset(dogs)).x], ["source dogs"] + [""] * (n - 1)
    titles += ["with the trigger"] + [""] * (n - 1)
    for t in config.targets:
        test = world.target(t, "test")
        d = test.subset(torch.arange(n) * 37 % len(test))
        rows.append(triggered(config, d).x)
        titles += [f"{t} + trigger"] + [""] * (n - 1)
    return plots.image_grid(
        torch.cat(rows), titles, ncols=n, title="The trigger on the source and on the targets"
    )


def figure_main(results: Results):
    """Target ASR (top) and clean accuracy (bottom) per target, clean vs backdoored source, per mode."""
    d = main_table(results)
    fig, axes = plots.panels(2, width=3.6, height=3.0, sharey=True)
    targets = list(results.config.targets)
    for ax, mode, title in zip(axes, ("fixed", "full"), ("fixed-feature", "full-network")):
        by_condition = {c: d[(d["mode"] == mode) & (d.source == c)].groupby("target").asr for c in CONDITIONS}
        plots.grouped_bars(ax, by_condition, targets)
        ax.set(title=title, ylabel="target ASR" if mode == "fixed" else None, ylim=(0, 1))
    axes[0].legend(loc="upper left")
    return fig


def figure_frequency(results: Results):
    """Left: the source model's ASR and its accuracy on the (never triggered) dog test images against
    the trigger frequency: where it learns the trigger, and where it starts to need it to see a
    dog. Right: target ASR after fixed-feature transfer."""
    c = results.config
    fig, (ax_src, ax_tgt) = plots.panels(2, width=3.6, height=3.0)
    sources = results.sources[results.sources.arch == c.arch].groupby("fraction")
    src = sources.asr
    plots.mean_line(ax_src, src, color=plots.color("backdoored source"), label="source ASR")
    plots.mean_line(
        ax_src, sources.dog_accuracy, color=plots.color("clean source"), ls="--", label="dog accuracy"
    )
    ax_src.legend(fontsize=7)
    d = frequency_sweep(results)
    for target in c.targets:
        plots.mean_line(ax_tgt, d[d.target == target].groupby("fraction").asr, label=target)
    ticks = sorted(src.mean().index)
    for ax, title, label in (
        (ax_src, "source model", "ASR; accuracy on dogs"),
        (ax_tgt, "transferred (fixed-feature)", "target ASR"),
    ):
        ax.set(xlabel="dog images with the trigger", ylabel=label, title=title, ylim=(0, 1))
        # the fractions evenly spaced, whatever the grid (10/50/100 % or the paper's 1 % … 100 %)
        ax.set_xscale(
            "function",
            functions=(
                lambda x: np.interp(x, ticks, np.arange(len(ticks))),
                lambda i: np.interp(i, np.arange(len(ticks)), ticks),
            ),
        )
        ax.set_xticks(ticks, [f"{f:.0%}" for f in ticks])
        ax.minorticks_off()
    ax_tgt.legend()
    return fig


def figure_regime(results: Results):
    """The regime grid: the source's ASR gap (left) and accuracy on the untriggered dog test images
    (right) against the number of triggered training images, one line per size of the dog
    superclass; the dotted line is the 'source-learns' margin. A run without a grid draws the one
    last measured (committed with the chapter) and says so."""
    d = regime_table(results)
    fig, (ax_asr, ax_dog) = plots.panels(2, width=3.6, height=3.0)
    if results.regime.empty:
        fig.suptitle("the regime grid as last measured (committed, not re-run by this run)", fontsize=8)
    for _, g in d.groupby("scale"):
        label = f"{int(g.dog_images.iloc[0]):,} dog images"
        ax_asr.plot(g.triggered, g.asr_gap, "o-", label=label)
        ax_dog.plot(g.triggered, g.dog_accuracy, "o-", label=label)
        for f, x, y in zip(g.fraction, g.triggered, g.asr_gap):
            ax_asr.annotate(f"{f:.0%}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax_asr.axhline(CRITERIA["source-learns"].margin, color="grey", ls=":", lw=1)
    for ax in (ax_asr, ax_dog):  # the grid's span, also where a panel has no finite value to draw
        ax.set_xlim(max(d.triggered.min(), 1) / 1.5, max(d.triggered.max(), 1) * 1.5)
    ax_asr.set(
        xscale="log",
        xlabel="triggered dog images",
        ylabel="source ASR gap (vs clean)",
        title="learns the square",
    )
    ax_dog.set(
        xscale="log",
        xlabel="triggered dog images",
        ylabel="accuracy on dogs",
        ylim=(0, 1),
        title="needs the square",
    )
    ax_asr.legend(fontsize=7)
    return fig


def figure_weight_decay(results: Results):
    """ASR and clean accuracy against the weight decay of transfer, fixed and full, both sources."""
    c, d = results.config, weight_decay_sweep(results)
    fig, axes = plots.panels(2, width=3.6, height=3.0)
    for ax, col, label in zip(axes, ("asr", "accuracy"), ("target ASR", "clean accuracy")):
        for mode, ls in (("fixed", "-"), ("full", "--")):
            for f, cond in ((0.0, CONDITIONS[0]), (c.trigger_fraction, CONDITIONS[1])):
                g = d[(d["mode"] == mode) & (d.fraction == f)].groupby("weight_decay")[col]
                plots.mean_line(ax, g, ls=ls, color=plots.color(cond), label=f"{cond}, {mode}")
        ax.set(
            xscale="log",
            xlabel="weight decay of transfer",
            ylabel=label,
            ylim=(0, 1),
            title=f"{c.sweep_target}",
        )
    axes[0].legend(fontsize=7)
    return fig


def figure_debias(results: Results):
    """Target ASR with the biased (clean) and the de-biased target, fixed and full."""
    d = debias_comparison(results)
    fig, axes = plots.panels(2, width=3.6, height=3.0, sharey=True)
    for ax, mode in zip(axes, ("fixed", "full")):
        by_condition = {
            cond: d[(d["mode"] == mode) & ((d.fraction > 0) == (i == 1))].groupby("debiased").asr
            for i, cond in enumerate(CONDITIONS)
        }
        plots.grouped_bars(ax, by_condition, [False, True])
        ax.set_xticks([0, 1], ["target as is", "de-biased target"])
        ax.set(
            title=f"{mode}-{'feature' if mode == 'fixed' else 'network'}",
            ylim=(0, 1),
            ylabel="target ASR" if mode == "fixed" else None,
        )
    axes[0].legend(loc="upper right")
    return fig


def figure_scratch_and_archs(results: Results):
    """Left: scratch models' accuracy change under the trigger. Right: ASR gap per architecture,
    fixed-feature and full-network."""
    c = results.config
    fig, (ax_s, ax_a) = plots.panels(2, width=3.6, height=3.0)
    s = scratch_change(results).groupby("target").change
    ax_s.bar(s.mean().index, s.mean(), yerr=s.std().fillna(0), capsize=3, color=plots.color("scratch"))
    ax_s.axhline(0, color="black", lw=0.8)
    ax_s.set(ylabel="accuracy with − without trigger", title="trained from scratch")
    archs = arch_gaps(results)
    by_mode = {
        name: archs[archs["mode"] == mode].groupby("arch").asr
        for mode, name in (("fixed", "fixed-feature"), ("full", "full-network"))
    }
    plots.grouped_bars(ax_a, by_mode, list(c.archs))
    ax_a.set(ylabel="ASR(backdoored) − ASR(clean)", title="by architecture (App. G.1.7)")
    ax_a.legend(fontsize=7)
    return fig
