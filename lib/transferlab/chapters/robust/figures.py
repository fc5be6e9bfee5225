"""Chapter 9's figures, each drawn from a view of :mod:`.analysis`."""

from __future__ import annotations

import numpy as np
import torch

from .. import plots
from .analysis import width_table
from .config import MODE_NAMES, MODES, Config
from .jobs import texture_source_job
from .measure import Results


def eps_label(config: Config) -> str:
    """The axis label of ε, in the thesis' units."""
    return "ε (L2, on 224-px images)" if config.norm == "l2" else "ε (L∞, per pixel)"


def _against_eps(results: Results, curves, ylabel: str):
    """One panel per target: transfer accuracy against ε (mean ± std over the selection seeds),
    one line per curve of ``curves(target)``, each (label, accuracies grouped by ε, colour or None,
    the ε to circle or None)."""
    c = results.config
    fig, axes = plots.panels(len(c.targets), width=3.0, height=2.7, sharey=False)
    for ax, target in zip(axes, c.targets):
        for label, accuracies, colour, circled in curves(target):
            line = plots.mean_line(ax, accuracies, label=label, **({"color": colour} if colour else {}))
            if circled is not None:
                mean = accuracies.mean().get(circled, np.nan)  # nan: not measured, nothing drawn
                ax.plot(circled, mean, "o", ms=12, mfc="none", color=line.lines[0].get_color())
        ax.set(title=target, xlabel=eps_label(c), ylabel=ylabel if target == c.targets[0] else None)
        # the grid is roughly geometric, and holds 0
        ax.set_xscale("symlog", linthresh=min(e for e in c.epsilons if e > 0))
    axes[0].legend(fontsize=7)
    return fig


def figure_selection(results: Results):
    """Transfer accuracy against ε on the selection seeds, one panel per target, both modes; the
    chosen ε circled."""
    s, chosen = results.selection, results.chosen

    def curves(target):
        for mode in MODES:
            e = chosen[(chosen.target == target) & (chosen["mode"] == mode)].eps
            accuracies = s[(s.target == target) & (s["mode"] == mode)].groupby("eps").accuracy
            yield (
                MODE_NAMES[mode],
                accuracies,
                plots.color(MODE_NAMES[mode]),
                float(e.iloc[0]) if len(e) else None,
            )

    return _against_eps(results, curves, "transfer accuracy")


def figure_granularity(results: Results):
    """Fig. 2.7: fixed-feature transfer accuracy against ε on the selection seeds, one panel per
    target, one line per granularity (the target as drawn, and down-then-up-scaled); the best ε > 0
    of each circled."""
    g = results.granularity
    if g.empty or g.factor.nunique() < 2:
        return plots.left_out("the granularity comparison: `granularities` is empty.")

    def curves(target):
        for factor, d in g[g.target == target].groupby("factor"):
            accuracies = d.groupby("eps").accuracy
            robust = accuracies.mean()[accuracies.mean().index > 0]
            label = "as drawn" if factor == 1 else f"down-scaled ×{factor:g}, up again"
            yield label, accuracies, None, robust.idxmax()

    return _against_eps(results, curves, "fixed-feature transfer accuracy")


def figure_gains(results: Results):
    """Transfer accuracy of the standard and the robust source (its chosen ε) per target, both
    modes, mean ± std over evaluation seeds (Fig. 2.2 and 2.3); in fixed-feature also the
    texture-invariant source (Fig. 2.8b)."""
    c, t = results.config, results.transfers
    fig, axes = plots.panels(2, width=3.6, height=3.0, sharey=True)
    x = np.arange(len(c.targets))
    texture = results.texture
    for ax, mode in zip(axes, MODES):
        chosen = results.chosen[results.chosen["mode"] == mode].set_index("target").eps
        ours = t[(t.arch == c.arch) & (t["mode"] == mode)]
        bars = {
            "standard source": (
                "clean source",
                [ours[(ours.target == tg) & (ours.eps == 0)] for tg in c.targets],
            )
        }
        if mode == "fixed" and not texture.empty:
            bars["texture-invariant"] = (
                "texture-invariant",
                [texture[texture.target == tg] for tg in c.targets],
            )
        bars["robust source"] = (
            "fixed-feature",
            [ours[(ours.target == tg) & np.isclose(ours.eps, float(chosen[tg]))] for tg in c.targets],
        )
        width = 0.8 / len(bars)
        for i, (name, (colour, rows)) in enumerate(bars.items()):
            vals = [r.accuracy for r in rows]
            ax.bar(
                x + (i - (len(bars) - 1) / 2) * width,
                [v.mean() for v in vals],
                width,
                yerr=[v.std() if len(v) > 1 else 0 for v in vals],
                capsize=3,
                label=name,
                color=plots.color(colour),
            )
        ax.set_xticks(x, list(c.targets))
        ax.set(title=MODE_NAMES[mode], ylabel="target accuracy" if mode == "fixed" else None, ylim=(0, 1))
    axes[0].legend(fontsize=7, loc="upper right")
    return fig


def figure_stylized(config: Config, n: int = 8):
    """The first seed's source images as drawn (top) and as the texture-invariant source sees them
    (bottom: layout kept, fine detail and colours from other images)."""
    job = texture_source_job(config, config.seeds[0])
    drawn, styled = config.source_job(config.seeds[0]).data.load(), job.data.load()
    rows = np.linspace(0, len(drawn) - 1, n).astype(int)
    names = [drawn.classes[int(drawn.y[i])] for i in rows]
    return plots.image_grid(
        torch.cat([drawn.x[rows], styled.x[rows]]),
        [*names, *["stylized"] * n],
        ncols=n,
        title="source images, as drawn and stylized",
    )


def figure_accuracy_transfer(results: Results):
    """Source accuracy against fixed-feature transfer accuracy (mean over targets): every
    architecture at ε = 0 and ``width_eps`` (mean over seeds); a line joins the architectures of one
    ε (Table 2.2) and an arrow goes from standard to robust per architecture (Fig. 2.5)."""
    c = results.config
    w = width_table(results).groupby(["arch", "eps"])[["source", "transfer"]].mean().reset_index()
    fig, ax = plots.panels(1, width=4.6, height=3.4)
    ax = ax[0]
    for eps, g in w.groupby("eps"):
        g = g.set_index("arch").reindex(list(c.archs)).dropna()
        ax.plot(
            g.source,
            g.transfer,
            "o-",
            label=f"ε = {eps:g}",
            color=plots.color("clean source" if eps == 0 else "fixed-feature"),
        )
        for arch, r in g.iterrows():
            ax.annotate(arch, (r.source, r.transfer), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="source accuracy", ylabel="fixed-feature transfer accuracy\n(mean over targets)")
    ax.legend(fontsize=7)
    return fig
