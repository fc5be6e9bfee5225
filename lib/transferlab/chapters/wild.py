"""Chapter "Biases in the wild" (thesis §7.4, Figures 7.7–7.8, App. G.2).

No intervention plants these biases: the source has classes that *are* a pattern (a chain-link
fence, a tennis ball, a hat), so the clean source model learns the pattern as evidence for its
class. The chapter finds such biases the way the thesis does, by overlaying a feature on every
source test image and watching the predicted-class distribution move (:mod:`transferlab.methods.bias_finder`),
also searching a family of candidate overlays; then it overlays each bias on the target test
images and compares models transferred from the source (fixed-feature, full-network) with models
trained from scratch on the target. The models are the clean source and the transfer and scratch
models of chapter 0: with the same world and seeds they come from the store.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from ..methods import bias_finder
from ..params import ParameterError, distinct, param
from ..run import load_model, run_jobs
from ..train import predict
from ..world import (
    POSITIONS,
    TARGETS,
    TensorData,
    apply_overlay,
    overlay_name,
    parse_overlay,
)
from . import plots
from .base import SMOKE_WORLD, WorldParams
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts

SOURCE = "thesis §7.4"
KINDS = ("fixed", "full", "scratch")
KIND_NAMES = {"fixed": "fixed-feature", "full": "full-network", "scratch": "scratch"}
GAIN = 0.1  # an overlay skews the source model when its class gains this share of the predictions
EXCESS = 0.05  # a transferred model's skew counts when it exceeds the scratch models' by this much


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter (the world and source model parameters come first)."""

    overlays: tuple[str, ...] = param(
        ("fence", "ball", "hat"),
        "the overlays studied, in text form (transferlab.world.parse_overlay, e.g. 'ball:scale=0.3')",
    )
    expected: tuple[str, ...] = param(
        ("fence", "tennis ball", "hat"),
        "the source class each overlay is expected to favour, in the same order; an empty name for none "
        "(e.g. fence,,hat; ,, for none of three)",
    )
    search_images: int = param(
        600,
        "source test images the search over candidate overlays uses (0: no search)",
        low=0,
        high=1_000_000,
    )
    search_shapes: tuple[str, ...] = param(
        ("disc", "square", "triangle", "ring", "cross", "star"), "shapes of the candidate patches"
    )
    search_colours: tuple[str, ...] = param(
        tuple(bias_finder.COLOURS), "colours of the candidate patches", choices=tuple(bias_finder.COLOURS)
    )
    search_scales: tuple[float, ...] = param(
        (0.3, 0.5), "sizes of the candidate patches (1 = the image's half side)", low=0.05, high=1.0
    )
    search_positions: tuple[str, ...] = param(
        ("centre", "bottom-right"), "places of the candidate patches", choices=POSITIONS
    )
    follow: int = param(
        2,
        "candidates of the search also followed through transfer: the best-ranked ones "
        "that favour a class no studied or followed overlay favours",
        low=0,
        high=20,
    )
    targets: tuple[str, ...] = param(TARGETS, "target tasks", choices=TARGETS)
    seeds: tuple[int, ...] = param(
        (0, 1, 2), "seeds of each transfer and scratch model (chapter 0's: shared)", low=0
    )
    sweep_target: str = param(
        "objects", "target of the full-network sweeps over epochs and weight decay", choices=TARGETS
    )
    sweep_epochs: tuple[int, ...] = param(
        (3, 10, 30), "full-network epochs of the sweep (at the recipe's weight decay)", low=1, high=1000
    )
    sweep_weight_decays: tuple[float, ...] = param(
        (5e-4, 5e-3, 5e-2), "full-network weight decays of the sweep (at `full_epochs`)", low=0.0, high=1.0
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("seeds", self.seeds)
        distinct("sweep_epochs", self.sweep_epochs)
        distinct("sweep_weight_decays", self.sweep_weight_decays)
        if self.sweep_target not in self.targets:
            raise ParameterError(
                f"'sweep_target' {self.sweep_target!r} must be one of 'targets' {self.targets}"
            )
        if not self.targets or not self.overlays:
            raise ParameterError("parameters 'targets' and 'overlays' need at least one entry each")
        if len(self.expected) != len(self.overlays):
            raise ParameterError(
                f"'expected' needs one class per overlay ({len(self.overlays)}), got {len(self.expected)}; "
                f"an empty name means none (on the command line: -p expected {',' * (len(self.overlays) - 1)} "
                "for no class at all, or e.g. fence,,hat)"
            )
        for text in self.overlays:
            try:
                parse_overlay(text)
            except (ValueError, TypeError) as e:
                raise ParameterError(f"parameter 'overlays': cannot read {text!r}: {e}") from None
        try:
            self.candidates()
        except ValueError as e:
            raise ParameterError(f"a search parameter: {e}") from None
        names = self.source_classes()
        missing = [e for e in self.expected if e and e not in names]
        if missing:
            raise ParameterError(
                f"'expected' names {missing}, which are not source classes (e.g. {', '.join(names[:5])}, ...); "
                f"an empty name means none (-p expected {',' * (len(self.overlays) - 1)} for none at all)"
            )

    def source_classes(self) -> tuple[str, ...]:
        """The source task's class names (on real data from the folder's class list, no image read)."""
        return self.world(cache=None).source_class_names()

    def candidates(self) -> list:
        """The family of candidate overlays of the search."""
        return bias_finder.candidates(
            self.search_shapes,
            self.search_colours,
            scales=self.search_scales,
            positions=self.search_positions,
        )


PROTOCOL = """**Setup** (thesis §7.4, App. G.2). The bias finder overlays a feature on every source test image and
measures how the source model's predicted-class distribution shifts; the studied overlays
(`overlays`: a fence, a tennis ball, a hat) are source classes of their own, and a search ranks
candidate patches (`search_shapes`, `search_colours`, `search_scales`, `search_positions`) by the
shift they cause. The studied overlays are then put on the test images of each target (`targets`)
and the shift of transferred models (fixed-feature, full-network; per seed, `seeds`) is compared
with that of models trained from scratch on the target. On `sweep_target`, full-network models
are also trained for each of `sweep_epochs` and each of `sweep_weight_decays` (the thesis removes
the tennis-ball bias by full-network fine-tuning, and weight decay removes a backdoor in chapter
2): where does the skew go?

The world draws the tennis ball as its own markings (yellow-green felt with white curved seams) on
a silhouette of any generic shape, as the fence is a grid over any object and the hat its own
shape. The thesis' overlay is a yellow disc; in this world a disc is one of the objects target's
shapes and the flowers have yellow-centred discs, so a yellow disc draws the predictions of models
that never saw the source as much as those of transferred ones, and the comparison with scratch
models would cancel the effect it measures.

**Measured**, class-matched. For each target and overlay, the *favoured class* is the target class
whose share of predictions the overlay raises most in the fixed-feature models, chosen on the
other seeds' models (so that a seed's own noise does not pick it). A model's *skew* is the share
of predictions that class gains under the overlay; a transferred model's *excess* is its skew
minus the skew of the scratch model of its seed on the same class.

**Claims.** The replicate of (b) and (c) is a seed of the transfers and scratch models; the
source model is the one draw every chapter shares, so these intervals do not hold its variance.
The interval of (a) is over the source test images, the source model held fixed.
- (a) Each overlay skews the source model towards its class: the overlay's own source class gains
  a share of the predictions (Fig. 7.7b, 7.8b, G.7).
- (b), per overlay: fixed-feature transferred models skew under it, scratch models much less: the
  fixed-feature excess, mean over targets (Fig. 7.7d, 7.8d).
- (c) Full-network transfer removes the skew for some biases (thesis: tennis ball) but not for
  others (fence): among the overlays whose skew (b) is not contradicted, the one with the smallest
  full-network mean transfers fixed-feature and its full-network skew is below the margin; that of
  the one with the largest full-network mean is above it."""

CRITERIA = criteria(
    Criterion(
        "source-skew",
        "share of predictions the expected class gains",
        ">",
        GAIN,
        "a tenth of all predictions moved to one class is a skew no class balance explains",
    ),
    Criterion(
        "skew-transfers",
        "skew(transferred) − skew(scratch), class-matched",
        ">",
        EXCESS,
        "five points of predictions more than a model that never saw the source",
    ),
    Criterion("skew-removed", "skew(full-network) − skew(scratch), class-matched", "<", EXCESS),
)

PAPER_NOTE = """The thesis' setting: ResNet-18 on 64 px images with its recipes and 16 epochs, a search over
5,000 images, the three strongest overlays followed through transfer, five seeds. On real data
(`-p data_dir`) name the classes the overlays should favour in `expected`. Meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source task; name the classes each overlay should favour in `expected` (e.g. the "
    "chain-link fence, tennis ball and cowboy hat classes of an ImageNet subset)",
    objects="a target the bias is followed into",
    flowers="a target",
    pets="a target",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        **SMOKE_WORLD,
        "search_images": 60,
        "search_shapes": ["disc", "star"],
        "search_colours": ["yellow", "blue"],
        "search_scales": [0.4],
        "search_positions": ["centre"],
        "follow": 1,
        "targets": ["objects", "pets"],
        "seeds": [0, 1],
    },
    "default": {},
    "paper": {
        "image_size": 64,
        "source_per_class": 1300,
        "target_per_class": 500,
        "arch": "resnet18",
        "recipes": "thesis",
        "source_epochs": 16,
        "full_epochs": 16,
        "scratch_epochs": 16,
        "search_images": 5000,
        "follow": 3,
        "seeds": [0, 1, 2, 3, 4],
    },
}


# ---------------------------------------------------------------------------------------------
# run and measure


@dataclasses.dataclass(frozen=True)
class Results:
    """The source model's shifts, the search, and every target model's shift per overlay."""

    config: Config
    source: pd.DataFrame  # overlay, expected, tv, flip, top_class, top_gain, expected_gain
    source_shifts: dict[str, bias_finder.Shift]
    ranking: pd.DataFrame | None  # the search: overlay, tv, flip, top_class, top_gain (best first)
    followed: tuple[str, ...]  # overlays found by the search and followed through transfer
    targets: pd.DataFrame  # overlay, target, kind, seed, tv, flip, top_class, top_gain
    target_shifts: dict[tuple[str, str, str, int], bias_finder.Shift]
    # the full-network sweep on `sweep_target`: overlay, seed, epochs, weight_decay and the shift
    sweep_shifts: dict[tuple[str, int, int, float], bias_finder.Shift]

    @property
    def overlays(self) -> tuple[str, ...]:
        """Every overlay followed through transfer: the studied ones, then the found ones."""
        return (*self.config.overlays, *self.followed)


def sweep_settings(config: Config) -> list[tuple[int, float]]:
    """(epochs, weight decay) of the full-network sweep: each epoch count at the recipe's weight
    decay, each weight decay at `full_epochs` (the main models' setting is among them)."""
    wd = config.transfer_recipe("full").weight_decay
    settings = [(e, wd) for e in config.sweep_epochs] + [
        (config.full_epochs, w) for w in config.sweep_weight_decays
    ]
    return list(dict.fromkeys(settings))


def _jobs(config: Config) -> dict[tuple, object]:
    source = config.source_job()
    jobs: dict[tuple, object] = {("source", "", 0): source}
    for target in config.targets:
        for seed in config.seeds:
            for mode in ("fixed", "full"):
                jobs[(mode, target, seed)] = config.transfer_job(source, target, mode, seed)
            jobs[("scratch", target, seed)] = config.scratch_job(target, seed)
    for seed in config.seeds:
        for epochs, wd in sweep_settings(config):
            r = config.recipe("full", epochs)
            jobs[("sweep", seed, epochs, wd)] = config.transfer_job(
                source,
                config.sweep_target,
                "full",
                seed,
                epochs=r.epochs,
                peak_epoch=r.peak_epoch,
                weight_decay=wd,
            )
    return jobs


def run(config: Config, progress: bool = True) -> Results:
    """Fetch (or train) the models, probe the source model, search, and probe every target model."""
    world = config.world()
    jobs = _jobs(config)
    entries = dict(zip(jobs, run_jobs(list(jobs.values()), progress=progress)))
    source_model = load_model(entries[("source", "", 0)])
    test = world.source("test")  # its classes hold `expected` (checked by the Config)
    clean = predict(source_model, test).argmax(-1)
    shifts = {
        text: bias_finder.output_shift(source_model, test, parse_overlay(text), clean_pred=clean)
        for text in config.overlays
    }
    source = pd.DataFrame(
        [
            {
                "overlay": t,
                "expected": e,
                **shifts[t].row(),
                "expected_gain": shifts[t].gain_of(e) if e else float("nan"),
            }
            for t, e in zip(config.overlays, config.expected)
        ]
    )
    ranking, followed = None, ()
    if config.search_images:
        ranking = bias_finder.search(
            source_model, test, config.candidates(), n_images=config.search_images, progress=progress
        )
        followed = found_biases(
            ranking, {*config.expected, *source.top_class}, config.follow, config.overlays
        )
    rows, target_shifts, sweep_shifts = [], {}, {}

    def shifts_of(key, data, overlaid):
        model = load_model(entries[key])
        clean_pred = predict(model, data).argmax(-1)
        return {
            text: bias_finder.shift_between(model, data, over, clean_pred=clean_pred)
            for text, over in overlaid.items()
        }

    for target in config.targets:
        data = world.target(target, "test")
        overlaid = {text: apply_overlay(data, parse_overlay(text)) for text in (*config.overlays, *followed)}
        for kind in KINDS:
            for seed in config.seeds:
                for text, s in shifts_of((kind, target, seed), data, overlaid).items():
                    target_shifts[(text, target, kind, seed)] = s
                    rows.append({"overlay": text, "target": target, "kind": kind, "seed": seed, **s.row()})
        if target == config.sweep_target:
            for key in [k for k in entries if k[0] == "sweep"]:
                for text, s in shifts_of(key, data, overlaid).items():
                    sweep_shifts[(text, *key[1:])] = s
    return Results(config, source, shifts, ranking, followed, pd.DataFrame(rows), target_shifts, sweep_shifts)


def found_biases(
    ranking: pd.DataFrame, known: set[str], n: int, studied: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The ``n`` best-ranked candidates that each favour a class not in ``known`` (nor favoured by
    an earlier pick) and are not among the ``studied`` overlays: biases the search found beyond
    the studied ones, one per class."""
    out, seen = [], set(known)
    skip = {overlay_name(parse_overlay(t)) for t in studied}
    for overlay, top in zip(ranking.overlay, ranking.top_class):
        if len(out) == n:
            break
        if top not in seen and overlay not in skip:
            out.append(overlay)
            seen.add(top)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# views of the results


def favoured_class(results: Results, overlay: str, target: str, seed: int) -> int:
    """The target class an overlay makes the fixed-feature models pile onto, for the models of
    ``seed``: chosen on the *other* seeds' models (mean gain; all seeds when there is one), so that a
    seed's own noise does not pick the class its excess is then measured on."""
    seeds = [s for s in results.config.seeds if s != seed] or [seed]
    gains = np.mean([results.target_shifts[(overlay, target, "fixed", s)].gain for s in seeds], axis=0)
    return int(np.argmax(gains))


def excess(results: Results) -> pd.DataFrame:
    """Per overlay, target and seed, class-matched: the share of predictions the class the overlay
    favours (:func:`favoured_class`) gains in the fixed-feature and the full-network model, minus
    what the same class gains in the scratch model of the seed (column ``scratch``: that gain). A
    model that only loses sight of an occluded object scatters its predictions or piles them onto a
    class the overlay looks like; a model with the source's bias piles them onto the class its
    transferred features map the overlay to, which a scratch model has no reason to favour."""
    rows = []
    for text, target, seed in results.targets.set_index(["overlay", "target", "seed"]).index.unique():
        c = favoured_class(results, text, target, seed)
        gain = {k: float(results.target_shifts[(text, target, k, seed)].gain[c]) for k in KINDS}
        rows.append(
            {
                "overlay": text,
                "target": target,
                "seed": seed,
                "class": results.target_shifts[(text, target, "fixed", seed)].classes[c],
                "fixed": gain["fixed"] - gain["scratch"],
                "full": gain["full"] - gain["scratch"],
                "scratch": gain["scratch"],
            }
        )
    return pd.DataFrame(rows)


def sweep_table(results: Results) -> pd.DataFrame:
    """The full-network sweep on `sweep_target`: per overlay, seed, epochs and weight decay, the
    class-matched excess over the seed's scratch model (as :func:`excess`)."""
    c = results.config
    rows = []
    for (text, seed, epochs, wd), shift in results.sweep_shifts.items():
        k = favoured_class(results, text, c.sweep_target, seed)
        scratch = results.target_shifts[(text, c.sweep_target, "scratch", seed)].gain[k]
        rows.append(
            {
                "overlay": text,
                "seed": seed,
                "epochs": epochs,
                "weight_decay": wd,
                "excess": float(shift.gain[k] - scratch),
            }
        )
    return pd.DataFrame(rows)


def shift_table(results: Results) -> pd.DataFrame:
    """Mean skew (share gained by the most-favoured class) and TV distance under each overlay, per
    target and kind of model."""
    t = results.targets.groupby(["overlay", "target", "kind"])[["top_gain", "tv"]].mean().unstack("kind")
    t = t.rename(columns={"top_gain": "skew", "tv": "TV", **KIND_NAMES})
    return t.reindex(results.overlays, level=0)


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of thesis §7.4, measured in this run on the studied overlays ((b) for each)."""
    c = results.config
    ex = excess(results)
    per_seed = ex.groupby(["overlay", "seed"])[["fixed", "full", "scratch"]].mean()
    replicate = "seed (transfers and scratch; one source model)"
    gains = []
    for text, expected in zip(c.overlays, c.expected):
        if not expected:
            gains.append(Estimate.not_measured(CRITERIA["source-skew"], "no expected class named", text))
            continue
        shift = results.source_shifts[text]
        low, high = shift.gain_interval(expected)
        gains.append(
            Estimate.interval(
                CRITERIA["source-skew"],
                shift.gain_of(expected),
                low,
                high,
                shift.n,
                "source test image (one source model)",
                "t over images",
                f"{text} → {expected}",
            )
        )
    out = [
        Claim(
            "a",
            "Each overlay skews the source model towards its class",
            SOURCE + ", Fig. 7.7b, 7.8b, G.7",
            tuple(gains),
            note="Share of the source model's predictions its expected class gains under the overlay.",
        )
    ]
    may_transfer = []  # overlays whose fixed-feature skew (b) is not contradicted
    for i, text in enumerate(c.overlays, 1):
        e = per_seed.loc[text]
        b = Claim(
            f"b{i}",
            f"'{text}': fixed-feature transferred models skew under the overlay, models trained from "
            "scratch much less",
            SOURCE + ", Fig. 7.7d, 7.8d (left)",
            (Estimate.t(CRITERIA["skew-transfers"], e["fixed"], replicate),),
            note=f"Mean over targets; the scratch models' own skew towards the same classes is "
            f"{e['scratch'].mean():.3f}.",
        )
        out.append(b)
        if b.verdict != "contradicted":
            may_transfer.append(text)
    if len(may_transfer) >= 2:
        full = per_seed.loc[may_transfer, "full"].groupby("overlay")
        removed, kept = full.mean().idxmin(), full.mean().idxmax()
        parts = (
            Estimate.t(
                CRITERIA["skew-transfers"], per_seed.loc[removed, "fixed"], replicate, f"{removed}, fixed"
            ),
            Estimate.t(CRITERIA["skew-removed"], full.get_group(removed), replicate, f"{removed}, full"),
            Estimate.t(CRITERIA["skew-transfers"], full.get_group(kept), replicate, f"{kept}, full"),
        )
    else:
        why = "fewer than two overlays whose skew may transfer in (b)"
        parts = (
            Estimate.not_measured(CRITERIA["skew-removed"], why, "removed"),
            Estimate.not_measured(CRITERIA["skew-transfers"], why, "kept"),
        )
    out.append(
        Claim(
            "c",
            "Full-network transfer removes the skew for some biases (thesis: tennis ball) but not for "
            "others (fence)",
            SOURCE + ", Fig. 7.7d, 7.8d (right), G.2",
            parts,
            note="Class-matched excess over the scratch models, mean over targets. Among the overlays whose "
            "fixed-feature skew (b) is not contradicted, the one with the smallest full-network mean "
            "should have transferred fixed-feature and be removed full-network, the one with the "
            "largest kept.",
        )
    )
    return ClaimsTable("wild", out)


def summary_text(results: Results) -> str:
    """What this run found, in one paragraph written from the numbers."""
    src = results.source
    parts = []
    for row in src.itertuples():
        if row.expected:
            parts.append(
                f"'{row.overlay}' moves {row.expected_gain:+.0%} of the source model's predictions to "
                f"'{row.expected}' (TV {row.tv:.2f})"
            )
        else:  # no class named: the class it favours most
            parts.append(
                f"'{row.overlay}' moves {row.top_gain:+.0%} of them to '{row.top_class}', the class it "
                f"favours most (no class expected; TV {row.tv:.2f})"
            )
    ex = excess(results).groupby("overlay")[["fixed", "full"]].mean()
    found = ""
    if results.ranking is not None and len(results.ranking):
        top = results.ranking.iloc[0]
        found = (
            f" The search's strongest candidate, '{top.overlay}', moves {top.top_gain:+.0%} of the "
            f"predictions to '{top.top_class}' (TV {top.tv:.2f})."
        )
    transfer = "; ".join(
        f"{o}: {ex.loc[o, 'fixed']:+.3f} fixed-feature, {ex.loc[o, 'full']:+.3f} full-network"
        for o in results.overlays
        if o in ex.index
    )
    return (
        "On the source test set, "
        + "; ".join(parts)
        + "."
        + found
        + " On the targets, the share of predictions the favoured class gains in the transferred "
        "models in excess of what it gains in the scratch models (class-matched; mean over targets "
        f"and seeds) is {transfer}."
    )


# ---------------------------------------------------------------------------------------------
# figures


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
    """The source model's predicted-class distribution, clean and with each studied overlay."""
    overlays = list(results.config.overlays)
    fig, axes = plots.panels(len(overlays), width=3.4, height=2.6, sharey=True)
    for ax, text in zip(axes, overlays):
        s = results.source_shifts[text]
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
        for i, kind in enumerate(KINDS):
            g = d[d.kind == kind].groupby("target").top_gain
            ax.bar(
                np.arange(len(c.targets)) + (i - 1) * 0.27,
                g.mean().reindex(c.targets),
                0.27,
                yerr=g.std().reindex(c.targets).fillna(0),
                capsize=2,
                label=KIND_NAMES[kind],
                color=plots.color(KIND_NAMES[kind]),
            )
        ax.set_xticks(range(len(c.targets)), c.targets, fontsize=8)
        ax.set_title(text, fontsize=8)
    axes[0].set(ylabel="skew: share gained by the top class", ylim=(0, 1))
    axes[0].legend(fontsize=7)
    return fig


def sweep_text(results: Results) -> str:
    """Where the skew goes under longer fine-tuning and more weight decay, from the sweep's numbers."""
    c = results.config
    t = sweep_table(results)
    wd0 = c.transfer_recipe("full").weight_decay
    e_lo, e_hi = min(c.sweep_epochs), max(c.sweep_epochs)
    w_lo, w_hi = min(c.sweep_weight_decays), max(c.sweep_weight_decays)

    def at(text: str, epochs: int, wd: float) -> float:
        d = t[(t.overlay == text) & (t.epochs == epochs) & np.isclose(t.weight_decay, wd)]
        return float(d.excess.mean())

    parts = [
        f"'{o}' {at(o, e_lo, wd0):+.3f} after {e_lo} epochs and {at(o, e_hi, wd0):+.3f} after {e_hi}; "
        f"{at(o, c.full_epochs, w_lo):+.3f} at weight decay {w_lo:g} and {at(o, c.full_epochs, w_hi):+.3f} at {w_hi:g}"
        for o in c.overlays
    ]
    return (
        f"On {c.sweep_target}, the full-network models' class-matched excess (mean over seeds) is "
        + "; ".join(parts)
        + f". The claims' margin is {EXCESS:g}."
    )


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
