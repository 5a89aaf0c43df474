"""Ground truth and difference images on the region the metrics were measured on.

Why here: the metrics (``compare.py`` / ``metrics.evaluate``) record where they compared
(``region``), the sub-pixel shift they applied, the phase plane they removed and the amplitude
scale; replaying those recorded numbers with the engine's own ``apply_shift`` and
``remove_phase_plane`` shows exactly what was scored, without a second registration.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class TruthImages:
    """Amplitude and phase of the truth and of (reconstruction - truth), same shape."""

    amplitude_truth: np.ndarray
    phase_truth: np.ndarray
    amplitude_difference: np.ndarray  # scaled reconstruction amplitude - truth amplitude
    phase_difference: np.ndarray  # wrapped phase(rec) - phase(truth), rad


def _crop(img: np.ndarray, margin: int) -> np.ndarray:
    return img[margin:img.shape[0] - margin, margin:img.shape[1] - margin] if margin > 0 else img


def truth_images(obj: np.ndarray | None, reference: np.ndarray | None,
                 metrics: dict[str, Any] | None) -> TruthImages | None:
    """The aligned truth and difference, or None when there is no truth or no region."""
    region = (metrics or {}).get("region")
    if obj is None or reference is None or not region:
        return None
    from ptycho_engine.metrics.alignment import apply_shift, remove_phase_plane

    c, r = region["canvas"], region["reference"]
    ref_full = np.asarray(reference)
    if r["row1"] > ref_full.shape[0] or r["col1"] > ref_full.shape[1] or r["row0"] < 0 or r["col0"] < 0:
        return None  # not the scan these metrics came from
    rec = np.asarray(obj, np.complex128)[c["row0"]:c["row1"], c["col0"]:c["col1"]]
    ref = ref_full[r["row0"]:r["row1"], r["col0"]:r["col1"]].astype(np.complex128)
    if rec.shape != ref.shape or rec.size == 0:
        return None
    registration = metrics.get("registration") or {}
    shift = np.asarray(registration.get("shift_px") or (0.0, 0.0), float)
    if registration.get("applied") and np.any(shift != 0):
        rec = apply_shift(rec, shift)
        margin = int(math.ceil(float(np.max(np.abs(shift)))))
        rec, ref = _crop(rec, margin), _crop(ref, margin)
    plane = metrics.get("phase_alignment") or {}
    if plane.get("removed"):
        rec = remove_phase_plane(rec, plane["ramp_x_rad_per_px"], plane["ramp_y_rad_per_px"], plane["offset_rad"])
    factor = float((metrics.get("amplitude_scale") or {}).get("factor", 1.0))
    amp_ref = np.abs(ref)
    return TruthImages(
        amplitude_truth=amp_ref.astype(np.float32),
        phase_truth=np.angle(ref).astype(np.float32),
        amplitude_difference=(np.abs(rec) * factor - amp_ref).astype(np.float32),
        phase_difference=np.angle(rec * np.conj(ref)).astype(np.float32),
    )
