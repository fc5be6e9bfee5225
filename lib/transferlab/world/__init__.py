"""Data: the synthetic world, overlays, the real-data adapters, and in-memory tensors."""

from .overlays import Ball, Compose, Fence, Hat, Square, apply_overlay, overlay_name, parse_overlay
from .synthetic import (FACE_GROUPS, FACE_TABLES, ROLES, SCENE_GROUPS, SCENE_TABLES, TARGETS, World,
                        WorldConfig, dataset)
from .adapters import DataError, RealWorld, overlap
from .tensors import TensorData, as_tensors, augment_batch
from .toy import toy_task

__all__ = ["Ball", "Compose", "Fence", "Hat", "Square", "apply_overlay", "overlay_name", "parse_overlay",
           "FACE_GROUPS", "FACE_TABLES", "ROLES", "SCENE_GROUPS", "SCENE_TABLES", "TARGETS", "World",
           "WorldConfig", "dataset", "DataError", "RealWorld", "overlap", "TensorData", "as_tensors", "augment_batch",
           "toy_task"]
