"""The reference CNN generator as a Keras 3 functional model (TensorFlow backend).

Layer for layer the PyTorch :class:`ptycho_engine.model.network.Generator`: the same widths,
3x3 'same' convolutions + ReLU, 2x2 max-pooling, nearest x2 upsampling, the amplitude / phase
heads on the central N/2 square (``pad_object``) and the masked SiLU border branch
(``probe_big``). Keras runs channels-last (NHWC); the model takes and returns the engine's
(B, C, N, N) layout. Every convolution is named after its PyTorch module path ('.' -> '_'), which
is all :mod:`.convert` needs to map weights.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .runtime import keras as _keras


def keras_name(torch_path: str) -> str:
    """Keras layer name of the convolution at PyTorch module path ``torch_path``."""
    return torch_path.replace(".", "_")


def _activation(name: str) -> Any:
    ops = _keras().ops
    name = {"silu": "swish"}.get(name, name)
    table = {"sigmoid": ops.sigmoid, "swish": ops.silu, "softplus": ops.softplus, "relu": ops.relu}
    if name not in table:
        raise ValueError(f"amp_activation: expected one of {sorted(table)}, got {name!r}")
    return table[name]


def build_generator(N: int = 64, gridsize: int = 1, n_filters_scale: int = 2, amp_activation: str = "sigmoid",
                    pad_object: bool = True, probe_big: bool = True) -> Any:
    """Keras model: (B, C, N, N) normalised amplitudes -> [(B, C, N, N) amplitude, phase].

    Weights start from Keras' defaults; :func:`.convert.load_torch_state` gives them the PyTorch
    initialisation (or trained weights), which is how both backends start from the same point.
    """
    from ..model.network import C_OUTER, SUPPORTED_N, central_mask, decoder_widths, encoder_widths

    keras = _keras()
    ops = keras.ops
    if N not in SUPPORTED_N:
        raise ValueError(f"N: the CNN supports {list(SUPPORTED_N)}, got {N}")
    C = int(gridsize) ** 2

    def conv(path: str, c_out: int, relu: bool = True) -> Any:
        return keras.layers.Conv2D(c_out, 3, padding="same", activation="relu" if relu else None,
                                   name=keras_name(path))

    def up_block(path: str, h: Any, width: int) -> Any:
        h = conv(f"{path}.0", width)(h)
        h = conv(f"{path}.2", width)(h)
        return keras.layers.UpSampling2D(2, interpolation="nearest")(h)

    x_in = keras.Input((C, N, N), name="amplitudes")
    h = ops.transpose(x_in, (0, 2, 3, 1))
    for i, width in enumerate(encoder_widths(N, n_filters_scale)):
        h = conv(f"encoder.{i}.0", width)(h)
        h = conv(f"encoder.{i}.2", width)(h)
        h = keras.layers.MaxPooling2D(2)(h)
    z, c_bottleneck = h, encoder_widths(N, n_filters_scale)[-1]
    border_mask = (1.0 - central_mask(N).numpy()).astype(np.float32)[None, :, :, None]

    def head(prefix: str, act: Any) -> Any:
        h, c = z, c_bottleneck
        for j, width in enumerate(decoder_widths(N, n_filters_scale)):
            h, c = up_block(f"{prefix}.base.{j}", h, width), width
        if not pad_object:
            h = up_block(f"{prefix}.up", h, c)
            return act(conv(f"{prefix}.last", C, relu=False)(h))
        q = N // 4
        c_main = c - C_OUTER if probe_big else c
        out = act(conv(f"{prefix}.last", C, relu=False)(h[..., :c_main]))
        out = ops.pad(out, ((0, 0), (q, q), (q, q), (0, 0)))
        if probe_big:
            b = up_block(f"{prefix}.border_up", h[..., c_main:], n_filters_scale * (2048 // N))
            b = ops.silu(conv(f"{prefix}.border_last", C, relu=False)(b))
            out = out + b * border_mask
        return out

    amp = head("amp_head", _activation(amp_activation))
    phase = head("phase_head", lambda t: math.pi * ops.tanh(t))
    to_nchw = (0, 3, 1, 2)
    return keras.Model(x_in, [ops.transpose(amp, to_nchw), ops.transpose(phase, to_nchw)], name="generator")
