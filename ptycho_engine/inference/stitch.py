"""The one stitching path for predicted patches (inference and, ideally, the training preview).

``stitching.stitch_patches`` weights every patch pixel by w = |probe|^2 ('probe') or 1
('uniform'). A model trained with ``pad_object`` and without ``probe_big`` predicts the object
only on the central N/2 square and exact zeros around it; averaging those zeros into the
neighbours would darken the stitched object, so there the weight is also multiplied by the
model's central support (hard-edged like the decoder's zero padding: a soft edge would still let
the zeros just outside the square vote). stitch_patches takes the weight as an amplitude ("probe")
whose square is the weight, so we hand it sqrt(w).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..stitching import StitchResult, stitch_patches

WEIGHTINGS = ("probe", "uniform")


def central_only(arch: dict[str, Any] | None) -> bool:
    """True when the model's patches are meaningful only on the central N/2 square."""
    arch = arch or {}
    return bool(arch.get("pad_object", True)) and not bool(arch.get("probe_big", True))


def stitch_weight_amplitude(probe: np.ndarray | None, N: int, weighting: str = "probe",
                            central_support: bool = False) -> np.ndarray | None:
    """a (N, N) float with a**2 = the per-pixel stitching weight, or None for plain uniform weights."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"stitch weighting must be one of {list(WEIGHTINGS)}, got {weighting!r}")
    if weighting == "probe":
        if probe is None:
            raise ValueError("stitch weighting 'probe' needs the probe")
        a = np.abs(np.asarray(probe)).astype(np.float64)
        if a.shape != (N, N):
            raise ValueError(f"probe shape {a.shape} does not match the patches ({N}, {N})")
        if not np.any(a > 0):
            raise ValueError("the probe is zero everywhere; use stitch weighting 'uniform'")
    else:
        if not central_support:
            return None
        a = np.ones((N, N), dtype=np.float64)
    if central_support:
        import torch

        from ..physics.groups import central_support as support

        a = a * support(N, soft=False, dtype=torch.float64).numpy()  # hard: the border is exactly 0
    return a.astype(np.float32)


def stitch_prediction(patches: Any, positions: np.ndarray, *, probe: np.ndarray | None, weighting: str = "probe",
                      arch: dict[str, Any] | None = None, object_shape: tuple[int, int] | None = None
                      ) -> StitchResult:
    """Stitch (n, N, N) complex patches at absolute positions (n, 2) [x, y] into one object.

    ``arch`` is the model's architecture dict (``PtychoPINN.arch``); it decides whether only the
    central support of each patch votes. The result's origin_x/origin_y map canvas pixel [0, 0]
    to object coordinates (see :mod:`ptycho_engine.stitching`).
    """
    N = int(patches.shape[-1])
    a = stitch_weight_amplitude(probe, N, weighting, central_only(arch))
    if a is None:
        return stitch_patches(patches, positions, weighting="uniform", object_shape=object_shape)
    return stitch_patches(patches, positions, weighting="probe", probe=a, object_shape=object_shape)
