"""The legacy ``params.cfg`` registry, kept for compatibility and as the params snapshot of a model.

The engine never *reads* this registry as hidden input (configs are passed explicitly); it is
filled from the canonical config so that anything written in the reference's style sees the same
values, and its snapshot is stored in the model archive.

Differences from the reference (facts §2.4, §8.24):
- ``DEFAULT_CFG`` takes every value the canonical configs also define from their defaults, so the
  registry can never disagree with a freshly built config (the reference had N 128 vs 64,
  gridsize 2 vs 1, probe.big False vs True, ... — the root of BUG-TF-001).
- :func:`update_legacy_dict` writes None values (as None), so no stale value survives an update.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, MutableMapping

from . import canonical as _c

#: canonical field name -> legacy params.cfg key (the reference's KEY_MAPPINGS)
KEY_MAPPINGS: dict[str, str] = {
    "object_big": "object.big",
    "probe_big": "probe.big",
    "probe_mask": "probe.mask",
    "probe_trainable": "probe.trainable",
    "intensity_scale_trainable": "intensity_scale.trainable",
    "positions_provided": "positions.provided",
    "output_dir": "output_prefix",
    "train_data_file": "train_data_file_path",
    "test_data_file": "test_data_file_path",
}

DEFAULT_CFG: dict[str, Any] = {
    # values shared with the canonical configs
    "N": _c.DEFAULT_N,
    "gridsize": _c.DEFAULT_GRIDSIZE,
    "n_filters_scale": _c.DEFAULT_N_FILTERS_SCALE,
    "model_type": _c.DEFAULT_MODEL_TYPE,
    "amp_activation": _c.DEFAULT_AMP_ACTIVATION,
    "object.big": _c.DEFAULT_OBJECT_BIG,
    "probe.big": _c.DEFAULT_PROBE_BIG,
    "probe.mask": _c.DEFAULT_PROBE_MASK,
    "pad_object": _c.DEFAULT_PAD_OBJECT,
    "probe_scale": _c.DEFAULT_PROBE_SCALE,
    "gaussian_smoothing_sigma": _c.DEFAULT_GAUSSIAN_SMOOTHING_SIGMA,
    "batch_size": _c.DEFAULT_BATCH_SIZE,
    "nepochs": _c.DEFAULT_NEPOCHS,
    "mae_weight": 0.0,
    "nll_weight": _c.DEFAULT_NLL_WEIGHT,
    "realspace_mae_weight": 0.0,
    "realspace_weight": 0.0,
    "nphotons": _c.DEFAULT_NPHOTONS,
    "probe.trainable": False,
    "intensity_scale.trainable": _c.DEFAULT_INTENSITY_SCALE_TRAINABLE,
    "positions.provided": True,
    "output_prefix": str(_c.DEFAULT_TRAINING_OUTPUT_DIR),
    "neighbor_count": _c.DEFAULT_NEIGHBOR_COUNT,
    # legacy-only keys (reference values)
    "offset": 4,
    "outer_offset_train": None,
    "outer_offset_test": None,
    "big_gridsize": 10,
    "max_position_jitter": 10,
    "sim_jitter_scale": 0.0,
    "default_probe_scale": 0.7,
    "tv_weight": 0.0,
    "nimgs_train": 9,
    "nimgs_test": 3,
    "data_source": "generic",
    "set_phi": False,
    "label": "",
    "size": 392,
    "h5_path": "wts.h5",
    "npseed": 42,
    "debug": True,
}

#: the live registry (module-level, like the reference's ``ptycho.params.cfg``)
cfg: dict[str, Any] = dict(DEFAULT_CFG)

_populated_by: Any = None  # the config that last filled ``cfg`` (see factory.populate_legacy_params)


def reset() -> None:
    """Restore the defaults in place (references to ``cfg`` stay valid) and forget who filled it."""
    global _populated_by
    cfg.clear()
    cfg.update(DEFAULT_CFG)
    _populated_by = None


def populated_by() -> Any:
    """The canonical config that last populated ``cfg`` (None after :func:`reset`)."""
    return _populated_by


def mark_populated(config: Any) -> None:
    global _populated_by
    _populated_by = config


def _flatten(config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(_flatten(value))  # the nested model config becomes top-level keys
        else:
            out[f.name] = value
    return out


def update_legacy_dict(cfg: MutableMapping[str, Any], config: Any) -> MutableMapping[str, Any]:
    """Write a canonical config into a legacy dict: nested ``model`` flattened, keys renamed by
    :data:`KEY_MAPPINGS`, Paths as str, None values written as None. Returns ``cfg``."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"update_legacy_dict needs a config dataclass instance, got {type(config).__name__}")
    for name, value in _flatten(config).items():
        key = KEY_MAPPINGS.get(name, name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple) and value and all(isinstance(v, Path) for v in value):
            value = [str(v) for v in value]
        cfg[key] = value
    return cfg


def get(key: str, registry: MutableMapping[str, Any] | None = None) -> Any:
    """A registry value, including the reference's derived keys bigN, padded_size, padding_size."""
    reg = cfg if registry is None else registry
    if key == "bigN":
        return reg["N"] + (reg["gridsize"] - 1) * reg["offset"]
    if key == "padded_size":
        return get("bigN", reg) + reg["max_position_jitter"]
    if key == "padding_size":
        return (reg["gridsize"] - 1) * reg["offset"] + reg["max_position_jitter"]
    return reg[key]


def snapshot(registry: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-safe copy of the registry for the model archive (non-JSON values such as a probe
    tensor written at runtime are left out)."""
    reg = cfg if registry is None else registry
    out: dict[str, Any] = {}
    for key, value in reg.items():
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, float) and not math.isfinite(value):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out
