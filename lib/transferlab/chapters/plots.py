"""One figure style for the whole book: call :func:`use_style` once, draw with matplotlib."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

# One colour per condition, the same in every chapter, so a reader learns them once.
CONDITION_COLORS = {
    "clean source": "#4C72B0",
    "biased source": "#C44E52",
    "backdoored source": "#C44E52",
    "non-spurious source": "#4C72B0",
    "spurious source": "#C44E52",
    "scratch": "#8C8C8C",
    "fixed-feature": "#DD8452",
    "full-network": "#55A868",
    "closed form": "#222222",
}
# a claim's verdict, as in the claims tables' CSS
VERDICT_COLORS = {"holds": "#2e7d32", "contradicted": "#c62828", "undecided": "#b26a00", "n/a": "#616161"}
CYCLE = ["#4C72B0", "#C44E52", "#55A868", "#DD8452", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def use_style() -> None:
    """Apply the book's figure style (sizes, fonts, grid, colour cycle) to matplotlib."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.frameon": False,
            "legend.fontsize": 9,
            "axes.prop_cycle": mpl.cycler(color=CYCLE),
            "figure.constrained_layout.use": True,
        }
    )


def color(condition: str) -> str:
    """The book's colour for a named condition (falls back to the cycle for others)."""
    if condition in CONDITION_COLORS:
        return CONDITION_COLORS[condition]
    return CYCLE[sum(map(ord, condition)) % len(CYCLE)]


def mean_line(ax, groups, **kwargs):
    """One line of means with ± std error bars (0 where a group has one value) from a pandas
    ``SeriesGroupBy`` (x: the group keys, e.g. over seeds per setting); ``kwargs`` go to
    ``ax.errorbar``. Returns its container."""
    mean = groups.mean()
    return ax.errorbar(
        mean.index, mean, yerr=groups.std().fillna(0), **{"marker": "o", "capsize": 3, **kwargs}
    )


def grouped_bars(
    ax, groups, categories: Sequence, *, span: float = 0.76, capsize: float = 3, colour: bool = True
):
    """Side-by-side bars of means with ± std error bars (0 where a category has one value), one
    bar per category for each group: ``groups`` maps a label to a pandas ``SeriesGroupBy`` keyed by
    category (e.g. over seeds per target). The bars of one category share ``span``; ``colour``
    paints each group in the book's colour of its label (else the colour cycle). Sets the x ticks."""
    x = np.arange(len(categories))
    width = span / len(groups)
    for i, (label, g) in enumerate(groups.items()):
        ax.bar(
            x + (i - (len(groups) - 1) / 2) * width,
            g.mean().reindex(categories),
            width,
            yerr=g.std().reindex(categories).fillna(0),
            capsize=capsize,
            label=label,
            **({"color": color(label)} if colour else {}),
        )
    ax.set_xticks(x, list(categories))


def panels(
    n: int, *, width: float = 3.4, height: float = 3.0, sharey: bool = False, ncols: int | None = None
):
    """``n`` axes of the book's panel size, in one row or in rows of ``ncols`` (extra axes hidden);
    returns (figure, list of the ``n`` axes)."""
    ncols = min(n, ncols or n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows),
        sharey=sharey,
        squeeze=False,
        layout="constrained" if nrows > 1 else None,
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def mean_band(
    ax, x: Sequence[float], samples: np.ndarray, *, label: str, color_: str | None = None, **kwargs
) -> None:
    """Plot the mean over rows of ``samples`` against ``x`` with a ±1 std band (spread over seeds)."""
    samples = np.atleast_2d(np.asarray(samples, dtype=float))
    mean, std = samples.mean(0), samples.std(0, ddof=1) if samples.shape[0] > 1 else 0 * samples[0]
    c = color_ or color(label)
    ax.plot(x, mean, label=label, color=c, **kwargs)
    ax.fill_between(x, mean - std, mean + std, color=c, alpha=0.2, linewidth=0)


def image_grid(images, titles: Sequence[str] = (), *, ncols: int = 8, size: float = 0.85, title: str = ""):
    """Show uint8 images (N, 3, H, W) in a grid, each with a small title; returns the figure."""
    images = np.asarray(images)
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * (size + 0.18)), squeeze=False, layout="constrained"
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].transpose(1, 2, 0), interpolation="nearest")
            if i < len(titles) and titles[i]:
                ax.set_title(titles[i], fontsize=6, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def left_out(why: str) -> None:
    """Say on the page why a figure or table is not shown (e.g. it is the synthetic world's own and
    the run is on real data), instead of drawing it empty."""
    from IPython.display import Markdown, display

    display(Markdown(f"*Not shown: {why}*"))
