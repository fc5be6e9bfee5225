"""Chapter "Strong stimuli" (the poster "Characterizing the decision space of fine-tuned models
through strong stimuli").

A foundation model is trained on the first K source classes; children are fine-tuned from it on
a K-class target with imbalanced class sizes (the flowers target, Flowers-102's role), with the
first 1..5 blocks frozen, beside children trained from scratch. A **strong stimulus** of source
class i is an input optimised by gradient ascent on the foundation's score of class i (from
noise, or from a source image of the class within an L∞ ball), a stereotypical input of the class
as the foundation sees it. Each stimulus is shown to each child and compared with the child's own
picture of target class i (same index): the distance between the child's softmax on the stimulus
and the one-hot vector of class i, against the same distance for the centroid of class i. A
stimulus **outperforms** when it is closer. The centroid is read two ways, both declared before
any run: the mean of the child's softmax over class i's training images (the poster's wording),
and the child's softmax on class i's mean training image. The target has more flower kinds than
the world's other chapters use (`flower_classes`), so that the children do not fit every class
and a centroid is not simply the one-hot vector.

Beyond the poster, its proposed probe: stimuli of several candidate ("shadow") foundations are
shown to a child, and the candidate whose stimuli fit the child best is taken for its parent;
measured as identification accuracy over children of every candidate.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..methods.stats import spearman
from ..params import ParameterError, distinct, param
from ..run import SourceJob, TransferJob, load_model, run_jobs
from ..train import pick_device, predict
from ..world import TARGETS, TensorData
from . import plots
from .base import ARCHS, WorldParams, class_subset_ref, world_ref
from .claims import LEVEL, Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts

SOURCE = "strong-stimuli poster"
STARTS = ("noise", "seed")
SHADOW_DATA = ("disjoint", "same")
SCRATCH = 0  # frozen blocks of no child: the scratch child's row carries kind "scratch"


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter (the world and foundation parameters come first)."""

    image_size: int = param(
        16, "side of every image in pixels (real images are resized to it)", low=12, high=256
    )
    source_per_class: int = param(
        200, "source training images per class (on real data: at most this many)", low=5, high=100_000
    )
    arch: str = param("cresnet-xs", "architecture of the foundation and its children", choices=ARCHS)
    fine_classes: int = param(
        7,
        "fine classes per generic superclass (7: 102 source classes, so that three candidate "
        "foundations of K = 34 classes each have their own)",
        low=1,
        high=8,
    )
    full_epochs: int = param(8, "epochs of fine-tuning each child", low=1, high=1000)
    scratch_epochs: int = param(16, "epochs of the children trained from scratch", low=1, high=1000)
    flower_classes: int = param(
        34,
        "classes of the synthetic flowers target (the poster's Flowers-102 has 102; with 17 the "
        "children fit every class and its centroid sits at its one-hot vector)",
        low=2,
        high=120,
    )
    target: str = param(
        "flowers",
        "the children's K-class target (K = its classes; the foundation learns the first K source classes)",
        choices=TARGETS,
    )
    frozen: tuple[int, ...] = param(
        (1, 2, 3, 4, 5),
        "children: numbers of leading blocks frozen while fine-tuning (5 = only the head trains)",
        low=0,
        high=5,
    )
    seeds: tuple[int, ...] = param((0, 1, 2), "seeds of the children (each frozen level and scratch)", low=0)
    starts: tuple[str, ...] = param(
        STARTS, "where stimuli start: uniform noise, or a source image of the class", choices=STARTS
    )
    steps: int = param(60, "gradient-ascent steps per stimulus", low=1, high=10_000)
    step_size: float = param(
        0.02, "size of each signed-gradient step, in pixel units ([0, 1] range)", low=1e-4, high=1.0
    )
    radius: float = param(
        0.25, "L∞ bound of a seeded stimulus around its seed image, in pixel units", low=0.0, high=1.0
    )
    shadows: int = param(
        3,
        "candidate foundations of the probe (candidate 0 is the chapter's foundation), each "
        "with children at every frozen level",
        low=1,
        high=50,
    )
    shadow_data: str = param(
        "disjoint",
        "what the candidates differ in: 'disjoint' (each its own K source classes, "
        "seed 0) or 'same' (the foundation's classes, seeds 0, 1, ...)",
        choices=SHADOW_DATA,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        distinct("frozen", self.frozen)
        distinct("seeds", self.seeds)
        distinct("starts", self.starts)
        n_source = self.n_source()
        k = self.k()
        need = k * (self.shadows if self.shadow_data == "disjoint" else 1)
        if need > n_source:
            raise ParameterError(
                f"the target {self.target!r} has {k} classes, so the foundation"
                + (
                    f" and {self.shadows - 1} candidates with their own classes need {need}"
                    if need > k
                    else f" needs {k}"
                )
                + f" source classes; the source has {n_source}: lower 'shadows' or use "
                "shadow_data 'same'"
            )

    def world_config(self):
        """The chapter's world: the shared one with ``flower_classes`` flower kinds in the target."""
        return super().world_config().replace(flowers_classes=self.flower_classes)

    def n_source(self) -> int:
        """Classes of the source task (on real data from the folder's class list, no image read)."""
        return len(self.world(cache=None).source_class_names())

    def shadow_classes(self, shadow: int) -> tuple[int, ...]:
        """The source classes candidate ``shadow`` learns (candidate 0: the first K)."""
        k = self.k()
        return (
            tuple(range(k * shadow, k * (shadow + 1))) if self.shadow_data == "disjoint" else tuple(range(k))
        )

    def shadow_seed(self, shadow: int) -> int:
        return shadow if self.shadow_data == "same" else 0

    def k(self) -> int:
        """K: the number of target classes (the foundation learns as many source classes)."""
        world = self.world(cache=None)
        if self.data_dir:
            return len(world.target(self.target, "train").classes)
        return len(world.target_classes(self.target))


PROTOCOL = """**Setup** (the strong-stimuli poster). A foundation model is trained on K source classes; its
children are fine-tuned on a K-class target with the first 1–5 blocks frozen (`frozen`), plus a
child trained from scratch, per seed (`seeds`). The target is the flowers task with
`flower_classes` kinds (the poster: 102 foundation classes, Flowers-102; the book's default 34,
with 7 fine classes per source superclass so that each of the three candidate foundations of the
probe has 34 classes of its own). For each source class a *stimulus* is optimised by gradient
ascent on the foundation's class score (`steps`, from noise and from a seed image, `starts`).
Each child answers each stimulus; a stimulus *outperforms* on a child when the child's softmax is
closer to the one-hot vector of the target class with the stimulus' index than the class's
centroid is. A shadow-model probe (`shadows`) asks whether a child's answers identify its
foundation.

**Two readings of "centroid"**, fixed before the run and both reported: *mean output*, the mean
of the child's softmax over the class's training images (the poster's "centroid of that target
class's training outputs"); and *mean image*, the child's softmax on the class's mean training
image. A child that fits its training data puts the first near the one-hot vector whatever the
stimuli do, so the chapter also shows each centroid's distance to one-hot by frozen blocks and
class size: the poster's trends could come from the centroids alone.

**Claims.** The replicate of (a) and (b) is a seed of the children; the foundation is one model,
so their intervals do not hold its variance. The interval of (c) is over the stimuli.
- (a) Each child maps most stimuli to a few labels: the share of stimuli among each fine-tuned
  child's three most frequent labels, mean over the fine-tuned children (mode table).
- (b) More outperforming stimuli the more blocks are frozen, fewest for scratch: per seed, the rank
  correlation between frozen blocks and outperforming stimuli, and the fewest outperforming stimuli
  of a fine-tuned child minus the scratch child's; under each reading (b-output, b-image).
- (c) Consistently outperforming stimuli (on every fine-tuned child) target classes with fewer
  training points (poster: 46.84 vs 102.84): the difference of the mean training sizes; under each
  reading (c-output, c-image)."""

CRITERIA = criteria(
    Criterion(
        "few-labels",
        "share of the stimuli among a child's 3 most frequent labels",
        ">",
        0.5,
        "most of the stimuli: more than half",
    ),
    Criterion("more-when-frozen", "rank correlation of frozen blocks and outperforming stimuli", ">", 0.0),
    Criterion(
        "scratch-fewest", "fewest outperforming stimuli of a fine-tuned child − scratch child's", ">", 0.0
    ),
    Criterion(
        "fewer-points",
        "mean training size of the classes of consistently outperforming stimuli − of the rest",
        "<",
        0.0,
    ),
)

PAPER_NOTE = """The poster's setting: a ResNet-50 foundation on the first 102 ImageNet classes at 224 px, children
on Flowers-102 fine-tuned for 16 epochs (scratch: 32), stimuli optimised for 200 steps, three
seeds, four shadow models. Give `-p data_dir` with `imagenet/` and `flowers102/`; meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the foundation's task (its first K classes, K the target's class count)",
    flowers="the children's task (Flowers-102)",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        "image_size": 12,
        "superclasses": 4,
        "fine_classes": 2,
        "flower_classes": 17,
        "source_per_class": 20,
        "target_per_class": 10,
        "source_epochs": 2,
        "full_epochs": 2,
        "scratch_epochs": 2,
        "frozen": [1, 3, 5],
        "seeds": [0],
        "steps": 5,
        "shadows": 2,
        "shadow_data": "same",
    },
    "default": {},
    "paper": {
        "image_size": 224,
        "source_per_class": 1300,
        "arch": "resnet50",
        "recipes": "thesis",
        "source_epochs": 16,
        "full_epochs": 16,
        "scratch_epochs": 32,
        "seeds": [0, 1, 2],
        "steps": 200,
        "step_size": 0.005,
        "radius": 0.1,
        "shadows": 4,
    },
}


# ---------------------------------------------------------------------------------------------
# jobs


def foundation_job(config: Config, shadow: int = 0) -> SourceJob:
    """The foundation (candidate 0) or another candidate of the probe: ``arch`` trained on the
    candidate's K source classes."""
    world = config.world(cache=None)
    ref = class_subset_ref(world_ref(world, "source"), config.shadow_classes(shadow))
    return SourceJob(config.arch, ref, config.source_recipe(), seed=config.shadow_seed(shadow))


def child_job(config: Config, foundation: SourceJob, frozen: int, seed: int) -> TransferJob:
    """A child: the foundation fine-tuned on the target with its first ``frozen`` blocks frozen."""
    job = config.transfer_job(foundation, config.target, "full", seed)
    return dataclasses.replace(job, mode="partial", frozen_blocks=frozen)


def _jobs(config: Config) -> dict[tuple, object]:
    """Keys: ("foundation", shadow), ("child", shadow, frozen, seed), ("scratch", seed)."""
    jobs: dict[tuple, object] = {}
    for shadow in range(config.shadows):
        f = foundation_job(config, shadow)
        jobs[("foundation", shadow)] = f
        for frozen in config.frozen:
            for seed in config.seeds:
                jobs[("child", shadow, frozen, seed)] = child_job(config, f, frozen, seed)
    for seed in config.seeds:
        jobs[("scratch", seed)] = config.scratch_job(config.target, seed)
    return jobs


# ---------------------------------------------------------------------------------------------
# stimuli


def stimuli(
    model,
    classes: int,
    *,
    start: str = "noise",
    seeds: torch.Tensor | None = None,
    steps: int = 60,
    step_size: float = 0.02,
    radius: float = 0.25,
    size: int = 16,
    mean: float = 0.5,
    std: float = 0.25,
    generator_seed: int = 0,
) -> torch.Tensor:
    """One strong stimulus per class 0..classes-1 of ``model`` (all optimised at once): ``steps``
    signed-gradient ascent steps on the class's logit in pixel space, kept in [0, 1]; from uniform
    noise (``start="noise"``) or from ``seeds`` (one image per class, uint8 or [0, 1]) within an
    L∞ ball of ``radius``. Returns uint8 images (classes, 3, size, size)."""
    device = pick_device()
    model = model.to(device).eval()
    if start == "noise":
        g = torch.Generator().manual_seed(generator_seed)
        x0 = torch.rand(classes, 3, size, size, generator=g)
    elif start == "seed":
        if seeds is None or len(seeds) != classes:
            raise ValueError(f"start='seed' needs one seed image per class ({classes})")
        x0 = seeds.float() / 255 if seeds.dtype == torch.uint8 else seeds.float()
    else:
        raise ValueError(f"unknown start {start!r}; choose one of {STARTS}")
    x0 = x0.to(device)
    x = x0.clone().requires_grad_(True)
    target = torch.arange(classes, device=device)
    for p in model.parameters():
        p.requires_grad_(False)
    for _ in range(steps):
        score = model((x - mean) / std).gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, x)
        with torch.no_grad():
            x += step_size * grad.sign()
            if start == "seed":
                x.copy_(torch.max(torch.min(x, x0 + radius), x0 - radius))
            x.clamp_(0, 1)
    return (x.detach() * 255).round().to(torch.uint8).cpu()


def seed_images(config: Config, shadow: int = 0) -> torch.Tensor:
    """The first source test image of each of a candidate's K classes (candidate 0: the foundation)."""
    test = config.world().source("test")
    return torch.stack([test.x[int((test.y == i).nonzero()[0])] for i in config.shadow_classes(shadow)])


# ---------------------------------------------------------------------------------------------
# evaluation


def softmax_of(model, x: torch.Tensor, classes: tuple[str, ...]) -> np.ndarray:
    data = TensorData(x, torch.zeros(len(x), dtype=torch.long), classes=classes)
    return torch.softmax(predict(model, data), 1).numpy()


# The two readings of the poster's "centroid" of target class i, declared before any run: the mean
# of the child's softmax over class i's training images (the poster's wording, "the centroid of
# that target class's training outputs"), and the child's softmax on class i's mean training image.
READINGS = ("mean output", "mean image")


def distance_column(reading: str) -> str:
    return f"centroid distance ({reading})"


def outperforming_column(reading: str) -> str:
    return f"outperforming ({reading})"


def centroid_distances(model, train: TensorData) -> dict[str, np.ndarray]:
    """Per reading of :data:`READINGS` and target class i: ‖centroid of class i − e_i‖₂."""
    k = len(train.classes)
    y = train.y.numpy()
    eye = np.eye(k)
    p = torch.softmax(predict(model, train), 1).numpy()
    mean_images = torch.stack([train.x[train.y == i].float().mean(0) for i in range(k)])
    q = softmax_of(model, mean_images.round().to(torch.uint8), train.classes)
    return {
        "mean output": np.array([np.linalg.norm(p[y == i].mean(0) - eye[i]) for i in range(k)]),
        "mean image": np.linalg.norm(q - eye, axis=1),
    }


def evaluate(probs: np.ndarray, centroids: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per stimulus i: its distance to e_i, each reading's centroid distance and whether
    the stimulus outperforms it, the predicted label and its probability (the child's confidence)."""
    k = probs.shape[1]
    n = len(probs)
    d = np.linalg.norm(probs - np.eye(k)[:n], axis=1)
    frame = pd.DataFrame({"class": np.arange(n), "distance": d})
    for reading, centroid in centroids.items():
        frame[distance_column(reading)] = centroid[:n]
        frame[outperforming_column(reading)] = d < centroid[:n]
    return frame.assign(predicted=probs.argmax(1), confidence=probs.max(1))


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    source_classes: tuple[str, ...]  # the foundation's K classes
    target_classes: tuple[str, ...]
    train_sizes: np.ndarray  # training images per target class
    stimuli: dict[tuple[int, str], torch.Tensor]  # (shadow, start) -> uint8 (K, 3, H, W)
    table: pd.DataFrame  # shadow (of the stimuli), parent, kind, frozen, seed, start, class, distance, ...
    accuracy: pd.DataFrame  # kind, parent, frozen, seed, child, accuracy, confidence (on the target test set)
    # per reading, child (the foundation's and scratch), seed and target class: the centroid's distance
    # to the class's one-hot vector (what a stimulus must beat), with the class's training size
    centroids: pd.DataFrame  # child, seed, class, reading, distance, train_size

    def main(self) -> pd.DataFrame:
        """The poster's experiment: the foundation's stimuli on its own children and on scratch."""
        t = self.table
        return t[(t.shadow == 0) & ((t.parent == 0) | (t.kind == "scratch"))]


def _child_label(kind: str, frozen: int) -> str:
    return "scratch" if kind == "scratch" else f"{frozen} frozen"


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch) the foundations and children, make the stimuli, show them to every child."""
    world = config.world()
    jobs = _jobs(config)
    entries = dict(zip(jobs, run_jobs(list(jobs.values()), progress=progress)))
    train, test = world.target(config.target, "train"), world.target(config.target, "test")
    made = {}
    for shadow in range(config.shadows):
        foundation = load_model(entries[("foundation", shadow)])
        seeds = seed_images(config, shadow)
        for start in config.starts:
            made[(shadow, start)] = stimuli(
                foundation,
                config.k(),
                start=start,
                seeds=seeds,
                steps=config.steps,
                step_size=config.step_size,
                radius=config.radius,
                size=config.image_size,
                generator_seed=shadow,
            )
    rows, acc, fits = [], [], []
    for key, entry in entries.items():
        if key[0] == "foundation":
            continue
        kind = key[0]
        parent, frozen, seed = (key[1], key[2], key[3]) if kind == "child" else (-1, SCRATCH, key[1])
        model = load_model(entry)
        probs = torch.softmax(predict(model, test), 1)
        acc.append(
            {
                "kind": kind,
                "parent": parent,
                "frozen": frozen,
                "seed": seed,
                "child": _child_label(kind, frozen),
                "accuracy": float((probs.argmax(1) == test.y).float().mean()),
                "confidence": float(probs.max(1).values.mean()),
            }
        )
        centroid = centroid_distances(model, train)
        if parent <= 0:
            fits += [
                {"child": _child_label(kind, frozen), "seed": seed, "class": i, "reading": r, "distance": d}
                for r, ds in centroid.items()
                for i, d in enumerate(ds)
            ]
        for (shadow, start), x in made.items():
            if kind == "scratch" and shadow != 0:
                continue
            ev = evaluate(softmax_of(model, x, train.classes), centroid)
            rows.append(
                ev.assign(
                    shadow=shadow,
                    parent=parent,
                    kind=kind,
                    frozen=frozen,
                    seed=seed,
                    start=start,
                    child=_child_label(kind, frozen),
                )
            )
    sizes = np.bincount(train.y.numpy(), minlength=len(train.classes))
    names = world.source("test").classes
    return Results(
        config,
        tuple(names[i] for i in config.shadow_classes(0)),
        tuple(train.classes),
        sizes,
        made,
        pd.concat(rows, ignore_index=True),
        pd.DataFrame(acc),
        pd.DataFrame(fits).assign(train_size=lambda d: sizes[d["class"].to_numpy()]),
    )


# ---------------------------------------------------------------------------------------------
# the poster's tables


def _order(children) -> list[str]:
    return sorted(set(children), key=lambda c: (c == "scratch", int(c.split()[0]) if c != "scratch" else 0))


def mode_table(results: Results) -> pd.DataFrame:
    """Per child (foundation's children and scratch, over seeds): the most frequent predicted label
    of the stimuli, its frequency, and the share of stimuli among the child's 3 most frequent labels."""
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
                "share in top 3": float(counts.iloc[:3].sum() / len(g)),
            }
        )
    out = pd.DataFrame(rows)
    out["order"] = out.child.map({c: i for i, c in enumerate(_order(out.child))})
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
    out["order"] = out.child.map({c: i for i, c in enumerate(_order(out.child))})
    out = out.sort_values(["reading", "order", "start"], key=_reading_order)
    return out.drop(columns="order").reset_index(drop=True)[
        ["reading", "child", "start", "mean", "std", "min", "max"]
    ]


def _reading_order(col: pd.Series) -> pd.Series:
    return col.map(READINGS.index) if col.name == "reading" else col


def consistent(results: Results, reading: str = READINGS[0]) -> pd.DataFrame:
    """Per stimulus (start, class): the share of the fine-tuned children (every frozen level and
    seed) it outperforms on, by a reading of the centroid; consistently outperforming when it does
    on all of them; with the training size of its target class."""
    fine = results.main()
    fine = fine[fine.kind == "child"]
    column = outperforming_column(reading)
    share = fine.groupby(["start", "class"])[column].mean().rename("share").reset_index()
    share["consistent"] = share["share"] == 1.0
    share["train size"] = results.train_sizes[share["class"].to_numpy()]
    share["target class"] = [results.target_classes[i] for i in share["class"]]
    return share


PROBES = {
    "margin": "the poster's distances: mean centroid distance (mean output) − stimulus distance",
    "confidence": "the child's mean confidence (top softmax probability) on the stimuli, whatever the label",
}


def identification(results: Results) -> pd.DataFrame:
    """The shadow-model probe: for each child of each candidate foundation, the candidate whose
    stimuli it responds to most is taken for its parent, by each statistic of :data:`PROBES`; one
    row per child and statistic with the guess, and whether it is right."""
    t = results.table[results.table.kind == "child"]
    t = t.assign(margin=t[distance_column(READINGS[0])] - t["distance"])
    out = []
    for probe in PROBES:
        fit = t.groupby(["parent", "frozen", "seed", "shadow"])[probe].mean().unstack("shadow")
        guess = fit.idxmax(axis=1).rename("guess").reset_index()
        out.append(guess.assign(probe=probe, right=guess.guess == guess.parent))
    return pd.concat(out, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# claims, text and figures


REPLICATE = "seed (children; one foundation)"
READING_IDS = {"mean output": "output", "mean image": "image"}


def _frozen_claim(results: Results, reading: str) -> Claim:
    """Claim (b) under one reading of the centroid."""
    counts = results.main().groupby(["seed", "child"])[outperforming_column(reading)].sum().unstack("child")
    frozen = [c for c in _order(counts.columns) if c != "scratch"]
    levels = np.array([int(c.split()[0]) for c in frozen])
    # per seed; equal counts at every level have no ordering: correlation 0
    rho = counts.apply(lambda row: spearman(levels, row[frozen].to_numpy(dtype=float)), axis=1).fillna(0.0)
    if "scratch" in counts:
        fewest = Estimate.t(
            CRITERIA["scratch-fewest"], counts[frozen].min(axis=1) - counts["scratch"], REPLICATE, "scratch"
        )
    else:
        fewest = Estimate.not_measured(CRITERIA["scratch-fewest"], "no scratch child", "scratch")
    return Claim(
        f"b-{READING_IDS[reading]}",
        f"More outperforming stimuli the more blocks are frozen; fewest for scratch (centroid: {reading})",
        SOURCE,
        (Estimate.t(CRITERIA["more-when-frozen"], rho, REPLICATE, "frozen blocks"), fewest),
        note=f"Outperforming stimuli of {len(results.source_classes)} per start, per child (mean over seeds, "
        "starts summed): " + ", ".join(f"{c}: {counts[c].mean():.1f}" for c in counts.columns) + ".",
    )


def _sizes_claim(results: Results, reading: str) -> Claim:
    """Claim (c) under one reading of the centroid."""
    cons = consistent(results, reading)
    sizes = [
        cons[cons.consistent]["train size"].to_numpy(float),
        cons[~cons.consistent]["train size"].to_numpy(float),
    ]
    if min(len(sizes[0]), len(sizes[1])) >= 2:
        test = stats.ttest_ind(*sizes, equal_var=False)
        ci = test.confidence_interval(LEVEL)
        smaller = Estimate.interval(
            CRITERIA["fewer-points"],
            sizes[0].mean() - sizes[1].mean(),
            ci.low,
            ci.high,
            len(cons),
            "stimulus",
            "Welch's t over stimuli",
        )
    else:
        smaller = Estimate.not_measured(
            CRITERIA["fewer-points"],
            f"{len(sizes[0])} consistently outperforming stimuli of {len(cons)}: too few to compare",
        )
    mean = [f"{v.mean():.1f}" if len(v) else "–" for v in sizes]
    return Claim(
        f"c-{READING_IDS[reading]}",
        f"Consistently outperforming stimuli target classes with fewer training points (centroid: {reading})",
        SOURCE + " (46.84 vs 102.84 mean)",
        (smaller,),
        note=f"{len(sizes[0])} of {len(cons)} stimuli outperform on every fine-tuned child; their "
        f"classes' mean training size {mean[0]} against {mean[1]} for the rest.",
    )


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of the strong-stimuli poster, measured in this run, (b) and (c) under each
    reading of the centroid (:data:`READINGS`). The replicate of (a) and (b) is a seed of the
    children (the foundation is one model); that of (c) a stimulus."""
    modes = mode_table(results)
    fine = modes[modes.child != "scratch"]
    k = len(results.target_classes)
    return ClaimsTable(
        "stimuli",
        [
            Claim(
                "a",
                "Each child maps most stimuli to a few labels",
                SOURCE + " (mode table)",
                (
                    Estimate.t(
                        CRITERIA["few-labels"], fine.groupby("seed")["share in top 3"].mean(), REPLICATE
                    ),
                ),
                note=f"A uniform spread over the {k} classes would give {3 / k:.2f}; the most frequent label "
                f"takes {float((fine.frequency / fine.stimuli).mean()):.2f} of the stimuli.",
            ),
            *(_frozen_claim(results, r) for r in READINGS),
            *(_sizes_claim(results, r) for r in READINGS),
        ],
    )


def summary_text(results: Results) -> str:
    c = results.config
    acc = results.accuracy
    main = acc[(acc.parent <= 0)].groupby("child").accuracy.mean()
    ident = identification(results).groupby("probe").right.mean()
    return (
        f"A {c.arch} foundation on the first {c.k()} source classes; children fine-tuned on {c.target} "
        f"({len(results.target_classes)} classes, {results.train_sizes.min()}–{results.train_sizes.max()} "
        f"training images per class) reach "
        + ", ".join(f"{ch} {main[ch]:.0%}" for ch in _order(main.index))
        + " test accuracy. "
        f"The shadow-model probe names the right parent of {ident['margin']:.0%} of the children by the "
        f"poster's distances and {ident['confidence']:.0%} by the children's confidence (chance {1 / c.shadows:.0%})."
    )


def responses(results: Results) -> pd.DataFrame:
    """Per child (mean over seeds): its confidence (top softmax probability) on the foundation's
    stimuli, whatever label it gives them, beside its confidence on the target's own test images."""
    main = results.main()
    conf = main.groupby(["child", "seed"]).confidence.mean().groupby("child").agg(["mean", "std"])
    conf.columns = ["on stimuli", "spread"]
    own = results.accuracy.groupby("child")["confidence"].mean().rename("on target test images")
    out = conf.join(own)
    return out.loc[_order(out.index)]


def findings_text(results: Results) -> str:
    """What this run found, in words that follow the numbers."""
    modes = mode_table(results)
    fine = modes[modes.child != "scratch"]
    scratch = modes[modes.child == "scratch"]
    out = outperforming(results).groupby(["reading", "child"])["mean"].sum()
    order = _order(out.index.get_level_values("child"))
    ident = identification(results)
    overall = ident.groupby("probe").right.mean()
    lines = [
        f"- **Modes**: on average {fine['share in top 3'].mean():.0%} of a fine-tuned child's stimuli fall on its "
        f"three most frequent labels"
        + (f" ({scratch['share in top 3'].mean():.0%} for scratch)." if len(scratch) else ".")
    ]
    fit = results.centroids.groupby(["reading", "child"]).distance.mean()
    for reading in READINGS:
        lines.append(
            f"- **Outperforming stimuli, centroid = {reading}**, per child (of {2 * len(results.source_classes)}: "
            "both starts, mean over seeds): "
            + ", ".join(f"{c} {out[(reading, c)]:.1f}" for c in order)
            + "; the centroids' mean distance to their one-hot vectors: "
            + ", ".join(f"{c} {fit[(reading, c)]:.2f}" for c in order)
            + "."
        )
    resp = responses(results)
    lines.append(
        "- **Confidence on the stimuli** (whatever the label): "
        + ", ".join(f"{c} {v:.2f}" for c, v in resp["on stimuli"].items())
        + "; on the target's own test images: "
        + ", ".join(f"{c} {v:.2f}" for c, v in resp["on target test images"].items())
        + "."
    )
    for reading in READINGS:
        cons = consistent(results, reading)
        if cons.consistent.any():
            lines.append(
                f"- **Consistently outperforming** stimuli (centroid = {reading}): {int(cons.consistent.sum())} "
                f"of {len(cons)}, whose target classes have {cons[cons.consistent]['train size'].mean():.1f} "
                f"training images on average against {cons[~cons.consistent]['train size'].mean():.1f} for "
                "the rest."
            )
        else:
            lines.append(
                f"- **No stimulus outperforms on every fine-tuned child** (centroid = {reading}), so the "
                "poster's third comparison has nothing to compare under that reading."
            )
    lines.append(
        f"- **The probe** names the right parent of {overall['margin']:.0%} of the children by the poster's "
        f"distances and of {overall['confidence']:.0%} by the children's confidence on the stimuli (chance "
        f"{1 / results.config.shadows:.0%})."
    )
    return "\n".join(lines)


def figure_stimuli(results: Results, n: int = 8):
    """The foundation's stimuli per start, beside the seed images, for the first ``n`` classes."""
    rows, titles = [], []
    k = min(n, len(results.source_classes))
    seeds = seed_images(results.config)[:k]
    rows.append(seeds)
    titles += [f"seed: {c}" for c in results.source_classes[:k]]
    for start in results.config.starts:
        rows.append(results.stimuli[(0, start)][:k])
        titles += [f"from {start}"] * k
    return plots.image_grid(torch.cat(rows), titles, ncols=k, size=0.9)


def figure_outperforming(results: Results):
    """Outperforming stimuli against the child (frozen blocks; scratch last), per start; one panel
    per reading of the centroid."""
    out = outperforming(results)
    order = _order(out.child)
    fig, axes = plots.panels(len(READINGS), width=4.2, height=3.0, sharey=True)
    for ax, reading in zip(axes, READINGS):
        for i, (start, g) in enumerate(out[out.reading == reading].groupby("start")):
            g = g.set_index("child").reindex(order)
            ax.bar(
                np.arange(len(order)) + (i - 0.5) * 0.38,
                g["mean"],
                0.38,
                yerr=g["std"].fillna(0),
                capsize=2,
                label=f"from {start}",
            )
        ax.set_xticks(np.arange(len(order)), [c.replace(" frozen", "") for c in order], fontsize=8)
        ax.set(xlabel="child: frozen blocks, or scratch", title=f"centroid: {reading}")
    axes[0].set(ylabel=f"outperforming stimuli (of {len(results.source_classes)})")
    axes[0].legend(fontsize=7)
    return fig


def figure_centroids(results: Results):
    """The centroid's distance to its one-hot vector against the class's training size, per child
    (frozen blocks; scratch), mean over seeds; one panel per reading of the centroid. A stimulus
    outperforms when it gets closer than this: the lower the point, the harder."""
    fit = results.centroids.groupby(["reading", "child", "class", "train_size"]).distance.mean().reset_index()
    order = _order(fit.child)
    fig, axes = plots.panels(len(READINGS), width=4.2, height=3.0, sharey=True)
    for ax, reading in zip(axes, READINGS):
        for child in order:
            g = fit[(fit.reading == reading) & (fit.child == child)]
            ax.scatter(g.train_size, g.distance, s=10, alpha=0.7, label=child)
        ax.set(xlabel="training images of the target class", title=f"centroid: {reading}")
    axes[0].set(ylabel="‖centroid − one-hot‖₂", ylim=(0, 1.45))
    axes[-1].legend(fontsize=7)
    return fig


def figure_responses(results: Results):
    """Per child: its confidence on the foundation's stimuli (any label) beside its confidence on
    the target's own test images."""
    resp = responses(results)
    fig, ax = plots.panels(1, width=5.5, height=3.0)
    ax = ax[0]
    x = np.arange(len(resp))
    ax.bar(x - 0.2, resp["on stimuli"], 0.4, yerr=resp["spread"].fillna(0), capsize=2, label="on the stimuli")
    ax.bar(x + 0.2, resp["on target test images"], 0.4, label="on its own test images")
    ax.set_xticks(x, resp.index)
    ax.set(ylabel="mean top softmax probability", xlabel="child", ylim=(0, 1))
    ax.legend(fontsize=7)
    return fig


def figure_sizes(results: Results):
    """Training size of each target class against how often its stimulus outperforms; one panel per
    reading of the centroid."""
    fig, axes = plots.panels(len(READINGS), width=4.2, height=3.0, sharey=True)
    for ax, reading in zip(axes, READINGS):
        for start, g in consistent(results, reading).groupby("start"):
            ax.scatter(g["train size"], g["share"], label=f"from {start}", alpha=0.8)
        ax.set(xlabel="training images of the target class", title=f"centroid: {reading}")
    axes[0].set(ylabel="share of fine-tuned children outperformed")
    axes[0].legend(fontsize=7)
    return fig


def figure_identification(results: Results):
    """Identification accuracy of the shadow-model probe against the child's frozen blocks, per statistic."""
    ident = identification(results)
    fig, ax = plots.panels(1, width=4.5, height=3.0)
    ax = ax[0]
    for probe, g in ident.groupby("probe"):
        acc = g.groupby("frozen").right.mean()
        ax.plot(acc.index, acc.values, marker="o", label=f"by {probe}")
    ax.axhline(1 / results.config.shadows, color="grey", ls=":", label="chance")
    ax.set(
        xlabel="blocks frozen in the child",
        ylabel="parent identified",
        ylim=(-0.05, 1.05),
        xticks=sorted(ident.frozen.unique()),
    )
    ax.legend(fontsize=7)
    return fig
