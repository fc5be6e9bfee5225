"""Jobs: everything the engine makes once and keeps in the store, and :func:`run_jobs`, which makes them.

A job is a frozen dataclass with a stable ``spec()`` (its store key: the full description of what
it makes, with data named by registered names, never module paths), a ``make(store, speed)`` that
returns what the store keeps (tensors, tables, info), and ``requires()``: the jobs whose entries its
``make`` reads (a transfer needs its source model, a student its teacher). :class:`SourceJob` and
:class:`TransferJob` are the models most chapters need; a chapter with another kind of model (a
backdoored teacher, a student trained by a slicing method) subclasses :class:`Job`, and its models
go through the same store, locks, worker processes and Dask as every other.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .. import utils
from ..models import SIZES, GroupedCompactResNet, Net, build_model
from ..store import Entry, Store, declare_kind, default_store, spec_key
from ..train import Recipe, Speed, accuracy, fit, numerics, pick_device, predict, transfer
from ..world import DataRef, TensorData
from .executors import Executor, ProcessExecutor, get_executor, local_workers

# what a model entry holds (model_payload): its weights, and what load_model rebuilds the network from
MODEL = {"files": ("model.safetensors",), "info": ("arch", "num_classes")}
declare_kind("source", **MODEL)
declare_kind("transfer", **MODEL)


class Job(abc.ABC):
    """Something the engine makes once and keeps in the store (subclasses are frozen dataclasses).

    The kind its spec names (``"job"``) is declared with :func:`transferlab.store.declare_kind`
    beside it: what its entries must hold, so the store can tell a complete one."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """The full, JSON-able description of what this job makes: its store key."""

    def requires(self) -> tuple[Job, ...]:
        """The jobs whose entries :meth:`make` reads; :func:`run_jobs` makes them first."""
        return ()

    @abc.abstractmethod
    def make(self, store: Store, speed: Speed) -> dict[str, Any]:
        """Make it: the keyword arguments of :meth:`Store.put` (``tensors``, ``tables``, ``info``).
        Read what it requires with :func:`made`."""


@dataclasses.dataclass(frozen=True)
class SourceJob(Job):
    """Train ``arch`` from scratch on ``data`` with ``recipe`` and ``seed`` (also: scratch baselines)."""

    arch: str
    data: DataRef
    recipe: Recipe
    seed: int = 0
    eval_data: DataRef | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "job": "source",
            "arch": self.arch,
            "data": self.data.spec(),
            "recipe": self.recipe.spec(),
            "seed": self.seed,
            "eval": self.eval_data.spec() if self.eval_data else None,
        }

    def fresh_model(self, data: TensorData) -> Net:
        """The seeded initial model."""
        torch.manual_seed(self.seed)
        return build_model(self.arch, data.num_classes)

    def make(self, store: Store, speed: Speed) -> dict[str, Any]:
        start = time.perf_counter()
        data = self.data.load()
        model = self.fresh_model(data)
        losses = fit(model, data, self.recipe, seed=self.seed, speed=speed)
        return model_payload(model, self.arch, self.eval_data, losses, time.perf_counter() - start)


@dataclasses.dataclass(frozen=True)
class TransferJob(Job):
    """Adapt the model of ``source`` to ``data``: ``mode`` fixed, full or partial (``frozen_blocks``)."""

    source: SourceJob
    data: DataRef
    recipe: Recipe
    mode: str = "fixed"
    frozen_blocks: int | None = None
    seed: int = 0
    eval_data: DataRef | None = None

    def spec(self) -> dict[str, Any]:
        return {
            "job": "transfer",
            "source": self.source.spec(),
            "data": self.data.spec(),
            "recipe": self.recipe.spec(),
            "mode": self.mode,
            "frozen_blocks": self.frozen_blocks,
            "seed": self.seed,
            "eval": self.eval_data.spec() if self.eval_data else None,
        }

    def requires(self) -> tuple[Job, ...]:
        return (self.source,)

    def make(self, store: Store, speed: Speed) -> dict[str, Any]:
        start = time.perf_counter()
        source = load_model(made(self.source, store, speed))
        model = transfer(
            source,
            self.data.load(),
            self.recipe,
            mode=self.mode,
            frozen_blocks=self.frozen_blocks,
            seed=self.seed,
            speed=speed,
        )
        return model_payload(model, self.source.arch, self.eval_data, [], time.perf_counter() - start)


def snapshot_group(step: int) -> str:
    """The tensor group of an entry that holds the model's weights after ``step`` optimiser steps."""
    return f"model@{step}"


def load_model(entry: Entry, snapshot: int | None = None) -> Net:
    """The model stored in ``entry`` (architecture and class count from its info); with
    ``snapshot``, its weights after that many steps (kept in :func:`snapshot_group`)."""
    model = build_model(entry.info["arch"], entry.info["num_classes"])
    model.load_state_dict(entry.tensors("model" if snapshot is None else snapshot_group(snapshot)))
    return model.eval()


def model_payload(
    model: Net,
    arch: str,
    eval_data: DataRef | None = None,
    losses: Sequence[float] = (),
    seconds: float = 0.0,
    snapshots: Mapping[int, Mapping[str, torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """What the store keeps of a trained model: its weights (and earlier ``snapshots`` of them, by
    step: :class:`transferlab.train.Snapshots`), and its architecture, class count, training time
    and losses (and test accuracy on ``eval_data``) as info."""
    info = {"arch": arch, "num_classes": model.num_classes, "train_seconds": seconds, "losses": list(losses)}
    if eval_data is not None:
        test = eval_data.load()
        info["test_accuracy"] = accuracy(predict(model, test), test.y)
    tensors = {"model": model.state_dict()}
    tensors.update({snapshot_group(step): dict(state) for step, state in (snapshots or {}).items()})
    return {"tensors": tensors, "info": info}


def accuracy_check(entry: Entry, tolerance: float = 0.02) -> str:
    """Measure a stored model's accuracy on the test data its spec names and compare it with the
    accuracy its info records: "" when they agree within ``tolerance``, else what differs. Weights
    imported under another model's key (the key hashes the spec, not the weights) show here unless
    the sender also forged the recorded accuracy: this is a check of honest mistakes, not of intent.
    ValueError when the entry records no accuracy or its data cannot be rebuilt from its spec."""
    recorded, eval_spec = entry.info.get("test_accuracy"), entry.spec.get("eval")
    if recorded is None or not eval_spec:
        raise ValueError("it records no test accuracy on data its spec names")
    test = DataRef.from_spec(eval_spec).load()
    measured = accuracy(predict(load_model(entry), test), test.y)
    if abs(measured - recorded) <= tolerance:
        return ""
    return f"measured test accuracy {measured:.3f}, recorded {recorded:.3f} (tolerance {tolerance:g})"


def made(job: Job, store: Store, speed: Speed | None = None) -> Entry:
    """The entry of ``job``: from the store, or made now (by this process, or waited for while
    another holds its lock). What it was made from is recorded in its info (``inputs``)."""
    speed = speed or Speed(pick_device())
    entry = current(job, store)
    if entry is not None:
        return entry

    def make() -> dict[str, Any]:
        out = dict(job.make(store, speed))
        inputs = {
            e.key: e.fingerprint for e in (store.get(r.spec()) for r in job.requires()) if e is not None
        }
        return {**out, "info": {**out.get("info", {}), "inputs": inputs}}

    return store.get_or_make(job.spec(), make)


def current(job: Job, store: Store) -> Entry | None:
    """The stored entry of ``job`` if it was made from the entries it requires as they are now.

    A transfer made from a source model that was since made again (another machine's numerics, a
    repaired store) is stale: it is moved aside and counts as missing, so it is made again."""
    entry = store.get(job.spec())
    inputs = entry.info.get("inputs") if entry is not None else None
    if inputs is None:  # missing, made before inputs were recorded, or nothing required
        return entry
    for need in job.requires():
        source = store.get(need.spec())
        if source is not None and inputs.get(source.key) != source.fingerprint:
            store.discard(entry.key, f"made from an earlier version of {source.key}, which it requires")
            return None
    return entry


def _run_one(job: Job, store_root: str, speed: Speed | None = None) -> str:
    """One job on whatever process runs it (a Dask worker or this one); returns its key.

    Whatever the job caches on the way (a real data set's tensors) goes to the run's store too: a
    worker started earlier may have another default store in its environment."""
    try:
        from distributed import get_worker

        torch.set_num_threads(max(1, get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    with utils.environment(TRANSFERLAB_STORE=store_root):
        return made(job, Store(store_root), speed).key


def _train_grouped(jobs: Sequence[SourceJob], store: Store, speed: Speed) -> None:
    """Train source jobs of one compact architecture and recipe as one grouped model."""
    datas = [j.data.load() for j in jobs]
    start = time.perf_counter()
    grouped = GroupedCompactResNet.from_models([j.fresh_model(d) for j, d in zip(jobs, datas)])
    losses = fit(grouped, datas, jobs[0].recipe, seed=[j.seed for j in jobs], speed=speed)
    seconds = (time.perf_counter() - start) / len(jobs)
    for job, model, own_losses in zip(jobs, grouped.split(), losses):
        store.put(job.spec(), **model_payload(model.cpu(), job.arch, job.eval_data, own_losses, seconds))


def default_group_size(device: torch.device) -> int:
    """Compact models trained per grouped module. On this project's 2-core CPU grouping measured
    2.0× faster per model for short runs of cresnet-xs at 16 px (the influence chapter's), where a
    job's fixed costs dominate, and 0.73× for long runs of cresnet-s at 24 px in one process
    (bench/bench_engine.py): on the CPU, runs long enough to be compiled train alone
    (:meth:`Speed.compiles_in_workers`). On a GPU grouping is what keeps small models from idling it. The
    plain numeric path trains every model alone."""
    return 1 if numerics() == "plain" else 8


def run_jobs(
    jobs: Sequence[Job],
    store: Store | None = None,
    *,
    executor: str | Executor = "local",
    address: str | None = None,
    group_size: int | None = None,
    progress: bool = True,
    speed: Speed | None = None,
) -> list[Entry]:
    """Make every job's entry, and first the entries they require; finished ones come from the store.

    In waves (:func:`waves`): the models others start from (grouped where they can be), then the
    rest together, the models nothing waits for first, so that they fill the workers while the
    others' inputs are read.

    Parameters
    ----------
    jobs
        What to make, in the order the entries come back (a job listed twice is made once).
    store
        Where entries are kept (default: :func:`~transferlab.store.default_store`).
    executor
        ``"local"`` (worker processes on this machine, one per core, or the calling process with
        ``TRANSFERLAB_WORKERS=1``), ``"dask"`` (a Dask cluster at ``address``; ``None``: a local
        one), or an :class:`Executor`.
    address
        The Dask scheduler's address, with ``executor="dask"``.
    group_size
        How many same-shape models train as one grouped model (default: what pays on the device).
    progress
        Show a progress bar over the jobs.
    speed
        The device and numeric path (default: the fastest this machine has).

    Returns
    -------
    list of Entry
        One store entry per job, in the order of ``jobs``.
    """
    store = store or default_store()
    store.clean()  # what writers that died (a killed run's workers) left half-written
    speed = speed or Speed(pick_device())
    group_size = group_size or default_group_size(speed.device)
    ex = get_executor(executor, address)
    try:
        plan = waves(jobs)
        for number, wave in enumerate(plan):
            todo = [j for j in wave if current(j, store) is None]
            if not todo:
                continue
            if group_size > 1 and ex.name == "local" and number == 0:
                _run_grouped(
                    [j for j in todo if isinstance(j, SourceJob)], store, speed, group_size, progress
                )
                todo = [j for j in todo if current(j, store) is None]
            run = local_executor(len(todo), speed.device) if ex.name == "local" else ex
            desc = "models" if len(plan) == 1 else f"models, wave {number + 1} of {len(plan)}"
            run.map(
                _run_one,
                todo,
                str(store.root),
                speed if run.name != "dask" else None,
                desc=desc,
                progress=progress,
            )
    finally:
        if not isinstance(executor, Executor):
            ex.close()
    return [current(j, store) for j in jobs]


def waves(jobs: Sequence[Job]) -> list[list[Job]]:
    """``jobs`` and everything they require, in the order :func:`run_jobs` makes them.

    A job's height is 0 when no job of the set requires it, else one more than the highest of
    those that do; waves go from the greatest height down, so every job comes after what it
    requires. In a wave above 0 the jobs come in the order they are first required; in the last
    one the jobs that require nothing come first, then the others, each in the order given.
    """
    unique = list(dict.fromkeys(jobs))
    every: dict[Job, None] = {}
    required_by: dict[Job, list[Job]] = {}

    def visit(job: Job) -> None:
        if job in every:
            return
        every[job] = None
        for need in job.requires():
            required_by.setdefault(need, []).append(job)
            visit(need)

    for job in unique:
        visit(job)
    height: dict[Job, int] = {}

    def height_of(job: Job, path: tuple[Job, ...] = ()) -> int:
        if job in path:
            raise ValueError(f"jobs that require each other: {[type(j).__name__ for j in path]}")
        if job not in height:
            height[job] = max((1 + height_of(r, (*path, job)) for r in required_by.get(job, ())), default=0)
        return height[job]

    top = max((height_of(j) for j in every), default=-1)
    out = []
    for h in range(top, 0, -1):
        out.append([j for j in required_by if height_of(j) == h])
    last = [j for j in every if height_of(j) == 0]
    if last:
        out.append([j for j in last if not j.requires()] + [j for j in last if j.requires()])
    return out


def _run_grouped(
    jobs: Sequence[SourceJob], store: Store, speed: Speed, group_size: int, progress: bool
) -> None:
    groupable: dict[Any, list[SourceJob]] = {}
    for j in jobs:
        if j.arch in SIZES and j.recipe.adversary is None:  # one grouped module needs the same architecture,
            # head size and input, and data sets of one length: a grouped step walks every member's
            # data at once, so a shorter set would get more passes than its recipe's epochs (and than
            # it gets alone). Adversarial jobs train alone: `fit` can train them grouped (1.8× per model
            # in one process, bench_adversarial.py), but in the workers chapter 9's cold run took
            # 10 min 49 s either way on the 2-core CPU, so grouping would only change trajectories
            data = j.data.load()
            if speed.compiles_in_workers(j.recipe.steps(len(data))):
                continue  # a long run trains alone, compiled: grouped, cresnet-s ran 0.7× as fast
            key = (j.arch, j.recipe, data.num_classes, tuple(data.x.shape[1:]), len(data))
            groupable.setdefault(key, []).append(j)
    workers = local_workers() if speed.device.type == "cpu" else 1
    chunks = []
    for g in groupable.values():
        # every worker gets a share; a chunk of one is left to the one-at-a-time path
        size = min(group_size, -(-len(g) // workers))
        chunks += [c for c in (g[i : i + size] for i in range(0, len(g), size)) if len(c) > 1]
    run = local_executor(len(chunks), speed.device)
    run.map(
        _train_chunk,
        chunks,
        str(store.root),
        speed if run.name != "dask" else None,
        desc="grouped source models",
        progress=progress,
    )


def _train_chunk(chunk: Sequence[SourceJob], store_root: str, speed: Speed | None = None) -> None:
    store, speed = Store(store_root), speed or Speed(pick_device())
    with contextlib.ExitStack() as held:
        held.enter_context(utils.environment(TRANSFERLAB_STORE=store_root))  # as in _run_one
        # Train only the jobs whose lock we hold and that nobody finished meanwhile; the rest
        # are left to the one-at-a-time path, which waits for their owners.
        mine = [
            j
            for j in chunk
            if held.enter_context(store.lock(spec_key(j.spec()))) and store.get(j.spec()) is None
        ]
        if mine:
            _train_grouped(mine, store, speed)


def local_executor(n_items: int, device: torch.device | None = None) -> Executor:
    """This process, or worker processes (one thread each) when a multi-core CPU has several items."""
    workers = local_workers()
    if (device or pick_device()).type == "cpu" and n_items > 1 and workers > 1:
        return ProcessExecutor(workers)
    return Executor()
