"""PNG writers for reconstructions: amplitude in grey, phase in the cyclic 'twilight' colormap.

Phase is periodic, so a cyclic colormap over the fixed range [-pi, pi] shows +pi and -pi in the
same colour (no false edges at wraps) and keeps images of different runs comparable. Colour
mapping uses ``matplotlib.colormaps`` directly and the PNG is encoded with
``matplotlib.image.imsave`` into memory, then written atomically; no figure/backend is created.
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes

__all__ = ["colorize", "write_png", "write_amplitude_png", "write_phase_png"]

PHASE_RANGE = (-math.pi, math.pi)


def colorize(
    image: np.ndarray, cmap: str = "gray", vmin: float | None = None, vmax: float | None = None
) -> np.ndarray:
    """Map a real 2-D image to RGBA uint8 (H, W, 4). NaN/inf pixels become transparent.

    Default range: [-pi, pi] for 'twilight' (phase), otherwise the finite min/max of the image.
    """
    import matplotlib  # lazy: keeps engine import cheap

    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"write_png expects a 2-D image, got shape {arr.shape}")
    if np.iscomplexobj(arr):
        raise ValueError("write_png expects a real image; pass np.abs(z) or np.angle(z)")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if cmap == "twilight" and vmin is None and vmax is None:
        vmin, vmax = PHASE_RANGE
    if vmin is None:
        vmin = float(arr[finite].min()) if finite.any() else 0.0
    if vmax is None:
        vmax = float(arr[finite].max()) if finite.any() else 1.0
    span = vmax - vmin
    scaled = (arr - vmin) / span if span > 0 else np.zeros_like(arr)
    scaled = np.clip(np.where(finite, scaled, 0.0), 0.0, 1.0)
    rgba = matplotlib.colormaps[cmap](scaled, bytes=True)
    rgba[~finite, 3] = 0
    return rgba


def write_png(
    path: str | os.PathLike[str],
    image: np.ndarray,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Path:
    """Write ``image`` (real, 2-D) as an RGBA PNG at ``path`` atomically; returns the path."""
    import matplotlib.image

    rgba = colorize(image, cmap=cmap, vmin=vmin, vmax=vmax)
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, rgba, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


def write_amplitude_png(path: str | os.PathLike[str], obj: np.ndarray) -> Path:
    """Amplitude of a complex object (or a real amplitude image) in grey, auto range."""
    arr = np.asarray(obj)
    return write_png(path, np.abs(arr) if np.iscomplexobj(arr) else arr, cmap="gray")


def write_phase_png(path: str | os.PathLike[str], obj: np.ndarray) -> Path:
    """Phase of a complex object (or a real phase image in radians), 'twilight' over [-pi, pi]."""
    arr = np.asarray(obj)
    phase = np.angle(arr) if np.iscomplexobj(arr) else np.angle(np.exp(1j * arr))
    return write_png(path, phase, cmap="twilight", vmin=PHASE_RANGE[0], vmax=PHASE_RANGE[1])
