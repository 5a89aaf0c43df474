"""The pieces of one refinement update (torch, any device): exit-wave targets, normalised directions, step sizes.

Why a least-squares update instead of a generic optimiser: for ptychography the misfit of one
pattern is minimised, for fixed probe and object patch, by replacing the far-field amplitude with
the measured one. The difference chi between that corrected exit wave and the current one tells
each unknown how to move; dividing by the illumination it received (object) or by the object
power it saw (probe) makes the step independent of the scale of the data, and a least-squares
step length along those directions (as in LSQML, Odstrcil et al. 2018) takes the best step the
batch allows. Weakly lit pixels are damped by ``alpha`` (rPIE, Maiden et al. 2017).

Shapes: ``psi`` (B, K, N, N) exit waves of B patterns and K incoherent probe modes; ``measured``
(B, N, N) amplitudes with the zero frequency at the centre (as stored in a scan).
"""
from __future__ import annotations

import numpy as np
import torch

NOISE_MODELS = ("amplitude", "poisson")
_EPS = 1e-12


def far_field(psi: torch.Tensor) -> torch.Tensor:
    """Centred far field of exit waves (the forward model's convention: ortho FFT, then fftshift)."""
    return torch.fft.fftshift(torch.fft.fft2(psi, norm="ortho"), dim=(-2, -1))


def back_propagate(field: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`far_field`."""
    return torch.fft.ifft2(torch.fft.ifftshift(field, dim=(-2, -1)), norm="ortho")


def target_amplitude(model_amp: torch.Tensor, measured: torch.Tensor, noise_model: str) -> torch.Tensor:
    """The far-field amplitude each pixel is moved to.

    amplitude: the measured amplitude (the projection; minimises the Gaussian amplitude misfit).
    poisson: one Newton step on the Poisson likelihood I - X**2 log I in the amplitude a = sqrt(I):
    a - (a**2 - X**2) a / (a**2 + X**2). It lands on X near the fit but moves cautiously where the
    model is far off (a dark model pixel at most doubles), which keeps noisy low-count pixels from
    dominating early passes.
    """
    if noise_model == "amplitude":
        return measured
    if noise_model == "poisson":
        a2, x2 = model_amp * model_amp, measured * measured
        return model_amp - (a2 - x2) * model_amp / (a2 + x2 + _EPS)
    raise ValueError(f"noise model must be one of {NOISE_MODELS}, got {noise_model!r}")


def exit_wave_correction(psi: torch.Tensor, measured: torch.Tensor, noise_model: str,
                         photon_scale: float | None = None, good: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """chi = corrected exit wave - psi (same shape as psi), each pattern's amplitude misfit, and its noise floor.

    The misfit is sum_xy (a - X)**2 / N**2 per pattern, a = sqrt(sum over modes |far field|**2).
    The floor is the misfit Poisson noise alone would leave if the model were exact (0 when the
    photon scale is unknown): E (sqrt(k) - sqrt(lam))**2 ~ lam / (1 + 4 lam) counts per pixel.
    ``good`` (N, N) bool: detector pixels to use; bad ones keep the model's amplitude and count
    in neither misfit nor floor.
    """
    Psi = far_field(psi)
    amp = torch.sqrt((Psi.real ** 2 + Psi.imag ** 2).sum(dim=1))        # (B, N, N)
    weight = torch.ones_like(amp[0]) if good is None else good.to(amp.dtype)
    n_good = weight.sum().clamp_min(1.0)
    misfit = (((amp - measured) ** 2) * weight).sum(dim=(-2, -1)) / n_good
    if photon_scale:
        lam = (photon_scale * amp) ** 2
        floor = ((lam / (1 + 4 * lam)) * weight).sum(dim=(-2, -1)) / n_good / photon_scale ** 2
    else:
        floor = torch.zeros_like(misfit)
    target = target_amplitude(amp, measured, noise_model)
    if good is not None:
        target = torch.where(good, target, amp)
    ratio = target / (amp + _EPS)
    chi = back_propagate(Psi * ratio.unsqueeze(1)) - psi
    return chi, misfit, floor


def counts_scale(measured: np.ndarray) -> float | None:
    """The photon scale s of amplitudes stored as sqrt(counts) / s, or None when they are not.

    Why: knowing s gives the Poisson noise floor of the misfit. The smallest non-zero amplitude is
    one photon (1 / s); the estimate is accepted only if nearly every (s X)**2 is then an integer.
    """
    x = np.asarray(measured, dtype=np.float64)
    nz = x[x > 0]
    if nz.size < 16:
        return None
    s = 1.0 / float(nz.min())
    counts = (nz * s) ** 2
    if np.mean(np.abs(counts - np.round(counts)) < 0.05) < 0.95:
        return None
    return s


def damped_ratio(numerator: torch.Tensor, power: torch.Tensor, alpha: float) -> torch.Tensor:
    """numerator / (power + alpha * max power): a normalised update that stays small where unlit."""
    return numerator / (power + alpha * power.max().clamp_min(_EPS))


def joint_step(chi: torch.Tensor, directions: list[torch.Tensor], ridge: float = 1e-6,
               max_step: float = 1.5) -> list[float]:
    """Step lengths beta_i minimising ||chi - sum_i beta_i d_i||**2 (the d_i are exit-wave changes).

    A small ridge keeps the system solvable when two directions are (nearly) parallel; steps are
    clipped to [0, max_step] so a noisy batch can neither reverse nor overshoot an update.
    """
    k = len(directions)
    wide = torch.float64
    G = torch.empty((k, k), dtype=wide)
    b = torch.empty(k, dtype=wide)
    for i, di in enumerate(directions):
        b[i] = float(torch.sum(di.conj() * chi).real)
        for j in range(i, k):
            G[i, j] = G[j, i] = float(torch.sum(di.conj() * directions[j]).real)
    G += ridge * torch.diag(torch.diagonal(G).clamp_min(_EPS))
    try:
        beta = torch.linalg.solve(G, b)
    except RuntimeError:  # singular even with the ridge: no usable step
        return [0.0] * k
    return [float(min(max(v, 0.0), max_step)) if torch.isfinite(v) else 0.0 for v in beta]


def position_shifts(chi: torch.Tensor, probe: torch.Tensor, patches: torch.Tensor,
                    max_shift: float) -> torch.Tensor:
    """Per-pattern [dx, dy] (B, 2) that best explains chi by moving the pattern (LSQML positions).

    psi(x + d) ~ psi(x) + dx P dO/dx + dy P dO/dy, solved per pattern in least squares over all
    probe modes; the derivative is a central difference of the object patch (x = columns).
    """
    d_col = torch.zeros_like(patches)
    d_row = torch.zeros_like(patches)
    d_col[..., 1:-1] = 0.5 * (patches[..., 2:] - patches[..., :-2])
    d_row[..., 1:-1, :] = 0.5 * (patches[..., 2:, :] - patches[..., :-2, :])
    ux = probe.unsqueeze(0) * d_col.unsqueeze(1)                           # (B, K, N, N)
    uy = probe.unsqueeze(0) * d_row.unsqueeze(1)

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a.conj() * b).real.sum(dim=(1, 2, 3)).to(torch.float64)

    axx, ayy, axy = dot(ux, ux), dot(uy, uy), dot(ux, uy)
    bx, by = dot(ux, chi), dot(uy, chi)
    ridge = 1e-3 * (axx + ayy) + _EPS
    det = (axx + ridge) * (ayy + ridge) - axy * axy
    dx = ((ayy + ridge) * bx - axy * by) / det
    dy = ((axx + ridge) * by - axy * bx) / det
    return torch.stack([dx, dy], dim=1).clamp(-max_shift, max_shift)
