"""The forward model in TensorFlow: the same maths as :mod:`ptycho_engine.physics` (forward,
shifts, groups), written with the same operations in the same order so both backends agree to
float32 round-off.

* far field        A = | fftshift( fft2(P * O) / N ) |      (the "ortho" FFT, Parseval per pattern)
* object_big       the C patches of a group are averaged on one canvas (support-weighted) and cut
                   out again, so overlapping patches share one object (physics.groups)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .runtime import import_tf

_EPS = 1e-6


def diffraction_amplitude(psi: Any) -> Any:
    """|fftshift(fft2(psi, norm='ortho'))| over the last two axes."""
    tf = import_tf()
    n = psi.shape[-1]
    F = tf.signal.fft2d(psi) / tf.complex(np.float32(n), np.float32(0.0))
    return tf.abs(tf.signal.fftshift(F, axes=(-2, -1)))


def polar(amp: Any, phase: Any) -> Any:
    """amp * exp(i phase), complex64, differentiated as ``torch.polar`` is.

    Why the detour: torch.polar's gradient with respect to ``amp`` is that of |amp| (its backward
    multiplies by sgn(result)), so where the amplitude is negative (the SiLU border branch, the
    'swish' activation) PyTorch steps the other way, and where it is 0 not at all. The value is
    amp exp(i phase) either way; the gradient here is PyTorch's, so both backends train alike.
    """
    tf = import_tf()
    amp = tf.abs(amp) + tf.stop_gradient(amp - tf.abs(amp))
    return tf.complex(amp * tf.cos(phase), amp * tf.sin(phase))


def sample_windows_real(x: Any, row0: Any, col0: Any, h: int, w: int) -> Any:
    """Bilinear windows x (B, H, W, P) -> (B, K, h, w, P) at float corners row0, col0 (B, K); 0 outside.

    The TF twin of ``physics.shifts.sample_windows_real`` (zero border, clamped gather).
    """
    tf = import_tf()
    B = tf.shape(x)[0]
    H, W, P = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    flat = tf.reshape(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), [B, (H + 2) * (W + 2), P])
    ri, ci = tf.floor(row0), tf.floor(col0)
    fy = tf.cast(row0 - ri, x.dtype)[:, :, None, None, None]
    fx = tf.cast(col0 - ci, x.dtype)[:, :, None, None, None]
    ri, ci = tf.cast(ri, tf.int32), tf.cast(ci, tf.int32)
    K = tf.shape(row0)[1]
    rows = tf.clip_by_value(ri[..., None] + tf.range(h + 1)[None, None, :] + 1, 0, H + 1)
    cols = tf.clip_by_value(ci[..., None] + tf.range(w + 1)[None, None, :] + 1, 0, W + 1)
    idx = tf.reshape(rows[..., :, None] * (W + 2) + cols[..., None, :], [B, -1])
    block = tf.reshape(tf.gather(flat, idx, axis=1, batch_dims=1), [B, K, h + 1, w + 1, P])
    rows_i = block[:, :, :h] * (1 - fy) + block[:, :, 1:] * fy
    return rows_i[:, :, :, :w] * (1 - fx) + rows_i[:, :, :, 1:] * fx


def merge_group(patches: Any, rel: Any, M: int, support: np.ndarray | None = None) -> Any:
    """C patches (B, C, N, N) -> support-weighted mean canvas (B, M, M) (as physics.groups.merge_group)."""
    tf = import_tf()
    B = tf.shape(patches)[0]
    C, N = int(patches.shape[1]), int(patches.shape[-1])
    w = tf.ones_like(tf.math.real(patches)) if support is None else \
        tf.broadcast_to(tf.constant(support, tf.float32), tf.shape(tf.math.real(patches)))
    x = tf.stack([tf.math.real(patches) * w, tf.math.imag(patches) * w, w], axis=-1)
    x = tf.reshape(x, [B * C, N, N, 3])
    off = float(N // 2 - M // 2)
    row0 = tf.reshape(off - rel[..., 1], [B * C, 1])
    col0 = tf.reshape(off - rel[..., 0], [B * C, 1])
    placed = tf.reduce_sum(tf.reshape(sample_windows_real(x, row0, col0, M, M), [B, C, M, M, 3]), axis=1)
    den = placed[..., 2]
    safe = tf.maximum(den, _EPS)
    canvas = tf.complex(placed[..., 0] / safe, placed[..., 1] / safe)
    return tf.where(den > _EPS, canvas, tf.zeros_like(canvas))


def split_group(canvas: Any, rel: Any, N: int) -> Any:
    """Each channel's N x N patch of the group canvas (B, M, M) -> (B, C, N, N)."""
    tf = import_tf()
    M = int(canvas.shape[-1])
    half = N // 2
    row0 = rel[..., 1] + float(M // 2) - half
    col0 = rel[..., 0] + float(M // 2) - half
    x = tf.stack([tf.math.real(canvas), tf.math.imag(canvas)], axis=-1)
    out = sample_windows_real(x, row0, col0, N, N)
    return tf.complex(out[..., 0], out[..., 1])
