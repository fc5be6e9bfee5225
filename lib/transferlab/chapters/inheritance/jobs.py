"""Chapter 8's jobs: the backdoored teachers, the students of every method, the attention maps and
the malicious sets, each a job of the engine kept in the store, and the plan that lists them."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, NamedTuple

import torch

from ...methods import defects as dfx
from ...methods.slicing import (
    DELTA_METHODS,
    channel_attention,
    train_student,
)
from ...run import MODEL, Job, SourceJob, load_model, made, model_payload, run_jobs
from ...store import declare_kind
from ...train import Recipe, Snapshots, fit
from ...world import DataRef
from ..base import world_ref
from .config import BACKDOORS, LATENT_REVISION, TEACHER_OF, Config, defect_kind

declare_kind("teacher-badnets", **MODEL)
declare_kind("teacher-latent", **MODEL)
declare_kind("student", **MODEL)
declare_kind("delta-attention", files=("attention.safetensors",))
declare_kind("malicious-set", files=("malicious.safetensors",), info=("defect",))


@dataclasses.dataclass(frozen=True)
class TeacherJob(Job):
    """A backdoored copy of the clean teacher. BadNets (the ReMoS artifact's setting): the clean
    teacher with a new head, fine-tuned on ``data``, the student's training set poisoned towards its
    class 0. Latent: trained on for a few epochs on ``data``, the clean source, with the
    latent-backdoor loss towards the mean penultimate features of class 0 of ``target``, a class
    the teacher lacks."""

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
            "recipe": self.recipe.spec(),
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
            data = self.data.load()
            model.reset_head(data.num_classes)
            fit(model, data, self.recipe, seed=1, speed=speed)
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
    snapshots: tuple[int, ...] = ()  # steps after which its weights are kept too (the recovery curve)

    def spec(self) -> dict[str, Any]:
        return {
            "job": "student",
            "snapshots": list(self.snapshots),
            "arch": self.arch,
            "teacher": self.teacher.spec() if self.teacher else "none",
            "data": self.data.spec(),
            "method": self.method,
            "seed": self.seed,
            "settings": dict(self.settings),
            "recipe": self.recipe.spec(),
            "scratch_recipe": self.scratch_recipe.spec(),
        }

    def requires(self) -> tuple[Job, ...]:
        return tuple(j for j in (self.teacher, self.attention) if j is not None)

    def make(self, store, speed) -> dict[str, Any]:
        teacher = load_model(made(self.teacher, store, speed)) if self.teacher else None
        attention = None
        if self.attention is not None:
            made(self.attention, store, speed)
            attention = self.attention.load(store)
        snapshots = Snapshots(self.snapshots) if self.snapshots else None
        model = train_student(
            self.method,
            teacher,
            self.arch,
            self.data.load(),
            self.recipe,
            seed=self.seed,
            scratch_recipe=self.scratch_recipe,
            attention=attention,
            on_step=snapshots,
            **dict(self.settings),
        )
        return model_payload(model, self.arch, snapshots=snapshots.states if snapshots else None)


def _backdoor_recipe(config: Config) -> Recipe:
    """The latent backdoor's: a few more epochs on top of the clean teacher, at a quarter of the
    source learning rate."""
    r = config.source_recipe()
    return r.replace(epochs=config.backdoor_epochs, peak_epoch=0.0, lr=r.lr / 4)


def teacher_job(config: Config, key, seed: int) -> Job:
    """The teacher ``key`` of ``seed``: "clean" (chapter 0's source model of that seed, one store
    entry shared with chapters 0 and 5), ("badnets", target) or ("latent", target), planted in it."""
    clean = config.source_job(seed)
    if key == "clean":
        return clean
    world = config.world(cache=None)
    kind, target = key
    if kind == "badnets":
        data = DataRef.of(
            "defects.badnets",
            base=world_ref(world, target),
            fraction=config.poison_fraction,
            label=0,
            trigger_size=config.trigger_size,
        )
        return TeacherJob("badnets", clean, data, config.transfer_recipe("full"), config.trigger_size)
    return TeacherJob(
        "latent",
        clean,
        world_ref(world, "source"),
        _backdoor_recipe(config),
        config.trigger_size,
        target=world_ref(world, target),
        weight=config.latent_weight,
    )


def teachers(config: Config, progress: bool = True) -> dict[tuple[Any, int], Any]:
    """Per seed, the clean teacher and, for the backdoor defects chosen, its backdoored copies, one
    per target (from the store), by (teacher key, seed)."""
    kinds = ["clean"] + [(d, t) for d in BACKDOORS if d in config.defects for t in config.targets]
    keys = [(k, s) for s in config.seeds for k in kinds]
    entries = run_jobs([teacher_job(config, k, s) for k, s in keys], progress=progress)
    return {k: load_model(e) for k, e in zip(keys, entries)}


class StudentKey(NamedTuple):
    """What a student of the chapter is: its target, teacher, method, seed, fine-tuning iterations and
    ReMoS ratio (None: the ratio the teacher's defect kind uses)."""

    target: str
    teacher: Any  # "clean", ("badnets", target) or ("latent", target)
    method: str
    seed: int
    iterations: int
    ratio: float | None = None


CURVE_METHODS = ("finetune", "remos")  # the methods of the recovery curve


def _teacher_kind(teacher) -> str:
    """'clean', 'badnets' or 'latent', of a teacher key ("clean" or (kind, target))."""
    return teacher if isinstance(teacher, str) else teacher[0]


def _ratio(config: Config, key: StudentKey) -> float:
    """The ReMoS ratio of ``key``: its own, or the one its teacher's defect kind uses."""
    if key.ratio is not None:
        return key.ratio
    return config.backdoor_ratio if _teacher_kind(key.teacher) in BACKDOORS else config.ratio


def _on_curve(config: Config, key: StudentKey) -> bool:
    """Whether ``key`` is one of the students of the recovery curve (first target and seed, the
    default ratio): they are all snapshots of one longer run."""
    default_ratio = key.ratio is None or key.ratio == _ratio(config, key._replace(ratio=None))
    return (
        key.method in CURVE_METHODS
        and key.target == config.targets[0]
        and key.seed == config.seeds[0]
        and default_ratio
    )


def student_job(config: Config, key: StudentKey) -> StudentJob:
    """The job of the student ``key``. The students of the recovery curve are one run to its largest
    budget, with snapshots at the others (the constant learning rate makes a snapshot after k steps
    the student a k-step run would give)."""
    world = config.world(cache=None)
    settings = (
        {"ratio": _ratio(config, key), "threshold": config.threshold, "scope": config.remos_scope}
        if key.method == "remos"
        else ({"prune_ratio": config.prune_ratio} if key.method == "magprune" else {})
    )
    data = world_ref(world, key.target)
    teacher = None if key.method == "retrain" else teacher_job(config, key.teacher, key.seed)
    attention = AttentionJob(teacher, data) if key.method in DELTA_METHODS else None
    if _on_curve(config, key):
        *snapshots, longest = sorted({*config.curve_iterations, config.student_iterations})
    else:
        snapshots, longest = [], key.iterations
    return StudentJob(
        key.method,
        teacher,
        config.arch,
        data,
        key.seed,
        tuple(sorted(settings.items())),
        config.student_recipe().replace(iterations=longest),
        config.recipe("scratch", config.scratch_epochs),
        attention,
        tuple(snapshots),
    )


def load_student(job: StudentJob, entry, iterations: int):
    """The student of ``job`` after ``iterations`` steps, from the job's store entry (a snapshot, for
    a shorter budget of a curve run)."""
    return load_model(entry, iterations if iterations in job.snapshots else None)


@dataclasses.dataclass(frozen=True)
class MaliciousJob(Job):
    """An adversarial malicious set: the student's ``test`` images turned by ``defect`` ("penultimate"
    or "<criterion>/<strategy>") against the teacher alone (the coverage criteria profiled on
    ``train``). A job of the engine, so the attacks run in the workers and are made once."""

    defect: str
    teacher: Job
    test: DataRef
    train: DataRef
    eps: float
    steps: int
    threshold: float

    def spec(self) -> dict[str, Any]:
        return {
            "job": "malicious-set",
            "revision": 2,  # bump when an attack changes
            "defect": self.defect,
            "teacher": self.teacher.spec(),
            "test": self.test.spec(),
            "train": self.train.spec(),
            "eps": self.eps,
            "steps": self.steps,
            "threshold": self.threshold,
        }

    def requires(self) -> tuple[Job, ...]:
        return (self.teacher,)

    def make(self, store, speed) -> dict[str, Any]:
        teacher = speed.model(load_model(made(self.teacher, store, speed)))
        test = self.test.load()
        kw = {"eps": self.eps, "steps": self.steps, "step_size": self.eps / 10}  # the artifact's step
        with speed.autocast():  # the fast path's precision, as in training (sign steps do not mind)
            if self.defect == "penultimate":
                mal = dfx.penultimate_attack(teacher, test, **kw)
            else:
                criterion, strategy = self.defect.split("/")
                profile = dfx.activation_profile(teacher, self.train.load())
                mal = dfx.coverage_fuzz(
                    teacher, test, criterion, profile, strategy=strategy, threshold=self.threshold, **kw
                )
        return {"tensors": {"malicious": {"x": mal.x}}, "info": {"defect": self.defect}}


def malicious_jobs(config: Config, target: str, seed: int) -> dict[str, MaliciousJob]:
    """The adversarial malicious sets of ``target`` made against the clean teacher of ``seed``, by
    defect label."""
    world = config.world(cache=None)
    return {
        label: MaliciousJob(
            label,
            teacher_job(config, "clean", seed),
            world_ref(world, target, "test"),
            world_ref(world, target),
            config.eps,
            config.attack_steps,
            config.threshold,
        )
        for label in config.labels()
        if TEACHER_OF[defect_kind(label)] == "clean"
    }


def _teacher_name(key) -> str:
    """'clean', or '<kind> (for <target>)'."""
    return key if isinstance(key, str) else f"{key[0]} (for {key[1]})"


def _teacher_key(defect: str, target: str):
    kind = TEACHER_OF[defect_kind(defect)]
    return (kind, target) if kind in BACKDOORS else kind


class Plan(NamedTuple):
    """The students of a run: the claims' (every target, defect, method and seed, at the claims'
    budget), the ReMoS ratio sweep's and the recovery curve's (first target and seed)."""

    main: list[tuple[str, StudentKey]]  # (defect, key)
    sweep: list[tuple[str, StudentKey]]
    recovery: list[tuple[str, StudentKey]]

    def keys(self) -> list[StudentKey]:
        return list(dict.fromkeys(k for part in self for _, k in part))


def plan(config: Config) -> Plan:
    """Every student the run needs, by part."""
    t0, s0, b = config.targets[0], config.seeds[0], config.student_iterations
    return Plan(
        [
            (d, StudentKey(t, _teacher_key(d, t), m, s, b))
            for t in config.targets
            for d in config.labels()
            for m in config.methods
            for s in config.seeds
        ],
        [
            (d, StudentKey(t0, _teacher_key(d, t0), "remos", s0, b, r))
            for d in config.labels()
            for r in config.ratios
        ],
        [
            (d, StudentKey(t0, _teacher_key(d, t0), m, s0, i))
            for d in config.labels()
            for m in CURVE_METHODS
            if m in config.methods
            for i in config.curve_iterations
        ],
    )
