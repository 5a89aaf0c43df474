"""The unrolled generator: the CNN's object, then K physics updates against the group's own patterns.

Why: a convolutional encoder/decoder does not learn the inverse of a far-field transform in a CPU
budget (it reaches amplitude/phase SSIM ~0.5 on scans it never saw and stays blurred), yet the
C patterns of one group hold far more than that. Each unrolled step does what one pass of a
parallel (r)PIE does on that group alone: form the exit waves of the group's shared object canvas,
replace their far-field amplitudes by the measured ones, and move the canvas towards the corrected
waves. The step sizes are learned with the CNN, and the loss is computed on the final object, so
the CNN learns to give a start from which these steps converge (deep unrolling). Only the group's
own patterns are used; nothing is fitted to the rest of the scan, and one forward pass costs K
pairs of FFTs per pattern on top of the CNN (a few per cent of its convolutions).
"""
from __future__ import annotations

import torch
from torch import nn

from .network import Generator

#: rPIE-style regularisation of the update's denominator, as a fraction of its maximum: keeps
#: the step bounded where the probe is dim
RPIE_ALPHA = 0.1
#: the amplitude replacement divides by |Psi| + this (object units)
MAGNITUDE_FLOOR = 1e-6


def projection_steps(obj: torch.Tensor, measured: torch.Tensor, rel: torch.Tensor | None, probe: torch.Tensor,
                     step_sizes: torch.Tensor, support: torch.Tensor | None, gridsize: int) -> torch.Tensor:
    """Run len(step_sizes) amplitude-projection updates on each group's shared object.

    obj (B, C, N, N) complex patches; measured (B, C, N, N) far-field amplitudes in object units
    (centred, as the forward model makes them); probe (N, N) or per-item (B, 1, N, N) complex.
    Returns (B, C, N, N) patches cut from the updated canvas (consistent where they overlap).
    """
    from ..physics.groups import canvas_size, merge_group, split_group

    B, C, N, _ = obj.shape
    if C > 1:
        if rel is None:
            raise ValueError("the unrolled generator with gridsize > 1 needs the group offsets `rel` (B, C, 2)")
        rel = rel.to(device=obj.device, dtype=torch.float32)
        M = canvas_size(N, gridsize, float(rel.detach().abs().max()))
        merge = lambda patches, w=None: merge_group(patches, rel, M, support_mask=w)  # noqa: E731
        split = lambda canvas: split_group(canvas, rel, N)  # noqa: E731
    else:  # one pattern per group: the "canvas" is the patch itself
        merge = lambda patches, w=None: patches[:, 0]  # noqa: E731
        split = lambda canvas: canvas[:, None]  # noqa: E731
    canvas = merge(obj, support)
    target = torch.fft.ifftshift(measured.float(), dim=(-2, -1))
    P = probe.to(device=obj.device, dtype=torch.complex64)
    power = (P.real.square() + P.imag.square()).expand(B, C, N, N).to(torch.complex64)
    den = merge(power).real
    den = den + RPIE_ALPHA * den.amax(dim=(-2, -1), keepdim=True)
    for alpha in step_sizes:
        psi = split(canvas) * P
        far = torch.fft.fft2(psi, norm="ortho")
        corrected = torch.fft.ifft2(target * far / (far.abs() + MAGNITUDE_FLOOR), norm="ortho")
        canvas = canvas + alpha * merge(P.conj() * (corrected - psi)) / den
    return split(canvas)


class UnrolledGenerator(Generator):
    """The reference CNN followed by ``steps`` learned-step physics updates (see module docstring).

    The CNN's weights keep the reference layout (same state-dict keys as ``Generator``), plus
    ``step_sizes`` (K,). ``refine(obj, measured, rel, probe, support, gridsize)`` is called by
    ``PtychoPINN.predict_object`` with the group's measured amplitudes in object units.
    """

    def __init__(self, *args, steps: int = 10, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if steps < 1:
            raise ValueError(f"unroll_steps must be >= 1 for the unrolled generator, got {steps}")
        self.step_sizes = nn.Parameter(torch.ones(int(steps)))

    def refine(self, obj: torch.Tensor, measured: torch.Tensor, rel: torch.Tensor | None, probe: torch.Tensor,
               support: torch.Tensor | None, gridsize: int) -> torch.Tensor:
        return projection_steps(obj, measured, rel, probe, self.step_sizes.float(), support, gridsize)
