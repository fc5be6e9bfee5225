"""Chapter parameters: declared once with their meaning and allowed values, validated before any work.

Every chapter's experiment module defines a frozen dataclass that subclasses :class:`ChapterConfig`,
with each field declared by :func:`param`, and a ``PRESETS`` mapping (``smoke``, ``default``,
``paper``) of overrides. The notebook's ``parameters`` cell holds the same names as literals;
the runner validates a preset plus ``-p`` overrides against the dataclass before papermill starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

import pandas as pd

PRESET_NAMES = ("smoke", "default", "paper")
# set for the kernels the runner starts: a notebook run without a reader (the book, `transferlab run`)
UNATTENDED = "TRANSFERLAB_UNATTENDED"
_META = "transferlab"


class ParameterError(ValueError):
    """A chapter parameter is unknown, of the wrong type, or out of its allowed range."""


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """What a parameter means and which values it allows."""

    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    repeats: bool = False  # a list whose items may repeat (an RGB colour); others name each item once

    def allowed(self, type_name: str) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        if self.low is None and self.high is None:
            return f"any {type_name}"
        return f"{type_name} in [{lo}, {hi}]"


def distinct(name: str, values: tuple[Any, ...]) -> None:
    """Refuse an empty list parameter or one with repeated values (seeds, targets, ...)."""
    if not values or len(set(values)) != len(values):
        raise ParameterError(f"parameter {name!r} must be distinct and non-empty, got {values}")


def param(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
    repeats: bool = False,
) -> Any:
    """Declare a chapter parameter: its default, meaning and allowed range or choices.

    Parameters
    ----------
    default
        The value the book is built with (a list becomes a tuple).
    help
        Its meaning, as the chapter's parameter table and ``transferlab params`` say it.
    low, high
        The allowed range of a number (or of every number of a list).
    choices
        The allowed values (of a string, or of every item of a list).
    repeats
        Whether a list's items may repeat (an RGB colour may; seeds and targets may not: a repeated
        one would count twice in a claim).

    Returns
    -------
    dataclasses.Field
        The field of a :class:`ChapterConfig` subclass.
    """
    if isinstance(default, list):
        default = tuple(default)
    info = ParamInfo(help=help, low=low, high=high, choices=choices, repeats=repeats)
    return dataclasses.field(default=default, metadata={_META: info})


def type_name(tp: Any) -> str:
    """A parameter type as the tables say it (``list of int``, ``float``, ...)."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _a(type_name: str) -> str:
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Return ``value`` as type ``tp`` or raise ParameterError; ints widen to floats, lists to tuples."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ParameterError(f"parameter {name!r} must be {_a(type_name(tp))}, got {value!r}")
        (elem,) = typing.get_args(tp)[:1]
        return tuple(_coerce(name, v, elem) for v in value)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer beyond any float
                raise ParameterError(
                    f"parameter {name!r} must be a finite number, got an integer too large"
                ) from None
            if not math.isfinite(value):
                raise ParameterError(f"parameter {name!r} must be a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a chapter declared a type this module does not know
        raise TypeError(f"parameter {name!r} has unsupported type {tp!r}")
    raise ParameterError(
        f"parameter {name!r} must be {_a(type_name(tp))}, got {value!r} ({type(value).__name__})"
    )


def _check_range(name: str, value: Any, info: ParamInfo, type_name: str) -> None:
    items = value if isinstance(value, tuple) else (value,)
    repeated = sorted({repr(v) for v in items if items.count(v) > 1})
    if isinstance(value, tuple) and repeated and not info.repeats:  # it would count twice in a claim
        raise ParameterError(
            f"parameter {name!r} must be distinct: it lists {', '.join(repeated)} more than once"
        )
    for v in items:
        bad = (info.choices is not None and v not in info.choices) or (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and ((info.low is not None and v < info.low) or (info.high is not None and v > info.high))
        )
        if bad:
            raise ParameterError(
                f"parameter {name!r} = {value!r} is not allowed: {info.allowed(type_name)} ({info.help})"
            )


@dataclasses.dataclass(frozen=True)
class ChapterConfig:
    """Base of every chapter's configuration: validates its fields on construction."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            _check_range(f.name, value, f.metadata[_META], type_name(hints[f.name]))
            object.__setattr__(self, f.name, value)

    @classmethod
    def param_infos(cls) -> dict[str, tuple[Any, Any, ParamInfo]]:
        """Map each parameter name to (type, default, info)."""
        hints = typing.get_type_hints(cls)
        return {f.name: (hints[f.name], f.default, f.metadata[_META]) for f in dataclasses.fields(cls)}

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check names, types and ranges of ``values``; return them coerced, or raise ParameterError."""
        infos = cls.param_infos()
        unknown = sorted(set(values) - set(infos))
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"for {cls.__module__}; allowed: {', '.join(infos)}"
            )
        out = {}
        for name, value in values.items():
            tp, _, info = infos[name]
            out[name] = _coerce(name, value, tp)
            _check_range(name, out[name], info, type_name(tp))
        return out

    @classmethod
    def parse_value(cls, name: str, text: str) -> Any:
        """Parse a command-line string into parameter ``name``'s type (lists as JSON or a,b,c)."""
        infos = cls.param_infos()
        if name not in infos:
            cls.validate({name: text})  # raises the unknown-parameter error
        tp = infos[name][0]
        return cls.validate({name: _parse_text(name, text, tp)})[name]

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> ChapterConfig:
        """Build the config from a notebook's variables (the papermill ``parameters`` cell)."""
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in namespace]
        if missing:
            raise ParameterError(f"the parameters cell lacks {', '.join(missing)}")
        return cls(**{f.name: namespace[f.name] for f in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        """The parameters as plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def describe(cls) -> pd.DataFrame:
        """A table of the parameters: name, type, default, allowed values, meaning."""
        rows = [
            {
                "parameter": name,
                "type": type_name(tp),
                "default": default,
                "allowed": info.allowed(type_name(tp)),
                "meaning": info.help,
            }
            for name, (tp, default, info) in cls.param_infos().items()
        ]
        return pd.DataFrame(rows)


def _parse_text(name: str, text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is tuple:
        text = text.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as e:
                raise ParameterError(f"parameter {name!r}: cannot read {text!r} as a list ({e})") from None
            return items
        elem = typing.get_args(tp)[0]
        if elem is str and "," in text:  # a list of names may hold empty ones ('' = none): a,,b
            return [t.strip() for t in text.split(",")]
        return [_parse_text(name, t, elem) for t in text.split(",") if t.strip()]
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _parse_text(name, text, inner)
    try:
        if tp is bool:
            low = text.strip().lower()
            if low in ("true", "yes", "1", "on"):
                return True
            if low in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
    except ValueError:
        raise ParameterError(f"parameter {name!r} must be {_a(type_name(tp))}, got {text!r}") from None
    return text


def resolve(
    config_cls: type[ChapterConfig],
    presets: Mapping[str, Mapping[str, Any]],
    preset: str = "default",
    overrides: Mapping[str, Any] | None = None,
    *,
    cross_checks: bool = True,
) -> dict[str, Any]:
    """Full, validated parameter set: the config's defaults, then the preset, then ``overrides``.

    Parameters
    ----------
    config_cls
        The chapter's ``Config``.
    presets
        The chapter's ``PRESETS``.
    preset
        Which preset to start from.
    overrides
        Parameters set on top (``-p NAME VALUE``), already parsed.
    cross_checks
        Run the config's cross-field checks too (they may read a real-data folder).

    Returns
    -------
    dict
        Every parameter's value.

    Raises
    ------
    ParameterError
        An unknown preset or name, a wrong type, an out-of-range value or a failed cross-check,
        with a message naming the parameter and what is allowed.
    """
    if preset not in presets:
        raise ParameterError(f"unknown preset {preset!r}; allowed: {', '.join(presets)}")
    values = {name: default for name, (_, default, _) in config_cls.param_infos().items()}
    values.update(config_cls.validate(presets[preset]))
    values.update(config_cls.validate(dict(overrides or {})))
    if cross_checks:
        config_cls(**values)  # cross-field checks in a subclass's __post_init__
    return values
