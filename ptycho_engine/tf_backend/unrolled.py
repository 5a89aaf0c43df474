"""The unrolled generator's physics updates in TensorFlow (``model.unrolled.projection_steps``).

After the CNN, K learned-step updates of each group's shared object canvas against the group's
own measured amplitudes: exit waves -> far field -> measured amplitudes imposed -> back -> a
probe-weighted (rPIE-regularised) step on the canvas. Same operations, same order as PyTorch.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..model.unrolled import MAGNITUDE_FLOOR, RPIE_ALPHA
from .physics import merge_group, split_group
from .runtime import import_tf


def projection_steps(obj: Any, measured: Any, rel: Any, probe: Any, step_sizes: Any, support: np.ndarray | None,
                     M: int) -> Any:
    """(B, C, N, N) patches after len(step_sizes) updates; ``M`` the canvas side (C > 1)."""
    tf = import_tf()
    C, N = int(obj.shape[1]), int(obj.shape[-1])
    if C > 1:
        if rel is None:
            raise ValueError("the unrolled generator with gridsize > 1 needs the group offsets `rel` (B, C, 2)")
        merge = lambda patches, w=None: merge_group(patches, rel, M, w)  # noqa: E731
        split = lambda canvas: split_group(canvas, rel, N)  # noqa: E731
    else:  # one pattern per group: the "canvas" is the patch itself
        merge = lambda patches, w=None: patches[:, 0]  # noqa: E731
        split = lambda canvas: canvas[:, None]  # noqa: E731
    n = tf.complex(np.float32(N), np.float32(0.0))
    canvas = merge(obj, support)
    target = tf.complex(tf.signal.ifftshift(measured, axes=(-2, -1)), 0.0)
    power = tf.broadcast_to(tf.square(tf.math.real(probe)) + tf.square(tf.math.imag(probe)), tf.shape(obj))
    den = tf.math.real(merge(tf.complex(power, 0.0)))
    den = tf.complex(den + RPIE_ALPHA * tf.reduce_max(den, axis=(-2, -1), keepdims=True), 0.0)
    for k in range(int(step_sizes.shape[0])):
        psi = split(canvas) * probe
        far = tf.signal.fft2d(psi) / n
        corrected = tf.signal.ifft2d(target * far / tf.complex(tf.abs(far) + MAGNITUDE_FLOOR, 0.0)) * n
        canvas = canvas + tf.complex(step_sizes[k], 0.0) * merge(tf.math.conj(probe) * (corrected - psi)) / den
    return split(canvas)
