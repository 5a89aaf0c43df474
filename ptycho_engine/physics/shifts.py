"""Sub-pixel patch extraction and image translation (torch, differentiable, batched, any device).

Geometry (the ONE convention of the project, INTERFACES.md "Geometry"):

* A position (x, y) is the object-pixel coordinate of a patch CENTRE: x = column, y = row.
* Patch pixel (i, j) samples the object at (row = y + i - N//2, col = x + j - N//2).
  So for integer x, y:  patch == obj[y - N//2 : y + N//2, x - N//2 : x + N//2]  exactly.
* Sub-pixel positions use bilinear interpolation written out explicitly (the same maths as
  `grid_sample(..., align_corners=True)` in pixel units); samples outside the image are 0.
  At integer positions the interpolation weights are exactly (1, 0), so the slice is exact.

Translation sign:  translate(img, [dx, dy]) moves the CONTENT by +shift:
    out[r, c] = img[r - dy, c - dx]      (a bright pixel at (row 5, col 3) shifted by dx=2, dy=1
                                          appears at (row 6, col 5)).
Consequently extract_patches(img, (x, y), N) == translate(img, (N//2 - x, N//2 - y))[:N, :N].

Complex tensors are handled as (real, imag) pairs (`torch.view_as_real`), so gradients flow to
the image (and to fractional positions) through plain gathers and multiply-adds.

Public API:
    extract_patches(obj, positions, N) -> patches
        obj (H, W) with positions (*S, 2) [x, y]          -> (*S, N, N)
        obj (B, H, W) with positions (B, *S, 2) [x, y]    -> (B, *S, N, N)   (per-image positions)
    translate(images, shifts) -> images
        images (B, H, W) with shifts (B, 2) [dx, dy]      -> (B, H, W)
        images (H, W) with shifts (2,)                    -> (H, W)
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["extract_patches", "translate", "sample_windows", "sample_windows_real"]


def _as_float_positions(p, device) -> torch.Tensor:
    """Positions as a floating tensor on `device` (float64 where supported: exact integer parts)."""
    device = torch.device(device)
    wide = torch.float32 if device.type == "mps" else torch.float64   # MPS has no float64
    if isinstance(p, torch.Tensor):
        t = p.to(device=device)
        return t if t.is_floating_point() else t.to(wide)
    return torch.as_tensor(np.asarray(p, dtype=np.float64), device="cpu").to(device=device, dtype=wide)


def sample_windows_real(x: torch.Tensor, row0: torch.Tensor, col0: torch.Tensor,
                        h: int, w: int) -> torch.Tensor:
    """Bilinear windows of a real multi-channel image; x (B, H, W, P) -> (B, K, h, w, P).

    out[b, k, i, j, :] = x[b, row0[b, k] + i, col0[b, k] + j, :] (0 outside); row0, col0 (B, K).
    Why a channel axis: real, imag and a weight map can share one gather (see groups.merge_group).
    """
    if x.ndim != 4:
        raise ValueError(f"sample_windows_real: x must be (B, H, W, P), got {tuple(x.shape)}")
    B, H, W, P = x.shape
    x = torch.nn.functional.pad(x, (0, 0, 1, 1, 1, 1))                  # zero border, (B, H+2, W+2, P)
    flat = x.reshape(B, (H + 2) * (W + 2), P)
    rdt = x.dtype

    row0 = row0.to(device=x.device)
    col0 = col0.to(device=x.device)
    ri = torch.floor(row0.detach())
    ci = torch.floor(col0.detach())
    fy = (row0 - ri).to(rdt)                                            # (B, K), differentiable
    fx = (col0 - ci).to(rdt)
    ri = ri.to(torch.int64)
    ci = ci.to(torch.int64)
    K = row0.shape[1]

    ar_h = torch.arange(h + 1, device=x.device)
    ar_w = torch.arange(w + 1, device=x.device)
    # +1 for the zero border; anything further out clamps onto the zero border.
    rows = (ri[..., None] + ar_h + 1).clamp_(0, H + 1)                  # (B, K, h+1)
    cols = (ci[..., None] + ar_w + 1).clamp_(0, W + 1)                  # (B, K, w+1)
    idx = rows[..., :, None] * (W + 2) + cols[..., None, :]             # (B, K, h+1, w+1)
    idx = idx.reshape(B, -1, 1).expand(-1, -1, P)
    block = torch.gather(flat, 1, idx).reshape(B, K, h + 1, w + 1, P)

    fy = fy[:, :, None, None, None]
    fx = fx[:, :, None, None, None]
    rows_i = block[:, :, :h] * (1 - fy) + block[:, :, 1:] * fy           # (B, K, h, w+1, P)
    return rows_i[:, :, :, :w] * (1 - fx) + rows_i[:, :, :, 1:] * fx     # (B, K, h, w, P)


def sample_windows(img: torch.Tensor, row0: torch.Tensor, col0: torch.Tensor,
                   h: int, w: int) -> torch.Tensor:
    """Bilinear windows: out[b, k, i, j] = img[b, row0[b, k] + i, col0[b, k] + j] (0 outside).

    img (B, H, W) real or complex; row0, col0 (B, K) float (may require grad). Returns (B, K, h, w).
    """
    if img.ndim != 3:
        raise ValueError(f"sample_windows: img must be (B, H, W), got {tuple(img.shape)}")
    is_c = img.is_complex()
    x = torch.view_as_real(img) if is_c else img.unsqueeze(-1)          # (B, H, W, P)
    out = sample_windows_real(x, row0, col0, h, w)
    if is_c:
        return torch.view_as_complex(out.contiguous())
    return out[..., 0]


def extract_patches(obj: torch.Tensor, positions, N: int) -> torch.Tensor:
    """Cut N x N patches centred at positions [x, y] (see module docstring for the geometry).

    obj (H, W) + positions (*S, 2) -> (*S, N, N); obj (B, H, W) + positions (B, *S, 2) ->
    (B, *S, N, N). Real or complex obj; differentiable w.r.t. obj and float positions.
    """
    pos = _as_float_positions(positions, obj.device)
    if pos.shape[-1] != 2:
        raise ValueError(f"extract_patches: positions must end with [x, y], got {tuple(pos.shape)}")
    half = N // 2
    if obj.ndim == 2:
        lead = pos.shape[:-1]
        p = pos.reshape(1, -1, 2)
        out = sample_windows(obj.unsqueeze(0), p[..., 1] - half, p[..., 0] - half, N, N)
        return out.reshape(*lead, N, N)
    if obj.ndim == 3:
        if pos.ndim < 2 or pos.shape[0] != obj.shape[0]:
            raise ValueError("extract_patches: with obj (B, H, W) positions must be (B, *S, 2); "
                             f"got obj {tuple(obj.shape)}, positions {tuple(pos.shape)}")
        lead = pos.shape[:-1]
        p = pos.reshape(obj.shape[0], -1, 2)
        out = sample_windows(obj, p[..., 1] - half, p[..., 0] - half, N, N)
        return out.reshape(*lead, N, N)
    raise ValueError(f"extract_patches: obj must be (H, W) or (B, H, W), got {tuple(obj.shape)}")


def translate(images: torch.Tensor, shifts) -> torch.Tensor:
    """Move image content by +shift [dx, dy] (bilinear, zero fill): out[r, c] = img[r - dy, c - dx]."""
    sh = _as_float_positions(shifts, images.device)
    if images.ndim == 2:
        return translate(images.unsqueeze(0), sh.reshape(1, 2))[0]
    if images.ndim != 3 or sh.shape != (images.shape[0], 2):
        raise ValueError(f"translate: expected images (B, H, W) and shifts (B, 2); "
                         f"got {tuple(images.shape)} and {tuple(sh.shape)}")
    H, W = images.shape[-2:]
    out = sample_windows(images, -sh[:, 1:2], -sh[:, 0:1], H, W)
    return out[:, 0]
