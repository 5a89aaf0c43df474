"""Fourier ring correlation (FRC) and the 1/2-bit threshold (van Heel & Schatz, 2005).

Rings are integer-rounded radii of the 2-D frequency grid in units of 1/L cycles/pixel
(L = min(H, W)), from 0 to the Nyquist frequency 0.5. The resolution is where the FRC curve
first drops below the 1/2-bit threshold curve (linearly interpolated), reported both as a spatial
frequency (cycles/pixel) and as a period in pixels (1/frequency).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ring_indices", "frc_curve", "half_bit_threshold", "frc_resolution"]


def ring_indices(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring index of every (unshifted) FFT pixel, ring frequencies (cycles/pixel) and pixel counts.

    Pixels beyond Nyquist (the corners) get index -1 and are ignored.
    """
    h, w = shape
    length = min(h, w)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    index = np.rint(np.hypot(fy, fx) * length).astype(np.int64)
    n_rings = length // 2 + 1
    index[index >= n_rings] = -1
    counts = np.bincount(index[index >= 0], minlength=n_rings)
    return index, np.arange(n_rings) / length, counts


def _apodize(img: np.ndarray, alpha: float = 0.25) -> np.ndarray:
    """Tukey window on both axes: suppresses the edge discontinuity that both images share."""
    from scipy.signal.windows import tukey

    win = tukey(img.shape[0], alpha)[:, None] * tukey(img.shape[1], alpha)[None, :]
    return img * win


def frc_curve(a: np.ndarray, b: np.ndarray, *, apodize: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FRC between two same-shape 2-D images (real or complex).

    Returns ``(frequencies, frc, n_pixels)``: ring frequency in cycles/pixel, the correlation
    Re(sum F_a conj(F_b)) / sqrt(sum |F_a|^2 sum |F_b|^2) per ring (0 where a ring carries no
    power), and the number of Fourier pixels in each ring.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"frc_curve needs two 2-D images of the same shape, got {a.shape} and {b.shape}")
    if min(a.shape) < 2:
        raise ValueError(f"frc_curve needs images of at least 2 x 2 pixels, got {a.shape}")
    if apodize:
        a, b = _apodize(a.astype(np.complex128)), _apodize(b.astype(np.complex128))
    fa = np.fft.fft2(a)
    fb = np.fft.fft2(b)
    index, freqs, counts = ring_indices(a.shape)
    valid = index >= 0
    idx = index[valid]
    n_rings = freqs.size
    cross = np.bincount(idx, weights=np.real(fa * np.conj(fb))[valid], minlength=n_rings)
    pa = np.bincount(idx, weights=(np.abs(fa) ** 2)[valid], minlength=n_rings)
    pb = np.bincount(idx, weights=(np.abs(fb) ** 2)[valid], minlength=n_rings)
    denom = np.sqrt(pa * pb)
    with np.errstate(invalid="ignore", divide="ignore"):
        frc = np.where(denom > 0, cross / np.where(denom > 0, denom, 1.0), 0.0)
    return freqs, np.clip(frc, -1.0, 1.0), counts


def half_bit_threshold(n_pixels_per_ring: np.ndarray | float) -> np.ndarray:
    """The 1/2-bit information threshold for rings of ``n`` pixels: tends to 0.2071 for large n."""
    n = np.maximum(np.asarray(n_pixels_per_ring, dtype=np.float64), 1.0)
    root = np.sqrt(n)
    return (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)


def frc_resolution(a: np.ndarray, b: np.ndarray, *, apodize: bool = True) -> dict[str, Any]:
    """FRC curve, 1/2-bit threshold and their first crossing (ignoring the DC ring), JSON-able.

    When the curve never drops below the threshold the crossing is reported at Nyquist (0.5
    cycles/pixel, 2 px) with ``crossed = False``: the resolution is limited by the pixel size.
    """
    freqs, frc, counts = frc_curve(a, b, apodize=apodize)
    threshold = half_bit_threshold(counts)
    diff = frc - threshold
    below = np.nonzero(diff[1:] < 0)[0]
    if below.size:
        k = int(below[0]) + 1
        if diff[k - 1] > 0:
            t = diff[k - 1] / (diff[k - 1] - diff[k])
            f_cross = float(freqs[k - 1] + t * (freqs[k] - freqs[k - 1]))
        else:
            f_cross = float(freqs[k - 1]) if k > 1 else float(freqs[k])
        crossed = True
    else:
        f_cross, crossed = float(freqs[-1]), False
    f_cross = max(f_cross, float(freqs[1]) if freqs.size > 1 else 0.5)
    return {
        "frequencies": freqs.tolist(),
        "curve": frc.tolist(),
        "threshold": threshold.tolist(),
        "n_pixels": counts.tolist(),
        "threshold_kind": "half-bit",
        "crossed": crossed,
        "crossing_frequency": f_cross,  # cycles/pixel
        "resolution_px": 1.0 / f_cross,  # full period, pixels
    }
