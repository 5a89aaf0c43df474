"""Read a PtychoPINN (reference implementation, TensorFlow backend) ``wts.h5.zip`` without TensorFlow.

Layout (its ``ptycho/model_manager.py``): ``manifest.dill`` ({'models': [...], 'version'}) and per
model a folder ``<name>/`` with ``model.keras`` (Keras 3 zip: ``config.json`` + ``model.weights.h5``),
``model.h5`` (only an ``intensity_scale`` attribute), ``params.dill`` (the legacy params dict, probe
included) and ``custom_objects.dill`` (pickled classes: never read). Only ``diffraction_to_obj`` is
used: its layer graph in ``config.json`` is walked backwards from the ``obj`` layer to find which
Keras convolution is which of our CNN's (:mod:`ptycho_engine.model.network`), and its kernels are
transposed from Keras HWIO to torch OIHW. Pickles go through :mod:`.safe_pickle` only.

Units: the reference's ``diffraction_to_obj`` divides its input by ``exp(log_scale)`` (the saved
intensity scale s) before the first convolution, so the imported model's ``input_scale`` is 1/s and
``predict_object(x)`` equals the reference's ``obj`` output for the same ``x``. The reference feeds
that network ``s * a * diffraction`` with ``a`` the scan's own normalisation (facts 1.2);
:func:`adapt_to_scan` sets those units for a scan before inference.
"""
from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..archive import ArchiveError, LoadedModel
from .safe_pickle import safe_loads

#: the manifest "format" of a model imported from the reference
REFERENCE_FORMAT = "ptychopinn-tf-keras3"
MODEL_NAME = "diffraction_to_obj"
MODEL_MEMBERS = ("model.keras", "model.h5", "params.dill", "custom_objects.dill")
MAX_SMALL_BYTES = 1 << 20
MAX_PARAMS_BYTES = 64 << 20
MAX_KERAS_BYTES = 2 << 30
MAX_CONFIG_BYTES = 16 << 20
#: how many decoder feature maps feed the reference's probe_big border branch
C_OUTER = 4


def is_reference_archive(path: str | Path) -> bool:
    """True for a zip holding ``manifest.dill`` and no ``manifest.json`` (decided from the directory only)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        return False
    return "manifest.dill" in names and "manifest.json" not in names


# ----------------------------------------------------------------------------- zip members
def _read(zf: zipfile.ZipFile, name: str, path: Path, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError as exc:
        raise ArchiveError(f"{path}: member {name!r} is missing; a PtychoPINN archive holds manifest.dill and "
                           f"<model>/{{{', '.join(MODEL_MEMBERS)}}} (found {sorted(zf.namelist())[:12]})") from exc
    if info.file_size > limit:
        raise ArchiveError(f"{path}: member {name!r} would unpack to {info.file_size} bytes; expected at most "
                           f"{limit} (refused before reading)")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except Exception as exc:  # BadZipFile, zlib.error, CRC mismatch
        raise ArchiveError(f"{path}: member {name!r} is corrupt ({type(exc).__name__}: {exc})") from exc
    if len(data) > limit:
        raise ArchiveError(f"{path}: member {name!r} unpacks to more than {limit} bytes")
    return data


def _check_layout(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse layouts this reader cannot use (TF SavedModel, unknown members) by name."""
    names = [n for n in zf.namelist() if not n.endswith("/")]
    saved = [n for n in names if n.endswith("saved_model.pb") or "/variables/" in n]
    if saved:
        raise ArchiveError(f"{path}: this PtychoPINN archive uses the older TensorFlow SavedModel layout (found "
                           f"{saved[:4]}); it cannot be read without TensorFlow. Expected "
                           f"'{MODEL_NAME}/model.keras' (Keras 3): re-save the model with a current PtychoPINN")
    torch_port = [n for n in names if n.endswith(".pth")]
    if torch_port:
        raise ArchiveError(f"{path}: this is a PtychoPINN PyTorch-backend archive (found {torch_port[:2]}); only its "
                           f"TensorFlow backend's layout ('{MODEL_NAME}/model.keras', Keras 3) can be read")
    unknown = [n for n in names if n != "manifest.dill" and not (n.count("/") == 1 and n.split("/")[1] in MODEL_MEMBERS)]
    if unknown:
        raise ArchiveError(f"{path}: unexpected member(s) {unknown[:5]} in a PtychoPINN archive; expected "
                           f"manifest.dill and <model>/{{{', '.join(MODEL_MEMBERS)}}}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ArchiveError(f"{path}: member(s) {dupes} appear more than once (a tampered archive)")


# ----------------------------------------------------------------------------- params
@dataclass
class ReferenceParts:
    """What the archive says, before any torch model is built."""

    manifest: dict[str, Any]
    params: dict[str, Any]
    intensity_scale: float
    probe: np.ndarray
    arch: dict[str, Any]


def _param(params: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in params:
        raise ArchiveError(f"{where}: key {key!r} is missing from the params dict")
    value = params[key]
    if isinstance(value, bool) and kind is not bool:
        raise ArchiveError(f"{where}: key {key!r}: expected {kind}, found the bool {value!r}")
    if not isinstance(value, kind):
        raise ArchiveError(f"{where}: key {key!r}: expected {kind}, found {type(value).__name__} {value!r:.40}")
    return value


def _read_parts(zf: zipfile.ZipFile, path: Path) -> ReferenceParts:
    _check_layout(zf, path)
    manifest = safe_loads(_read(zf, "manifest.dill", path, MAX_SMALL_BYTES), f"{path}: manifest.dill")
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, list) or MODEL_NAME not in models:
        raise ArchiveError(f"{path}: manifest.dill key 'models': expected a list naming {MODEL_NAME!r}, found "
                           f"{models!r:.80}")
    where = f"{path}: {MODEL_NAME}/params.dill"
    params = safe_loads(_read(zf, f"{MODEL_NAME}/params.dill", path, MAX_PARAMS_BYTES), where)
    if not isinstance(params, dict):
        raise ArchiveError(f"{where}: expected a dict of parameters, found {type(params).__name__}")
    arch_name = params.get("architecture", "cnn")
    if arch_name != "cnn":
        raise ArchiveError(f"{where}: key 'architecture': expected 'cnn' (the only PtychoPINN network this engine "
                           f"has), found {arch_name!r}")
    N = _param(params, "N", int, where)
    gridsize = _param(params, "gridsize", int, where)
    probe = _param(params, "probe", np.ndarray, where)
    if probe.dtype.kind not in "fc" or probe.size != N * N:
        raise ArchiveError(f"{where}: key 'probe': expected an ({N}, {N}) numeric array, found {probe.dtype} "
                           f"{probe.shape}")
    probe = probe.reshape(N, N).astype(np.complex64)
    scale = _intensity_scale(zf, path, params)
    if not np.all(np.isfinite(probe.view(np.float32))):
        raise ArchiveError(f"{where}: key 'probe' holds NaN or infinite values")
    arch = {"N": N, "gridsize": gridsize,
            "n_filters_scale": _param(params, "n_filters_scale", int, where),
            "amp_activation": _param(params, "amp_activation", str, where),
            "object_big": bool(_param(params, "object.big", bool, where)),
            "probe_big": bool(_param(params, "probe.big", bool, where)),
            "pad_object": bool(_param(params, "pad_object", bool, where)),
            "probe_mask": bool(params.get("probe.mask", False)),
            "gaussian_smoothing_sigma": float(params.get("gaussian_smoothing_sigma", 0.0) or 0.0),
            "generator": "cnn"}
    if gridsize > 1 and not arch["object_big"]:
        raise ArchiveError(f"{where}: gridsize {gridsize} with object.big False predicts one patch per group; "
                           "this engine's CNN predicts one per pattern (expected object.big True)")
    return ReferenceParts(manifest=manifest, params=params, intensity_scale=scale, probe=probe, arch=arch)


def _intensity_scale(zf: zipfile.ZipFile, path: Path, params: dict[str, Any]) -> float:
    """The trained scale: model.h5's attribute (what the reference's save writes), else params."""
    import h5py

    name = f"{MODEL_NAME}/model.h5"
    value: Any = None
    if name in zf.namelist():
        try:
            with h5py.File(io.BytesIO(_read(zf, name, path, MAX_SMALL_BYTES)), "r") as h5:
                value = h5.attrs.get("intensity_scale")
        except ArchiveError:
            raise
        except Exception as exc:
            raise ArchiveError(f"{path}: {name} is unreadable ({type(exc).__name__}: {exc})") from exc
    if value is None:
        value = params.get("intensity_scale")
    try:
        scale = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError) as exc:
        raise ArchiveError(f"{path}: {name} attribute 'intensity_scale': expected a number, found {value!r:.40}") from exc
    if not (math.isfinite(scale) and scale > 0):
        raise ArchiveError(f"{path}: {name} attribute 'intensity_scale': expected a positive number, found {scale}")
    return scale


# ----------------------------------------------------------------------------- the Keras graph
class _Graph:
    """config.json's functional graph: layer name -> (class, config, inbound layer names)."""

    def __init__(self, config: dict[str, Any], where: str) -> None:
        self.where = where
        try:
            layers = config["config"]["layers"]
        except (KeyError, TypeError) as exc:
            raise ArchiveError(f"{where}: expected a Keras functional model (config.layers), found keys "
                               f"{sorted(config)[:8] if isinstance(config, dict) else type(config).__name__}") from exc
        self.layers: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        for layer in layers:
            name = layer.get("name") or layer.get("config", {}).get("name")
            self.layers[name] = layer
            self.order.append(name)

    def cls(self, name: str) -> str:
        return self.layers[name]["class_name"]

    def conf(self, name: str) -> dict[str, Any]:
        return self.layers[name].get("config", {})

    def inputs(self, name: str) -> list[str]:
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                if value.get("class_name") == "__keras_tensor__":
                    found.append(value["config"]["keras_history"][0])
                else:
                    for v in value.values():
                        walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        for node in self.layers[name].get("inbound_nodes", []):
            walk(node.get("args", []) if isinstance(node, dict) else node)
        return found

    def expect(self, name: str, *classes: str) -> str:
        if name not in self.layers or self.cls(name) not in classes:
            found = self.cls(name) if name in self.layers else "nothing"
            raise ArchiveError(f"{self.where}: layer {name!r}: expected a {' or '.join(classes)} layer here (the "
                               f"reference CNN), found {found}")
        return name

    def single(self, name: str, *classes: str) -> str:
        """The one input of ``name``, which must be one of ``classes``."""
        ins = self.inputs(name)
        if len(ins) != 1:
            raise ArchiveError(f"{self.where}: layer {name!r}: expected one input, found {ins}")
        return self.expect(ins[0], *classes)

    def getitem_slice(self, name: str) -> tuple[Any, Any]:
        args = self.layers[name]["inbound_nodes"][0]["args"]
        try:
            sl = [a for a in args[1] if a.get("class_name") == "__slice__"][0]["config"]
        except (IndexError, KeyError, TypeError, AttributeError) as exc:
            raise ArchiveError(f"{self.where}: layer {name!r}: expected a channel slice [..., a:b]") from exc
        return sl.get("start"), sl.get("stop")


def _conv(g: _Graph, name: str, activation: str) -> str:
    c = g.conf(name)
    ok = (c.get("kernel_size") in ([3, 3], (3, 3)) and c.get("padding") == "same" and c.get("strides", [1, 1]) == [1, 1]
          and c.get("dilation_rate", [1, 1]) == [1, 1] and c.get("groups", 1) == 1 and c.get("use_bias", True)
          and c.get("data_format", "channels_last") == "channels_last")
    if not ok or c.get("activation") != activation:
        raise ArchiveError(f"{g.where}: layer {name!r}: expected a 3x3 'same' Conv2D with activation {activation!r}, "
                           f"found kernel {c.get('kernel_size')}, padding {c.get('padding')!r}, activation "
                           f"{c.get('activation')!r}")
    return name


def _up_block(g: _Graph, up: str) -> tuple[list[str], str]:
    """UpSampling2D <- Conv2D <- Conv2D: ([conv0, conv1], the block's input)."""
    g.expect(up, "UpSampling2D")
    c = g.conf(up)
    if c.get("size") not in ([2, 2], (2, 2)) or c.get("interpolation", "nearest") != "nearest":
        raise ArchiveError(f"{g.where}: layer {up!r}: expected nearest x2 upsampling, found {c}")
    c1 = _conv(g, g.single(up, "Conv2D"), "relu")
    c0 = _conv(g, g.single(c1, "Conv2D"), "relu")
    return [c0, c1], g.inputs(c0)[0]


def _pool_block(g: _Graph, pool: str) -> tuple[list[str], str]:
    g.expect(pool, "MaxPooling2D")
    if g.conf(pool).get("pool_size") not in ([2, 2], (2, 2)):
        raise ArchiveError(f"{g.where}: layer {pool!r}: expected a 2x2 max-pool, found {g.conf(pool)}")
    c1 = _conv(g, g.single(pool, "Conv2D"), "relu")
    c0 = _conv(g, g.single(c1, "Conv2D"), "relu")
    return [c0, c1], g.inputs(c0)[0]


def _head(g: _Graph, out: str, prefix: str, arch: dict[str, Any]) -> tuple[dict[str, str], str, str]:
    """({state-dict prefix: Keras conv name}, activation layer, bottleneck layer) of one output head."""
    N = arch["N"]
    convs: dict[str, str] = {}
    node = out
    split_src = None
    if g.cls(node) == "Add":
        ins = g.inputs(node)
        padded = [n for n in ins if g.cls(n) == "ZeroPadding2D"]
        mult = [n for n in ins if g.cls(n) == "Multiply"]
        if len(padded) != 1 or len(mult) != 1:
            raise ArchiveError(f"{g.where}: layer {node!r}: expected padded object + masked border branch, found "
                               f"{[(n, g.cls(n)) for n in ins]}")
        silu = [n for n in g.inputs(mult[0]) if g.cls(n) in ("Silu", "Swish")]
        mask = [n for n in g.inputs(mult[0]) if g.cls(n) == "CenterMaskLayer"]
        if len(silu) != 1 or len(mask) != 1 or g.conf(mask[0]).get("kind") != "border" or g.conf(mask[0]).get("N") != N:
            raise ArchiveError(f"{g.where}: layer {mult[0]!r}: expected SiLU(conv) x border mask of N={N}, found "
                               f"{[(n, g.cls(n)) for n in g.inputs(mult[0])]}")
        last = _conv(g, g.single(silu[0], "Conv2D"), "linear")
        (b0, b1), get = _up_block(g, g.single(last, "UpSampling2D"))
        g.expect(get, "GetItem")
        if g.getitem_slice(get) != (-C_OUTER, None):
            raise ArchiveError(f"{g.where}: layer {get!r}: expected the last {C_OUTER} channels [..., -4:], found "
                               f"slice {g.getitem_slice(get)}")
        convs.update({f"{prefix}.border_up.0": b0, f"{prefix}.border_up.2": b1, f"{prefix}.border_last": last})
        split_src = g.inputs(get)[0]
        node = padded[0]
    if g.cls(node) == "ZeroPadding2D":
        pad = g.conf(node).get("padding")
        if pad not in ([[N // 4, N // 4], [N // 4, N // 4]], [N // 4, N // 4]):
            raise ArchiveError(f"{g.where}: layer {node!r}: expected zero padding {N // 4} on each side, found {pad}")
        act = g.single(node, "ActivationLayer")
        last = _conv(g, g.single(act, "Conv2D"), "linear")
        get = g.single(last, "GetItem")  # [..., :-4] with or without the border branch
        if g.getitem_slice(get) != (None, -C_OUTER):
            raise ArchiveError(f"{g.where}: layer {get!r}: expected the channel slice [..., :-{C_OUTER}], found "
                               f"{g.getitem_slice(get)}")
        src = g.inputs(get)[0]
        if split_src is not None and split_src != src:
            raise ArchiveError(f"{g.where}: the border branch and the object of {out!r} start from different layers "
                               f"({split_src!r}, {src!r})")
        convs[f"{prefix}.last"] = last
    else:
        act = g.expect(node, "ActivationLayer")
        last = _conv(g, g.single(act, "Conv2D"), "linear")
        (u0, u1), src = _up_block(g, g.single(last, "UpSampling2D"))
        convs.update({f"{prefix}.up.0": u0, f"{prefix}.up.2": u1, f"{prefix}.last": last})
    blocks = []
    while g.cls(src) == "UpSampling2D":
        pair, src = _up_block(g, src)
        blocks.append(pair)
    for j, (c0, c1) in enumerate(reversed(blocks)):
        convs[f"{prefix}.base.{j}.0"], convs[f"{prefix}.base.{j}.2"] = c0, c1
    return convs, act, g.expect(src, "MaxPooling2D")


def map_graph(config: dict[str, Any], arch: dict[str, Any], where: str) -> dict[str, str]:
    """{our state-dict prefix (e.g. 'encoder.0.0'): Keras layer name}, checked against ``arch``."""
    g = _Graph(config, where)
    objs = [n for n in g.order if g.cls(n) == "CombineComplexLayer"]
    if len(objs) != 1:
        raise ArchiveError(f"{where}: expected one CombineComplexLayer ('obj'), found {objs}")
    obj = objs[0]
    if not g.conf(obj).get("use_polar", True):
        raise ArchiveError(f"{where}: layer {obj!r} key 'use_polar': expected true (amplitude * exp(i phase)), "
                           "found false (the pre-fix A + i*phi models are not supported)")
    ins = g.inputs(obj)
    if len(ins) != 2:
        raise ArchiveError(f"{where}: layer {obj!r}: expected [amplitude, phase] inputs, found {ins}")
    mapping: dict[str, str] = {}
    amp, amp_act, bottleneck = _head(g, ins[0], "amp_head", arch)
    phase, phase_act, bottleneck2 = _head(g, ins[1], "phase_head", arch)
    if bottleneck != bottleneck2:
        raise ArchiveError(f"{where}: the amplitude and phase decoders start from different layers")
    a, p = g.conf(amp_act), g.conf(phase_act)
    if a.get("activation_name") != arch["amp_activation"] or float(a.get("scale", 1.0)) != 1.0:
        raise ArchiveError(f"{where}: layer {amp_act!r}: expected activation {arch['amp_activation']!r} (params.dill "
                           f"amp_activation) with scale 1, found {a.get('activation_name')!r} x {a.get('scale')}")
    if p.get("activation_name") != "tanh" or abs(float(p.get("scale", 0)) - math.pi) > 1e-6:
        raise ArchiveError(f"{where}: layer {phase_act!r}: expected pi * tanh, found {p.get('activation_name')!r} "
                           f"x {p.get('scale')}")
    mapping.update(amp)
    mapping.update(phase)
    blocks, src = [], bottleneck
    while g.cls(src) == "MaxPooling2D":
        pair, src = _pool_block(g, src)
        blocks.append(pair)
    for i, (c0, c1) in enumerate(reversed(blocks)):
        mapping[f"encoder.{i}.0"], mapping[f"encoder.{i}.2"] = c0, c1
    g.expect(src, "IntensityScaler")
    inp = g.single(src, "InputLayer")
    shape = g.conf(inp).get("batch_shape")
    C = arch["gridsize"] ** 2
    if list(shape or [])[1:] != [arch["N"], arch["N"], C]:
        raise ArchiveError(f"{where}: input layer {inp!r}: expected shape (batch, {arch['N']}, {arch['N']}, {C}) from "
                           f"params.dill, found {shape}")
    return mapping


def _keras_weights(h5: Any, where: str) -> dict[str, list[Any]]:
    """{Keras layer name: [vars/0, vars/1, ...]} of the top-level layers: h5py datasets, not yet read."""
    import h5py

    out: dict[str, list[Any]] = {}
    layers = h5.get("layers")
    if not isinstance(layers, h5py.Group):
        raise ArchiveError(f"{where}: model.weights.h5 has no 'layers' group (found {sorted(h5.keys())[:8]})")
    for key in layers:
        vars_ = layers[key].get("vars") if isinstance(layers[key], h5py.Group) else None
        if not isinstance(vars_, h5py.Group) or len(vars_) == 0:
            continue
        name = vars_.attrs.get("name", key)
        name = name.decode() if isinstance(name, bytes) else str(name)
        datasets = []
        for i in range(len(vars_)):
            ds = vars_.get(str(i))
            if not isinstance(ds, h5py.Dataset) or ds.dtype.kind != "f":
                raise ArchiveError(f"{where}: model.weights.h5 'layers/{key}/vars/{i}': expected a float dataset")
            datasets.append(ds)
        out[name] = datasets
    return out


def _read_checked(ds: Any, shape: tuple[int, ...], layer: str, what: str, where: str) -> np.ndarray:
    """The dataset's values, after its header says it has ``shape`` (a small file cannot claim a huge array)."""
    if tuple(ds.shape) != shape:
        raise ArchiveError(f"{where}: layer {layer!r} {what}: expected shape {shape} (the architecture in params.dill), "
                           f"found {tuple(ds.shape)}")
    value = np.asarray(ds[()], dtype=np.float32)
    if not np.all(np.isfinite(value)):
        raise ArchiveError(f"{where}: layer {layer!r} {what} holds NaN or infinite values")
    return value


def _read_keras(zf: zipfile.ZipFile, path: Path, limit: int) -> tuple[dict[str, Any], bytes]:
    name = f"{MODEL_NAME}/model.keras"
    raw = _read(zf, name, path, min(limit, MAX_KERAS_BYTES))
    where = f"{path}: {name}"
    try:
        inner = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{where}: expected a Keras 3 zip (config.json + model.weights.h5), found no zip") from exc
    with inner:
        cfg_raw = _read(inner, "config.json", Path(where), MAX_CONFIG_BYTES)
        weights = _read(inner, "model.weights.h5", Path(where), limit)
    try:
        config = json.loads(cfg_raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ArchiveError(f"{where}: config.json is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ArchiveError(f"{where}: config.json: expected an object, found {type(config).__name__}")
    return config, weights


# ----------------------------------------------------------------------------- public entry points
def reference_manifest(path: str | Path) -> dict[str, Any]:
    """A manifest in our terms (format, backend, architecture) for a reference archive."""
    p = Path(path)
    with _open(p) as zf:
        parts = _read_parts(zf, p)
    return _manifest(parts)


def reference_config(path: str | Path) -> dict[str, Any]:
    """{"model": {...}, "training": {...}} in our ModelConfig / TrainingConfig terms."""
    p = Path(path)
    with _open(p) as zf:
        parts = _read_parts(zf, p)
    return _config(parts)


def _open(p: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(f"{p}: not a valid wts.h5.zip archive ({exc})") from exc


def _manifest(parts: ReferenceParts) -> dict[str, Any]:
    return {"format": REFERENCE_FORMAT, "backend": "tensorflow", "format_version": 1, "engine_version": None,
            "reference_version": parts.manifest.get("version"), "models": list(parts.manifest.get("models", [])),
            "intensity_scale": parts.intensity_scale, "architecture": dict(parts.arch)}


def _config(parts: ReferenceParts) -> dict[str, Any]:
    p = parts.params
    model = dict(parts.arch)
    if isinstance(p.get("probe_scale"), (int, float)) and not isinstance(p.get("probe_scale"), bool):
        model["probe_scale"] = float(p["probe_scale"])
    training: dict[str, Any] = {}
    for ours, theirs in (("nphotons", "nphotons"), ("batch_size", "batch_size"), ("nepochs", "nepochs"),
                         ("probe_trainable", "probe.trainable"),
                         ("intensity_scale_trainable", "intensity_scale.trainable")):
        value = p.get(theirs)
        if isinstance(value, (bool, int, float)):
            training[ours] = value
    return {"model": model, "training": training}


def load_reference_archive(path: str | Path, device: str | Any = "cpu") -> LoadedModel:
    """The reference archive's ``diffraction_to_obj`` as our ``cnn`` PtychoPINN (strict; never runs its code)."""
    import h5py
    import torch

    from ..model.pinn import PtychoPINN

    p = Path(path)
    with _open(p) as zf:
        parts = _read_parts(zf, p)
        s = parts.intensity_scale
        try:
            model = PtychoPINN(parts.probe, **{k: v for k, v in parts.arch.items()},
                               input_scale=1.0 / s, log_gain=math.log(s), counts_scale=1.0)
        except (ValueError, TypeError) as exc:
            raise ArchiveError(f"{p}: {MODEL_NAME}/params.dill does not describe a network this engine has ({exc})") from exc
        expected = model.state_dict()
        need = sum(t.numel() * 4 for t in expected.values())
        config, weights = _read_keras(zf, p, 2 * need + (32 << 20))
    where = f"{p}: {MODEL_NAME}/model.keras"
    try:
        mapping = map_graph(config, parts.arch, f"{where} config.json")
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"{where} config.json: expected the reference CNN's Keras layer graph, found a malformed "
                           f"one ({type(exc).__name__}: {exc})") from exc
    ours = {k[len("generator."):].rsplit(".", 1)[0] for k in expected if k.startswith("generator.")}
    if set(mapping) != ours:
        flags = {k: parts.arch[k] for k in ("probe_big", "pad_object", "object_big")}
        raise ArchiveError(f"{where} config.json: the layer graph has convolutions for {sorted(set(mapping) - ours)[:4]} "
                           f"and lacks {sorted(ours - set(mapping))[:4]} compared with the architecture in params.dill "
                           f"({flags})")
    state: dict[str, Any] = {}
    try:
        with h5py.File(io.BytesIO(weights), "r") as h5:
            kw = _keras_weights(h5, where)
            for prefix, layer in mapping.items():
                datasets = kw.get(layer)
                if datasets is None or len(datasets) != 2:
                    raise ArchiveError(f"{where}: model.weights.h5 has no kernel and bias for layer {layer!r} (found "
                                       f"{None if datasets is None else len(datasets)} arrays)")
                w_ref = expected[f"generator.{prefix}.weight"]
                o, i, kh, kw_ = tuple(w_ref.shape)
                if prefix.endswith(".last") and parts.arch["pad_object"] and not parts.arch["probe_big"]:
                    i -= C_OUTER  # the reference's last conv never sees the last 4 decoder channels
                kernel = _read_checked(datasets[0], (kh, kw_, i, o), layer, "kernel", where)
                kernel = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
                if i != w_ref.shape[1]:  # zero weights for the channels it never sees
                    kernel = np.concatenate([kernel, np.zeros((o, C_OUTER, kh, kw_), np.float32)], axis=1)
                bias = _read_checked(datasets[1], (o,), layer, "bias", where)
                state[f"generator.{prefix}.weight"] = torch.from_numpy(kernel)
                state[f"generator.{prefix}.bias"] = torch.from_numpy(bias)
    except ArchiveError:
        raise
    except Exception as exc:
        raise ArchiveError(f"{where}: model.weights.h5 is unreadable ({type(exc).__name__}: {exc})") from exc
    missing = sorted(k for k in expected if k.startswith("generator.") and k not in state)
    if missing:
        raise ArchiveError(f"{where}: no Keras layer maps to {missing[:4]} of the reference CNN")
    unused = sorted(set(kw) - set(mapping.values()))
    if unused:
        raise ArchiveError(f"{where}: model.weights.h5 holds weights of layers {unused[:5]} that the reference CNN "
                           "does not have")
    model.load_state_dict(state, strict=False)
    dev = torch.device(device)
    model.to(dev).eval()
    return LoadedModel(model=model, config=_config(parts), params=_plain_params(parts.params),
                       manifest=_manifest(parts), extras={"intensity_scale": s}, device=str(dev), path=p)


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """The params dict without arrays (the probe lives in the model)."""
    return {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool)) or v is None}


def is_imported(loaded: LoadedModel) -> bool:
    return loaded.manifest.get("format") == REFERENCE_FORMAT


def adapt_to_scan(loaded: LoadedModel, diffraction: Any, indices: np.ndarray | None = None) -> float:
    """Put an imported model into the units of ``diffraction`` (the scan's own amplitudes).

    The reference normalises every scan by ``a = sqrt((N/2)^2 / mean sum X^2)`` and feeds the
    network ``s * a * X``; the imported model takes ``s * a * X`` (input_scale 1/s), so its scales
    are multiplied by ``f = s * a``; ``indices`` (sorted) restricts ``a`` to the patterns used.
    Returns ``a``. Our own archives are left alone (their input scale comes from their training).
    """
    import torch

    from ..model.pinn import input_scale_from_data

    if not is_imported(loaded):
        return 1.0
    model = loaded.model
    a = input_scale_from_data(diffraction, model.N, indices)
    f = float(loaded.extras["intensity_scale"]) * a
    s = float(loaded.extras["intensity_scale"])
    with torch.no_grad():
        model.input_scale.fill_(1.0 / s * f)
        model.log_gain.fill_(math.log(s) - math.log(f))
        model.counts_scale.fill_(f * f)
    return a
