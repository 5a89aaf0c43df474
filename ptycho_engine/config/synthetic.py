"""Settings of synthetic pretraining, and its payload (the training payload plus these settings).

Pretraining simulates many varied objects through the user's probe (taken from a scan, with the
scan's N and photon count) and trains the model on them, so a later fine-tune on real scans
starts from a network that already knows ptychographic physics. The fields are declared with
``param`` like every other setting, so the ``pretrain`` CLI flags come from this one declaration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .canonical import finalize_fields, specs_of
from .schema import ConfigError, FieldSpec, coerce, param

#: object families the stream draws from (each must be a ``simulate.objects`` kind)
DEFAULT_OBJECT_KINDS = "lines,grf,cells"


@dataclass(frozen=True)
class SyntheticConfig:
    """What the synthetic data stream simulates; geometry not set here comes from the scan."""

    n_objects: int = param(64, group="data", bounds=(1, 10_000_000),
                           help="synthetic objects simulated per epoch (new objects every epoch)")
    groups_per_object: int = param(32, group="data", bounds=(1, 100_000),
                                   help="training groups taken from each simulated object scan")
    object_size: int | None = param(None, group="data", bounds=(16, 8192),
                                    help="side of each simulated object in pixels; empty = max(160, 2N + 32)")
    step: float | None = param(None, group="data", bounds=(0.1, 10_000.0),
                               help="scan step in pixels; empty = the scan's median nearest-neighbour distance")
    object_kinds: str = param(DEFAULT_OBJECT_KINDS, group="data",
                              help="comma-separated object families to cycle through (lines, grf, cells)")
    shuffle_objects: int = param(4, group="data", bounds=(1, 1024),
                                 help="groups of this many consecutive objects are shuffled together "
                                      "(bounds the memory the stream holds)")

    def __post_init__(self) -> None:
        finalize_fields(self)
        from ..simulate.objects import OBJECT_KINDS

        kinds = self.kinds
        unknown = [k for k in kinds if k not in OBJECT_KINDS]
        if not kinds or unknown:
            raise ConfigError(f"object_kinds: expected a comma-separated subset of {list(OBJECT_KINDS)}, "
                              f"got {self.object_kinds!r}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.object_kinds.split(",") if k.strip())


def synthetic_fields() -> list[FieldSpec]:
    """The pretraining settings (for CLI flags)."""
    return list(specs_of(SyntheticConfig))


def coerce_synthetic(values: Mapping[str, Any] | None, source: str = "override") -> SyntheticConfig:
    """A checked SyntheticConfig from name -> value (strings from a CLI are fine)."""
    specs = {s.name: s for s in synthetic_fields()}
    kwargs: dict[str, Any] = {}
    for name, value in (values or {}).items():
        if name not in specs:
            raise ConfigError(f"unknown pretraining setting {name!r}; valid names: {', '.join(sorted(specs))}")
        if isinstance(value, str) and value.strip() == "" and specs[name].optional:
            value = None
        kwargs[name] = coerce(specs[name], value, source=f"{source} {name!r}")
    return SyntheticConfig(**kwargs)


@dataclass
class PretrainingPayload:
    """A pretraining run: the resolved training payload (``train_data_file`` = the probe's scan)
    and the synthetic stream settings."""

    training: Any  # TrainingPayload
    synthetic: SyntheticConfig

    @property
    def probe_file(self) -> Path:
        return Path(self.training.tf_training_config.train_data_file)


def create_pretraining_payload(
    probe_from: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    synthetic: Mapping[str, Any] | SyntheticConfig | None = None,
    execution_config: Any = None,
    cli_defaults: Mapping[str, Any] | None = None,
) -> PretrainingPayload:
    """Resolve a pretraining run: training settings as for ``train`` (N and nphotons from the
    scan ``probe_from``), plus the synthetic settings. ``n_groups`` does not apply (the stream
    uses ``groups_per_object``); it is recorded as that value (at most the scan's positions)."""
    from .factory import _pattern_count, create_training_payload

    if Path(probe_from).is_dir():
        raise ConfigError(f"probe_from needs one scan file, got the folder {probe_from}")
    spec = synthetic if isinstance(synthetic, SyntheticConfig) else coerce_synthetic(synthetic)
    n_positions = _pattern_count(Path(probe_from)) if Path(probe_from).is_file() else None
    n_groups = min(spec.groups_per_object, n_positions) if n_positions else spec.groups_per_object
    defaults = {"n_groups": n_groups, **dict(cli_defaults or {})}
    training = create_training_payload(Path(probe_from), output_dir, overrides, execution_config,
                                       cli_defaults=defaults)
    if training.tf_training_config.backend != "pytorch":  # issue 14: the synthetic stream is PyTorch's
        raise ConfigError("pretraining runs on the PyTorch backend only; pretrain with backend 'pytorch', then "
                          "train with --backend tensorflow --init-model <the pretrained run>")
    return PretrainingPayload(training=training, synthetic=spec)
