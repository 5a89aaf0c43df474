"""How a complex object is turned into the images a person reads (plain Python, no Qt).

Why: the raw phase of a reconstruction carries an arbitrary global offset (no diffraction
pattern records it), and outside the illuminated area it is noise; both hide the sample.
"""
from __future__ import annotations

import numpy as np

MASK_FRACTION = 0.05  # amplitude (or stitching weight) below this fraction of its maximum is masked


def support_mask(amplitude: np.ndarray, weight: np.ndarray | None = None,
                 fraction: float = MASK_FRACTION) -> np.ndarray:
    """True where the object is worth showing: illuminated (weight) and not negligible (amplitude)."""
    amp = np.abs(np.asarray(amplitude, np.float64))
    keep = amp >= fraction * float(np.nanmax(amp)) if amp.size and np.nanmax(amp) > 0 else np.ones(amp.shape, bool)
    if weight is not None and np.shape(weight) == amp.shape:
        w = np.asarray(weight, np.float64)
        if np.nanmax(w) > 0:
            keep &= w >= fraction * float(np.nanmax(w))
    return keep


def display_phase(obj: np.ndarray, weight: np.ndarray | None = None, mask: bool = True,
                  remove_offset: bool = True, remove_ramp: bool = False) -> np.ndarray:
    """The phase in radians with the global offset (and optionally a linear ramp) removed,
    estimated on the illuminated support; NaN where masked (drawn as blank)."""
    obj = np.asarray(obj, np.complex128)
    keep = support_mask(np.abs(obj), weight)
    if remove_ramp and keep.sum() > 3:
        rows, cols = np.nonzero(keep)
        # ramp from the phase gradient of neighbouring pixels (robust to wrapping)
        gy = np.angle(np.sum((obj[1:, :] * np.conj(obj[:-1, :]))[keep[1:, :] & keep[:-1, :]]))
        gx = np.angle(np.sum((obj[:, 1:] * np.conj(obj[:, :-1]))[keep[:, 1:] & keep[:, :-1]]))
        yy, xx = np.mgrid[: obj.shape[0], : obj.shape[1]]
        obj = obj * np.exp(-1j * (gx * xx + gy * yy))
    if remove_offset and keep.any():
        obj = obj * np.exp(-1j * np.angle(np.sum(obj[keep])))
    phase = np.angle(obj).astype(np.float32)
    if mask:
        phase = np.where(keep, phase, np.nan).astype(np.float32)
    return phase


def hsv_image(obj: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: hue = phase, value = amplitude (normalised) — the complex view."""
    obj = np.asarray(obj, np.complex128)
    amp = np.abs(obj)
    v = amp / (float(amp.max()) or 1.0)
    h = (np.angle(obj) + np.pi) / (2 * np.pi)
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = np.zeros_like(v), v * (1 - f), v * f
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)
