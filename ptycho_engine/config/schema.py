"""One declaration per configuration field.

Every config dataclass declares its fields with :func:`param`. That single declaration
(type, default, bounds or choices, one-line help, group) drives validation, the factory's
override handling, the CLI flags and the GUI's overrides form, so no field is described twice.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

GROUPS = ("model", "training", "data", "execution", "inference")


class ConfigError(ValueError):
    """A configuration value or name is invalid. The message says which field and why."""


class EngineNotice(UserWarning):
    """A fact the user should know that is not a problem (running on the CPU, n_groups reduced).

    Still a ``UserWarning`` for Python callers; the CLI shows it as one plain ``info:`` line.
    """


@dataclass(frozen=True)
class FieldSpec:
    """Everything the CLI, the GUI form and the validators need to know about one field."""

    name: str
    type: Any
    default: Any
    help: str
    group: str
    bounds: tuple[float | None, float | None] | None = None
    choices: tuple[Any, ...] | None = None
    required: bool = False
    gui: bool = True

    @property
    def base_type(self) -> Any:
        """The scalar type with ``Optional`` stripped (``int | None`` -> ``int``)."""
        return strip_optional(self.type)

    @property
    def optional(self) -> bool:
        return is_optional(self.type)


_META_KEY = "ptycho_spec"


def param(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    group: str,
    bounds: tuple[float | None, float | None] | None = None,
    choices: Sequence[Any] | None = None,
    required: bool = False,
    gui: bool = True,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """Declare a dataclass field with its schema metadata.

    ``bounds`` is inclusive ``(low, high)``; either end may be ``None``.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    meta = {
        _META_KEY: dict(
            help=help,
            group=group,
            bounds=bounds,
            choices=tuple(choices) if choices is not None else None,
            required=required,
            gui=gui,
        )
    }
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_specs(cls_or_obj: Any) -> list[FieldSpec]:
    """The declared fields of a config dataclass, in declaration order."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_META_KEY)
        if meta is None:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        specs.append(FieldSpec(name=f.name, type=hints[f.name], default=default, **meta))
    return specs


def is_optional(tp: Any) -> bool:
    return type(None) in typing.get_args(tp) and _is_union(tp)


def strip_optional(tp: Any) -> Any:
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return typing.Union[tuple(args)]  # type: ignore[return-value]
    return tp


def _is_union(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin is typing.Union or origin is types.UnionType


def coerce(spec: FieldSpec, value: Any, *, source: str = "value") -> Any:
    """Convert ``value`` (possibly a string from a CLI or a form) to the field's type and check it.

    Raises :class:`ConfigError` naming the field, what was expected and what was found.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in {"none", "null"} and spec.optional):
        if spec.optional:
            return None
        raise ConfigError(f"{spec.name}: a value is required (got None from {source})")
    tp = spec.base_type
    try:
        out = _convert(tp, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{spec.name}: expected {type_name(spec.type)}, got {value!r} "
            f"({type(value).__name__}) from {source}"
        ) from exc
    check_value(spec, out, source=source)
    return out


def check_value(spec: FieldSpec, value: Any, *, source: str = "value") -> None:
    """Bounds and choices check of an already-typed value."""
    if value is None:
        if not spec.optional:
            raise ConfigError(f"{spec.name}: a value is required (got None from {source})")
        return
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(
            f"{spec.name}: expected one of {list(spec.choices)}, got {value!r} from {source}"
        )
    if spec.bounds is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = spec.bounds
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{spec.name}: expected a finite number, got {value!r} from {source}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(
                f"{spec.name}: expected a value in [{_fmt(low)}, {_fmt(high)}], got {value!r} from {source}"
            )


def _fmt(bound: float | None) -> str:
    return "-inf" if bound is None else f"{bound:g}"


def _convert(tp: Any, value: Any) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            low = value.strip().lower()
            if low in {"true", "1", "yes", "on"}:
                return True
            if low in {"false", "0", "no", "off"}:
                return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError("not a boolean")
    if tp is int:
        if isinstance(value, bool):
            raise TypeError("bool is not an int here")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                as_float = float(text)
                if as_float.is_integer():
                    return int(as_float)
                raise
        raise TypeError("not an integer")
    if tp is float:
        if isinstance(value, bool):
            raise TypeError("bool is not a number here")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise TypeError("not a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError("not a string")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise TypeError("not a path")
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace("x", ",").split(",") if v.strip()]
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} items")
        return tuple(_convert(a, v) for a, v in zip(args, items))
    if _is_union(tp):
        last: Exception | None = None
        for arg in typing.get_args(tp):
            try:
                return _convert(arg, value)
            except (TypeError, ValueError) as exc:
                last = exc
        raise ValueError(str(last))
    if isinstance(value, tp):
        return value
    raise TypeError(f"cannot convert to {tp}")


def type_name(tp: Any) -> str:
    """Human-readable type, e.g. ``int or None``."""
    if _is_union(tp):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if origin is tuple:
        return "tuple of " + ", ".join(type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return getattr(tp, "__name__", str(tp))


def closest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The most similar valid name, for 'did you mean' messages."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return matches[0] if matches else None


def validate_dataclass(obj: Any) -> None:
    """Check every declared field of a config instance; call from ``__post_init__``."""
    for spec in field_specs(obj):
        value = getattr(obj, spec.name)
        if spec.required and value is None:
            raise ConfigError(f"{type(obj).__name__}.{spec.name} is required")
        check_value(spec, value, source=type(obj).__name__)
