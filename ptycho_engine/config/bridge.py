"""PyTorch-side configs -> canonical configs. Side-effect free: no globals, no files, no warnings.

Translations (facts §2.5): ``grid_size (h, w) -> gridsize`` (square only), ``epochs -> nepochs``,
``K -> neighbor_count``, ``mode -> model_type``, ``silu/SiLU/swish -> swish``, ``nll -> nll_weight``.
``overrides`` (canonical field names) are applied last; an unknown name is an error, not ignored.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from . import canonical as can
from . import pytorch as pt
from .schema import ConfigError

_MODE_TO_MODEL_TYPE = {"unsupervised": "pinn", "supervised": "supervised"}
_MODEL_TYPE_TO_MODE = {"pinn": "Unsupervised", "supervised": "Supervised"}
_ACTIVATIONS = {"silu": "swish", "swish": "swish", "sigmoid": "sigmoid", "softplus": "softplus", "relu": "relu"}


def translate_grid_size(grid_size: Any) -> int:
    """``(h, w)`` -> ``h``; an int passes. ValueError (ConfigError) for a non-square grid."""
    if isinstance(grid_size, bool):
        raise ConfigError(f"grid_size: expected (rows, cols) or an int, got {grid_size!r}")
    if isinstance(grid_size, int):
        return grid_size
    try:
        rows, cols = (int(v) for v in grid_size)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"grid_size: expected (rows, cols), got {grid_size!r}") from exc
    if rows != cols:
        raise ConfigError(f"Non-square grids are not supported: grid_size={tuple(grid_size)!r} "
                          "(gridsize needs rows == cols)")
    return rows


def translate_mode(mode: str) -> str:
    """PyTorch ``mode`` -> canonical ``model_type`` (Unsupervised -> pinn, Supervised -> supervised).

    Canonical names pass unchanged, so a value may be given in either vocabulary.
    """
    key = str(mode).strip().lower()
    if key in _MODE_TO_MODEL_TYPE:
        return _MODE_TO_MODEL_TYPE[key]
    if key in _MODEL_TYPE_TO_MODE:
        return key
    raise ConfigError(f"Invalid mode {mode!r}: expected 'Unsupervised' or 'Supervised' ('pinn' or 'supervised')")


def mode_for_model_type(model_type: str) -> str:
    """Canonical ``model_type`` -> PyTorch ``mode``."""
    return _MODEL_TYPE_TO_MODE[translate_mode(model_type)]


def translate_activation(name: str) -> str:
    """silu / SiLU / swish -> 'swish'; sigmoid, softplus, relu pass; anything else is an error."""
    key = str(name).strip()
    out = _ACTIVATIONS.get(key) or _ACTIVATIONS.get(key.lower())
    if out is None:
        raise ConfigError(f"Unknown activation {name!r}: expected one of sigmoid, swish (silu), softplus, relu")
    return out


def _apply(cls: type, kwargs: dict[str, Any], overrides: Mapping[str, Any] | None) -> Any:
    if overrides:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field(s) {unknown}")
        kwargs.update(overrides)
    return cls(**kwargs)


def to_model_config(data: pt.DataConfig, model: pt.ModelConfig,
                    overrides: Mapping[str, Any] | None = None) -> can.ModelConfig:
    """Canonical ModelConfig from the PyTorch DataConfig + ModelConfig."""
    kwargs = dict(
        N=data.N,
        gridsize=translate_grid_size(data.grid_size),
        n_filters_scale=model.n_filters_scale,
        model_type=translate_mode(model.mode),
        amp_activation=translate_activation(model.amp_activation),
        object_big=model.object_big,
        probe_big=model.probe_big,
        probe_mask=bool(model.probe_mask),
        pad_object=model.pad_object,
        probe_scale=data.probe_scale,
        gaussian_smoothing_sigma=model.gaussian_smoothing_sigma,
    )
    return _apply(can.ModelConfig, kwargs, overrides)


def to_training_config(tf_model: can.ModelConfig, data: pt.DataConfig, pt_model: pt.ModelConfig,
                       training: pt.TrainingConfig,
                       overrides: Mapping[str, Any] | None = None) -> can.TrainingConfig:
    """Canonical TrainingConfig; canonical-only fields (loss weights, sampling, seed, ...) come from
    ``overrides`` or their canonical defaults. ``n_groups`` and ``train_data_file`` are required."""
    kwargs: dict[str, Any] = dict(
        model=tf_model,
        batch_size=training.batch_size,
        nepochs=training.epochs,
        nll_weight=1.0 if training.nll else 0.0,
        neighbor_count=data.K,
        nphotons=data.nphotons,
        n_subsample=data.n_subsample,
        subsample_seed=data.subsample_seed,
        intensity_scale_trainable=pt_model.intensity_scale_trainable,
        torch_loss_mode=training.torch_loss_mode,
        n_groups=training.n_groups,
        train_data_file=training.train_data_file,
        test_data_file=training.test_data_file,
        output_dir=training.output_dir,
        backend="pytorch",
    )
    config = _apply(can.TrainingConfig, kwargs, overrides)
    if config.n_groups is None:
        raise ConfigError("n_groups is required for training: pass it in overrides (e.g. overrides={'n_groups': 512})")
    if config.train_data_file is None:
        raise ConfigError("train_data_file is required")
    return config


def to_inference_config(tf_model: can.ModelConfig, data: pt.DataConfig, inference: pt.InferenceConfig,
                        overrides: Mapping[str, Any] | None = None) -> can.InferenceConfig:
    """Canonical InferenceConfig; ``model_path`` and ``test_data_file`` must come via ``overrides``."""
    kwargs: dict[str, Any] = dict(
        model=tf_model,
        neighbor_count=data.K,
        n_subsample=data.n_subsample,
        subsample_seed=data.subsample_seed,
        stitch_weighting=inference.patch_weighting,
        backend="pytorch",
    )
    overrides = dict(overrides or {})
    for key in ("model_path", "test_data_file"):
        if overrides.get(key) is None:
            raise ConfigError(f"{key} is required")
        overrides[key] = Path(overrides[key])
    return _apply(can.InferenceConfig, kwargs, overrides)
