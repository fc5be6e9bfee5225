"""Chapter 6's words: the summary and findings that follow the numbers, the runs as one tidy
table, and a live explorer."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..params import UNATTENDED
from .analysis import copy_recall, debugging_summary, pilot_table, top_classes, truth_scores
from .config import OUTPUTS
from .results import GRADIENT, Results, class_influence, planted_truth


def table(results: Results) -> pd.DataFrame:
    """The runs in one tidy table: a row per (run, target test example) with its outputs, and the
    run's subset mask as one boolean column per source class (held-out runs marked)."""
    frames = []
    for kind, masks, outputs in (
        ("run", results.masks, results.outputs),
        ("held out", results.holdout_masks, results.holdout_outputs),
    ):
        m, t = outputs["softmax"].shape
        if not m:
            continue
        frame = pd.DataFrame(
            {
                "run": np.repeat(np.arange(m), t),
                "kind": kind,
                "example": np.tile(np.arange(t), m),
                "target class": np.array(results.target_classes)[np.tile(results.target_labels, m)],
                **{k: outputs[k].reshape(-1) for k in OUTPUTS},
            }
        )
        mask = pd.DataFrame(np.repeat(masks, t, axis=0), columns=list(results.classes))
        frames.append(pd.concat([frame, mask], axis=1))
    return pd.concat(frames, ignore_index=True)


def summary_text(results: Results) -> str:
    c = results.config
    top = top_classes(results, 3)
    pos = ", ".join(top[top.sign == "positive"]["source class"])
    neg = ", ".join(top[top.sign == "negative"]["source class"])
    world = (
        "the planted-influence world"
        if c.planted()
        else ("the folder's data" if c.data_dir else "the main world")
    )
    return (
        f"On {world}: {len(results.masks)} source models, each on {c.alpha:.0%} of the {len(results.classes)} "
        f"source classes, transferred ({c.mode}) to the target: mean target accuracy "
        f"{results.outputs['correct'].mean():.1%} (full source: {results.full_outputs['correct'].mean():.1%}). "
        f"The most helpful source classes overall: {pos}; the most harmful: {neg}."
    )


def findings_text(results: Results, conv: pd.DataFrame, scores: pd.DataFrame | None = None) -> str:
    """What this run found, in words that follow the numbers: the pilot, the estimators against the
    truth, the gradient-based one against the mask-based ones, leaks and debugging against the control."""
    lines = []
    pilot = pilot_table(results)
    wrong = [
        r.removed
        for _, r in pilot.iterrows()
        if r["planted sign"] in "+−"
        and not r.removed.startswith("premise")
        and r.removed != "one of each pair"
        and not ((r.low > 0) if r["planted sign"] == "+" else (r.high < 0))
    ]
    lines.append(
        "- **The world**: every planted group the pilot removed moved the accuracy of its images the planted way, "
        "with the interval clear of zero."
        if not wrong
        else f"- **The world**: the pilot could not confirm the planted effect of {', '.join(wrong)} (interval "
        "touching zero or on the wrong side): the claims that rely on it are weaker evidence."
    )
    if planted_truth(results) is not None:
        scores = (truth_scores(results) if scores is None else scores).set_index(["estimator", "relation"])
        dom, grad = scores.loc[("difference of means", "helps")], scores.loc[(GRADIENT, "helps")]
        lines.append(
            f"- **Against the planted helpers**, the difference of means over {len(results.masks)} runs reaches "
            f"R-precision {dom.precision:.2f} (chance {dom.chance:.2f}, p = {dom['p-value']:.3f}); the gradient-based "
            f"estimator over {len(results.gradient_scores)} full-source models {grad.precision:.2f} "
            f"(p = {grad['p-value']:.3f})."
        )
    held = conv[conv.estimator == "difference of means"].sort_values("models")
    if held["aggregate LDS"].notna().any():
        lines.append(
            "- **Convergence**: the aggregate LDS of the difference of means goes "
            + " → ".join(f"{v:.2f}" for v in held["aggregate LDS"])
            + " at "
            + ", ".join(str(int(m)) for m in held.models)
            + " models, while the bootstrap std of the overall influences falls "
            + " → ".join(f"{v:.4f}" for v in held["bootstrap std"])
            + "."
        )
    for kind, word in (("leaks", "leaked"), ("misleads", "misleadingly copied")):
        rec = copy_recall(results, kind)
        if len(rec):
            last = rec.iloc[-1]
            lines.append(
                f"- **{word.capitalize()} images**: the copy is among the 10 "
                f"{'most positive' if kind == 'leaks' else 'most negative'} source images of its target image in "
                f"{last['recall@10']:.0%} of {int(last.copies)} cases (chance {last['chance@10']:.1%}; median rank "
                f"{last['median rank']:.0f} of {len(results.source_labels):,})."
            )
    d = debugging_summary(results)
    if {"most negative", "random"} <= set(d.index):
        lines.append(
            f"- **Debugging failures**: removing the class most often a failure's most negative influencer fixes "
            f"{d.loc['most negative', 'share fixed']:.0%} of its {int(d.loc['most negative', 'failures'])} failures "
            f"(over the first {len(results.config.extras())} counterfactual seeds); removing a random class "
            f"fixes {d.loc['random', 'share fixed']:.0%} of the same."
        )
    return "\n".join(lines)


def explorer(results: Results, n: int = 5):
    """An ipywidgets explorer for readers running the notebook live: pick a target test example,
    see it and its most positive and most negative source classes with example images. In an
    unattended run (the book build, ``transferlab run``) it shows nothing: a widget needs a live
    reader, and twice in this project's builds papermill waited forever at this widget's cell."""
    if os.environ.get(UNATTENDED):
        return None
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    infl = class_influence(results)
    c = results.config
    world = c.world()
    test, source = world.get(c.target_part(), "test"), world.get(c.source_part(), "test")

    def show(index: int) -> None:
        order = np.argsort(-np.nan_to_num(infl[:, index]), kind="stable")
        picks = [("positive", i) for i in order[:n]] + [("negative", i) for i in order[::-1][:n]]
        fig, axes = plt.subplots(1, len(picks) + 1, figsize=(1.3 * (len(picks) + 1), 1.8))
        axes[0].imshow(test.x[index].permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[0].set_title(f"target: {test.classes[int(test.y[index])]}", fontsize=7)
        for ax, (sign, i) in zip(axes[1:], picks):
            first = int((source.y == i).nonzero().flatten()[0])
            ax.imshow(source.x[first].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(
                f"{'+' if sign == 'positive' else '−'}{abs(infl[i, index]):.3f}\n{results.classes[i]}",
                fontsize=6,
            )
        for ax in axes:
            ax.axis("off")
        display(fig)
        plt.close(fig)

    return widgets.interactive(show, index=widgets.IntSlider(0, 0, len(test) - 1, description="example"))
