"""Chapter 5's figures, each drawn from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import torch

from ...world import (
    TensorData,
    apply_overlay,
    parse_overlay,
)
from .. import plots
from .analysis import excess, sweep_table
from .config import EXCESS, KIND_NAMES, KINDS
from .measure import Results


def _overlaid_rows(data: TensorData, overlays: tuple[str, ...], n: int, seed: int = 5):
    """``n`` images of ``data`` (a fixed spread), clean and then with each overlay."""
    pick = data.subset(torch.arange(n) * max(1, len(data) // n) % len(data))
    rows = [pick.x] + [apply_overlay(pick, parse_overlay(t), seed=seed).x for t in overlays]
    return torch.cat(rows), [
        ["clean", *overlays][i // n] if i % n == 0 else "" for i in range(n * (1 + len(overlays)))
    ]


def figure_examples(results: Results, n: int = 6):
    """Source and target test images, clean and with each overlay (studied and found)."""
    world = results.config.world()
    ims, titles = [], []
    for data, label in [(world.source("test"), "source")] + [
        (world.target(t, "test"), t) for t in results.config.targets[:1]
    ]:
        x, t = _overlaid_rows(data, results.overlays, n)
        ims.append(x)
        titles += [f"{label}: {s}" if s else "" for s in t]
    return plots.image_grid(torch.cat(ims), titles, ncols=n * 2, size=0.8)


def figure_source_shift(results: Results):
    """The first seed's source model's predicted-class distribution, clean and with each studied overlay."""
    overlays = list(results.config.overlays)
    fig, axes = plots.panels(len(overlays), width=3.4, height=2.6, sharey=True)
    for ax, text in zip(axes, overlays):
        s = results.source_shifts[(text, results.config.seeds[0])]
        x = np.arange(len(s.classes))
        ax.bar(x, s.clean, width=1.0, color=plots.color("clean source"), alpha=0.5, label="clean images")
        ax.bar(x, s.overlaid, width=1.0, color=plots.color("biased source"), alpha=0.6, label="with overlay")
        top = int(np.argmax(s.gain))
        ax.annotate(
            s.classes[top],
            (top, s.overlaid[top]),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=8,
        )
        ax.set(title=text, xlabel="source class", xticks=[])
    axes[0].set_ylabel("share of predictions")
    axes[0].legend(fontsize=7)
    return fig


def figure_ranking(results: Results, n: int = 15):
    """The search: the ``n`` candidate overlays that pile most of the source model's predictions
    onto one class (bar: the share that class gains; dot: the TV distance)."""
    r = results.ranking.head(n)
    fig, ax = plots.panels(1, width=7.0, height=0.28 * len(r) + 0.8)
    ax = ax[0]
    y = np.arange(len(r))[::-1]
    ax.barh(y, r.top_gain, color=plots.color("biased source"), label="share gained by the top class")
    ax.plot(r.tv, y, "k.", label="TV distance")
    ax.set_yticks(y, [f"{o}  → {c}" for o, c in zip(r.overlay, r.top_class)], fontsize=7)
    ax.set(xlabel="source model's predictions, clean vs overlaid", xlim=(0, 1))
    ax.legend(fontsize=7, loc="lower right")
    return fig


def figure_target_distributions(results: Results, target: str | None = None):
    """Predicted-class distributions on one target's test set, clean vs overlaid, for a fixed-feature,
    a full-network and a scratch model (first seed): one row per overlay (the thesis' Fig. 7.7d)."""
    c = results.config
    target = target or c.targets[0]
    overlays = results.overlays
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(overlays), 3, figsize=(10, 1.9 * len(overlays) + 0.4), sharey=True, squeeze=False
    )
    for row, text in zip(axes, overlays):
        for ax, kind in zip(row, KINDS):
            s = results.target_shifts[(text, target, kind, c.seeds[0])]
            x = np.arange(len(s.classes))
            ax.bar(x - 0.2, s.clean, 0.4, color="white", edgecolor="#666666", linewidth=0.6, label="clean")
            ax.bar(x + 0.2, s.overlaid, 0.4, color=plots.color(KIND_NAMES[kind]), label="with overlay")
            ax.set_xticks(x, s.classes if text == overlays[-1] else [], rotation=90, fontsize=6)
            ax.set_title(f"{KIND_NAMES[kind]}: {text}", fontsize=8)
        row[0].set_ylabel("share", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{target}: predicted classes, clean vs overlaid", fontsize=10)
    return fig


def figure_skew(results: Results):
    """Skew under each overlay (share of predictions gained by the most-favoured class) per target
    and kind of model, mean ± std over seeds."""
    c, t = results.config, results.targets
    overlays = results.overlays
    fig, axes = plots.panels(len(overlays), width=2.9, height=2.7, sharey=True)
    for ax, text in zip(axes, overlays):
        d = t[t.overlay == text]
        by_kind = {KIND_NAMES[kind]: d[d.kind == kind].groupby("target").top_gain for kind in KINDS}
        plots.grouped_bars(ax, by_kind, c.targets, span=0.81, capsize=2)
        ax.set_xticks(range(len(c.targets)), c.targets, fontsize=8)
        ax.set_title(text, fontsize=8)
    axes[0].set(ylabel="skew: share gained by the top class", ylim=(0, 1))
    axes[0].legend(fontsize=7)
    return fig


def figure_sweep(results: Results):
    """Class-matched excess of full-network models on `sweep_target` against the fine-tuning epochs
    (left) and the weight decay (right), per overlay, mean ± std over seeds; the fixed-feature
    models' excess as a dotted line."""
    c = results.config
    t = sweep_table(results)
    wd0 = c.transfer_recipe("full").weight_decay
    ex = excess(results)
    ex = ex[ex.target == c.sweep_target].groupby("overlay").fixed.mean()
    fig, axes = plots.panels(2, width=3.8, height=3.0, sharey=True)
    for ax, (column, fixed, label) in zip(
        axes,
        (
            ("epochs", ("weight_decay", wd0), "full-network epochs"),
            ("weight_decay", ("epochs", c.full_epochs), "full-network weight decay"),
        ),
    ):
        d = t[np.isclose(t[fixed[0]], fixed[1])]
        for text in results.overlays:
            line = plots.mean_line(ax, d[d.overlay == text].groupby(column).excess, label=text)
            ax.axhline(ex.get(text, np.nan), ls=":", lw=0.8, color=line[0].get_color())
        ax.axhline(EXCESS, color="grey", lw=0.8, ls="--")
        ax.set(xscale="log", xlabel=label, title=c.sweep_target)
        ax.set_xticks(sorted(d[column].unique()), [f"{v:g}" for v in sorted(d[column].unique())])
        ax.minorticks_off()
    axes[0].set_ylabel("excess skew (class-matched)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncols=2)
    return fig
