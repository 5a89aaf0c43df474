"""The forward model shared by the simulator and the network (torch, differentiable, any device).

Conventions (see /work/plan/INTERFACES.md, "Forward model"):

* illuminated field        psi = P * O  (optionally * mask, optionally Gaussian-smoothed)
* far-field amplitude      A = | fftshift( fft2(psi, norm="ortho") ) |   over the last two axes,
                           so Parseval holds per pattern: sum A**2 == sum |psi|**2.
* photon scale             s**2 = nphotons / mean_n( sum_xy A_n**2 )   (nphotons = mean total counts)
* measurement              k ~ Poisson(s**2 A**2), stored amplitude X = sqrt(k) / s
                           (X has the same physical scale as A; the loss works in counts s**2 X**2).

Public API (all accept (..., N, N) tensors; complex tensors are complex64 unless given otherwise):

    illuminate(obj_patches, probe, mask=None) -> complex (..., N, N)
    gaussian_smooth(field, sigma) -> field                      (sigma <= 0: returned unchanged)
    diffraction_amplitude(field) -> real (..., N, N)
    forward_amplitude(obj_patches, probe, mask=None, smoothing_sigma=0.0) -> real (..., N, N)
    photon_scale(amplitude_batch_or_mean_energy, nphotons) -> float s
    poisson_amplitude(amplitude, s, generator=None) -> real (..., N, N)
    probe_mask(N, soft=True, edge_sigma=1.0, dtype=torch.float32, device=None) -> real (N, N)

Pixel (N/2, N/2) of a patch is the patch centre (the scan position) and the zero frequency after
fftshift; masks and probes made here are centred there.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "illuminate",
    "gaussian_smooth",
    "diffraction_amplitude",
    "forward_amplitude",
    "photon_scale",
    "poisson_amplitude",
    "probe_mask",
]


def illuminate(obj_patches: torch.Tensor, probe: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Exit wave psi = probe * obj_patches (* mask); shapes broadcast over leading axes.

    obj_patches: (..., N, N) complex; probe: (N, N) or broadcastable (e.g. (B, C, N, N)) complex;
    mask: optional real (N, N) (e.g. `probe_mask(N)`), applied to the probe.
    """
    probe = probe.to(device=obj_patches.device)
    if not probe.is_complex():
        probe = probe.to(torch.complex64)
    psi = obj_patches * probe
    if mask is not None:
        psi = psi * mask.to(device=psi.device, dtype=psi.real.dtype)
    return psi


def _gaussian_kernel1d(sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def gaussian_smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (..., N, N) real or complex tensor (real/imag separately).

    Why: the reference optionally smooths the exit wave (`gaussian_smoothing_sigma`); 0 means off.
    Edges use zero padding (the field is probe-attenuated there); the kernel radius is ceil(3 sigma).
    """
    if sigma is None or sigma <= 0:
        return field
    is_c = field.is_complex()
    x = torch.view_as_real(field) if is_c else field.unsqueeze(-1)  # (..., H, W, 2|1)
    lead = x.shape[:-3]
    H, W, P = x.shape[-3:]
    x = x.reshape(-1, H, W, P).permute(0, 3, 1, 2).reshape(-1, 1, H, W)  # (B*P, 1, H, W)
    k = _gaussian_kernel1d(float(sigma), x.dtype, x.device)
    r = (k.numel() - 1) // 2
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1), padding=(r, 0))
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r))
    x = x.reshape(-1, P, H, W).permute(0, 2, 3, 1).reshape(*lead, H, W, P)
    if is_c:
        return torch.view_as_complex(x.contiguous())
    return x[..., 0]


def diffraction_amplitude(field: torch.Tensor) -> torch.Tensor:
    """|fftshift(fft2(field, norm="ortho"))| over the last two axes (real, same shape).

    Parseval: (A**2).sum((-2, -1)) == (|field|**2).sum((-2, -1)).
    """
    F = torch.fft.fft2(field, norm="ortho")
    F = torch.fft.fftshift(F, dim=(-2, -1))
    return F.abs()


def forward_amplitude(obj_patches: torch.Tensor, probe: torch.Tensor,
                      mask: torch.Tensor | None = None,
                      smoothing_sigma: float = 0.0) -> torch.Tensor:
    """Object patches -> far-field amplitude: diffraction_amplitude(smooth(illuminate(O, P, mask)))."""
    return diffraction_amplitude(gaussian_smooth(illuminate(obj_patches, probe, mask), smoothing_sigma))


def photon_scale(amplitude_batch_or_mean_energy, nphotons: float) -> float:
    """Photon scale s with s**2 = nphotons / mean_n(sum_xy A_n**2).

    Accepts either an amplitude batch (..., N, N) (torch or numpy; the mean runs over all leading
    axes) or the mean per-pattern energy as a number. Returns a Python float; raises ValueError for
    non-positive energy or nphotons.
    """
    a = amplitude_batch_or_mean_energy
    if isinstance(a, torch.Tensor):
        if a.ndim >= 2:
            energy = float((a.detach().to(torch.float64) ** 2).sum(dim=(-2, -1)).mean())
        else:
            energy = float(a.detach())
    elif isinstance(a, np.ndarray) and a.ndim >= 2:
        energy = float((np.asarray(a, dtype=np.float64) ** 2).sum(axis=(-2, -1)).mean())
    else:
        energy = float(a)
    if not (energy > 0 and math.isfinite(energy)):
        raise ValueError(f"photon_scale: mean pattern energy must be finite and > 0, got {energy}")
    if not (nphotons > 0):
        raise ValueError(f"photon_scale: nphotons must be > 0, got {nphotons}")
    return math.sqrt(float(nphotons) / energy)


def poisson_amplitude(amplitude: torch.Tensor, s: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Noisy amplitude sqrt(k)/s with counts k ~ Poisson(s**2 * amplitude**2).

    Sampling is done in float64 (exact counts up to 2**53; float32 on MPS) and returned in
    amplitude's dtype.
    Pass a `torch.Generator` on amplitude's device for reproducible noise.
    """
    wide = torch.float32 if amplitude.device.type == "mps" else torch.float64   # MPS: no float64
    rate = (float(s) ** 2) * amplitude.detach().to(wide) ** 2
    counts = torch.poisson(rate, generator=generator)
    return (torch.sqrt(counts) / float(s)).to(amplitude.dtype)


def probe_mask(N: int, soft: bool = True, edge_sigma: float = 1.0,
               dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Disk of diameter N/2 centred on pixel (N/2, N/2); soft edge = erfc ramp of width edge_sigma px.

    Why soft: a hard binary mask creates ringing in the far field; the erfc profile equals a hard
    disk blurred radially by a Gaussian of sigma `edge_sigma` (reference LATEST uses sigma 1 px).
    """
    c = N // 2
    yy, xx = np.meshgrid(np.arange(N) - c, np.arange(N) - c, indexing="ij")
    r = np.hypot(yy, xx)
    R = N / 4.0
    if soft and edge_sigma > 0:
        from scipy.special import erfc
        m = 0.5 * erfc((r - R) / (math.sqrt(2.0) * edge_sigma))
    else:
        m = (r < R).astype(np.float64)
    return torch.as_tensor(m, dtype=dtype, device=device)
