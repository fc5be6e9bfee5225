"""Executors with one API: ``map(fn, items)`` in this process, or on a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import utils


class Executor:
    """Runs ``fn`` over ``items`` in this process, in order, with a progress bar."""

    name = "local"

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any, desc: str = "jobs",
            progress: bool = True) -> list[Any]:
        return [fn(item, *args) for item in utils.progress(items, desc, progress)]

    def close(self) -> None:
        pass


class DaskExecutor(Executor):
    """Runs ``fn`` over ``items`` on a Dask cluster: a scheduler address, or a new LocalCluster.

    Tasks are retried when a worker dies (``retries``); the store's locks make a retried task
    read what the dead worker already finished instead of training it again.
    """

    name = "dask"

    def __init__(self, address: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1,
                 retries: int = 3):
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                         processes=True, dashboard_address=None)
            address = self._cluster.scheduler_address
        self.client = Client(address)
        self.retries = retries

    def map(self, fn, items, *args, desc: str = "jobs", progress: bool = True) -> list[Any]:
        from dask.distributed import as_completed

        futures = self.client.map(fn, items, *[[a] * len(items) for a in args], pure=False,
                                  retries=self.retries)
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
            raise ImportError("executor='dask' needs the dask extra: pip install 'transferlab[dask]'") from None
    raise ValueError(f"unknown executor {executor!r}; one of 'local', 'dask'")
