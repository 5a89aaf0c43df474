"""Scan patterns: positions (n, 2) float64 as [x, y] (x = column, y = row, object pixels).

Every position keeps its whole N x N patch (and its bilinear neighbour) inside an object of
shape (H, W): x, y in [buffer, W - buffer] x [buffer, H - buffer] with buffer >= N//2 + 1
(`min_buffer(N)`); asking for a smaller buffer raises ValueError.

* raster - square grid with spacing `step`, each point jittered uniformly by +-jitter*step
           (reference torch datagen: +-0.3 step), clipped into the allowed box.
* random - uniform positions in the allowed box.
* fermat - Fermat spiral (r = c sqrt(k), angle = k * golden angle) about the box centre, with a
           random rotation; only points inside the box are kept. Density: c = step / sqrt(pi).

Public API:
    min_buffer(N) -> int
    raster_scan(shape, N, step, rng, jitter=0.3, buffer=None) -> (n, 2)
    random_scan(shape, N, n_positions, rng, buffer=None) -> (n, 2)
    fermat_scan(shape, N, rng, n_positions=None, step=None, buffer=None) -> (n, 2)
    make_scan(kind, shape, N, rng, n_positions=None, step=None, buffer=None) -> (n, 2)
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["SCAN_KINDS", "min_buffer", "raster_scan", "random_scan", "fermat_scan", "make_scan"]

SCAN_KINDS = ("raster", "random", "fermat")
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def min_buffer(N: int) -> int:
    """Smallest distance (px) from a position to the object edge that keeps the patch inside."""
    return N // 2 + 1


def _box(shape, N: int, buffer: float | None) -> tuple[float, float, float, float]:
    H, W = (int(v) for v in shape)
    b = float(min_buffer(N) if buffer is None else buffer)
    if b < min_buffer(N):
        raise ValueError(f"buffer={b} is too small for N={N}: patches would leave the object "
                         f"(need >= {min_buffer(N)})")
    x0, x1, y0, y1 = b, W - b, b, H - b
    if x1 < x0 or y1 < y0:
        raise ValueError(f"object {H}x{W} is too small for N={N} patches with buffer {b}")
    return x0, x1, y0, y1


def raster_scan(shape, N: int, step: float, rng: np.random.Generator, jitter: float = 0.3,
                buffer: float | None = None) -> np.ndarray:
    """Jittered square raster with spacing `step` (px); row-major order (y, then x)."""
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    x0, x1, y0, y1 = _box(shape, N, buffer)
    xs = np.arange(x0, x1 + 1e-9, step)
    ys = np.arange(y0, y1 + 1e-9, step)
    # centre the grid in the box
    xs = xs + (x1 - xs[-1]) / 2.0
    ys = ys + (y1 - ys[-1]) / 2.0
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    pos = np.stack([gx.ravel(), gy.ravel()], axis=1)
    pos = pos + rng.uniform(-jitter * step, jitter * step, size=pos.shape)
    pos[:, 0] = np.clip(pos[:, 0], x0, x1)
    pos[:, 1] = np.clip(pos[:, 1], y0, y1)
    return pos


def random_scan(shape, N: int, n_positions: int, rng: np.random.Generator,
                buffer: float | None = None) -> np.ndarray:
    """Uniformly random positions in the allowed box."""
    if n_positions < 1:
        raise ValueError(f"n_positions must be >= 1, got {n_positions}")
    x0, x1, y0, y1 = _box(shape, N, buffer)
    return np.stack([rng.uniform(x0, x1, n_positions), rng.uniform(y0, y1, n_positions)], axis=1)


def fermat_scan(shape, N: int, rng: np.random.Generator, n_positions: int | None = None,
                step: float | None = None, buffer: float | None = None) -> np.ndarray:
    """Fermat spiral filling the allowed box; give n_positions (density from the box area) or step."""
    x0, x1, y0, y1 = _box(shape, N, buffer)
    area = max((x1 - x0) * (y1 - y0), 1e-9)
    if n_positions is not None:
        if n_positions < 1:
            raise ValueError(f"n_positions must be >= 1, got {n_positions}")
        c = math.sqrt(area / (math.pi * n_positions))
    elif step is not None and step > 0:
        c = step / math.sqrt(math.pi)
        n_positions = None
    else:
        raise ValueError("fermat_scan needs n_positions or a positive step")
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    rot = rng.uniform(0.0, 2.0 * math.pi)
    r_max = math.hypot(x1 - x0, y1 - y0) / 2.0
    eps = 1e-9
    while True:
        k_max = int(math.ceil((r_max / c) ** 2)) + 1
        k = np.arange(k_max, dtype=np.float64)
        r = c * np.sqrt(k)
        th = k * _GOLDEN_ANGLE + rot
        pos = np.stack([cx + r * np.cos(th), cy + r * np.sin(th)], axis=1)
        inside = ((pos[:, 0] >= x0 - eps) & (pos[:, 0] <= x1 + eps)
                  & (pos[:, 1] >= y0 - eps) & (pos[:, 1] <= y1 + eps))
        pos = pos[inside]
        if n_positions is None or len(pos) >= n_positions:
            break
        c *= 0.98                       # the box holds slightly fewer than its area suggests
    if n_positions is not None:
        pos = pos[:n_positions]
    pos[:, 0] = np.clip(pos[:, 0], x0, x1)
    pos[:, 1] = np.clip(pos[:, 1], y0, y1)
    return pos


def make_scan(kind: str, shape, N: int, rng: np.random.Generator, n_positions: int | None = None,
              step: float | None = None, buffer: float | None = None) -> np.ndarray:
    """Dispatch on `kind`. raster: step, or an ~n_positions grid; random: n_positions (or step)."""
    x0, x1, y0, y1 = _box(shape, N, buffer)
    if kind == "raster":
        if step is None:
            if n_positions is None:
                raise ValueError("raster scan needs step or n_positions")
            # an nx x ny grid with nx * ny ~ n_positions spanning the box
            wb, hb = x1 - x0, y1 - y0
            nx = max(2, int(round(math.sqrt(n_positions * wb / max(hb, 1e-9)))))
            ny = max(2, int(round(n_positions / nx)))
            step = max(min(wb / (nx - 1), hb / (ny - 1)), 1e-6)
        return raster_scan(shape, N, step, rng, buffer=buffer)
    if kind == "random":
        if n_positions is None:
            if step is None:
                raise ValueError("random scan needs n_positions or step")
            n_positions = max(1, int(round((x1 - x0) * (y1 - y0) / step ** 2)))
        return random_scan(shape, N, n_positions, rng, buffer=buffer)
    if kind == "fermat":
        return fermat_scan(shape, N, rng, n_positions=n_positions, step=step, buffer=buffer)
    raise ValueError(f"unknown scan kind {kind!r}; choose one of {SCAN_KINDS}")
