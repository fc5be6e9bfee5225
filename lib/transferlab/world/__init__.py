"""Data: in-memory tensors, the synthetic world, and (later) the real-data adapters."""

from .tensors import TensorData, as_tensors, augment_batch
from .toy import toy_task

__all__ = ["TensorData", "as_tensors", "augment_batch", "toy_task"]
