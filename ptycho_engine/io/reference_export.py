"""Write our ``cnn`` model as a PtychoPINN (reference, TensorFlow backend) ``wts.h5.zip``.

The archive is what the reference's ``ModelManager.save_multiple_models`` writes, so its
``load_multiple_models`` (and the ptychodus PtychoPINN plugin, which calls it) can read it:
``manifest.dill``; for ``autoencoder`` and ``diffraction_to_obj`` a Keras 3 ``model.keras``
(config.json from :mod:`.keras_graph`, weights in ``model.weights.h5``), ``model.h5`` (the
``intensity_scale`` attribute), ``params.dill`` (legacy params dict with the probe) and
``custom_objects.dill`` (an empty dict: the reference's loader adds its own classes). The pickles
hold plain data only (plus the reference's own ``convert_to_tensor(probe)`` wrapper).

Units: the reference feeds its network ``s * a * X`` (``a`` the scan's normalisation, ``s`` the
intensity scale) and divides by ``s`` inside, so the network sees ``a * X`` as ours sees
``input_scale * X``. Its physics multiplies ``|F(obj * P)|`` by ``s`` and compares with
``s * a * X``; ours multiplies by the gain and compares with ``X``. Hence the exported probe is
``P * input_scale * gain`` and ``s = sqrt(counts_scale) / input_scale`` (counts ``(s a X)^2``).
"""
from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..archive import ArchiveError
from . import keras_graph as kg

KERAS_VERSION = "3.15.1"
#: the reference's defaults for the keys that size its reassembly canvas (params.get_padded_size)
OFFSET, MAX_POSITION_JITTER = 4, 10
#: what the reference's autoencoder.compile records (ignored by its loader, which uses compile=False)
COMPILE_CONFIG = {
    "optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                  "config": {"name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": None,
                             "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
                             "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                             "gradient_accumulation_steps": None, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                             "amsgrad": False}, "registered_name": None},
    "loss": [{"module": "builtins", "class_name": "function", "config": "realspace_loss", "registered_name": "function"},
             "mean_absolute_error",
             {"module": "builtins", "class_name": "function", "config": "negloglik", "registered_name": "function"}],
    "loss_weights": [0.0, 0.0, 1.0], "metrics": None, "weighted_metrics": None, "run_eagerly": False,
    "steps_per_execution": 1, "jit_compile": False}


class ExportError(ArchiveError):
    """The model cannot be written in the requested format (an architecture the reference lacks)."""


# ----------------------------------------------------------------------------- pickles
class _TensorOf:
    """Stands for the reference's ``convert_to_tensor(array)`` in params.dill (pickled by name only)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class _Writer(pickle._Pickler):  # the pure-Python pickler: it lets one global be written by name
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _TensorOf):
            return _ConvertToTensor, (obj.array,)
        return NotImplemented

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if obj is _ConvertToTensor:  # written as tensorflow.python.framework.ops.convert_to_tensor
            memo = self.memo.get(id(obj))
            if memo is not None:
                self.write(self.get(memo[0]))
                return
            super().save("tensorflow.python.framework.ops")
            super().save("convert_to_tensor")
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save(obj, save_persistent_id)


def _ConvertToTensor(value: Any) -> Any:  # noqa: N802 - never called; only its name is pickled
    return value


def dumps(obj: Any) -> bytes:
    """A protocol-4 pickle of plain data, numpy arrays and :class:`_TensorOf` wrappers."""
    buf = io.BytesIO()
    _Writer(buf, protocol=4).dump(obj)
    return buf.getvalue()


# ----------------------------------------------------------------------------- checks
def check_exportable(model: Any, source: Path) -> dict[str, Any]:
    """The architecture dict, or ExportError naming what the reference cannot represent."""
    arch = dict(getattr(model, "arch", {}))
    gen = arch.get("generator", "cnn")
    if gen != "cnn":
        raise ExportError(f"{source}: generator {gen!r} cannot be exported to PtychoPINN: the reference has only the "
                          "CNN ('cnn'); its physics updates would be lost. Train with generator = \"cnn\" to export")
    N, gs = arch["N"], arch["gridsize"]
    if gs > 1 and not arch["object_big"]:
        raise ExportError(f"{source}: gridsize {gs} with object_big false: the reference then predicts one patch per "
                          "group, this model one per pattern; not exportable")
    if not arch["pad_object"] and N != 64:
        raise ExportError(f"{source}: pad_object false with N={N}: the reference's last decoder block has "
                          f"{2048 // N} x n_filters_scale filters, this model's 32 x n_filters_scale; not exportable")
    if arch["pad_object"] and not arch["probe_big"]:
        for head in ("amp_head", "phase_head"):
            w = getattr(model.generator, head).last.weight.detach()
            if float(w[:, -kg.C_OUTER:].abs().max()) != 0.0:
                raise ExportError(f"{source}: pad_object true with probe_big false: the reference's last convolution "
                                  f"ignores the last {kg.C_OUTER} decoder channels, which this model's {head} uses; "
                                  "not exportable (train with probe_big true)")
    return arch


# ----------------------------------------------------------------------------- writing
def _weights_h5(g: kg.GraphBuilder, order: list[str], convs: dict[str, tuple[np.ndarray, np.ndarray]],
                model_name: str) -> bytes:
    """model.weights.h5 as Keras saves it: layers/<snake class>[_k]/vars/{0,1} in layer order."""
    import h5py

    buf = io.BytesIO()
    used: dict[str, int] = {}
    with h5py.File(buf, "w") as h5:
        layers = h5.create_group("layers")
        for name in order:
            base = kg.snake(g.layers[name]["class_name"])
            k = used.get(base, 0)
            used[base] = k + 1
            path = base if k == 0 else f"{base}_{k}"
            vars_ = layers.create_group(f"{path}/vars")
            vars_.attrs["name"] = name
            for sub, sub_name in g.sublayers.get(name, []):
                layers.create_group(f"{path}/{sub}/vars").attrs["name"] = sub_name
            if name in convs:
                kernel, bias = convs[name]
                vars_.create_dataset("0", data=kernel)
                vars_.create_dataset("1", data=bias)
        h5.create_group("vars").attrs["name"] = model_name
    return buf.getvalue()


def _keras_zip(config: dict[str, Any], weights: bytes) -> bytes:
    buf = io.BytesIO()
    meta = {"keras_version": KERAS_VERSION, "date_saved": datetime.now(timezone.utc).strftime("%Y-%m-%d@%H:%M:%S")}
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights)
    return buf.getvalue()


def _model_h5(scale: float) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.attrs["intensity_scale"] = float(scale)
    return buf.getvalue()


def reference_params(arch: dict[str, Any], probe: np.ndarray, scale: float, training: dict[str, Any]) -> dict[str, Any]:
    """The legacy params dict the reference's loader puts into ``params.cfg`` before rebuilding."""
    N = int(arch["N"])
    return {
        "N": N, "offset": OFFSET, "gridsize": int(arch["gridsize"]), "batch_size": int(training.get("batch_size", 16)),
        "nepochs": int(training.get("nepochs", 50)), "n_filters_scale": int(arch["n_filters_scale"]),
        "max_position_jitter": MAX_POSITION_JITTER, "mae_weight": 0.0, "nll_weight": 1.0, "realspace_mae_weight": 0.0,
        "realspace_weight": 0.0, "nphotons": float(training.get("nphotons", 1e9) or 1e9),
        "probe.trainable": bool(training.get("probe_trainable", False)),
        "intensity_scale.trainable": bool(training.get("intensity_scale_trainable", True)),
        "positions.provided": True, "object.big": bool(arch["object_big"]), "probe.big": bool(arch["probe_big"]),
        "probe_scale": float(arch.get("probe_scale", 4.0)), "probe.mask": bool(arch["probe_mask"]),
        "pad_object": bool(arch["pad_object"]), "model_type": "pinn", "amp_activation": str(arch["amp_activation"]),
        "h5_path": "wts.h5", "gaussian_smoothing_sigma": float(arch["gaussian_smoothing_sigma"]),
        "architecture": "cnn", "backend": "tensorflow",
        "probe": _TensorOf(np.ascontiguousarray(probe.reshape(N, N, 1).astype(np.complex64))),
        "intensity_scale": float(scale), "_version": "1.0",
    }


def build_archive(loaded: Any, source: Path) -> bytes:
    """The reference-format archive of ``loaded`` (a LoadedModel) as bytes; nothing is written."""
    model = loaded.model
    arch = check_exportable(model, source)
    arch.setdefault("probe_scale", loaded.config.get("model", {}).get("probe_scale", 4.0))
    N = int(arch["N"])
    input_scale = float(model.input_scale)
    gain = float(model.gain)
    scale = math.sqrt(float(model.counts_scale)) / input_scale
    if not (math.isfinite(scale) and scale > 0 and math.isfinite(input_scale) and input_scale > 0):
        raise ExportError(f"{source}: the model's scales (input {input_scale}, counts {float(model.counts_scale)}) do "
                          "not give a positive intensity_scale")
    probe = model.probe.detach().cpu().numpy().astype(np.complex64) * np.float32(input_scale * gain)
    padded = N + (int(arch["gridsize"]) - 1) * OFFSET + MAX_POSITION_JITTER
    g, mapping = kg.build_reference_graph(arch, padded)
    state = {k: v.detach().cpu().float().numpy() for k, v in model.generator.state_dict().items()}
    convs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for prefix, layer in mapping.items():
        w, b = state[f"{prefix}.weight"], state[f"{prefix}.bias"]
        if prefix.endswith(".last") and arch["pad_object"] and not arch["probe_big"]:
            w = w[:, :-kg.C_OUTER]  # checked all-zero above
        convs[layer] = (np.ascontiguousarray(w.transpose(2, 3, 1, 0)), np.ascontiguousarray(b))
    unmapped = sorted({k.rsplit(".", 1)[0] for k in state} - set(mapping))
    if unmapped:
        raise ExportError(f"{source}: layers {unmapped[:4]} have no counterpart in the reference network")
    training = dict(loaded.config.get("training", {}))
    params = dumps(reference_params(arch, probe, scale, training))
    models = {"autoencoder": (["trimmed_obj", "intensity_scaler_inv", "pred_intensity"], "functional"),
              "diffraction_to_obj": (["trimmed_obj"], "functional_1")}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.dill", dumps({"models": list(models), "version": "1.0"}))
        for name, (outputs, keras_name) in models.items():
            config, order = kg.model_config(g, outputs, keras_name)
            if name == "autoencoder":
                config["compile_config"] = COMPILE_CONFIG
            else:
                config["compile_config"] = {}
            zf.writestr(f"{name}/model.keras", _keras_zip(config, _weights_h5(g, order, convs, keras_name)))
            zf.writestr(f"{name}/custom_objects.dill", dumps({}))
            zf.writestr(f"{name}/params.dill", params)
            zf.writestr(f"{name}/model.h5", _model_h5(scale))
    return buf.getvalue()


def export_ptychopinn(model_dir: str | Path, output: str | Path) -> Path:
    """Write ``model_dir``'s model as a PtychoPINN ``wts.h5.zip`` at ``output`` (a ``.zip`` file, or a
    folder that gets ``wts.h5.zip``); returns the file. Nothing is written when it fails."""
    from ..archive import ARCHIVE_NAME, archive_file, load_archive
    from .atomic import atomic_writer

    source = archive_file(model_dir)
    loaded = load_archive(source)
    data = build_archive(loaded, source)
    out = Path(output)
    target = out if out.suffix == ".zip" else out / ARCHIVE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(target, "wb") as fh:
        fh.write(data)
    return target
