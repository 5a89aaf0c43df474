"""Bilinear patch gather and its adjoint (splat) on a flat object canvas, touching only the pixels
a batch covers.

Why not :func:`ptycho_engine.physics.shifts.extract_patches` here: it pads a copy of the whole
image on every call, which is fine for a network's small object but makes each refinement batch
cost O(canvas) — with 10^5 patterns the canvas is thousands of pixels wide and a pass would grow
with the square of the scan. These functions cost O(batch · N²). Same geometry and the same
weights as ``extract_patches`` (patch pixel (i, j) samples row y - N//2 + i, column x - N//2 + j,
bilinear, zero outside the canvas), so the two agree to float precision (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Footprint:
    """Where a batch of patches lies on an (H, W) canvas: (N+1)² corner blocks and their weights."""

    index: torch.Tensor  # (B, N+1, N+1) int64 flat canvas indices (clamped; see valid)
    valid: torch.Tensor  # (B, N+1, N+1) bool: inside the canvas
    fy: torch.Tensor  # (B, 1, 1) fractional row offset
    fx: torch.Tensor  # (B, 1, 1) fractional column offset
    N: int
    inside: bool = False  # every block pixel is on the canvas (the usual case: no masking needed)

    @property
    def touched(self) -> torch.Tensor:
        """Flat indices of the canvas pixels the batch covers (with repeats where patches overlap)."""
        return self.index.reshape(-1) if self.inside else self.index[self.valid]


def footprint(positions: torch.Tensor, N: int, shape: tuple[int, int]) -> Footprint:
    """Footprint of patches centred at ``positions`` (B, 2) [x, y] canvas coordinates."""
    H, W = shape
    row0 = positions[:, 1] - N // 2
    col0 = positions[:, 0] - N // 2
    ri, ci = torch.floor(row0), torch.floor(col0)
    ar = torch.arange(N + 1, device=positions.device)
    rows = ri.to(torch.int64)[:, None, None] + ar[None, :, None]
    cols = ci.to(torch.int64)[:, None, None] + ar[None, None, :]
    valid = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    index = rows.clamp(0, H - 1) * W + cols.clamp(0, W - 1)
    return Footprint(index=index, valid=valid, fy=(row0 - ri)[:, None, None], fx=(col0 - ci)[:, None, None], N=N,
                     inside=bool(valid.all()))


def gather(canvas_flat: torch.Tensor, fp: Footprint) -> torch.Tensor:
    """(B, N, N) bilinear patches of a flat canvas (the same values as extract_patches)."""
    block = canvas_flat[fp.index] if fp.inside else canvas_flat[fp.index] * fp.valid
    fy, fx = fp.fy.to(block.real.dtype), fp.fx.to(block.real.dtype)
    top = block[:, :-1, :-1] * (1 - fx) + block[:, :-1, 1:] * fx
    bottom = block[:, 1:, :-1] * (1 - fx) + block[:, 1:, 1:] * fx
    return top * (1 - fy) + bottom * fy


def splat(values: torch.Tensor, fp: Footprint, out_flat: torch.Tensor) -> None:
    """Add the adjoint of :func:`gather` of ``values`` (B, N, N) into ``out_flat`` (in place).

    Separable: spread along columns, then along rows (4 products of the patch, as gather's).
    """
    fy, fx = fp.fy.to(values.real.dtype), fp.fx.to(values.real.dtype)
    B, N = values.shape[0], fp.N
    cols = values.new_zeros((B, N, N + 1))
    cols[:, :, :-1] = values * (1 - fx)
    cols[:, :, 1:] += values * fx
    block = values.new_zeros((B, N + 1, N + 1))
    block[:, :-1] = cols * (1 - fy)
    block[:, 1:] += cols * fy
    block = block.reshape(-1) if fp.inside else block[fp.valid]
    out_flat.index_add_(0, fp.touched, block.to(out_flat.dtype))
