"""Data: the synthetic world, overlays, the real-data adapters, in-memory tensors, and the
registry of data functions that job specs name."""

from .adapters import REAL_FOLDERS, DataError, RealWorld, check_data_dir, image_folder, overlap, parts_present
from .digits import digits_folder, write_digits_folder
from .influence import PLANTED_EXPECTED, PLANTED_SOURCE, PLANTED_TARGET, planted_catalogue
from .overlays import (
    POSITIONS,
    Ball,
    Compose,
    Fence,
    Hat,
    Patch,
    Square,
    apply_overlay,
    overlay_name,
    parse_overlay,
)
from .registry import DataRef, data_function, data_function_named, data_functions
from .synthetic import (
    FACE_GROUPS,
    FACE_TABLES,
    ROLES,
    SCENE_GROUPS,
    SCENE_TABLES,
    TARGETS,
    World,
    WorldConfig,
    dataset,
    source_catalogue,
    table_counts,
)
from .tensors import TensorData, as_tensors, augment_batch
from .texture import coarse, rescaled, stylized
from .toy import toy_task

__all__ = [
    "REAL_FOLDERS",
    "check_data_dir",
    "parts_present",
    "digits_folder",
    "write_digits_folder",
    "PLANTED_EXPECTED",
    "PLANTED_SOURCE",
    "PLANTED_TARGET",
    "planted_catalogue",
    "DataError",
    "RealWorld",
    "image_folder",
    "overlap",
    "POSITIONS",
    "Ball",
    "Compose",
    "Fence",
    "Hat",
    "Patch",
    "Square",
    "apply_overlay",
    "overlay_name",
    "parse_overlay",
    "DataRef",
    "data_function",
    "data_function_named",
    "data_functions",
    "FACE_GROUPS",
    "FACE_TABLES",
    "ROLES",
    "SCENE_GROUPS",
    "SCENE_TABLES",
    "TARGETS",
    "World",
    "WorldConfig",
    "dataset",
    "source_catalogue",
    "table_counts",
    "TensorData",
    "as_tensors",
    "augment_batch",
    "coarse",
    "rescaled",
    "stylized",
    "toy_task",
]
