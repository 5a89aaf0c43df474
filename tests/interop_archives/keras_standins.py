"""Keras stand-ins for the reference's custom layers (tests only; needs TensorFlow + Keras 3).

The layers on the diffraction -> object path compute what the reference's do (ptycho/model.py,
ptycho/custom_layers.py, ptycho/tf_helper.py); the physics tail only has plausible shapes, enough
for ``keras.saving.load_model`` to rebuild an ``autoencoder`` graph and list its weights.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any


def make_standins(keras: Any, tf: Any) -> SimpleNamespace:
    """Register the stand-ins with ``keras`` (package 'ptycho') and return load / obj_model helpers."""
    #: the IntensityScaler's log scale (a raw tf.Variable in the reference, not saved with the model)
    LOG_SCALE = {"value": 0.0}

    def _layer(cls):
        return keras.saving.register_keras_serializable(package="ptycho")(cls)

    @_layer
    class IntensityScaler(keras.layers.Layer):
        def call(self, inputs):
            (x,) = inputs
            return x / math.exp(LOG_SCALE["value"])

    @_layer
    class IntensityScaler_inv(keras.layers.Layer):  # noqa: N801 - the reference's name
        def call(self, inputs):
            (x,) = inputs
            return math.exp(LOG_SCALE["value"]) * x

    @_layer
    class ActivationLayer(keras.layers.Layer):
        def __init__(self, activation_name="sigmoid", scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.activation_name, self.scale = activation_name, scale

        def call(self, x):
            fn = {"sigmoid": tf.nn.sigmoid, "swish": tf.nn.swish, "softplus": tf.nn.softplus, "relu": tf.nn.relu}
            return self.scale * tf.nn.tanh(x) if self.activation_name == "tanh" else fn[self.activation_name](x)

        def get_config(self):
            return {**super().get_config(), "activation_name": self.activation_name, "scale": self.scale}

    class CenterMaskLayer(keras.layers.Layer):
        def __init__(self, N, c, kind="center", **kwargs):
            super().__init__(**kwargs)
            self.N, self.c, self.kind = N, c, kind
            self.zero_pad = keras.layers.ZeroPadding2D((N // 4, N // 4))

        def build(self, input_shape):
            self.zero_pad.build((None, self.N // 2, self.N // 2, self.c))

        def call(self, inputs):
            ones = tf.ones((tf.shape(inputs)[0], self.N // 2, self.N // 2, self.c), dtype=inputs.dtype)
            ones = self.zero_pad(ones)
            return ones if self.kind == "center" else 1 - ones

        def get_config(self):
            return {**super().get_config(), "N": self.N, "c": self.c, "kind": self.kind}

    @_layer
    class CombineComplexLayer(keras.layers.Layer):
        def __init__(self, use_polar=True, **kwargs):
            kwargs.pop("dtype", None)
            super().__init__(**kwargs)
            self.use_polar = use_polar

        def call(self, inputs):
            amp, phase = inputs
            return tf.complex(amp * tf.cos(phase), amp * tf.sin(phase))

        def compute_output_spec(self, inputs):
            return keras.KerasTensor(inputs[0].shape, dtype="complex64")

        def get_config(self):
            return {**super().get_config(), "use_polar": self.use_polar}

    class _Tail(keras.layers.Layer):
        """Shape-only stand-in: returns its first input cropped/padded to (B, size, size, channels)."""

        size_key = "N"
        channels = 1
        n_out = 1

        def __init__(self, **kwargs):
            self.cfg = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("name", "trainable", "dtype")}
            super().__init__(**{k: v for k, v in kwargs.items() if k != "dtype"})

        def get_config(self):
            return {**super().get_config(), **self.cfg}

        def call(self, inputs):
            x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            n = int(self.cfg.get(self.size_key, x.shape[1]))
            x = tf.image.resize_with_crop_or_pad(tf.math.real(x) if x.dtype.is_complex else x, n, n)[..., :1]
            x = tf.tile(x, [1, 1, 1, self.channels_of()])
            return [x] * self.n_out if self.n_out > 1 else x

        def channels_of(self):
            return int(self.cfg.get("gridsize", 1)) ** 2 if self.channels == "C" else 1

    @_layer
    class ReassemblePatchesLayer(_Tail):
        size_key = "padded_size"

    @_layer
    class PadReconstructionLayer(_Tail):
        size_key = "none"

    @_layer
    class TrimReconstructionLayer(_Tail):
        size_key = "output_size"

    @_layer
    class ExtractPatchesPositionLayer(_Tail):
        pass

    @_layer
    class ProbeIllumination(_Tail):
        n_out = 2

    @_layer
    class PadAndDiffractLayer(_Tail):
        size_key = "h"
        n_out = 2

    @_layer
    class FlatToChannelLayer(_Tail):
        channels = "C"

    @_layer
    class SquareLayer(keras.layers.Layer):
        def call(self, x):
            return tf.square(x)

    CUSTOM_OBJECTS = {"CenterMaskLayer": CenterMaskLayer}

    def load(path: str):
        """keras.saving.load_model as the reference's loader calls it (compile=False)."""
        return keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=False)

    def obj_model(model):
        """The sub-model input -> 'obj' (the patches the reference's diffraction_to_obj computes)."""
        return keras.Model(model.inputs, model.get_layer("obj").output)

    return SimpleNamespace(LOG_SCALE=LOG_SCALE, load=load, obj_model=obj_model)
