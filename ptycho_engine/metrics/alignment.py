"""Bring a reconstruction into the reference's frame before comparing them.

Ptychography determines the object only up to a global phase, a linear phase ramp (a shift of
the diffraction patterns) and, for learned reconstructions, a sub-pixel translation. We remove
these before computing metrics, else SSIM/PSNR measure the ambiguity instead of the quality.
"""
from __future__ import annotations

import numpy as np

__all__ = ["registration_images", "estimate_shift", "apply_shift", "fit_phase_plane", "remove_phase_plane"]

_AMPLITUDE_CONTRAST = 1e-2  # coefficient of variation below which amplitude is "flat"


def registration_images(rec: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Images to register on, chosen to be blind to phase offset and ramp.

    Amplitudes when the reference amplitude has contrast; otherwise (phase-only objects) the local
    phase slopes along x and y, packed as real and imaginary parts: a ramp adds a constant to each
    slope, which changes only the DC term and so does not move the cross-correlation peak.
    """
    amp_ref = np.abs(ref)
    mean = float(amp_ref.mean())
    if mean > 0 and float(amp_ref.std()) / mean > _AMPLITUDE_CONTRAST:
        return np.abs(rec), amp_ref, "amplitude"

    def gradient(z: np.ndarray) -> np.ndarray:
        # local phase slopes; a ramp adds a constant to each, which only changes the DC term
        out = np.zeros(z.shape, dtype=np.complex128)
        for axis, unit in ((1, 1.0), (0, 1j)):
            phasor = np.roll(z, -1, axis=axis) * np.conj(z)
            mean = np.sum(phasor)
            slope = np.angle(phasor * np.exp(-1j * np.angle(mean)) if mean != 0 else phasor)
            out += unit * slope
        return out

    return gradient(rec), gradient(ref), "phase_gradient"


def _has_structure(img: np.ndarray) -> bool:
    scale = max(float(np.abs(img).max(initial=0.0)), 1e-300)
    return float(np.std(img)) > 1e-9 * scale


def estimate_shift(
    rec: np.ndarray, ref: np.ndarray, upsample_factor: int = 50, *, complex_images: bool = False
) -> tuple[np.ndarray, str]:
    """Sub-pixel (row, col) shift that moves ``rec`` onto ``ref`` (1/upsample_factor px precision).

    ``complex_images=True`` correlates the complex images themselves (only valid once any phase
    ramp has been removed; a constant phase offset does not matter).
    """
    from skimage.registration import phase_cross_correlation

    if complex_images:
        moving, fixed, kind = rec, ref, "complex"
    else:
        moving, fixed, kind = registration_images(rec, ref)
    if not (_has_structure(fixed) and _has_structure(moving)):
        return np.zeros(2), "none (featureless image)"  # any shift fits equally well: do not move
    shift, _error, _phasediff = phase_cross_correlation(
        fixed, moving, upsample_factor=upsample_factor, normalization=None
    )  # plain cross-correlation: phase normalisation biased sub-pixel shifts by ~0.05 px in tests
    return np.asarray(shift, dtype=np.float64), kind


def apply_shift(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Translate a complex image by ``shift`` (row, col) pixels with a Fourier shift (periodic)."""
    from scipy.ndimage import fourier_shift

    return np.fft.ifft2(fourier_shift(np.fft.fft2(image), shift))


def _coordinates(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(shape, dtype=np.float64)
    return cols - (shape[1] - 1) / 2.0, rows - (shape[0] - 1) / 2.0  # x, y centred for conditioning


def fit_phase_plane(rec: np.ndarray, ref: np.ndarray, iterations: int = 3) -> tuple[float, float, float]:
    """Fit phase(rec conj ref) ~ a*x + b*y + c, weighted by |rec||ref|; returns (a, b, c).

    a, b in rad/pixel along columns (x) and rows (y); c in rad at the image centre. A coarse ramp
    is taken from the FFT peak of rec*conj(ref) first so that large ramps (many wraps) are fitted
    too; the weighted least-squares refinement then works on a small, unwrapped residual.
    """
    z = rec * np.conj(ref)
    weights = np.abs(rec) * np.abs(ref)
    if not np.any(weights > 0):
        return 0.0, 0.0, 0.0
    h, w = z.shape
    peak = np.unravel_index(int(np.argmax(np.abs(np.fft.fft2(z)))), z.shape)
    a = 2 * np.pi * float(np.fft.fftfreq(w)[peak[1]])
    b = 2 * np.pi * float(np.fft.fftfreq(h)[peak[0]])
    c = 0.0
    x, y = _coordinates(z.shape)
    sw = np.sqrt(weights).ravel()
    design = np.stack([x.ravel(), y.ravel(), np.ones(x.size)], axis=1) * sw[:, None]
    for _ in range(iterations):
        plane = a * x + b * y + c
        residual_z = z * np.exp(-1j * plane)
        c += float(np.angle(np.sum(weights * residual_z)))  # centre the residual before the fit
        residual = np.angle(z * np.exp(-1j * (a * x + b * y + c)))
        da, db, dc = np.linalg.lstsq(design, residual.ravel() * sw, rcond=None)[0]
        a, b, c = a + float(da), b + float(db), c + float(dc)
    c = float(np.angle(np.exp(1j * c)))
    return a, b, c


def remove_phase_plane(rec: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """rec * exp(-i (a x + b y + c)) with the same centred coordinates as the fit."""
    x, y = _coordinates(rec.shape)
    return rec * np.exp(-1j * (a * x + b * y + c))
