"""Score a stitched reconstruction against the scan's ``objectGuess``.

Alignment is by coordinates, not by search: canvas pixel [r, c] is object pixel
[origin_y + r, origin_x + c], and the scan's positions are in objectGuess pixels, so the
reference crop is read directly at those coordinates. Only the well-covered part of the canvas
is compared (weight >= ``fraction`` x max: the rim, lit by a probe tail, is noise), cut to a
rectangle: the bounding box of the covered pixels, trimmed from its edges while an edge row or
column is mostly uncovered (random scans leave ragged borders). ``evaluate_reconstruction`` then
removes the remaining ambiguities (global phase, phase ramp, sub-pixel shift) and scores; its
registration shift is reported, and a large one would point at a geometry error.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: weight fraction (of the maximum) above which a canvas pixel counts as well covered
COVERED_FRACTION = 0.1
#: an edge row/column of the comparison box is trimmed while less than this share of it is covered
EDGE_MIN_COVERED = 0.9
MIN_SIDE = 8
#: registration shifts beyond this (pixels) are not trusted (see _evaluate)
MAX_REGISTRATION_SHIFT_PX = 3.0


def well_covered_box(covered: np.ndarray, edge_min_covered: float = EDGE_MIN_COVERED
                     ) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1), half-open, of a rectangle of mostly covered pixels; None if empty."""
    covered = np.asarray(covered, dtype=bool)
    if not covered.any():
        return None
    rows = np.flatnonzero(covered.any(axis=1))
    cols = np.flatnonzero(covered.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    while r1 - r0 > 1 and c1 - c0 > 1:
        box = covered[r0:r1, c0:c1]
        edges = {"top": box[0].mean(), "bottom": box[-1].mean(),
                 "left": box[:, 0].mean(), "right": box[:, -1].mean()}
        worst = min(edges, key=edges.get)
        if edges[worst] >= edge_min_covered:
            break
        if worst == "top":
            r0 += 1
        elif worst == "bottom":
            r1 -= 1
        elif worst == "left":
            c0 += 1
        else:
            c1 -= 1
    return r0, r1, c0, c1


def reference_region(weight: np.ndarray, origin_x: float, origin_y: float, reference_shape: tuple[int, int],
                     fraction: float = COVERED_FRACTION) -> dict[str, Any] | None:
    """The comparison rectangle in canvas and in reference pixels (None when it is empty).

    Canvas and reference share the pixel grid only when the origin is integral (stitching puts
    it on an integer pixel); a fractional origin is rounded, with the rounding reported.
    """
    weight = np.asarray(weight)
    peak = float(weight.max()) if weight.size else 0.0
    if peak <= 0:
        return None
    ox, oy = int(round(origin_x)), int(round(origin_y))
    covered = weight >= fraction * peak
    # only the part of the canvas that lies on the reference can be compared
    H, W = reference_shape
    on_ref = np.zeros_like(covered)
    r_lo, r_hi = max(0, -oy), min(covered.shape[0], H - oy)
    c_lo, c_hi = max(0, -ox), min(covered.shape[1], W - ox)
    if r_hi <= r_lo or c_hi <= c_lo:
        return None
    on_ref[r_lo:r_hi, c_lo:c_hi] = True
    box = well_covered_box(covered & on_ref)
    if box is None:
        return None
    r0, r1, c0, c1 = box
    return {
        "canvas": {"row0": r0, "row1": r1, "col0": c0, "col1": c1},
        "reference": {"row0": r0 + oy, "row1": r1 + oy, "col0": c0 + ox, "col1": c1 + ox},
        "weight_fraction": float(fraction),
        "covered_share": float(covered[r0:r1, c0:c1].mean()),
        "origin_rounding_px": [float(origin_y - oy), float(origin_x - ox)],
    }


def _evaluate(rec: np.ndarray, ref: np.ndarray) -> tuple[dict[str, Any] | None, str]:
    """evaluate_reconstruction, trusting registration only for small shifts.

    The canvas is already aligned by coordinates, so a genuine residual shift is sub-pixel; a
    shift of more than MAX_REGISTRATION_SHIFT_PX means registration locked onto noise (an
    untrained model) and would crop most of the region away: the metrics then say so in their notes.
    """
    from ..metrics import evaluate_reconstruction

    try:
        return evaluate_reconstruction(rec, ref, max_shift=MAX_REGISTRATION_SHIFT_PX), ""
    except ValueError as exc:
        return None, str(exc)


def compare_with_reference(obj: np.ndarray, weight: np.ndarray, origin_x: float, origin_y: float,
                           reference: np.ndarray, fraction: float = COVERED_FRACTION
                           ) -> tuple[dict[str, Any] | None, tuple[np.ndarray, np.ndarray] | None, str]:
    """(metrics, (reconstruction crop, reference crop), note); metrics None with a reason in note.

    metrics = ``metrics.evaluate_reconstruction`` output plus ``region`` (where it was measured),
    preceded by headline scalars ``{amplitude,phase}_{ssim,psnr_db,frc_resolution_px}``.
    """
    region = reference_region(weight, origin_x, origin_y, np.shape(reference), fraction)
    if region is None:
        return None, None, "the reconstructed region does not overlap objectGuess; no metrics"
    c, r = region["canvas"], region["reference"]
    rec = np.asarray(obj)[c["row0"]:c["row1"], c["col0"]:c["col1"]]
    ref = np.asarray(reference)[r["row0"]:r["row1"], r["col0"]:r["col1"]]
    if min(rec.shape) < MIN_SIDE:
        return None, None, f"the well-covered region {rec.shape} is too small for metrics (< {MIN_SIDE} px)"
    full, why = _evaluate(rec, ref)
    if full is None:
        return None, None, f"no metrics: {why}"
    # headline numbers first, as top-level scalars: the CLI prints those, the GUI lists them first
    from ..metrics.evaluate import headline_metrics

    metrics = headline_metrics(full)
    metrics.update(full)
    metrics["region"] = region
    return metrics, (rec, ref), ""
