"""Chapter 7's views of the results, as the poster's tables: the children's modes, the stimuli
that outperform the centroids, consistency, identification and confidence."""

from __future__ import annotations

import pandas as pd

from .measure import READINGS, Results, distance_column, outperforming_column


def child_order(children) -> list[str]:
    return sorted(set(children), key=lambda c: (c == "scratch", int(c.split()[0]) if c != "scratch" else 0))


def mode_table(results: Results) -> pd.DataFrame:
    """Per child (foundation's children and scratch, over seeds): the most frequent predicted label
    of the stimuli, its frequency, the share of stimuli it takes (the poster's "mapped to a single
    label") and the share among the child's 3 most frequent labels."""
    rows = []
    main = results.main()
    for (child, seed), g in main.groupby(["child", "seed"]):
        counts = g.predicted.value_counts()
        rows.append(
            {
                "child": child,
                "seed": seed,
                "mode label": f"{counts.index[0]}: {results.target_classes[counts.index[0]]}",
                "frequency": int(counts.iloc[0]),
                "stimuli": len(g),
                "share of mode": float(counts.iloc[0] / len(g)),
                "share in top 3": float(counts.iloc[:3].sum() / len(g)),
            }
        )
    out = pd.DataFrame(rows)
    out["order"] = out.child.map({c: i for i, c in enumerate(child_order(out.child))})
    return out.sort_values(["order", "seed"]).drop(columns="order").reset_index(drop=True)


def outperforming(results: Results) -> pd.DataFrame:
    """Outperforming stimuli per reading of the centroid, child (mean over seeds, with the
    per-seed counts) and start."""
    main = results.main()
    out = []
    for reading in READINGS:
        counts = main.groupby(["child", "start", "seed"])[outperforming_column(reading)].sum()
        agg = counts.rename("count").groupby(["child", "start"]).agg(["mean", "std", "min", "max"])
        out.append(agg.reset_index().assign(reading=reading))
    out = pd.concat(out, ignore_index=True)
    out["order"] = out.child.map({c: i for i, c in enumerate(child_order(out.child))})
    out = out.sort_values(["reading", "order", "start"], key=_reading_order)
    return out.drop(columns="order").reset_index(drop=True)[
        ["reading", "child", "start", "mean", "std", "min", "max"]
    ]


def _reading_order(col: pd.Series) -> pd.Series:
    return col.map(READINGS.index) if col.name == "reading" else col


def consistent(results: Results, reading: str = READINGS[0]) -> pd.DataFrame:
    """Per seed and stimulus (start, class): the share of the seed's fine-tuned children (every
    frozen level) it outperforms on, by a reading of the centroid; consistently outperforming when
    it does on all of them (the poster's five children are one such seed); with the training size
    of its target class."""
    fine = results.main()
    fine = fine[fine.kind == "child"]
    column = outperforming_column(reading)
    share = fine.groupby(["seed", "start", "class"])[column].mean().rename("share").reset_index()
    share["consistent"] = share["share"] == 1.0
    share["train size"] = results.train_sizes[share["class"].to_numpy()]
    share["target class"] = [results.target_classes[i] for i in share["class"]]
    return share


def size_gap(results: Results, reading: str = READINGS[0]) -> pd.Series:
    """Per seed, the poster's comparison: the mean training size of the target classes of the
    consistently outperforming stimuli minus that of the rest (NaN where either group is empty)."""
    cons = consistent(results, reading)
    means = cons.groupby(["seed", "consistent"])["train size"].mean().unstack("consistent")
    means = means.reindex(columns=[True, False])
    return (means[True] - means[False]).rename("size gap")


PROBES = {
    "margin": "the poster's distances: mean centroid distance (mean output) − stimulus distance",
    "confidence": "the child's mean confidence (top softmax probability) on the stimuli, whatever the label",
}


def identification(results: Results) -> pd.DataFrame:
    """The shadow-model probe: for each child of each candidate foundation, the candidate whose
    stimuli it responds to most is taken for its parent, by each statistic of :data:`PROBES`; one
    row per child and statistic with the guess, and whether it is right. Only the probe's seeds
    (``probe_seeds``), on which every candidate has children, so that each candidate counts alike."""
    t = results.table
    t = t[(t.kind == "child") & t.seed.isin(results.config.child_seeds(1))]  # every candidate's children
    t = t.assign(margin=t[distance_column(READINGS[0])] - t["distance"])
    out = []
    for probe in PROBES:
        fit = t.groupby(["parent", "frozen", "seed", "shadow"])[probe].mean().unstack("shadow")
        guess = fit.idxmax(axis=1).rename("guess").reset_index()
        out.append(guess.assign(probe=probe, right=guess.guess == guess.parent))
    return pd.concat(out, ignore_index=True)


def responses(results: Results) -> pd.DataFrame:
    """Per child (mean over seeds): its confidence (top softmax probability) on the foundation's
    stimuli, whatever label it gives them, beside its confidence on the target's own test images."""
    main = results.main()
    conf = main.groupby(["child", "seed"]).confidence.mean().groupby("child").agg(["mean", "std"])
    conf.columns = ["on stimuli", "spread"]
    own = results.accuracy.groupby("child")["confidence"].mean().rename("on target test images")
    out = conf.join(own)
    return out.loc[child_order(out.index)]
