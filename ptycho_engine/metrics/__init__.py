"""Reconstruction quality metrics: alignment (shift, phase offset/ramp), SSIM, PSNR, MAE, FRC."""
from __future__ import annotations

from .alignment import apply_shift, estimate_shift, fit_phase_plane, remove_phase_plane
from .evaluate import evaluate_reconstruction, image_scores
from .frc import frc_curve, frc_resolution, half_bit_threshold, ring_indices

__all__ = [
    "apply_shift",
    "estimate_shift",
    "evaluate_reconstruction",
    "fit_phase_plane",
    "frc_curve",
    "frc_resolution",
    "half_bit_threshold",
    "image_scores",
    "remove_phase_plane",
    "ring_indices",
]
