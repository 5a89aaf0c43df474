"""Synthetic complex objects (size x size complex64), amplitude in [amp_min, 1], phase in radians.

* lines - the reference's 'lines' object (facts section 5): random anti-aliased lines drawn on a
          2*size canvas, blurred as gf(1) + 2 gf(5) + 5 gf(10), centre-cropped. Line density
          follows the reference (400 lines for size 392, scaled with the area).
* grf   - Gaussian random field with a power-law spectrum P(k) ~ k**spectral_index (default -3:
          smooth blobs; the reference's -0.4 is almost white noise at our sizes).
* cells - Voronoi cells with sharp edges: each cell a random level, thin dark walls between cells
          (grains, polycrystals, cell-like specimens); anti-aliased with a 0.7 px blur. Adds the
          flat regions and step edges that lines and grf lack.

Phase modes: 'derived' (phase = phase_max * (2 a - 1) from the normalised amplitude pattern a,
like the reference's set_phi), 'independent' (a second, independent pattern of the same kind),
'zero'. Amplitude maps the pattern linearly onto [amp_min, 1].

Public API:
    lines_pattern(size, rng, n_lines=None) -> (size, size) float64 in [0, 1]
    grf_pattern(size, rng, spectral_index=-3.0) -> (size, size) float64 in [0, 1]
    cells_pattern(size, rng, n_cells=None, wall=1.5) -> (size, size) float64 in [0, 1]
    pattern(kind, size, rng) -> (size, size) float64 in [0, 1]
    make_object(kind, size, rng, *, phase='derived', amp_min=0.2, phase_max=1.0, phase_kind=None)
        -> complex64
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.draw import line_aa

__all__ = ["OBJECT_KINDS", "PHASE_MODES", "lines_pattern", "grf_pattern", "cells_pattern", "pattern",
           "make_object"]

OBJECT_KINDS = ("lines", "grf", "cells")
PHASE_MODES = ("derived", "independent", "zero")


def _normalise(img: np.ndarray) -> np.ndarray:
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def lines_pattern(size: int, rng: np.random.Generator, n_lines: int | None = None) -> np.ndarray:
    """Blurred random anti-aliased lines, normalised to [0, 1] (reference 'lines' recipe)."""
    big = 2 * size
    if n_lines is None:
        n_lines = max(8, int(round(400 * (size / 392.0) ** 2)))
    canvas = np.zeros((big, big), dtype=np.float64)
    ends = rng.integers(0, big, size=(n_lines, 4))
    for r0, c0, r1, c1 in ends:                       # a few hundred lines: a loop is fine here
        rr, cc, val = line_aa(int(r0), int(c0), int(r1), int(c1))
        np.maximum.at(canvas, (rr, cc), val)
    img = gaussian_filter(canvas, 1) + 2 * gaussian_filter(canvas, 5) + 5 * gaussian_filter(canvas, 10)
    o = size // 2
    return _normalise(img[o:o + size, o:o + size])


def grf_pattern(size: int, rng: np.random.Generator, spectral_index: float = -3.0) -> np.ndarray:
    """Power-law Gaussian random field, normalised to [0, 1]."""
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.rfftfreq(size)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf                                  # no DC power
    amp = k ** (spectral_index / 2.0)
    noise = rng.standard_normal((size, size // 2 + 1)) + 1j * rng.standard_normal((size, size // 2 + 1))
    field = np.fft.irfft2(noise * amp, s=(size, size))
    return _normalise(field)


def cells_pattern(size: int, rng: np.random.Generator, n_cells: int | None = None,
                  wall: float = 1.5) -> np.ndarray:
    """Voronoi cells of random levels with dark walls ``wall`` px wide, normalised to [0, 1].

    Default density: one cell per ~600 px^2 (cells ~25 px across, several under one probe).
    """
    from scipy.spatial import cKDTree

    if n_cells is None:
        n_cells = max(4, int(round(size * size / 600.0)))
    seeds = rng.uniform(0.0, size, size=(n_cells, 2))
    levels = rng.uniform(0.0, 1.0, size=n_cells)
    yy, xx = np.mgrid[:size, :size]
    dist, nearest = cKDTree(seeds).query(np.stack([yy.ravel(), xx.ravel()], axis=1) + 0.5, k=2)
    img = levels[nearest[:, 0]]
    img[(dist[:, 1] - dist[:, 0]) < wall] = 0.0           # walls: the two nearest seeds almost tie
    img = gaussian_filter(img.reshape(size, size), 0.7)
    return _normalise(img)


def pattern(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A pattern of the family ``kind`` (one of OBJECT_KINDS), normalised to [0, 1]."""
    if kind == "lines":
        return lines_pattern(size, rng)
    if kind == "grf":
        return grf_pattern(size, rng)
    if kind == "cells":
        return cells_pattern(size, rng)
    raise ValueError(f"unknown object kind {kind!r}; choose one of {OBJECT_KINDS}")


def make_object(kind: str, size: int, rng: np.random.Generator, *, phase: str = "derived",
                amp_min: float = 0.2, phase_max: float = 1.0, phase_kind: str | None = None) -> np.ndarray:
    """Complex object: amplitude amp_min + (1 - amp_min) * pattern, phase by `phase` mode (rad).

    ``phase_kind``: the family of an 'independent' phase pattern (default: ``kind``).
    """
    if phase not in PHASE_MODES:
        raise ValueError(f"unknown phase mode {phase!r}; choose one of {PHASE_MODES}")
    if size < 8:
        raise ValueError(f"object size must be >= 8 pixels, got {size}")
    a = pattern(kind, size, rng)
    amplitude = amp_min + (1.0 - amp_min) * a
    if phase == "derived":
        ph = phase_max * (2.0 * a - 1.0)
    elif phase == "independent":
        ph = phase_max * (2.0 * pattern(phase_kind or kind, size, rng) - 1.0)
    else:
        ph = np.zeros_like(a)
    return (amplitude * np.exp(1j * ph)).astype(np.complex64)
