"""Vectorised stitching of patches into the full object (the adjoint of physics.shifts extraction).

Geometry: patch pixel (i, j) of a patch at position (x, y) sits at object coordinate
(row = y + i - N//2, col = x + j - N//2) - the same convention as `extract_patches`. Sub-pixel
positions are splatted bilinearly (the transpose of the bilinear extraction), so at integer
positions extraction followed by stitching is exact.

    object = sum_k splat_k(w * patch_k) / sum_k splat_k(w)
with w = |probe|**2 (weighting='probe': well-lit pixels count more) or 1 (weighting='uniform').
Pixels whose weight is below `min_weight` x max weight (never or barely covered) are 0 (no NaN);
the raw weight map is returned so callers can mask them.

No Python loop over patches: each chunk of patches is splatted into (N+1)^2 blocks with a
fixed per-patch fractional shift (separable bilinear weights) and accumulated with one
`np.add.at`; small chunks bound the memory and stay in cache. The weight map (identical w for
every patch) is the bilinear position-delta image convolved with w (FFT, float64). Accepts numpy
arrays or torch tensors (moved to the CPU).

Public API:
    stitch_patches(patches (n, N, N) complex, positions (n, 2) [x, y], *, weighting='probe',
                   probe=None, object_shape=None, margin=1, min_weight=1e-6, chunk_size=None)
        -> StitchResult(object complex64 (H, W), weight float32 (H, W), origin_x, origin_y)
origin_x / origin_y are the object coordinates of pixel [0, 0]: object_shape=(H, W) gives the
object frame (origin 0, 0; contributions outside it are dropped); object_shape=None gives a
canvas covering the scan extent + N (+ margin pixels each side).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["StitchResult", "stitch_patches"]


@dataclass
class StitchResult:
    object: np.ndarray      # (H, W) complex64
    weight: np.ndarray      # (H, W) float32, sum of (splatted) weights per pixel
    origin_x: float         # object column coordinate of pixel [0, 0]
    origin_y: float         # object row coordinate of pixel [0, 0]

    @property
    def amplitude(self) -> np.ndarray:
        return np.abs(self.object)

    @property
    def phase(self) -> np.ndarray:
        return np.angle(self.object)

    def covered(self, fraction: float = 0.01) -> np.ndarray:
        """Boolean mask of pixels whose weight is >= fraction x the maximum weight."""
        m = float(self.weight.max()) if self.weight.size else 0.0
        return self.weight >= fraction * m if m > 0 else np.zeros(self.weight.shape, bool)


def _as_numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _fft_convolve_full(D: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Linear convolution (D * w)[:H, :W] by real FFTs in float64 (scipy.fft; cheap to import)."""
    from scipy import fft as sfft

    H, W = D.shape
    h, k = w.shape
    sh = (sfft.next_fast_len(H + h - 1, real=True), sfft.next_fast_len(W + k - 1, real=True))
    out = sfft.irfft2(sfft.rfft2(D, sh) * sfft.rfft2(w, sh), sh)
    return out[:H, :W]


def canvas_frame(positions: np.ndarray, N: int, margin: int = 1) -> tuple[int, int, int, int]:
    """(origin_x, origin_y, H, W) of the canvas that holds every patch at ``positions`` [x, y].

    The default canvas of :func:`stitch_patches`; chunked stitching uses it to place each chunk.
    """
    pos = np.asarray(positions, dtype=np.float64)
    rows = np.floor(pos[:, 1] - N // 2).astype(np.int64)
    cols = np.floor(pos[:, 0] - N // 2).astype(np.int64)
    oy, ox = int(rows.min()) - int(margin), int(cols.min()) - int(margin)
    return ox, oy, int(rows.max()) + N + 1 + int(margin) - oy, int(cols.max()) + N + 1 + int(margin) - ox


def stitch_patches(patches, positions, *, weighting: str = "probe", probe=None,
                   object_shape: tuple[int, int] | None = None, margin: int = 1,
                   min_weight: float = 1e-6, chunk_size: int | None = None) -> StitchResult:
    """Average overlapping patches into one complex object (see module docstring)."""
    P = _as_numpy(patches)
    if P.ndim != 3 or P.shape[-1] != P.shape[-2]:
        raise ValueError(f"stitch_patches: patches must be (n, N, N), got {P.shape}")
    n, N, _ = P.shape                                     # dtype converted per chunk (no full copy)
    pos = np.asarray(_as_numpy(positions), dtype=np.float64)
    if pos.shape != (n, 2):
        raise ValueError(f"stitch_patches: positions must be (n, 2) = ({n}, 2) [x, y], got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("stitch_patches: positions contain NaN or inf")

    if weighting == "probe":
        if probe is None:
            raise ValueError("stitch_patches: weighting='probe' needs the probe (N, N)")
        pr = _as_numpy(probe)
        if pr.shape != (N, N):
            raise ValueError(f"stitch_patches: probe must be ({N}, {N}), got {pr.shape}")
        w = (np.abs(pr).astype(np.float64) ** 2).astype(np.float32)
    elif weighting == "uniform":
        w = np.ones((N, N), dtype=np.float32)
    else:
        raise ValueError(f"stitch_patches: weighting must be 'probe' or 'uniform', got {weighting!r}")

    # Top-left object coordinate of each patch, its integer part and fractional shift.
    r0 = pos[:, 1] - N // 2
    c0 = pos[:, 0] - N // 2
    ri = np.floor(r0).astype(np.int64)
    ci = np.floor(c0).astype(np.int64)
    fy = (r0 - ri).astype(np.float32)
    fx = (c0 - ci).astype(np.float32)

    if n == 0 and object_shape is None:
        raise ValueError("stitch_patches: no patches and no object_shape")
    if object_shape is None:
        ox, oy, H, W = canvas_frame(pos, N, margin)
    else:
        H, W = (int(v) for v in object_shape)
        oy = ox = 0
    # Accumulate on a frame that also holds every block, then crop to the requested one.
    ay = min(oy, int(ri.min())) if n else oy
    ax = min(ox, int(ci.min())) if n else ox
    Ha = (max(oy + H, int(ri.max()) + N + 1) if n else oy + H) - ay
    Wa = (max(ox + W, int(ci.max()) + N + 1) if n else ox + W) - ax

    # Numerator: chunks of patches -> (N+1)^2 blocks (separable bilinear splat with each patch's
    # own fractional shift, on float32 (re, im) views) -> one np.add.at per chunk. Single-threaded
    # numpy on purpose: predictable on a busy 2-core machine, bitwise reproducible.
    acc = np.zeros(Ha * Wa, dtype=np.complex64)
    b = N + 1
    offs = (np.arange(b)[:, None] * Wa + np.arange(b)[None, :]).ravel()
    base = (ri - ay) * Wa + (ci - ax)
    if chunk_size is None:
        chunk_size = max(1, (1 << 18) // (b * b))        # ~256k block pixels (2 MB) per chunk: in cache
    cs = int(chunk_size)
    w2 = np.repeat(w[:, :, None], 2, axis=2)
    uniform = bool(np.all(w == 1.0))
    v = np.empty((cs, N, N, 2), np.float32)
    a1 = np.empty((cs, N, N, 2), np.float32)
    rows = np.empty((cs, b, N, 2), np.float32)
    a2 = np.empty((cs, b, N, 2), np.float32)
    blk = np.empty((cs, b, b, 2), np.float32)
    # Visit patches in canvas order so each chunk's np.add.at touches a compact band of the
    # canvas (cache-friendly for big canvases); the sum itself does not depend on the order.
    order = np.argsort(base, kind="stable")
    base, fy_o, fx_o = base[order], fy[order], fx[order]
    for s in range(0, n, cs):                             # loop over CHUNKS, not patches
        e = min(n, s + cs)
        k = e - s
        x = np.ascontiguousarray(P[order[s:e]], dtype=np.complex64).view(np.float32).reshape(k, N, N, 2)
        vv, aa, rr, a_, bb = v[:k], a1[:k], rows[:k], a2[:k], blk[:k]
        if uniform:
            vv = x
        else:
            np.multiply(x, w2, out=vv)
        np.multiply(vv, fy_o[s:e, None, None, None], out=aa)
        np.subtract(vv, aa, out=rr[:, :N])
        rr[:, N] = 0
        rr[:, 1:] += aa
        np.multiply(rr, fx_o[s:e, None, None, None], out=a_)
        np.subtract(rr, a_, out=bb[:, :, :N])
        bb[:, :, N] = 0
        bb[:, :, 1:] += a_
        idx = (base[s:e, None] + offs[None, :]).ravel()
        np.add.at(acc, idx, bb.view(np.complex64).ravel())

    # Denominator: the same splat of w for every patch = (bilinear position deltas) * w, done
    # once by an FFT convolution in float64 instead of per patch.
    D = np.zeros((Ha, Wa), dtype=np.float64)
    rr_, cc_ = ri - ay, ci - ax
    fy64, fx64 = fy.astype(np.float64), fx.astype(np.float64)
    for a, wa in ((0, 1.0 - fy64), (1, fy64)):
        for c, wc in ((0, 1.0 - fx64), (1, fx64)):
            np.add.at(D, (rr_ + a, cc_ + c), wa * wc)
    den_full = _fft_convolve_full(D, w.astype(np.float64)) if n else D

    num = acc.reshape(Ha, Wa)[oy - ay:oy - ay + H, ox - ax:ox - ax + W]
    den = den_full[oy - ay:oy - ay + H, ox - ax:ox - ax + W]
    peak = float(den.max()) if den.size else 0.0
    thr = max(peak * float(min_weight), 1e-30)
    ok = den > thr
    den = np.where(ok, den, 0.0)
    obj = np.zeros((H, W), dtype=np.complex64)
    obj[ok] = (num[ok] / den[ok]).astype(np.complex64)
    return StitchResult(object=obj, weight=den.astype(np.float32), origin_x=float(ox), origin_y=float(oy))
