"""Chapter 8's figures, each drawn from a view of :mod:`.analysis`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .. import plots
from .analysis import summary
from .config import TEACHER_OF, defect_kind
from .jobs import CURVE_METHODS
from .measure import Results


def figure_scatter(results: Results):
    """ACC against DIR per defect: one point per method (mean over seeds and targets)."""
    s = summary(results)
    defects = list(s.defect.cat.categories)
    fig, axes = plots.panels(len(defects), width=2.8, height=2.6, ncols=3)
    for ax, d in zip(axes, defects):
        g = s[s.defect == d]
        for _, r in g.iterrows():
            ax.scatter(
                r.dir,
                r.accuracy,
                marker="*" if r.method == "remos" else "o",
                s=60 if r.method == "remos" else 25,
                label=r.method,
            )
        ax.set(title=d, xlabel="DIR", ylabel="accuracy")
    axes[0].legend(fontsize=6)
    return fig


def figure_curve(results: Results):
    """ReMoS' ACC–DIR curve as the ratio of reset weights grows, per defect, with fine-tuning and
    retraining for reference."""
    c, s = results.curve, summary(results)
    defects = [d for d in results.config.labels() if d in set(c.defect)]
    fig, axes = plots.panels(len(defects), width=2.8, height=2.6, ncols=3)
    for ax, d in zip(axes, defects):
        g = c[c.defect == d].sort_values("ratio")
        ax.plot(g.dir, g.accuracy, marker="o", label="ReMoS")
        for _, r in g.iterrows():
            ax.annotate(f"{r.ratio:g}", (r.dir, r.accuracy), fontsize=6)
        for m in ("finetune", "retrain"):
            row = s[(s.defect == d) & (s.method == m)]
            if len(row):
                ax.scatter(row.dir, row.accuracy, marker="s", label=m)
        ax.set(title=d, xlabel="DIR", ylabel="accuracy")
    axes[0].legend(fontsize=6)
    return fig


def figure_recovery(results: Results):
    """The recovery curve (first seed and target): the accuracy of the fine-tuned and the ReMoS
    students of each teacher, then their DIR on each malicious set, against fine-tuning iterations,
    with the retrained students (all seeds, the book's scratch recipe) as a dashed reference."""
    r, s = results.recovery, summary(results)
    r = r.assign(teacher=[TEACHER_OF[defect_kind(d)] for d in r.defect])
    defects = [d for d in results.config.labels() if d in set(r.defect)]
    teachers_ = list(dict.fromkeys(r.teacher))
    fig, axes = plots.panels(len(teachers_) + len(defects), width=2.3, height=2.1, ncols=5)
    its = sorted(set(r.iterations))
    panels = [("accuracy", t, r[r.teacher == t], f"accuracy ({t} teacher)") for t in teachers_]
    panels += [("dir", d, r[r.defect == d], f"DIR: {d}") for d in defects]
    for ax, (column, name, g, title) in zip(axes, panels):
        for m in CURVE_METHODS:
            line = g[g.method == m].groupby("iterations")[column].mean()
            if len(line):
                ax.plot(line.index, line.to_numpy(), marker="*" if m == "remos" else "o", label=m)
        ref = s[(s.method == "retrain") & (s.defect == (name if column == "dir" else g.defect.iloc[0]))]
        if len(ref):
            ax.axhline(float(ref[column].iloc[0]), ls="--", color="grey", lw=1, label="retrain")
        ax.set_xscale("log")
        ax.set_xticks(its, [f"{x:g}" for x in its])
        ax.minorticks_off()
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("iterations", fontsize=7)
    axes[0].legend(fontsize=6)
    return fig


def figure_weight_changes(results: Results):
    """How far fine-tuning moves the clean teacher's conv weights: the distribution of
    |student − teacher| over every conv weight, for the fine-tuned and the ReMoS student (the
    longest run of the recovery curve), and the median change layer by layer."""
    c = results.changes
    fig, (hist, layers) = plt.subplots(1, 2, figsize=(8.0, 2.9), layout="constrained")
    if c.empty:
        return fig
    positive = c.change[c.change > 0]
    bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()), 60)
    order = list(dict.fromkeys(c.layer))
    for m, g in c.groupby("method", sort=False):
        hist.hist(g.change[g.change > 0], bins=bins, histtype="step", label=m, density=True)
        med = g.groupby("layer", sort=False).change.median().reindex(order)
        layers.plot(range(len(order)), med.to_numpy(), marker="*" if m == "remos" else "o", label=m)
    hist.set(xscale="log", xlabel="|student − teacher| of a changed conv weight", ylabel="density")
    layers.set(yscale="log", xlabel="conv layer (input to output)", ylabel="median change")
    hist.legend(fontsize=7)
    return fig


def figure_excluded(results: Results):
    """What ReMoS zeroes, layer by layer (clean teacher, the adversarial defects' ratio): the share of
    each layer's weights, and the mean magnitude of the zeroed and of the kept weights."""
    e = results.excluded
    fig, (share, magnitude) = plt.subplots(1, 2, figsize=(8.0, 2.9), layout="constrained")
    x = np.arange(len(e))
    share.bar(x, e["zeroed share"])
    share.set(xlabel="conv layer (input to output)", ylabel="share zeroed")
    magnitude.plot(x, e["mean |w| kept"], marker="o", label="kept")
    magnitude.plot(x, e["mean |w| zeroed"], marker="x", label="zeroed")
    magnitude.set(xlabel="conv layer (input to output)", ylabel="mean |w|", yscale="log")
    magnitude.legend(fontsize=7)
    return fig
