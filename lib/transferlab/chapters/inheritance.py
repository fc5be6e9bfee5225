"""Chapter "Defect inheritance and ReMoS" (the ReMoS paper, §3–§5).

A teacher (the world's clean source model, shared with chapter 0) and two backdoored copies of it
(BadNets: a patch on some source images relabelled to one class; latent: triggered inputs pulled
towards the penultimate features of a class only the student task has) pass their defects to
students trained on a target by seven methods (:mod:`transferlab.methods.slicing`). Each defect's
malicious set is made from the teacher alone, on the student's test images
(:mod:`transferlab.methods.defects`); DIR is the share of the student's correct answers that the
malicious version turns wrong (for the latent backdoor: into the target class).

Teachers, DELTA's channel attentions and students are jobs of the engine (:class:`TeacherJob`,
:class:`AttentionJob`, :class:`StudentJob`): made once by :func:`~transferlab.run.run_jobs`, in
worker processes or on Dask like every other model, and kept in the store (a student's key holds
its teacher's whole description, so a changed teacher recipe retrains its students).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from ..methods import defects as dfx
from ..methods.slicing import DELTA_METHODS, METHODS, SLICING_SCOPES, channel_attention, train_student
from ..params import ParameterError, distinct, param
from ..run import Job, SourceJob, load_model, made, model_payload, run_jobs
from ..train import Recipe, fit, predict
from ..utils import progress as progress_bar
from ..world import TARGETS, DataRef, TensorData
from . import plots
from .base import SMOKE_WORLD, WorldParams, world_ref
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts

SOURCE = "ReMoS (Zhang et al., ICSE 2022)"
ADVERSARIAL = ("penultimate", "nc", "tknc", "snac")
BACKDOORS = ("badnets", "latent")
DEFECTS = ADVERSARIAL + BACKDOORS
TEACHER_OF = {**{d: "clean" for d in ADVERSARIAL}, "badnets": "badnets", "latent": "latent"}
LATENT_REVISION = 2  # bump when the latent backdoor's loss changes (it enters the teacher's store key)


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter (the world and teacher parameters come first)."""

    full_epochs: int = param(6, "epochs of the students that start from the teacher", low=1, high=1000)
    scratch_epochs: int = param(8, "epochs of the students that start from scratch", low=1, high=1000)
    targets: tuple[str, ...] = param(("pets",), "student tasks", choices=TARGETS)
    methods: tuple[str, ...] = param(METHODS, "ways to train a student", choices=METHODS)
    defects: tuple[str, ...] = param(
        DEFECTS,
        "teacher defects: penultimate-layer adversarial examples, "
        "coverage-guided fuzzing (nc, tknc, snac), BadNets and latent backdoors",
        choices=DEFECTS,
    )
    seeds: tuple[int, ...] = param((0, 1, 2), "seeds of every student", low=0)
    ratio: float = param(
        0.1,
        "ReMoS: share of the teacher's conv weights zeroed, against adversarial defects",
        low=0.0,
        high=0.95,
    )
    backdoor_ratio: float = param(
        0.03, "ReMoS: the same against backdoors (the artifact's settings)", low=0.0, high=0.95
    )
    ratios: tuple[float, ...] = param(
        (0.03, 0.1, 0.3), "ReMoS ratios of the ACC–DIR curve (first seed and target)", low=0.0, high=0.95
    )
    threshold: float = param(
        0.5, "ReMoS: coverage threshold on min-max-scaled channel activations", low=0.0, high=1.0
    )
    remos_scope: str = param(
        "model",
        "ReMoS: weights ranked and cut over the whole model (the paper's and its artifact's) "
        "or within each conv layer ('layer')",
        choices=SLICING_SCOPES,
    )
    prune_ratio: float = param(
        0.5, "magnitude pruning: share of each conv layer's weights pruned", low=0.0, high=0.95
    )
    eps: float = param(
        0.0226,
        "L∞ budget of the adversarial and fuzzing inputs, in pixel units (the artifact's 0.1 in "
        "ImageNet-normalised units, whose standard deviation is 0.226)",
        low=0.0,
        high=1.0,
    )
    attack_steps: int = param(
        40, "sign-gradient steps (of eps/10) of the adversarial and fuzzing inputs", low=1, high=1000
    )
    poison_fraction: float = param(0.1, "BadNets: share of the source images poisoned", low=0.001, high=0.5)
    poison_class: str = param("tennis ball", "BadNets: the source class poisoned images are relabelled to")
    trigger_size: int = param(3, "side of the backdoors' magenta patch in pixels", low=1, high=32)
    backdoor_epochs: int = param(
        2, "epochs of training that plant a backdoor in the clean teacher", low=1, high=100
    )
    latent_weight: float = param(
        0.3,
        "latent backdoor: weight of the feature-matching loss (mean squared "
        "difference of penultimate features)",
        low=0.0,
        high=100.0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("targets", "methods", "defects", "seeds", "ratios"):
            distinct(name, getattr(self, name))
        if "finetune" not in self.methods:
            raise ParameterError("parameter 'methods' needs 'finetune': rACC and rDIR are relative to it")
        if self.trigger_size >= self.image_size - 2:
            raise ParameterError(
                f"'trigger_size' {self.trigger_size} does not fit {self.image_size}-pixel images"
            )


PROTOCOL = """**Setup** (the ReMoS paper, §3–§5). The teacher is chapter 0's source model; two backdoored copies
are trained on from it for `backdoor_epochs`: BadNets (`poison_fraction` of the source images
patched and relabelled to `poison_class`) and a latent backdoor (triggered inputs pulled towards the
penultimate features of a class only the student task has). Students are trained on each target of
`targets` by seven methods (`methods`): fine-tuning, retraining from scratch, magnitude pruning,
DELTA, DELTA-R, Renofeation and ReMoS, per seed (`seeds`). ReMoS (§4) ranks every conv weight of
the teacher by its ordinal score, the rank of its coverage (how often, over the student's training
images, the channels it connects are active above `threshold`) minus the rank of its magnitude,
over the whole model (`remos_scope`; ties share their average rank), and sets the lowest `ratio`
(against adversarial defects; `backdoor_ratio` against backdoors) to zero once, as the paper's
artifact does, before every weight fine-tunes. Each defect's malicious set is made from the
teacher alone on the student's test images: penultimate-layer adversarial examples and
neuron-coverage-guided fuzzing (NC, TKNC, SNAC) under an L∞ budget `eps` with `attack_steps`
sign-gradient steps of `eps`/10 from a random start (the artifact's PGD: 0.1 in ImageNet-normalised
units, 40 steps of 0.01), and the backdoors' trigger.

**Where this chapter deviates from the paper and its artifact** (each a question of budget on a
2-core CPU, to be closed): the students fine-tune with the book's recipe for a few epochs (tens of
SGD steps at learning rate 0.05 with momentum), where the artifact fine-tunes for 10,000–30,000
iterations at 0.005 without momentum, so ReMoS has little time to relearn what it zeroed; the
BadNets teacher is poisoned on the source towards a class the student lacks, where the artifact
poisons the teacher on the student's own data; the fuzzing follows one strategy (DLFuzz-style) of
the paper's several; and the teacher is a compact ResNet (0.3 M conv weights), far smaller than
the paper's ResNet-18/50, so it holds fewer weights a student does not need.

**Measured.** ACC on the clean test set; DIR, the share of the student's correct answers its
malicious version turns wrong (for the latent backdoor: into its target class); rACC and rDIR,
relative to fine-tuning.

**Claims** (§5.2). The replicate is a seed of the students; each teacher is one draw, so the
intervals do not hold the teachers' variance.
- (a) Fine-tuned students inherit the defects, retrained ones do not: DIR(fine-tuning) −
  DIR(retraining), for every defect.
- (b) ReMoS cuts DIR well below fine-tuning at a small accuracy cost: its rDIR and its accuracy
  below fine-tuning, means over the defects.
- (c) ReMoS has a better ACC–DIR trade-off than the baselines: the share of the defects on which it
  is on the Pareto front (no method has both higher accuracy and lower DIR)."""

CRITERIA = criteria(
    Criterion(
        "inherits",
        "DIR(fine-tuning) − DIR(retraining from scratch)",
        ">",
        0.05,
        "five points of defect inheritance rate: more than the noise of retrained students",
    ),
    Criterion(
        "rdir",
        "rDIR of ReMoS (its DIR / fine-tuning's)",
        "<",
        0.75,
        "'well below': a quarter of the inherited defects removed",
    ),
    Criterion(
        "accuracy-cost",
        "accuracy(fine-tuning) − accuracy(ReMoS)",
        "<",
        0.05,
        "'a small cost': five points of accuracy",
    ),
    Criterion(
        "on-front", "share of the defects with ReMoS on the ACC–DIR Pareto front", ">", 0.5, "most defects"
    ),
)

PAPER_NOTE = """The paper's setting (ReMoS) on real data: ResNet-18 teachers at 224 px, students fine-tuned for
30 epochs (retrained: 60), on Flowers-102 and pets, three seeds, PGD with 20 steps at ε = 0.03
and a 24-pixel trigger. Add `-p data_dir` and name a class of your source as `poison_class`.
Meant for a GPU."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the teachers' source task (`poison_class` must be one of its classes)",
    flowers="a student target",
    pets="a student target",
)


PRESETS: dict[str, dict] = {
    "smoke": {
        **SMOKE_WORLD,
        "seeds": [0],
        "ratios": [0.03, 0.3],
        "attack_steps": 3,
        "trigger_size": 2,
        "backdoor_epochs": 1,
    },
    "default": {},
    "paper": {
        "image_size": 224,
        "source_per_class": 1300,
        "target_per_class": 500,
        "arch": "resnet18",
        "recipes": "thesis",
        "source_epochs": 16,
        "full_epochs": 30,
        "scratch_epochs": 60,
        "targets": ["flowers", "pets"],
        "seeds": [0, 1, 2],
        "trigger_size": 24,
    },
}


# ---------------------------------------------------------------------------------------------
# teachers and students: jobs of the engine, kept in the store


@dataclasses.dataclass(frozen=True)
class TeacherJob(Job):
    """A backdoored copy of the clean teacher, trained on for a few epochs: BadNets (on ``data``,
    the poisoned source) or latent (on ``data``, the clean source, with the latent-backdoor loss
    towards the mean penultimate features of class 0 of ``target``, a class the teacher lacks)."""

    kind: str  # "badnets" or "latent"
    clean: SourceJob
    data: DataRef
    recipe: Recipe
    trigger_size: int
    target: DataRef | None = None
    weight: float = 0.0

    def spec(self) -> dict[str, Any]:
        base = {
            "arch": self.clean.arch,
            "clean": self.clean.spec(),
            "recipe": dataclasses.asdict(self.recipe),
            "trigger_size": self.trigger_size,
            "data": self.data.spec(),
        }
        if self.kind == "badnets":
            return {**base, "job": "teacher-badnets"}
        return {
            **base,
            "job": "teacher-latent",
            "target": self.target.spec(),
            "revision": LATENT_REVISION,
            "latent_class": 0,
            "weight": self.weight,
        }

    def requires(self) -> tuple[Job, ...]:
        return (self.clean,)

    def make(self, store, speed) -> dict[str, Any]:
        clean = load_model(made(self.clean, store, speed))
        model = copy.deepcopy(clean)
        if self.kind == "badnets":
            fit(model, self.data.load(), self.recipe, seed=1, speed=speed)
        else:
            train = self.target.load()
            with torch.no_grad():
                own = train.subset((train.y == 0).nonzero().flatten())
                x, _ = next(own.batches(len(own), shuffle=False))
                mu = clean.eval().features(x).mean(0)
            fit(
                model,
                self.data.load(),
                self.recipe,
                seed=2,
                speed=speed,
                regularizer=dfx.latent_loss(mu, self.trigger_size, self.weight),
            )
        return model_payload(model, self.clean.arch)


@dataclasses.dataclass(frozen=True)
class AttentionJob(Job):
    """DELTA's channel attention of a teacher on a student's training data (one per teacher and
    target, shared by all the DELTA and DELTA-R students)."""

    teacher: Job
    data: DataRef

    def spec(self) -> dict[str, Any]:
        return {"job": "delta-attention", "teacher": self.teacher.spec(), "data": self.data.spec()}

    def requires(self) -> tuple[Job, ...]:
        return (self.teacher,)

    def make(self, store, speed) -> dict[str, Any]:
        teacher = load_model(made(self.teacher, store, speed))
        attention = channel_attention(teacher, self.data.load())
        return {"tensors": {"attention": {str(i): a for i, a in enumerate(attention)}}}

    def load(self, store) -> list[torch.Tensor]:
        """The attention, block by block, from the store."""
        stored = store.get(self.spec()).tensors("attention")
        return [stored[str(i)] for i in range(len(stored))]


@dataclasses.dataclass(frozen=True)
class StudentJob(Job):
    """A student of ``teacher`` on ``data`` by ``method``; a retrained student has no teacher (None),
    so it is one store entry for every teacher."""

    method: str
    teacher: Job | None
    arch: str
    data: DataRef
    seed: int
    settings: tuple[tuple[str, float], ...]
    recipe: Recipe
    scratch_recipe: Recipe
    attention: AttentionJob | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "job": "student",
            "arch": self.arch,
            "teacher": self.teacher.spec() if self.teacher else "none",
            "data": self.data.spec(),
            "method": self.method,
            "seed": self.seed,
            "settings": dict(self.settings),
            "recipe": dataclasses.asdict(self.recipe),
            "scratch_recipe": dataclasses.asdict(self.scratch_recipe),
        }

    def requires(self) -> tuple[Job, ...]:
        return tuple(j for j in (self.teacher, self.attention) if j is not None)

    def make(self, store, speed) -> dict[str, Any]:
        teacher = load_model(made(self.teacher, store, speed)) if self.teacher else None
        attention = None
        if self.attention is not None:
            made(self.attention, store, speed)
            attention = self.attention.load(store)
        model = train_student(
            self.method,
            teacher,
            self.arch,
            self.data.load(),
            self.recipe,
            seed=self.seed,
            scratch_recipe=self.scratch_recipe,
            attention=attention,
            **dict(self.settings),
        )
        return model_payload(model, self.arch)


def _backdoor_recipe(config: Config) -> Recipe:
    """A few more epochs on top of the clean teacher, at a quarter of the source learning rate."""
    r = config.source_recipe()
    return r.replace(epochs=config.backdoor_epochs, peak_epoch=0.0, lr=r.lr / 4)


def teacher_job(config: Config, key) -> Job:
    """The teacher ``key``: "clean" (chapter 0's source model), "badnets" or ("latent", target)."""
    clean = config.source_job()
    if key == "clean":
        return clean
    world = config.world(cache=None)
    source = world_ref(world, "source")
    if key == "badnets":
        data = DataRef.of(
            "defects.badnets_source",
            base=source,
            fraction=config.poison_fraction,
            poison_class=config.poison_class,
            trigger_size=config.trigger_size,
        )
        return TeacherJob("badnets", clean, data, _backdoor_recipe(config), config.trigger_size)
    return TeacherJob(
        "latent",
        clean,
        source,
        _backdoor_recipe(config),
        config.trigger_size,
        target=world_ref(world, key[1]),
        weight=config.latent_weight,
    )


def teachers(config: Config, progress: bool = True) -> dict[Any, Any]:
    """The clean teacher and, for the backdoor defects chosen, its backdoored copies (from the store)."""
    keys = (
        ["clean"]
        + ["badnets"] * ("badnets" in config.defects)
        + [("latent", t) for t in config.targets if "latent" in config.defects]
    )
    entries = run_jobs([teacher_job(config, k) for k in keys], progress=progress)
    return {k: load_model(e) for k, e in zip(keys, entries)}


class StudentKey(NamedTuple):
    """What a student of the chapter is: its target, teacher, method, seed and ReMoS ratio (None: the
    ratio the teacher's defect kind uses)."""

    target: str
    teacher: Any  # "clean", "badnets" or ("latent", target)
    method: str
    seed: int
    ratio: float | None = None


def student_job(config: Config, key: StudentKey) -> StudentJob:
    """The job of the student ``key``."""
    world = config.world(cache=None)
    kind = key.teacher if isinstance(key.teacher, str) else key.teacher[0]
    r = key.ratio if key.ratio is not None else (config.backdoor_ratio if kind in BACKDOORS else config.ratio)
    settings = (
        {"ratio": r, "threshold": config.threshold, "scope": config.remos_scope}
        if key.method == "remos"
        else ({"prune_ratio": config.prune_ratio} if key.method == "magprune" else {})
    )
    data = world_ref(world, key.target)
    teacher = None if key.method == "retrain" else teacher_job(config, key.teacher)
    attention = AttentionJob(teacher, data) if key.method in DELTA_METHODS else None
    return StudentJob(
        key.method,
        teacher,
        config.arch,
        data,
        key.seed,
        tuple(sorted(settings.items())),
        config.transfer_recipe("full"),
        config.recipe("scratch", config.scratch_epochs),
        attention,
    )


# ---------------------------------------------------------------------------------------------
# run


def malicious_sets(config: Config, teachers_: dict, target: str) -> dict[str, tuple[TensorData, int | None]]:
    """Per defect: (malicious version of the target's test set, the targeted class or None)."""
    world = config.world()
    test, train = world.target(target, "test"), world.target(target, "train")
    clean = teachers_["clean"]
    out = {}
    kw = {"eps": config.eps, "steps": config.attack_steps, "step_size": config.eps / 10}  # the artifact's
    if "penultimate" in config.defects:
        out["penultimate"] = (dfx.penultimate_attack(clean, test, **kw), None)
    crit = [d for d in config.defects if d in dfx.CRITERIA]
    if crit:
        profile = dfx.activation_profile(clean, train)
        for c in crit:
            out[c] = (dfx.coverage_fuzz(clean, test, c, profile, threshold=config.threshold, **kw), None)
    if any(d in BACKDOORS for d in config.defects):
        trig = dfx.triggered(test, config.trigger_size)
        if "badnets" in config.defects:
            out["badnets"] = (trig, None)
        if "latent" in config.defects:
            out["latent"] = (trig, 0)
    return out


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    table: pd.DataFrame  # defect, target, method, seed, accuracy, dir
    curve: pd.DataFrame  # defect, ratio, accuracy, dir (ReMoS, first seed and target)
    teacher_accuracy: dict[str, float]


def _teacher_name(key) -> str:
    """'clean', 'badnets', or 'latent-backdoor (for <target>)'."""
    return key if isinstance(key, str) else f"latent-backdoor (for {key[1]})"


def _teacher_key(defect: str, target: str):
    kind = TEACHER_OF[defect]
    return (kind, target) if kind == "latent" else kind


def run(config: Config, progress: bool = True) -> Results:
    """Teachers, malicious sets, every student by every method, and the ReMoS ratio sweep."""
    tea = teachers(config, progress)
    world = config.world()
    rows, curve = [], []
    src_test = world.source("test")
    tacc = {
        _teacher_name(k): float((predict(m, src_test).argmax(1) == src_test.y).float().mean())
        for k, m in tea.items()
    }
    if "badnets" in tea:  # did the backdoor take? triggered source test images sent to the poison class
        aim = src_test.classes.index(config.poison_class)
        others = src_test.subset((src_test.y != aim).nonzero().flatten())
        hit = predict(tea["badnets"], dfx.triggered(others, config.trigger_size)).argmax(1) == aim
        tacc["badnets attack success"] = float(hit.float().mean())
    todo = [
        (t, d, m, s)
        for t in config.targets
        for d in config.defects
        for m in config.methods
        for s in config.seeds
    ]
    sweep = [(config.targets[0], d, r) for d in config.defects for r in config.ratios]
    keys = [StudentKey(t, _teacher_key(d, t), m, s) for t, d, m, s in todo] + [
        StudentKey(t, _teacher_key(d, t), "remos", config.seeds[0], r) for t, d, r in sweep
    ]
    jobs = {k: student_job(config, k) for k in keys}
    entries = dict(zip(jobs, run_jobs(list(jobs.values()), progress=progress)))
    for target in config.targets:
        mal = malicious_sets(config, tea, target)
        test = world.target(target, "test")
        models = {k: load_model(e) for k, e in entries.items() if k.target == target}
        accuracy = {
            k: float((predict(m, test).argmax(1) == test.y).float().mean()) for k, m in models.items()
        }
        for t, d, m, s in progress_bar([x for x in todo if x[0] == target], "students", progress):
            key = StudentKey(t, _teacher_key(d, t), m, s)
            dir_ = dfx.inheritance_rate(models[key], test, *mal[d])
            rows.append(
                {"defect": d, "target": t, "method": m, "seed": s, "accuracy": accuracy[key], "dir": dir_}
            )
        for t, d, r in progress_bar([x for x in sweep if x[0] == target], "ReMoS ratios", progress):
            key = StudentKey(t, _teacher_key(d, t), "remos", config.seeds[0], r)
            dir_ = dfx.inheritance_rate(models[key], test, *mal[d])
            curve.append({"defect": d, "target": t, "ratio": r, "accuracy": accuracy[key], "dir": dir_})
    return Results(config, pd.DataFrame(rows), pd.DataFrame(curve), tacc)


# ---------------------------------------------------------------------------------------------
# tables, claims, figures


def summary(results: Results, by_target: bool = False) -> pd.DataFrame:
    """Methods × defects (× targets with ``by_target``): mean ACC and DIR over seeds (and targets)
    with their spreads, and rACC and rDIR against fine-tuning (per target and seed, then averaged)."""
    t = results.table
    ft = t[t.method == "finetune"][["defect", "target", "seed", "accuracy", "dir"]]
    rel = t.merge(ft, on=["defect", "target", "seed"], how="left", suffixes=("", "_ft"))
    rel["racc"] = rel.accuracy / rel.accuracy_ft
    rel["rdir"] = rel.dir / rel.dir_ft.where(rel.dir_ft > 0)
    keys = ["defect", "target", "method"] if by_target else ["defect", "method"]
    out = (
        rel.groupby(keys)
        .agg(
            accuracy=("accuracy", "mean"),
            acc_std=("accuracy", "std"),
            dir=("dir", "mean"),
            dir_std=("dir", "std"),
            racc=("racc", "mean"),
            rdir=("rdir", "mean"),
        )
        .reset_index()
    )
    out["defect"] = pd.Categorical(out.defect, [d for d in DEFECTS if d in set(out.defect)], ordered=True)
    out["method"] = pd.Categorical(out.method, [m for m in METHODS if m in set(out.method)], ordered=True)
    return out.sort_values(keys).reset_index(drop=True)


def on_front(methods: pd.DataFrame) -> pd.Series:
    """Per method (rows: mean ``accuracy`` and ``dir``): whether no other method has both a higher
    accuracy and a lower DIR (the ACC–DIR Pareto front)."""
    acc, dir_ = methods.accuracy.to_numpy(), methods.dir.to_numpy()
    better = (acc[None, :] >= acc[:, None]) & (dir_[None, :] <= dir_[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (dir_[None, :] < dir_[:, None])
    return pd.Series(~(better & strictly).any(axis=1), index=methods.index)


def pareto(results: Results) -> pd.DataFrame:
    """Per defect: the methods no other method beats on both mean ACC (higher) and DIR (lower)."""
    s = summary(results)
    fronts = [
        on_front(g.set_index("method")).rename("on the front").reset_index().assign(defect=defect)
        for defect, g in s.groupby("defect", observed=True)
    ]
    return pd.concat(fronts, ignore_index=True)[["defect", "method", "on the front"]]


def front_share(table: pd.DataFrame, method: str = "remos") -> float:
    """Share of the defects on which ``method`` is on the ACC–DIR Pareto front of ``table`` (means
    over the rows of each method)."""
    on = [
        on_front(g.groupby("method")[["accuracy", "dir"]].mean()).get(method)
        for _, g in table.groupby("defect")
    ]
    on = [x for x in on if x is not None]
    return float(np.mean(on)) if on else float("nan")


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(c) of the ReMoS paper, §5, measured in this run. The replicate is a seed of the
    students (the teachers are one draw each): per seed, means over the targets."""
    t = results.table
    per = t.groupby(["defect", "method", "seed"])[["accuracy", "dir"]].mean()
    defects = list(dict.fromkeys(t.defect))
    methods = set(t.method)
    replicate = "seed (students; one teacher per defect)"

    def of(defect: str, method: str, column: str) -> pd.Series:
        return per.loc[(defect, method), column]

    inherit = tuple(
        Estimate.t(CRITERIA["inherits"], of(d, "finetune", "dir") - of(d, "retrain", "dir"), replicate, d)
        if "retrain" in methods
        else Estimate.not_measured(CRITERIA["inherits"], "no retrained students", d)
        for d in defects
    )
    if "remos" in methods:
        ft = t[t.method == "finetune"].set_index(["defect", "target", "seed"])
        rm = t[t.method == "remos"].set_index(["defect", "target", "seed"])
        rdir = (
            (rm.dir / ft.dir.where(ft.dir > 0)).groupby("seed").mean()
        )  # a defect not inherited has no rDIR
        drop = (ft.accuracy - rm.accuracy).groupby("seed").mean()
        front = t.groupby("seed").apply(front_share)
        remos = (
            Estimate.t(CRITERIA["rdir"], rdir, replicate, "rDIR"),
            Estimate.t(CRITERIA["accuracy-cost"], drop, replicate, "accuracy cost"),
        )
        trade = (Estimate.t(CRITERIA["on-front"], front, replicate),)
    else:
        remos = tuple(Estimate.not_measured(CRITERIA[n], "ReMoS not run") for n in ("rdir", "accuracy-cost"))
        trade = (Estimate.not_measured(CRITERIA["on-front"], "ReMoS not run"),)
    return ClaimsTable(
        "inheritance",
        [
            Claim(
                "a",
                "Fine-tuned students inherit the teacher's defects (high DIR), students trained from scratch do not",
                SOURCE + ", §5.2",
                inherit,
            ),
            Claim(
                "b",
                "ReMoS cuts DIR well below fine-tuning at a small accuracy cost",
                SOURCE + ", §5.2 (rDIR, rACC)",
                remos,
                note="Means over the defects (and targets) per seed.",
            ),
            Claim(
                "c",
                "ReMoS has a better ACC–DIR trade-off than the baselines",
                SOURCE + ", §5.2",
                trade,
                note="The front of each seed: no method has both higher accuracy and lower DIR.",
            ),
        ],
    )


def summary_text(results: Results) -> str:
    s = summary(results)
    ft = s[s.method == "finetune"]
    ta = results.teacher_accuracy
    backdoored = "; ".join(
        [
            f"the BadNets teacher {ta['badnets']:.0%}, sending {ta['badnets attack success']:.0%} of triggered source "
            f"test images to '{results.config.poison_class}'"
        ]
        * ("badnets" in ta)
        + [f"the {k} teacher {v:.0%}" for k, v in ta.items() if k.startswith("latent")]
    )
    return (
        f"The clean teacher reaches {ta['clean']:.0%} on its source test set"
        + (f" ({backdoored})" if backdoored else "")
        + ". Fine-tuned "
        f"students reach {ft.accuracy.mean():.0%} on {', '.join(results.config.targets)} with a mean DIR of "
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
    defects = [d for d in DEFECTS if d in set(c.defect)]
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
