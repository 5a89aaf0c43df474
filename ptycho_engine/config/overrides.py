"""The user-facing override schema: which fields the CLI flags and the GUI form expose.

Every exposed field is a canonical (or execution) field declared once with ``param(...)``; the
PyTorch-side names (``grid_size``, ``epochs``, ``K``, ``mode``, ``nll``, ...) are accepted as
*aliases* of the canonical names, never as second fields. Training and inference have separate
lists; an inference run takes its model fields from the archive, so they are not in its form
(they are still accepted when they agree with the archive — the factory checks that).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from . import canonical as can
from .bridge import translate_activation, translate_grid_size, translate_mode
from .execution import INFERENCE_EXECUTION_FIELDS, PyTorchExecutionConfig
from .schema import ConfigError, FieldSpec, closest_name, coerce

CONTEXTS = ("training", "inference")


@dataclass(frozen=True)
class Alias:
    """Another accepted name of a canonical field, with an optional value translation."""

    name: str
    target: str
    convert: Callable[[Any], Any] | None = None
    contexts: tuple[str, ...] = CONTEXTS


def _grid_size_value(value: Any) -> int:
    if isinstance(value, str):
        text = value.strip().strip("()[]")
        parts = [p for p in text.replace("x", ",").replace("X", ",").split(",") if p.strip()]
        try:
            numbers = [int(p) for p in parts]
        except ValueError as exc:
            raise ConfigError(f"grid_size: expected 'R,C', 'RxC' or an int, got {value!r}") from exc
        value = numbers[0] if len(numbers) == 1 else tuple(numbers)
    return translate_grid_size(value)


def _nll_value(value: Any) -> float:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in {"true", "1", "yes", "on"}:
            return 1.0
        if low in {"false", "0", "no", "off"}:
            return 0.0
        raise ConfigError(f"nll: expected true or false, got {value!r}")
    if isinstance(value, (bool, int)) and value in (0, 1):
        return 1.0 if value else 0.0
    raise ConfigError(f"nll: expected true or false, got {value!r}")


ALIASES: dict[str, Alias] = {a.name: a for a in (
    Alias("grid_size", "gridsize", _grid_size_value),
    Alias("epochs", "nepochs"),
    Alias("max_epochs", "nepochs"),
    Alias("K", "neighbor_count"),
    Alias("mode", "model_type", translate_mode),
    Alias("nll", "nll_weight", _nll_value),
    Alias("n_images", "n_groups"),
    Alias("patch_weighting", "stitch_weighting", contexts=("inference",)),
)}
#: context-specific aliases (PyTorch InferenceConfig.batch_size is the inference batch size)
INFERENCE_ALIASES: dict[str, Alias] = {"batch_size": Alias("batch_size", "inference_batch_size", contexts=("inference",))}

#: canonical values given in another vocabulary are translated before type checks
VALUE_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "amp_activation": lambda v: translate_activation(v) if isinstance(v, str) else v,
    "model_type": lambda v: translate_mode(v) if isinstance(v, str) else v,
}

#: names that look like settings but are not overridable, with the reason
NOT_OVERRIDABLE: dict[str, str] = {
    "C": "C is derived (C = gridsize²); set gridsize instead",
    "C_model": "C_model is derived (= gridsize²); set gridsize instead",
    "C_forward": "C_forward is derived (= gridsize²); set gridsize instead",
    "train_data_file": "train_data_file is the factory's train_data_file argument, not an override",
    "train_data_files": "train_data_files is the factory's train_data_file argument (a list or a folder), "
                        "not an override",
    "output_dir": "output_dir is the factory's output_dir argument, not an override",
    "model_path": "model_path is the factory's model_path argument, not an override",
}

_TRAINING_EXCLUDE = {"model", "train_data_file", "train_data_files", "output_dir"}
_INFERENCE_EXCLUDE = {"model", "model_path", "test_data_file", "output_dir"}


@functools.lru_cache(maxsize=None)
def _training_fields() -> tuple[FieldSpec, ...]:
    out: list[FieldSpec] = list(can.specs_of(can.ModelConfig))
    for spec in can.specs_of(can.TrainingConfig):
        if spec.name in _TRAINING_EXCLUDE:
            continue
        if spec.name == "n_groups":
            spec = dataclasses.replace(spec, required=True)
        out.append(spec)
    out += [s for s in can.specs_of(PyTorchExecutionConfig) if s.name != "inference_batch_size"]
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _inference_fields() -> tuple[FieldSpec, ...]:
    out = [s for s in can.specs_of(can.InferenceConfig) if s.name not in _INFERENCE_EXCLUDE]
    out += [s for s in can.specs_of(PyTorchExecutionConfig) if s.name in INFERENCE_EXECUTION_FIELDS]
    return tuple(out)


def training_override_fields() -> list[FieldSpec]:
    """Fields a user may set for training, in form order (model, training/data, execution)."""
    return list(_training_fields())


def inference_override_fields() -> list[FieldSpec]:
    """Fields a user may set for inference (model fields come from the archive, so not here)."""
    return list(_inference_fields())


def override_fields() -> list[FieldSpec]:
    """Every overridable field once (training's declaration wins for names both contexts share)."""
    seen: dict[str, FieldSpec] = {}
    for spec in _training_fields() + _inference_fields():
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def _accepted(context: str | None) -> dict[str, FieldSpec]:
    """name -> spec of what ``context`` accepts (inference also accepts the model fields)."""
    if context is None:
        return {s.name: s for s in override_fields()}
    if context == "training":
        return {s.name: s for s in _training_fields()}
    if context == "inference":
        specs = {s.name: s for s in _inference_fields()}
        for s in can.specs_of(can.ModelConfig):
            specs.setdefault(s.name, s)
        return specs
    raise ValueError(f"context must be one of {CONTEXTS} or None, got {context!r}")


def _aliases(context: str | None) -> dict[str, Alias]:
    out = {n: a for n, a in ALIASES.items() if context is None or context in a.contexts}
    if context == "inference":
        out.update(INFERENCE_ALIASES)
    return out


def aliases(context: str | None = None) -> dict[str, str]:
    """Alias name -> canonical name (for CLI alias flags and documentation)."""
    return {n: a.target for n, a in _aliases(context).items()}


def resolve_name(name: str, context: str | None = None) -> str:
    """The canonical field name for ``name`` (itself or an alias's target).

    Raises ConfigError for a name that cannot be set, naming the closest valid one.
    """
    accepted = _accepted(context)
    if name in accepted:
        return name
    alias = _aliases(context).get(name)
    if alias is not None and alias.target in accepted:
        return alias.target
    if name in NOT_OVERRIDABLE:
        raise ConfigError(NOT_OVERRIDABLE[name])
    if context is not None:
        other = "inference" if context == "training" else "training"
        if name in _accepted(other) or name in _aliases(other):
            article = "an" if other == "inference" else "a"
            raise ConfigError(f"{name!r} is {article} {other} setting; it does not apply to {context}")
    candidates = list(accepted) + list(_aliases(context))
    suggestion = closest_name(name, candidates) or closest_name(name.lower(), [c.lower() for c in candidates])
    where = f" for {context}" if context else ""
    if suggestion is not None:
        suggestion = next((c for c in candidates if c.lower() == suggestion.lower()), suggestion)
        raise ConfigError(f"unknown override {name!r}{where}; did you mean {suggestion!r}?")
    raise ConfigError(f"unknown override {name!r}{where}; valid names: {', '.join(sorted(accepted))}")


def field_spec(name: str, context: str | None = None) -> FieldSpec:
    """The FieldSpec of a (canonical or alias) name."""
    return _accepted(context)[resolve_name(name, context)]


def coerce_value(name: str, value: Any, context: str | None = None, *, source: str = "override") -> tuple[str, Any]:
    """(canonical name, typed and checked value) for one setting; strings from a CLI/form are fine."""
    canonical = resolve_name(name, context)
    spec = _accepted(context)[canonical]
    label = f"{source} {name!r}"
    if isinstance(value, str) and value.strip() == "" and spec.optional:
        value = None
    alias = _aliases(context).get(name) if name != canonical else None
    if alias is not None and alias.convert is not None and value is not None:
        value = alias.convert(value)
    normalizer = VALUE_NORMALIZERS.get(canonical)
    if normalizer is not None and value is not None:
        value = normalizer(value)
    return canonical, coerce(spec, value, source=label)


def coerce_overrides(values: Mapping[str, Any] | None, context: str | None = None,
                     *, source: str = "override") -> dict[str, Any]:
    """Canonical name -> typed value for a whole dict; two names for one field must agree."""
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    if values is None:
        return out
    if not isinstance(values, Mapping):
        raise ConfigError(f"{source}s must be a mapping of name -> value, got {type(values).__name__}")
    for name, value in values.items():
        canonical, typed = coerce_value(str(name), value, context, source=source)
        if canonical in out and out[canonical] != typed:
            raise ConfigError(f"{given_as[canonical]!r} and {name!r} both set {canonical} "
                              f"({out[canonical]!r} vs {typed!r}); give one")
        out[canonical] = typed
        given_as.setdefault(canonical, str(name))
    return out


def group_fields(fields: Iterable[FieldSpec]) -> dict[str, list[FieldSpec]]:
    """Fields by group, in the schema's group order (for forms and help screens)."""
    from .schema import GROUPS

    out: dict[str, list[FieldSpec]] = {g: [] for g in GROUPS}
    for spec in fields:
        out[spec.group].append(spec)
    return {g: specs for g, specs in out.items() if specs}
