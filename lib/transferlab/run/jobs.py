"""Training jobs, keyed by their full config in the store: a source model, or a transfer of one.

A job names its data by a :class:`DataRef` (an importable function and its keyword arguments), so
it can be shipped to a Dask worker and rebuilt there; the data is built once per process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import time
from collections.abc import Sequence
from typing import Any

import torch

from ..models import GroupedCompactResNet, Net, build_model
from ..models.compact import SIZES
from ..store import Entry, Store, default_store, spec_key
from ..store.core import canonical
from ..train import Recipe, Speed, fit, pick_device, predict, transfer
from ..train.eval import accuracy
from ..world.tensors import TensorData
from .executors import Executor, ProcessExecutor, get_executor, local_workers


@dataclasses.dataclass(frozen=True)
class DataRef:
    """Data named by an importable function ``"module:function"`` and its keyword arguments."""

    fn: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, fn: str, **kwargs: Any) -> "DataRef":
        return cls(fn, tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                    for k, v in kwargs.items())))

    def load(self) -> TensorData:
        """The data (built once per process)."""
        return _load(self.fn, canonical(dict(self.kwargs)))

    def spec(self) -> dict[str, Any]:
        return {"fn": self.fn, "kwargs": dict(self.kwargs)}


@functools.lru_cache(maxsize=32)
def _load(fn: str, kwargs_json: str) -> TensorData:
    module, _, name = fn.partition(":")
    data = getattr(importlib.import_module(module), name)(**json.loads(kwargs_json))
    if not isinstance(data, TensorData):
        raise TypeError(f"{fn} returned {type(data).__name__}, not TensorData")
    return data


@dataclasses.dataclass(frozen=True)
class SourceJob:
    """Train ``arch`` from scratch on ``data`` with ``recipe`` and ``seed`` (also: scratch baselines)."""

    arch: str
    data: DataRef
    recipe: Recipe
    seed: int = 0
    eval_data: DataRef | None = None

    def spec(self) -> dict[str, Any]:
        return {"job": "source", "arch": self.arch, "data": self.data.spec(),
                "recipe": dataclasses.asdict(self.recipe), "seed": self.seed,
                "eval": self.eval_data.spec() if self.eval_data else None}


@dataclasses.dataclass(frozen=True)
class TransferJob:
    """Adapt the model of ``source`` to ``data``: ``mode`` fixed, full or partial (``frozen_blocks``)."""

    source: SourceJob
    data: DataRef
    recipe: Recipe
    mode: str = "fixed"
    frozen_blocks: int | None = None
    seed: int = 0
    eval_data: DataRef | None = None

    def spec(self) -> dict[str, Any]:
        return {"job": "transfer", "source": self.source.spec(), "data": self.data.spec(),
                "recipe": dataclasses.asdict(self.recipe), "mode": self.mode,
                "frozen_blocks": self.frozen_blocks, "seed": self.seed,
                "eval": self.eval_data.spec() if self.eval_data else None}


Job = SourceJob | TransferJob


def load_model(entry: Entry) -> Net:
    """The model stored in ``entry`` (architecture and class count from its info)."""
    model = build_model(entry.info["arch"], entry.info["num_classes"])
    model.load_state_dict(entry.tensors("model"))
    return model.eval()


def _payload(model: Net, job: Job, arch: str, losses: list[float], seconds: float) -> dict[str, Any]:
    info = {"arch": arch, "num_classes": model.num_classes, "train_seconds": seconds,
            "losses": losses}
    if job.eval_data is not None:
        test = job.eval_data.load()
        info["test_accuracy"] = accuracy(predict(model, test), test.y)
    return {"tensors": {"model": model.state_dict()}, "info": info}


def _fresh_model(job: SourceJob, data: TensorData) -> Net:
    """The seeded initial model of a source job."""
    torch.manual_seed(job.seed)
    return build_model(job.arch, data.num_classes)


def _make(job: Job, store: Store, speed: Speed) -> dict[str, Any]:
    start = time.perf_counter()
    data = job.data.load()
    if isinstance(job, SourceJob):
        model = _fresh_model(job, data)
        losses = fit(model, data, job.recipe, seed=job.seed, speed=speed)
        arch = job.arch
    else:
        source = load_model(_ensure(job.source, store, speed))
        model = transfer(source, data, job.recipe, mode=job.mode, frozen_blocks=job.frozen_blocks,
                         seed=job.seed, speed=speed)
        losses, arch = [], job.source.arch
    return _payload(model, job, arch, losses, time.perf_counter() - start)


def _ensure(job: Job, store: Store, speed: Speed | None = None) -> Entry:
    speed = speed or Speed(pick_device())
    return store.get_or_make(job.spec(), lambda: _make(job, store, speed))


def _run_one(job: Job, store_root: str, speed: Speed | None = None) -> str:
    """One job on whatever process runs it (a Dask worker or this one); returns its key."""
    try:
        from distributed import get_worker

        torch.set_num_threads(max(1, get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    return _ensure(job, Store(store_root), speed).key


def _train_grouped(jobs: Sequence[SourceJob], store: Store, speed: Speed) -> None:
    """Train source jobs of one compact architecture and recipe as one grouped model."""
    datas = [j.data.load() for j in jobs]
    start = time.perf_counter()
    grouped = GroupedCompactResNet.from_models([_fresh_model(j, d) for j, d in zip(jobs, datas)])
    losses = fit(grouped, datas, jobs[0].recipe, seed=[j.seed for j in jobs], speed=speed)
    seconds = (time.perf_counter() - start) / len(jobs)
    for job, model, own_losses in zip(jobs, grouped.split(), losses):
        store.put(job.spec(), **_payload(model.cpu(), job, job.arch, own_losses, seconds))


def default_group_size(device: torch.device) -> int:
    """Compact models trained per grouped module. On this project's 2-core CPU grouping measured
    2.1× faster per model for cresnet-xs at 16 px and about even for cresnet-s at 24 px, never
    slower (bench/bench_engine.py); on a GPU it is what keeps small models from idling it."""
    return 8


def run_jobs(jobs: Sequence[Job], store: Store | None = None, *, executor: str | Executor = "local",
             address: str | None = None, group_size: int | None = None, progress: bool = True,
             speed: Speed | None = None) -> list[Entry]:
    """Make every job's entry; finished ones come from the store.

    Two waves: the source models the transfers start from (grouped where they can be), then the
    transfers together with the other source models (scratch baselines, ...), so that the models
    nothing waits for fill the workers while the rest train.
    """
    store = store or default_store()
    speed = speed or Speed(pick_device())
    group_size = group_size or default_group_size(speed.device)
    unique = list(dict.fromkeys(jobs))
    transfers = [j for j in unique if isinstance(j, TransferJob)]
    needed = list(dict.fromkeys(j.source for j in transfers))
    kept = set(needed)
    others = [j for j in unique if not isinstance(j, TransferJob) and j not in kept]
    first, second = (needed, others + transfers) if transfers else (others, [])
    ex = get_executor(executor, address)
    try:
        for wave, desc in ((first, "source models"), (second, "models")):
            todo = [j for j in wave if store.get(j.spec()) is None]
            if not todo:
                continue
            if group_size > 1 and ex.name == "local" and wave is first:
                _run_grouped(todo, store, speed, group_size, progress)
                todo = [j for j in todo if store.get(j.spec()) is None]
            run = local_executor(len(todo), speed.device) if ex.name == "local" else ex
            run.map(_run_one, todo, str(store.root), speed if run.name != "dask" else None,
                    desc=desc, progress=progress)
    finally:
        if not isinstance(executor, Executor):
            ex.close()
    return [store.get(j.spec()) for j in jobs]


def _run_grouped(jobs: Sequence[SourceJob], store: Store, speed: Speed, group_size: int,
                 progress: bool) -> None:
    groupable: dict[Any, list[SourceJob]] = {}
    for j in jobs:
        if j.arch in SIZES:  # one grouped module needs the same architecture, head size and input,
            # and data sets of one length: a grouped step walks every member's data at once, so a
            # shorter set would get more passes than its recipe's epochs (and than it gets alone)
            data = j.data.load()
            key = (j.arch, j.recipe, data.num_classes, tuple(data.x.shape[1:]), len(data))
            groupable.setdefault(key, []).append(j)
    workers = local_workers() if speed.device.type == "cpu" else 1
    chunks = []
    for g in groupable.values():
        # every worker gets a share; a chunk of one is left to the one-at-a-time path
        size = min(group_size, -(-len(g) // workers))
        chunks += [c for c in (g[i:i + size] for i in range(0, len(g), size)) if len(c) > 1]
    run = local_executor(len(chunks), speed.device)
    run.map(_train_chunk, chunks, str(store.root), speed if run.name != "dask" else None,
            desc="grouped source models", progress=progress)


def _train_chunk(chunk: Sequence[SourceJob], store_root: str, speed: Speed | None = None) -> None:
    store, speed = Store(store_root), speed or Speed(pick_device())
    with contextlib.ExitStack() as held:
        # Train only the jobs whose lock we hold and that nobody finished meanwhile; the rest
        # are left to the one-at-a-time path, which waits for their owners.
        mine = [j for j in chunk if held.enter_context(store.lock(spec_key(j.spec())))
                and store.get(j.spec()) is None]
        if mine:
            _train_grouped(mine, store, speed)


def local_executor(n_items: int, device: torch.device | None = None) -> Executor:
    """This process, or worker processes (one thread each) when a multi-core CPU has several items."""
    workers = local_workers()
    if (device or pick_device()).type == "cpu" and n_items > 1 and workers > 1:
        return ProcessExecutor(workers)
    return Executor()
