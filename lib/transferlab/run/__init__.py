"""The engine's top layer: jobs (anything made once and kept in the store) and the executors that
make them in this process, in worker processes of this machine, or on a Dask cluster."""

from .executors import Executor, get_executor
from .jobs import (
    MODEL,
    Job,
    SourceJob,
    TransferJob,
    accuracy_check,
    current,
    load_model,
    local_executor,
    made,
    model_payload,
    run_jobs,
    waves,
)

__all__ = [
    "MODEL",
    "Executor",
    "get_executor",
    "Job",
    "accuracy_check",
    "current",
    "SourceJob",
    "TransferJob",
    "load_model",
    "local_executor",
    "made",
    "model_payload",
    "run_jobs",
    "waves",
]
