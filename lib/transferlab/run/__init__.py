"""Jobs (train a source model, transfer it) cached in the store, run in-process or on Dask."""

from .executors import Executor, get_executor
from .jobs import DataRef, SourceJob, TransferJob, load_model, local_executor, run_jobs

__all__ = ["Executor", "get_executor", "DataRef", "SourceJob", "TransferJob", "load_model",
           "local_executor", "run_jobs"]
