"""The Keras 3 ``config.json`` of the reference's ``autoencoder`` / ``diffraction_to_obj`` models.

Why by hand: the reference loader (``ModelManager.load_model``) rebuilds ``model.keras`` with
``keras.models.load_model`` and copies ``get_weights()`` into its own freshly built model, so the
exported graph must be the one its ``create_model_with_gridsize`` builds: same layers, same
auto-generated names, same order. This module replays that construction (encoder, amplitude and
phase decoders with the ``probe_big`` border branch, ``obj``, reassembly and the physics tail)
as JSON, without TensorFlow. :func:`layer_order` is Keras's own ordering of a functional
model's layers (``keras.src.ops.function.map_graph``), which also fixes the ``model.weights.h5``
paths (class name in snake case, numbered in that order).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

Tensor = tuple[str, int, list[Any], str]  # (layer name, output index, shape, dtype)
C_OUTER = 4


def _policy(name: str = "float32") -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _kt(t: Tensor) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"shape": t[2], "dtype": t[3], "keras_history": [t[0], 0, t[1]]}}


def snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class GraphBuilder:
    """Records layers as the reference creates them (names numbered per class, in creation order)."""

    def __init__(self) -> None:
        self.layers: dict[str, dict[str, Any]] = {}
        self.inputs_of: dict[str, list[str]] = {}
        self.counts: Counter[str] = Counter()
        self.sublayers: dict[str, list[tuple[str, str]]] = {}

    def auto(self, base: str) -> str:
        n = self.counts[base]
        self.counts[base] += 1
        return base if n == 0 else f"{base}_{n}"

    def _add(self, name: str, entry: dict[str, Any], args: list[Any], ins: list[Tensor]) -> None:
        entry["name"] = name
        entry["inbound_nodes"] = [{"args": args, "kwargs": {}}] if args is not None else []
        self.layers[name] = entry
        self.inputs_of[name] = [t[0] for t in ins]

    def layer(self, module: str, cls: str, registered: str | None, name: str, config: dict[str, Any],
              args: list[Any], ins: list[Tensor], build: Any = None, dtype: str = "float32") -> None:
        cfg = {"name": name, "trainable": True, "dtype": _policy(dtype), **config}
        entry: dict[str, Any] = {"module": module, "class_name": cls, "config": cfg, "registered_name": registered}
        if build is not None:
            entry["build_config"] = {"input_shape": build}
        self._add(name, entry, args, ins)

    def op(self, module: str, cls: str, base: str, args: list[Any], ins: list[Tensor]) -> str:
        name = self.auto(base)
        self._add(name, {"module": module, "class_name": cls, "config": {"name": name}, "registered_name": cls},
                  args, ins)
        return name

    # ------------------------------------------------------------------ the layers the reference uses
    def input(self, name: str, shape: list[Any]) -> Tensor:
        self._add(name, {"module": "keras.layers", "class_name": "InputLayer",
                         "config": {"batch_shape": shape, "dtype": "float32", "sparse": False, "ragged": False,
                                    "name": name, "optional": False}, "registered_name": None}, None, [])
        return (name, 0, shape, "float32")

    def conv(self, name: str, x: Tensor, filters: int, activation: str) -> Tensor:
        config = {"filters": filters, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                  "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": activation,
                  "use_bias": True,
                  "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                         "config": {"seed": None, "input_axes": None, "output_axes": None},
                                         "registered_name": None},
                  "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                       "registered_name": None},
                  "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                  "kernel_constraint": None, "bias_constraint": None}
        self.layer("keras.layers", "Conv2D", None, name, config, [_kt(x)], [x], build=x[2])
        return (name, 0, x[2][:3] + [filters], "float32")

    def pool(self, x: Tensor) -> Tensor:
        name = self.auto("max_pooling2d")
        self.layer("keras.layers", "MaxPooling2D", None, name,
                   {"pool_size": [2, 2], "padding": "same", "strides": [2, 2], "data_format": "channels_last"},
                   [_kt(x)], [x])
        return (name, 0, [None, x[2][1] // 2, x[2][2] // 2, x[2][3]], "float32")

    def up(self, x: Tensor) -> Tensor:
        name = self.auto("up_sampling2d")
        self.layer("keras.layers", "UpSampling2D", None, name,
                   {"size": [2, 2], "data_format": "channels_last", "interpolation": "nearest"},
                   [_kt(x)], [x], build=x[2])
        return (name, 0, [None, x[2][1] * 2, x[2][2] * 2, x[2][3]], "float32")

    def getitem(self, x: Tensor, start: int | None, stop: int | None) -> Tensor:
        key = [{"class_name": "__ellipsis__", "config": {}},
               {"class_name": "__slice__", "config": {"start": start, "stop": stop, "step": None}}]
        name = self.op("keras.src.ops.numpy", "GetItem", "get_item", [_kt(x), key], [x])
        c = x[2][3]
        n = c - C_OUTER if stop == -C_OUTER else C_OUTER
        return (name, 0, x[2][:3] + [n], "float32")

    def custom(self, module: str, cls: str, name: str, config: dict[str, Any], args: list[Any], ins: list[Tensor],
               build: Any, out_shape: list[Any], dtype: str = "float32", out_dtype: str = "float32",
               registered: str | None = None, outputs: int = 1) -> list[Tensor]:
        self.layer(module, cls, registered or f"ptycho>{cls}", name, config, args, ins, build=build, dtype=dtype)
        return [(name, i, out_shape, out_dtype) for i in range(outputs)]


def two_convs(g: GraphBuilder, x: Tensor, filters: int, convs: list[str]) -> Tensor:
    """Two 3x3 ReLU convolutions (the reference's block), their layer names appended to ``convs``."""
    for _ in range(2):
        name = g.auto("conv2d")
        convs.append(name)
        x = g.conv(name, x, filters, "relu")
    return x


def conv_pool(g: GraphBuilder, x: Tensor, filters: int, convs: list[str]) -> Tensor:
    return g.pool(two_convs(g, x, filters, convs))


def conv_up(g: GraphBuilder, x: Tensor, filters: int, convs: list[str]) -> Tensor:
    return g.up(two_convs(g, x, filters, convs))


def _levels(N: int) -> int:
    return int(round(math.log2(N // 8)))


def build_reference_graph(arch: dict[str, Any], padded_size: int) -> tuple[GraphBuilder, dict[str, str]]:
    """The reference's create_model_with_gridsize as JSON; returns (graph, {our conv prefix: Keras name})."""
    N, gs, nfs = int(arch["N"]), int(arch["gridsize"]), int(arch["n_filters_scale"])
    C = gs * gs
    g = GraphBuilder()
    mapping: dict[str, str] = {}
    x = g.input("input", [None, N, N, C])
    pos = g.input("input_positions", [None, 1, 2, C])
    g.custom("ptycho.model", "IntensityScaler", "intensity_scaler", {}, [[_kt(x)]], [x], [x[2]], x[2])
    x = ("intensity_scaler", 0, x[2], "float32")
    enc_convs: list[str] = []
    for i in range(_levels(N)):
        x = conv_pool(g, x, nfs * 128 // 2 ** (_levels(N) - 1 - i), enc_convs)
    for i in range(len(enc_convs) // 2):
        mapping[f"encoder.{i}.0"], mapping[f"encoder.{i}.2"] = enc_convs[2 * i], enc_convs[2 * i + 1]
    heads = []
    for prefix, act_name in (("amp_head", "amp"), ("phase_head", "phi")):
        heads.append(_decoder(g, x, prefix, act_name, arch, mapping))
    amp, phase = heads
    obj = g.custom("ptycho.custom_layers", "CombineComplexLayer", "obj", {"use_polar": True},
                   [[_kt(amp), _kt(phase)]], [amp, phase], [amp[2], phase[2]], amp[2])[0]
    P = padded_size
    if arch["object_big"]:
        padded = g.custom("ptycho.custom_layers", "ReassemblePatchesLayer", "padded_obj_2",
                          {"padded_size": P, "N": N, "gridsize": gs}, [[_kt(obj), _kt(pos)]], [obj, pos],
                          [obj[2], pos[2]], [None, P, P, 1], dtype="complex64", out_dtype="complex64")[0]
    else:
        padded = g.custom("ptycho.custom_layers", "PadReconstructionLayer", "padded_obj_2", {}, [_kt(obj)], [obj],
                          obj[2], [None, P, P, C], dtype="complex64", out_dtype="complex64")[0]
    trimmed = g.custom("ptycho.custom_layers", "TrimReconstructionLayer", "trimmed_obj", {"output_size": N},
                       [_kt(padded)], [padded], padded[2], [None, N, N, padded[2][3]], dtype="complex64",
                       out_dtype="complex64")[0]
    ext = g.custom("ptycho.custom_layers", "ExtractPatchesPositionLayer", "padded_objs_with_offsets",
                   {"jitter": 0.0, "N": N, "gridsize": gs}, [[_kt(padded), _kt(pos)]], [padded, pos],
                   [padded[2], pos[2]], [None, N, N, 1], dtype="complex64", out_dtype="complex64")[0]
    illum = g.custom("ptycho.model", "ProbeIllumination", "probe_illumination", {"N": N}, [[_kt(ext)]], [ext],
                     [ext[2]], ext[2], out_dtype="complex64", outputs=2)[0]
    diff = g.custom("ptycho.custom_layers", "PadAndDiffractLayer", "pred_amplitude", {"h": N, "w": N, "pad": False},
                    [[_kt((illum[0], 0, ext[2], "float32"))]], [illum], [illum[2]], [None, N, N, 1], outputs=2)
    flat = g.custom("ptycho.custom_layers", "FlatToChannelLayer", "pred_diff_channels", {"N": N, "gridsize": gs},
                    [_kt(diff[1])], [diff[1]], diff[1][2], [None, N, N, C])[0]
    inv = g.custom("ptycho.model", "IntensityScaler_inv", "intensity_scaler_inv", {}, [[_kt(flat)]], [flat],
                   [flat[2]], flat[2])[0]
    g.custom("ptycho.custom_layers", "SquareLayer", "pred_intensity", {}, [_kt(inv)], [inv], inv[2], inv[2])
    return g, mapping


def _decoder(g: GraphBuilder, x: Tensor, prefix: str, act_name: str, arch: dict[str, Any],
             mapping: dict[str, str]) -> Tensor:
    """create_decoder_amp / create_decoder_phase + create_decoder_last, in the reference's creation order."""
    N, nfs = int(arch["N"]), int(arch["n_filters_scale"])
    C = int(arch["gridsize"]) ** 2
    n_out = C if arch["object_big"] else 1
    conv1, conv2 = g.auto("conv2d"), g.auto("conv2d")
    if act_name == "amp":
        act_cfg = {"activation_name": arch["amp_activation"], "scale": 1.0}
    else:
        act_cfg = {"activation_name": "tanh", "scale": math.pi}
    base: list[str] = []
    for j in range(_levels(N) - 1):
        x = conv_up(g, x, nfs * 32 * 2 ** (_levels(N) - 2 - j), base)
    for j in range(len(base) // 2):
        mapping[f"{prefix}.base.{j}.0"], mapping[f"{prefix}.base.{j}.2"] = base[2 * j], base[2 * j + 1]
    scale_factor = 2048 // N
    if not arch["pad_object"]:
        up: list[str] = []
        x2 = conv_up(g, x, nfs * scale_factor, up)
        x2 = g.conv(conv2, x2, n_out, "linear")
        mapping.update({f"{prefix}.up.0": up[0], f"{prefix}.up.2": up[1], f"{prefix}.last": conv2})
        return g.custom("ptycho.custom_layers", "ActivationLayer", act_name, act_cfg, [_kt(x2)], [x2], x2[2], x2[2])[0]
    x1 = g.getitem(x, None, -C_OUTER)
    x1 = g.conv(conv1, x1, n_out, "linear")
    mapping[f"{prefix}.last"] = conv1
    x1 = g.custom("ptycho.custom_layers", "ActivationLayer", act_name, act_cfg, [_kt(x1)], [x1], x1[2], x1[2])[0]
    q = N // 4
    name = "amp_padded" if act_name == "amp" else "phase_padded"
    g.layer("keras.layers", "ZeroPadding2D", None, name, {"padding": [[q, q], [q, q]], "data_format": "channels_last"},
            [_kt(x1)], [x1], build=x1[2])
    x1 = (name, 0, [None, N, N, n_out], "float32")
    if not arch["probe_big"]:
        return x1
    x2 = g.getitem(x, -C_OUTER, None)
    border: list[str] = []
    x2 = conv_up(g, x2, nfs * scale_factor, border)
    x2 = g.conv(conv2, x2, n_out, "linear")
    mapping.update({f"{prefix}.border_up.0": border[0], f"{prefix}.border_up.2": border[1],
                    f"{prefix}.border_last": conv2})
    silu = g.op("keras.src.ops.nn", "Silu", "silu", [_kt(x2)], [x2])
    s = (silu, 0, x2[2], "float32")
    mask = g.auto("center_mask_layer")
    g.sublayers[mask] = [("zero_pad", g.auto("zero_padding2d"))]
    g.layer("ptycho.tf_helper", "CenterMaskLayer", "CenterMaskLayer", mask, {"N": N, "c": 1, "kind": "border"},
            [_kt(s)], [s], build=s[2])
    m = (mask, 0, [None, N, N, 1], "float32")
    mul = g.op("keras.src.ops.numpy", "Multiply", "multiply", [_kt(s), _kt(m)], [s, m])
    mt = (mul, 0, s[2], "float32")
    add = g.op("keras.src.ops.numpy", "Add", "add", [_kt(x1), _kt(mt)], [x1, mt])
    return (add, 0, x1[2], "float32")


def layer_order(g: GraphBuilder, inputs: list[str], outputs: list[str]) -> list[str]:
    """Keras's ``map_graph`` order of the layers needed for ``outputs`` (one node per layer)."""
    order: list[str] = []  # DFS post-order (nodes in decreasing depth)
    index: dict[str, int] = {}
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        index.setdefault(name, len(index))
        for parent in g.inputs_of[name]:
            visit(parent)
        done.add(name)
        order.append(name)

    for out in outputs:
        visit(out)
    depth: dict[str, int] = {}
    for name in reversed(order):
        d = depth.setdefault(name, 0)
        for parent in g.inputs_of[name]:
            depth[parent] = max(d + 1, depth.get(parent, 0))
    for name in inputs:
        if name not in depth:
            depth[name], index[name] = 0, -1
    by_depth: dict[int, list[str]] = {}
    for name, d in depth.items():
        by_depth.setdefault(d, []).append(name)
    result: list[str] = []
    for d in sorted(by_depth, reverse=True):
        result.extend(sorted(by_depth[d], key=lambda n: index[n]))
    return result


def model_config(g: GraphBuilder, outputs: list[str], name: str) -> tuple[dict[str, Any], list[str]]:
    """({config.json}, layer order) of the functional model with these outputs."""
    inputs = ["input", "input_positions"]
    order = layer_order(g, inputs, outputs)
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "config": {"name": name, "trainable": True, "layers": [g.layers[n] for n in order],
                         "input_layers": [[n, 0, 0] for n in inputs],
                         "output_layers": [[n, 0, 0] for n in outputs]},
              "registered_name": "Functional", "build_config": {"input_shape": None}}
    return config, order
