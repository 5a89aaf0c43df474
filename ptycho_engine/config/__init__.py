"""Configuration: canonical and PyTorch-side configs, the override schema and the config factory.

Importing this package is cheap (no torch, no Qt): the GUI builds its forms from it at startup.
"""
from __future__ import annotations

from .canonical import InferenceConfig, ModelConfig, TrainingConfig
from .execution import PyTorchExecutionConfig, resolve_accelerator
from .factory import (
    InferencePayload,
    TrainingPayload,
    archive_config_dict,
    create_inference_payload,
    create_training_payload,
    infer_probe_size,
    payload_to_dict,
    populate_legacy_params,
)
from .overrides import (
    coerce_overrides,
    inference_override_fields,
    override_fields,
    resolve_name,
    training_override_fields,
)
from .schema import ConfigError, FieldSpec

__all__ = [
    "ConfigError",
    "FieldSpec",
    "InferenceConfig",
    "InferencePayload",
    "ModelConfig",
    "PyTorchExecutionConfig",
    "TrainingConfig",
    "TrainingPayload",
    "archive_config_dict",
    "coerce_overrides",
    "create_inference_payload",
    "create_training_payload",
    "infer_probe_size",
    "inference_override_fields",
    "override_fields",
    "payload_to_dict",
    "populate_legacy_params",
    "resolve_accelerator",
    "resolve_name",
    "training_override_fields",
]
