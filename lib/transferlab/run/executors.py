"""Executors with one API: ``map(fn, items)`` in this process, in worker processes of this
machine, or on a Dask cluster."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import utils
from ..train import numerics


class Executor:
    """Runs ``fn`` over ``items`` in this process, in order, with a progress bar."""

    name = "local"

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *args: Any,
        desc: str = "jobs",
        progress: bool = True,
    ) -> list[Any]:
        return [fn(item, *args) for item in utils.progress(items, desc, progress)]

    def close(self) -> None:
        pass


class ProcessExecutor(Executor):
    """Runs ``fn`` over ``items`` in worker processes of this machine, one torch thread each.

    On a small CPU, small models use two threads poorly: two one-thread processes trained 1.25×
    more cresnet-s models per hour than one two-thread process on this project's 2-core machine,
    1.34× more grouped cresnet-xs (bench/bench_engine.py). The pool is started once per Python
    process and kept for later calls.
    """

    name = "processes"

    def __init__(self, n_workers: int = 2):
        self.n_workers = n_workers

    def map(self, fn, items, *args, desc: str = "jobs", progress: bool = True) -> list[Any]:
        pool = _pool(self.n_workers)
        futures = [pool.submit(fn, item, *args) for item in items]
        bar = utils.progress(range(len(futures)), desc, progress)
        try:
            for _ in concurrent.futures.as_completed(futures):
                bar.update(1)
            return [f.result() for f in futures]
        except concurrent.futures.process.BrokenProcessPool:
            _pool.cache_clear()
            raise RuntimeError(
                "a training worker process died (killed, or out of memory); what "
                "finished is in the store: run the same call again to resume, or set "
                "TRANSFERLAB_WORKERS=1 to train in this process"
            ) from None
        finally:
            bar.close()


def _worker_start(parent: int) -> None:
    """A pool worker: one torch thread, and tied to its parent: it exits as soon as the parent is
    gone (killed, crashed, interrupted), instead of training on for nobody."""
    import torch

    torch.set_num_threads(1)
    threading.Thread(target=_exit_with, args=(parent,), name="transferlab-parent-watch", daemon=True).start()


def _exit_with(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)  # the parent died: this worker was reparented


@functools.cache
def _pool(n_workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # fork where there is one (as torch's DataLoader workers do, one thread each): it needs no
    # `if __name__ == "__main__"` guard in a user's script and no second import of torch
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return concurrent.futures.ProcessPoolExecutor(
        n_workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_worker_start,
        initargs=(os.getpid(),),
    )


def local_workers() -> int:
    """Worker processes for local training on the CPU: ``TRANSFERLAB_WORKERS``, else one per core
    (at most 4; 1 under the plain numeric path), 1 meaning train in this process."""
    value = os.environ.get("TRANSFERLAB_WORKERS", "") or ("1" if numerics() == "plain" else "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"TRANSFERLAB_WORKERS must be a whole number >= 1, got {value!r}")
        return int(value)
    return max(
        1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    )


class DaskExecutor(Executor):
    """Runs ``fn`` over ``items`` on a Dask cluster: a scheduler address, or a new LocalCluster.

    Tasks are retried when a worker dies (``retries``); the store's locks make a retried task
    read what the dead worker already finished instead of training it again.
    """

    name = "dask"

    def __init__(
        self, address: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1, retries: int = 3
    ):
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
            address = self._cluster.scheduler_address
        self.client = Client(address)
        self.retries = retries

    def map(self, fn, items, *args, desc: str = "jobs", progress: bool = True) -> list[Any]:
        from dask.distributed import as_completed

        futures = self.client.map(
            fn, items, *[[a] * len(items) for a in args], pure=False, retries=self.retries
        )
        bar = utils.progress(range(len(futures)), desc, progress)
        for _ in as_completed(futures):
            bar.update(1)
        bar.close()
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def get_executor(executor: str | Executor = "local", address: str | None = None, **kwargs) -> Executor:
    """``"local"`` (in-process), ``"dask"`` (``address`` of a scheduler, or a LocalCluster)."""
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        return Executor()
    if executor == "dask":
        try:
            return DaskExecutor(address, **kwargs)
        except ImportError:
            raise ImportError(
                "executor='dask' needs the dask extra: pip install 'transferlab[dask]'"
            ) from None
    raise ValueError(f"unknown executor {executor!r}; one of 'local', 'dask'")
