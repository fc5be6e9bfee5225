"""What makes a module a page of the book, and what makes it a chapter: the contract the runner,
the generated page parts and the tests rely on.

Every notebook names its module in its metadata (``metadata.transferlab.experiment``); the module
is named after the notebook (``notebooks/06_influences.ipynb`` → ``transferlab.chapters.influences``).
A :class:`Page` declares its parameters; a :class:`Chapter` is a page that runs an experiment and
checks its sources' claims. ``tests/test_architecture.py`` checks every notebook's module against them.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from ..world import REAL_FOLDERS, parts_present
from .claims import Criterion
from .params import PRESET_NAMES, ChapterConfig, resolve
from .registry import Registry, amendment_errors


@dataclasses.dataclass(frozen=True)
class DataPart:
    """A part of a real-data folder a chapter reads: its folder under ``data_dir`` and its role."""

    folder: str
    role: str


def data_parts(**roles: str) -> dict[str, DataPart]:
    """The ``DATA_PARTS`` of a chapter: each :class:`~transferlab.world.RealWorld` part it reads
    (``source``, ``objects``, ``flowers``, ``pets``, ``faces``, ``scenes``) with its role."""
    unknown = set(roles) - set(REAL_FOLDERS)
    if unknown:
        raise ValueError(f"unknown real-data parts {sorted(unknown)}; the parts are {sorted(REAL_FOLDERS)}")
    return {part: DataPart(REAL_FOLDERS[part], role) for part, role in roles.items()}


@runtime_checkable
class Page(Protocol):
    """A notebook's module: its parameters and their presets."""

    Config: type[ChapterConfig]  # every parameter, declared with transferlab.chapters.params.param
    PRESETS: Mapping[str, Mapping[str, Any]]  # "smoke", "default", "paper": overrides of Config's defaults


@runtime_checkable
class Chapter(Page, Protocol):
    """A page that runs an experiment and checks its sources' claims in its own run."""

    SOURCE: str  # the source and its sections, as the claims table cites them
    PROTOCOL: (
        str  # the protocol in Markdown, as the book shows it: setup, what is measured, each claim's criterion
    )
    CRITERIA: Mapping[str, Criterion]  # every claim's criterion, by name (claims.criteria)
    PAPER_NOTE: str  # what the paper preset is for (the book shows it with the preset's values)
    DATA_PARTS: Mapping[
        str, DataPart
    ]  # the real-data parts it reads ({} if none; then NO_DATA_NOTE says why)

    def run(self, config: Any, progress: bool = True) -> Any:
        """Train (or fetch from the store) every model and measure: the chapter's results."""

    def claims(self, results: Any) -> Any:
        """The claims table (:class:`~transferlab.chapters.claims.ClaimsTable`) of these results."""


# what a chapter declares beyond a page
CHAPTER_ONLY = ("SOURCE", "PROTOCOL", "CRITERIA", "PAPER_NOTE", "DATA_PARTS", "run", "claims")
# every name of the contract: what a chapter package's ``__all__`` starts with
CHAPTER_NAMES = ("Config", "PRESETS", *CHAPTER_ONLY)
# what a registered chapter adds (transferlab.chapters.registry): all three or none
REGISTRY_NAMES = ("REGISTRY", "FROZEN_DIGEST", "AMENDMENTS")


def is_chapter(module: ModuleType) -> bool:
    """Whether a page's module is a chapter (the summary page is a page, not a chapter)."""
    return isinstance(module, Chapter)


def contract_errors(module: ModuleType) -> list[str]:
    """What ``module`` lacks or gets wrong of :class:`Page` and, if it claims to be one, :class:`Chapter`."""
    errors = []
    if not isinstance(module, Page):
        return [f"{module.__name__} has no Config or PRESETS"]
    if not (inspect.isclass(module.Config) and issubclass(module.Config, ChapterConfig)):
        errors.append("Config must subclass transferlab.chapters.params.ChapterConfig")
    if set(module.PRESETS) != set(PRESET_NAMES):
        errors.append(f"PRESETS must name exactly {PRESET_NAMES}, names {sorted(module.PRESETS)}")
    for preset in set(module.PRESETS) & {
        "smoke",
        "default",
    }:  # "paper" may need data_dir (real data) to be valid
        try:
            module.Config(**resolve(module.Config, module.PRESETS, preset))
        except Exception as e:  # noqa: BLE001 - reported, not raised
            errors.append(f"preset {preset!r} is invalid: {e}")
    chapterish = [n for n in CHAPTER_ONLY if hasattr(module, n)]
    if chapterish and not is_chapter(module):
        missing = [n for n in CHAPTER_ONLY if not hasattr(module, n)]
        errors.append(f"has {', '.join(chapterish)} but lacks {', '.join(missing)} of a chapter")
    if is_chapter(module):
        for name in ("SOURCE", "PROTOCOL", "PAPER_NOTE"):
            if not isinstance(getattr(module, name), str) or not getattr(module, name).strip():
                errors.append(f"{name} must be a non-empty string")
        if not module.CRITERIA or not all(
            isinstance(c, Criterion) and c.name == n for n, c in module.CRITERIA.items()
        ):
            errors.append("CRITERIA must come from transferlab.chapters.claims.criteria and name one or more")
        if not all(isinstance(p, DataPart) for p in module.DATA_PARTS.values()):
            errors.append("DATA_PARTS must come from transferlab.chapters.contract.data_parts")
        if not module.DATA_PARTS and not getattr(module, "NO_DATA_NOTE", ""):
            errors.append("a chapter that reads no data says why in NO_DATA_NOTE")
        errors += registry_errors(module)
        params = list(inspect.signature(module.run).parameters)
        if params[:2] != ["config", "progress"]:
            errors.append(f"run must take (config, progress=True), takes {params}")
        required = [p for p in inspect.signature(module.claims).parameters.values() if p.default is p.empty]
        if len(required) != 1:
            errors.append("claims must need the results only (other parameters optional)")
    return errors


def registry_errors(module: ModuleType) -> list[str]:
    """A registered chapter's registry against its log and its code: the digest is the frozen one
    or the last amendment's, its criteria are the chapter's, and its default seeds are the
    registry's confirmatory seeds."""
    registry = getattr(module, "REGISTRY", None)
    if registry is None:
        return []
    if not isinstance(registry, Registry):
        return ["REGISTRY must be a transferlab.chapters.registry.Registry"]
    errors = amendment_errors(
        registry, getattr(module, "FROZEN_DIGEST", ""), tuple(getattr(module, "AMENDMENTS", ()))
    )
    if dict(registry.criteria) != dict(module.CRITERIA):
        errors.append("the registry's criteria are not the chapter's CRITERIA")
    if tuple(getattr(module.Config(), registry.seeds_parameter)) != registry.seeds:
        errors.append(
            f"the default {registry.seeds_parameter} are not the registry's confirmatory seeds {registry.seeds}"
        )
    return errors


# ---------------------------------------------------------------------------------------------
# a chapter on a real-data folder: which parts its parameters need, and fitting them to a folder


def part_parameters(config_cls: type[ChapterConfig]) -> list[str]:
    """The parameters whose values name parts of a real-data folder (their choices are parts:
    ``targets``, ``sweep_target``, ...)."""
    return [
        name
        for name, (_, _, info) in config_cls.param_infos().items()
        if info.choices and set(info.choices) <= set(REAL_FOLDERS)
    ]


def needed_parts(module: ModuleType, params: Mapping[str, Any]) -> dict[str, str]:
    """The parts of a real-data folder a chapter reads with these parameters, each with why: a part
    that a parameter can name (a target) is needed only when one does; the others always."""
    names = part_parameters(module.Config)
    infos = module.Config.param_infos()
    choosable = {c for n in names for c in infos[n][2].choices}
    named: dict[str, list[str]] = {}
    for n in names:
        value = params[n]
        for part in value if isinstance(value, (tuple, list)) else (value,):
            named.setdefault(part, []).append(n)
    out = {}
    for part, data in module.DATA_PARTS.items():
        if part not in choosable:
            out[part] = data.role
        elif part in named:
            out[part] = f"{data.role}; named by {', '.join(repr(n) for n in named[part])}"
    return out


def fit_to_folder(
    module: ModuleType, params: Mapping[str, Any], root: str, explicit: set[str]
) -> dict[str, Any]:
    """Values for the part parameters the user did not set (not in ``explicit``) that keep only
    the parts the folder ``root`` has, where that is unambiguous: a list of targets keeps those
    present (if any); a single target not present becomes the first of the kept lists (a sweep's
    target: the first target), or, without a list, the one part of its choices present (if two
    are, the user chooses). Returns only what changes."""
    present = set(parts_present(root))
    names = [n for n in part_parameters(module.Config) if n not in explicit]
    changes: dict[str, Any] = {}
    for n in names:
        value = params[n]
        if isinstance(value, (tuple, list)):
            kept = tuple(p for p in value if p in present)
            if kept and kept != tuple(value):
                changes[n] = kept
    pool = [
        p
        for n in part_parameters(module.Config)
        if isinstance(params[n], (tuple, list))
        for p in changes.get(n, params[n])
    ]
    infos = module.Config.param_infos()
    for n in names:
        value = params[n]
        if isinstance(value, (tuple, list)) or value in present:
            continue
        choices = infos[n][2].choices
        candidates = [p for p in (pool or choices) if p in present and p in choices]
        if candidates and (pool or len(candidates) == 1):
            changes[n] = candidates[0]
    return changes


def without_missing(module: ModuleType, params: Mapping[str, Any], present: Iterable[str]) -> list[str]:
    """The ``-p`` settings of the part parameters that would leave out the parts not ``present``."""
    present = set(present)
    hints = []
    for name in part_parameters(module.Config):
        value = params[name]
        if isinstance(value, (tuple, list)):
            kept = [p for p in value if p in present]
            if kept != list(value):
                hints.append(
                    f"-p {name} {','.join(kept)}" if kept else f"{name!r} needs a part the folder has"
                )
        elif value not in present:
            usable = [p for p in module.Config.param_infos()[name][2].choices if p in present]
            hints.append(f"-p {name} <one of {', '.join(usable)}>" if usable else f"{name!r} needs a part")
    return hints
