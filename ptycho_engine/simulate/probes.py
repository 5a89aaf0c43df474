"""Synthetic probes (N x N complex64, centred on pixel (N//2, N//2), max |P| = 1).

* disk    - the reference's ideal probe (facts 3.5): a Gaussian window of std N/(scale*pi^2),
            thresholded at half maximum into a disk, blurred with sigma 1 px, real and flat phase.
            (The reference centres it at (N-1)/2; we centre on N//2, our patch centre.)
* focused - a lens/zone-plate-like probe with phase structure: a soft circular pupil with
            defocus and small random Zernike aberrations (astigmatism, coma, spherical), Fourier
            transformed to the sample plane. Rings and a curved phase, like a real X-ray probe.

Public API:
    disk_probe(N, scale=0.7) -> (N, N) complex64
    focused_probe(N, rng=None, *, pupil_radius=None, spot_radius=None, defocus_waves=None,
                  aberration_waves=0.08)
        -> (N, N) complex64
    make_probe(kind, N, rng) -> (N, N) complex64           kind in PROBE_KINDS
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["PROBE_KINDS", "disk_probe", "focused_probe", "make_probe"]

PROBE_KINDS = ("disk", "focused")


def disk_probe(N: int, scale: float = 0.7) -> np.ndarray:
    """Ideal disk probe of the reference (diameter ~ 2.35 N/(scale pi^2), ~22 px at N=64)."""
    std = N / (scale * math.pi ** 2)
    g = np.exp(-0.5 * ((np.arange(N) - N // 2) / std) ** 2)
    disk = (np.outer(g, g) > 0.5).astype(np.float64)
    p = gaussian_filter(disk, sigma=1.0, mode="constant") + 1e-9
    p /= p.max()
    return p.astype(np.complex64)


def _zernike_basis(rho: np.ndarray, th: np.ndarray) -> dict[str, np.ndarray]:
    """A few low-order Zernike polynomials on the unit disk (unnormalised, peak ~1)."""
    return {
        "astig_0": rho ** 2 * np.cos(2 * th),
        "astig_45": rho ** 2 * np.sin(2 * th),
        "coma_x": (3 * rho ** 3 - 2 * rho) * np.cos(th),
        "coma_y": (3 * rho ** 3 - 2 * rho) * np.sin(th),
        "spherical": 6 * rho ** 4 - 6 * rho ** 2 + 1,
    }


def focused_probe(N: int, rng: np.random.Generator | None = None, *, pupil_radius: float | None = None,
                  spot_radius: float | None = None, defocus_waves: float | None = None,
                  aberration_waves: float = 0.08) -> np.ndarray:
    """Defocused, mildly aberrated probe from a soft circular pupil (see module docstring).

    pupil_radius: in frequency pixels of the N x N grid (default N/6; in-focus Airy radius
    0.61 N / pupil_radius ~ 4 px). Defocus phase = defocus_waves * (2 rho^2 - 1) waves; by default
    chosen so the geometric defocused spot has radius `spot_radius` (default N/5: ~97 % of the
    intensity inside the central N/2 disk): defocus_waves = spot_radius * R / (4 N).
    aberration_waves: std of the random Zernike coefficients (waves), drawn from `rng`.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    R = N / 6.0 if pupil_radius is None else float(pupil_radius)
    if defocus_waves is None:
        spot = N / 5.0 if spot_radius is None else float(spot_radius)
        defocus_waves = spot * R / (4.0 * N)
    k = np.arange(N) - N // 2
    ky, kx = np.meshgrid(k, k, indexing="ij")
    rho = np.hypot(ky, kx) / R
    th = np.arctan2(ky, kx)
    from scipy.special import erfc
    pupil = 0.5 * erfc((rho - 1.0) * R / math.sqrt(2.0))                 # soft edge, ~1 px
    phase = defocus_waves * (2 * rho ** 2 - 1)
    for z in _zernike_basis(rho, th).values():
        phase = phase + aberration_waves * rng.standard_normal() * z
    field = pupil * np.exp(2j * math.pi * phase)
    probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(field)))       # sample plane, centred
    probe /= np.abs(probe).max()
    return probe.astype(np.complex64)


def make_probe(kind: str, N: int, rng: np.random.Generator) -> np.ndarray:
    """Dispatch on `kind` ('disk' | 'focused')."""
    if kind == "disk":
        return disk_probe(N)
    if kind == "focused":
        return focused_probe(N, rng)
    raise ValueError(f"unknown probe kind {kind!r}; choose one of {PROBE_KINDS}")
