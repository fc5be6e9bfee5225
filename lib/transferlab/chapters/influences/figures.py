"""Chapter 6's figures, each drawn from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...methods import subset_influence as inf
from ...world import planted_catalogue
from .. import plots
from ..claims import t_interval
from .analysis import (
    convergence,
    influenced_images,
    most_influenced,
    pilot_table,
    top_classes,
    truth_precision,
)
from .config import FULL, HAND_PICKED, REMOVALS, Config
from .results import Results, class_influence, overall, planted_truth


def figure_pilot(results: Results):
    """The pilot's planted effects with their 95 % intervals over the pilot seeds, coloured by the
    planted sign (and the premise, transfer − scratch)."""
    table = pilot_table(results)
    fig, ax = plots.panels(1, width=6.5, height=0.35 * len(table) + 0.9)
    ax = ax[0]
    y = np.arange(len(table))[::-1]
    width = np.abs(np.stack([table.effect - table.low, table.high - table.effect]))
    colours = [
        plots.color("full-network") if s == "+" else plots.color("biased source")
        for s in table["planted sign"]
    ]
    ax.barh(y, table.effect, xerr=np.where(np.isfinite(width), width, 0), color=colours, capsize=3)
    ax.set_yticks(y, table.removed, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="accuracy on the images concerned: with the classes − without them")
    return fig


def figure_world(config: Config, per_class: int = 1):
    """The planted-influence world: an image of every source class (titled with its role), then
    target test images: one of each class, and some carrying a sticker or from the subpopulation."""
    if not config.planted():
        return plots.left_out(
            "the planted-influence world: this run uses another world (`setting`, `data_dir`)."
        )
    world = config.world()
    source, test = world.get(config.source_part(), "test"), world.get(config.target_part(), "test")
    cat = planted_catalogue()
    ims, titles = [], []
    for i, r in cat.iterrows():
        rows = (source.y == i).nonzero().flatten()[:per_class]
        ims += [source.x[j] for j in rows]
        titles += [f"{r['name']}\n({r.role})"] * len(rows)
    a = test.attrs
    picks = [int((test.y == t).nonzero().flatten()[0]) for t in range(len(test.classes))]
    picks += [
        int(np.flatnonzero(a.sticker.to_numpy() == i)[0])
        for i in range(planted_catalogue().sticker.max() + 1)
    ]
    picks += np.flatnonzero(a.subpopulation.to_numpy())[:2].tolist()
    for j in picks:
        ims.append(test.x[j])
        mark = " + sticker" if a.sticker[j] >= 0 else (" (subpop.)" if a.subpopulation[j] else "")
        titles.append(f"target: {test.classes[int(test.y[j])]}{mark}")
    return plots.image_grid(torch.stack(ims), titles, ncols=6, size=1.0)


def figure_top_classes(results: Results, n: int = 8):
    """The most positive and most negative source classes overall (mean influence over the target
    test set) with bootstrap intervals."""
    score = overall(class_influence(results))
    _, lo, hi = inf.bootstrap(results.masks, results.y.mean(1, keepdims=True), n=results.config.bootstrap)
    order = np.argsort(-score, kind="stable")
    n = min(n, len(order) // 2)
    pick = np.concatenate([order[:n], order[::-1][:n][::-1]])
    fig, ax = plots.panels(1, width=6.5, height=0.22 * len(pick) + 0.8)
    ax = ax[0]
    y = np.arange(len(pick))[::-1]
    err = np.abs(np.stack([score[pick] - lo[pick, 0], hi[pick, 0] - score[pick]]))
    ax.barh(
        y,
        score[pick],
        xerr=err,
        color=[plots.color("full-network") if s > 0 else plots.color("biased source") for s in score[pick]],
        capsize=2,
    )
    ax.set_yticks(y, [results.classes[i] for i in pick], fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel=f"influence on the target's {results.config.output} (mean over its test set)")
    return fig


def figure_counterfactuals(results: Results):
    """Target accuracy after removing k classes of each kind (mean and 95 % interval over seeds),
    against the full source and the hand-picked source of related classes only."""
    cf = results.counterfactuals
    cf = cf[cf.models == len(results.masks)]
    fig, ax = plots.panels(1, width=5.5, height=3.0)
    ax = ax[0]
    ks = list(results.config.removals)
    for i, removal in enumerate(REMOVALS):
        g = cf[cf.removal == removal].groupby("k").accuracy
        if not len(g.mean()):
            continue
        stats = [t_interval(g.get_group(k)) for k in ks]
        mean = np.array([s[0] for s in stats])
        err = np.nan_to_num(np.array([s[2] - s[0] for s in stats]), posinf=0)
        ax.errorbar(
            np.array(ks) + (i - 1) * 0.12,
            mean,
            yerr=err,
            marker="o",
            capsize=3,
            ls="-",
            label=f"without the {removal}",
        )
    for removal, style in ((FULL, "--"), (HAND_PICKED, ":")):
        acc = cf[cf.removal == removal].accuracy
        if len(acc):
            ax.axhline(acc.mean(), color="black", ls=style, lw=1, label=removal)
    ax.set(xlabel="source classes removed (k)", ylabel="target accuracy", xticks=ks)
    ax.legend(fontsize=7)
    return fig


def figure_convergence(results: Results, conv: pd.DataFrame | None = None):
    """Against the number of trained models: the bootstrap std of the overall influences
    (difference of means, App. H.1.5), the aggregate LDS on the held-out runs per estimator (App.
    H.6), and R-precision against the planted helpers (with its chance level)."""
    conv = convergence(results) if conv is None else conv
    panels = [
        ("bootstrap std", "bootstrap std, overall influences"),
        ("aggregate LDS", "aggregate LDS (held-out runs)"),
    ]
    truth = planted_truth(results) is not None  # real data has no planted helpers: no third panel
    if truth:
        panels.append(("R-precision", "R-precision, planted helpers"))
    fig, axes = plots.panels(len(panels), width=3.0, height=2.7)
    for ax, (col, label) in zip(axes, panels):
        for name, g in conv.groupby("estimator", sort=False):
            if col in g and g[col].notna().any():
                ax.plot(g.models, g[col], marker="o", label=name)
        ax.set(xlabel="models trained", ylabel=label, xscale="log")
        shown = sorted({int(m) for line in ax.get_lines() for m in line.get_xdata()})
        ax.minorticks_off()  # the counts themselves, not a log scale's crowded minor labels
        ax.set_xticks(shown, [str(m) for m in shown], fontsize=7)
    if truth:
        chance = truth_precision(results, np.zeros((len(results.classes), len(results.target_labels))))[1]
        if np.isfinite(chance):
            axes[-1].axhline(chance, color="grey", ls=":", lw=1, label="chance")
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(fontsize=6)
    return fig


def figure_influenced(results: Results, per_class: int = 6):
    """Fig. 8.4/8.5: for a few source classes with a planted relation (the subpopulation helper, a
    misleading class, a single helper), a source image of the class followed by the target test
    images it influences most (most negatively for the misleading class)."""
    c = results.config
    rows = influenced_images(results)
    if rows.empty:
        return plots.left_out(
            "a source class's most influenced images: this data has no planted relations to show."
        )
    picks = [
        rows[rows.relation == rel].iloc[0]
        for rel in ("helps (subpopulation)", "hurts", "helps")
        if (rows.relation == rel).any()
    ]
    world = c.world()
    source, test = world.get(c.source_part(), "test"), world.get(c.target_part(), "test")
    ims, titles = [], []
    for r in picks:
        s = results.classes.index(r["source class"])
        sign = -1 if r.relation == "hurts" else 1
        first = int((source.y == s).nonzero().flatten()[0])
        top = most_influenced(results, s, per_class, sign)
        ims += [source.x[first]] + [test.x[int(t)] for t in top]
        titles += [f"source: {r['source class']}"] + [
            f"{'−' if sign < 0 else '+'}{results.target_classes[int(results.target_labels[t])]}" for t in top
        ]
    return plots.image_grid(torch.stack(ims), titles, ncols=per_class + 1, size=0.9)


def figure_attributions(
    results: Results, examples, per_example: int = 5, mark: dict[int, int] | None = None, sign: int = 1
):
    """Target test images, each followed by its top source images by the gradient-based score (most
    negative with ``sign`` −1). ``mark``: target index -> a source index to label "the copy"."""
    c = results.config
    world = c.world()
    test, source = world.get(c.target_part(), "test"), world.get(c.source_part())
    sc = sign * np.mean(results.gradient_scores, axis=0)
    mark = mark or {}
    ims, titles = [], []
    for t in examples:
        top = np.argsort(-sc[:, t], kind="stable")[:per_example]
        ims += [test.x[t]] + [source.x[i] for i in top]
        titles += [f"target: {results.target_classes[int(test.y[t])]}"] + [
            ("the copy" if mark.get(t) == i else results.classes[int(source.y[i])]) + f"\n#{rank + 1}"
            for rank, i in enumerate(top)
        ]
    return plots.image_grid(torch.stack(ims), titles, ncols=per_example + 1, size=0.9)


def figure_copies(results: Results, kind: str = "leaks", n: int = 4):
    """:func:`figure_attributions` of target test images that have a planted near-copy in the
    source (``leaks``: their most positive source images; ``misleads``: their most negative)."""
    truth = planted_truth(results)
    if truth is None or not (truth.relation == kind).any():
        return plots.left_out(f"the planted {kind}: this data has no planted near-copies to find.")
    rows = truth[truth.relation == kind].head(n)
    return figure_attributions(
        results,
        rows.target_index.astype(int).tolist(),
        mark=dict(zip(rows.target_index.astype(int), rows.source_index.astype(int))),
        sign=1 if kind == "leaks" else -1,
    )


def figure_class_images(results: Results, n_classes: int = 3, per_class: int = 5):
    """Source images of the most positive and the most negative classes overall."""
    top = top_classes(results, n_classes)
    c = results.config
    source = c.world().get(c.source_part(), "test")
    ims, titles = [], []
    for sign in ("positive", "negative"):
        for name in top[top.sign == sign]["source class"]:
            rows = (source.y == source.classes.index(name)).nonzero().flatten()[:per_class]
            ims.append(source.x[rows])
            titles += [f"{sign}: {name}"] + [""] * (len(rows) - 1)
    return plots.image_grid(torch.cat(ims), titles, ncols=per_class, size=0.8)
