"""Chapter 8's words: the summary, the findings and the recovery curve, written from the numbers."""

from __future__ import annotations

import pandas as pd

from .analysis import pareto, relative_dir, summary
from .measure import Results


def summary_text(results: Results) -> str:
    s = summary(results)
    ft = s[s.method == "finetune"]
    parts = []
    teachers = results.teachers.drop(columns="seed").groupby(["teacher", "task"], sort=False).mean()
    for (teacher, task), t in teachers.iterrows():
        text = f"the {teacher} teacher {t.accuracy:.0%} on the {task} test set"
        if "attack success" in t and pd.notna(t["attack success"]):
            text += f", sending {t['attack success']:.0%} of triggered test images to class 0"
        parts.append(text)
    c = results.config
    return (
        f"Teachers (means over the {len(c.seeds)} seeds, one teacher each): "
        + "; ".join(parts)
        + f". Fine-tuned students ({c.student_iterations} iterations of the "
        f"artifact's recipe) reach {ft.accuracy.mean():.0%} on {', '.join(c.targets)} with a mean DIR of "
        f"{ft.dir.mean():.0%} over the {len(ft)} defects."
    )


def findings_text(results: Results) -> str:
    """What this run found, in words that follow the numbers, one line per defect."""
    s = summary(results).set_index(["defect", "method"])
    front = pareto(results)
    lines = []
    for d in dict.fromkeys(results.table.defect):
        ft = s.loc[(d, "finetune")]
        parts = [f"fine-tuning {ft.accuracy:.0%} accuracy, DIR {ft.dir:.0%}"]
        if (d, "retrain") in s.index:
            parts.append(f"retraining {s.loc[(d, 'retrain'), 'dir']:.0%}")
        if (d, "remos") in s.index:
            r = s.loc[(d, "remos")]
            parts.append(f"ReMoS {r.accuracy:.0%} accuracy, DIR {r.dir:.0%}")
        best = front[(front.defect == d) & front["on the front"]].method.tolist()
        lines.append(f"- **{d}**: " + "; ".join(parts) + f". On the accuracy–DIR front: {', '.join(best)}.")
    return "\n".join(lines)


def recovery_text(results: Results) -> str:
    """What the recovery curve says about the budget, in words that follow its numbers: ReMoS'
    accuracy gap to fine-tuning and its DIR relative to fine-tuning's, at the shortest and the
    longest budget (first seed and target; means over the malicious sets)."""
    r = results.recovery
    if r.empty or not {"finetune", "remos"} <= set(r.method):
        return ""
    wide = r.pivot_table(index=["defect", "iterations"], columns="method", values=["accuracy", "dir"])
    per = wide.groupby(level="iterations").mean()
    gap = per[("accuracy", "finetune")] - per[("accuracy", "remos")]
    rdir = relative_dir(wide[("dir", "remos")], wide[("dir", "finetune")]).groupby(level="iterations").mean()
    lo, hi = per.index.min(), per.index.max()

    def below(x: float) -> str:
        return f"{abs(x) * 100:.1f} points {'below' if x >= 0 else 'above'}"

    ft = per[("accuracy", "finetune")]
    return (
        f"Along the recovery curve (first seed), ReMoS' accuracy is {below(gap[lo])} fine-tuning's after "
        f"{lo:g} iterations and {below(gap[hi])} after {hi:g} (fine-tuning: {ft[lo]:.0%} → {ft[hi]:.0%}); its "
        f"DIR is {rdir[lo]:.2f} of fine-tuning's after {lo:g} iterations and {rdir[hi]:.2f} after {hi:g} (means "
        f"over the malicious sets). The claims below are judged after {results.config.student_iterations} "
        "iterations."
    )
