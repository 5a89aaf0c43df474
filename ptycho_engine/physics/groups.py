"""object_big merge / split of a group of C = gridsize**2 patches (torch, differentiable).

Canvas geometry (consistent with physics.shifts):
* A group has centre (cx, cy) = mean of its C positions and offsets rel_c = p_c - centre ([x, y]).
* The M x M canvas is centred on the group centre: canvas pixel (r, c) is the object point
  (row = cy + r - M//2, col = cx + c - M//2), exactly like a patch of side M extracted at the centre.
* Channel c's patch (side N) lies on the canvas with its centre at (M//2 + rel_x, M//2 + rel_y):
  split_group(canvas, rel, N) == extract_patches(canvas, M//2 + rel, N).

merge_group averages the C patches where they overlap. Each patch is weighted by a (soft)
support mask w (N, N) and BOTH the numerator and the denominator use it:
    canvas = sum_c T_c(w * patch_c) / sum_c T_c(w)      (0 where sum_c T_c(w) ~ 0)
so the result is a convex combination of patch values everywhere and cannot blow up at the
periphery (the reference divided full patches by central-mask counts + 0.001: bug 8.14).

Public API:
    canvas_size(N, gridsize, max_offset) -> int M
    central_support(N, size=None, soft=True, edge_sigma=1.0, dtype=torch.float32, device=None) -> (N, N)
    merge_group(patches (B, C, N, N), rel (B, C, 2), M, support_mask=None, return_weight=False)
        -> canvas (B, M, M)  [, weight (B, M, M)]
    split_group(canvas (B, M, M), rel (B, C, 2), N) -> (B, C, N, N)

support_mask=None means a uniform support (all ones over the N x N patch). When the network's
object is only meaningful in the central N/2 (pad_object=True), pass central_support(N).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .shifts import _as_float_positions, extract_patches, sample_windows_real

__all__ = ["canvas_size", "central_support", "merge_group", "split_group"]

_EPS = 1e-6


def canvas_size(N: int, gridsize: int, max_offset: float) -> int:
    """Canvas side M able to hold every patch of a group.

    max_offset: the largest |rel| component (pixels) to accommodate, e.g. float(rel.abs().max()).
    gridsize 1 (rel == 0): M = N. Otherwise M = N + 2*ceil(max_offset) + 2 (1 px bilinear margin
    per side), rounded up to an even number so that M//2 - N//2 is an integer.
    """
    if N < 1 or gridsize < 1:
        raise ValueError(f"canvas_size: N and gridsize must be >= 1, got N={N}, gridsize={gridsize}")
    if max_offset < 0 or not math.isfinite(max_offset):
        raise ValueError(f"canvas_size: max_offset must be finite and >= 0, got {max_offset}")
    if gridsize == 1:
        return int(N)
    M = int(N + 2 * math.ceil(max_offset) + 2)
    return M + (M % 2)


def central_support(N: int, size: int | None = None, soft: bool = True, edge_sigma: float = 1.0,
                    dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Square support of side `size` (default N//2) centred on pixel (N//2, N//2), soft erfc edges.

    Why: with pad_object=True the decoder's object is only defined in the central N/2 square, so
    merging should average only there.
    """
    size = N // 2 if size is None else int(size)
    x = np.arange(N) - N // 2
    half = size / 2.0
    if soft and edge_sigma > 0:
        from scipy.special import erfc
        # 1D profile: ~1 inside [-half, half), erfc ramp outside (centre of the pixel grid at -0.5).
        d = np.abs(x + 0.5) - half
        prof = 0.5 * erfc(d / (math.sqrt(2.0) * edge_sigma))
    else:
        prof = ((x >= -(size // 2)) & (x < size - size // 2)).astype(np.float64)
    return torch.as_tensor(np.outer(prof, prof), dtype=dtype, device=device)


def merge_group(patches: torch.Tensor, rel, M: int, support_mask: torch.Tensor | None = None,
                return_weight: bool = False):
    """Merge C patches of each group onto an M x M canvas (weighted mean; see module docstring).

    patches (B, C, N, N) complex; rel (B, C, 2) [x, y] (may require grad); support_mask real,
    broadcastable to (B, C, N, N) (None = ones). Returns canvas (B, M, M) complex
    (and the weight sum (B, M, M) when return_weight=True).
    """
    if patches.ndim != 4:
        raise ValueError(f"merge_group: patches must be (B, C, N, N), got {tuple(patches.shape)}")
    B, C, N, N2 = patches.shape
    r = _as_float_positions(rel, patches.device)
    if r.shape != (B, C, 2):
        raise ValueError(f"merge_group: rel must be (B, C, 2) = {(B, C, 2)}, got {tuple(r.shape)}")
    if not patches.is_complex():
        patches = patches.to(torch.complex64)
    pr = torch.view_as_real(patches)                                    # (B, C, N, N, 2)
    if support_mask is None:
        w = torch.ones((B, C, N, N2), dtype=pr.dtype, device=pr.device)
    else:
        w = support_mask.to(device=pr.device, dtype=pr.dtype).expand(B, C, N, N2)
    x = torch.cat([pr * w[..., None], w[..., None]], dim=-1)            # (B, C, N, N, 3)
    x = x.reshape(B * C, N, N2, 3)
    # Canvas pixel (R, Cc) takes patch pixel (R - M//2 + N//2 - rel_y, Cc - M//2 + N//2 - rel_x).
    off = float(N // 2 - M // 2)
    row0 = (off - r[..., 1]).reshape(B * C, 1)
    col0 = (off - r[..., 0]).reshape(B * C, 1)
    placed = sample_windows_real(x, row0, col0, M, M)                   # (B*C, 1, M, M, 3)
    placed = placed.reshape(B, C, M, M, 3).sum(dim=1)                   # (B, M, M, 3)
    num = torch.view_as_complex(placed[..., :2].contiguous())
    den = placed[..., 2]
    covered = den > _EPS
    canvas = torch.where(covered, num / den.clamp_min(_EPS), torch.zeros_like(num))
    if return_weight:
        return canvas, den
    return canvas


def split_group(canvas: torch.Tensor, rel, N: int) -> torch.Tensor:
    """Extract each channel's N x N patch from the group canvas: (B, M, M) -> (B, C, N, N)."""
    if canvas.ndim != 3:
        raise ValueError(f"split_group: canvas must be (B, M, M), got {tuple(canvas.shape)}")
    r = _as_float_positions(rel, canvas.device)
    H, W = canvas.shape[-2:]
    centre = torch.tensor([W // 2, H // 2], dtype=r.dtype, device=r.device)
    return extract_patches(canvas, r + centre, N)
